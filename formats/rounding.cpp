#include "formats/rounding.hpp"

namespace bitsim::formats {

std::optional<Rounding> parse_rounding(std::string_view name) {
  if (name == "rne") return Rounding::rne;
  if (name == "rna") return Rounding::rna;
  if (name == "rtz") return Rounding::rtz;
  if (name == "rup") return Rounding::rup;
  if (name == "rdn") return Rounding::rdn;
  if (name == "sr") return Rounding::sr;
  return std::nullopt;
}

const char* rounding_name(Rounding r) {
  switch (r) {
    case Rounding::rne: return "rne";
    case Rounding::rna: return "rna";
    case Rounding::rtz: return "rtz";
    case Rounding::rup: return "rup";
    case Rounding::rdn: return "rdn";
    case Rounding::sr: return "sr";
  }
  return "?";
}

}  // namespace bitsim::formats
