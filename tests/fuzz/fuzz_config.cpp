// Fuzz target: the TOML training-config loader (sim::train::parse_config), as `bitsim train CONFIG`
// and every sweep row reach it. Properties: a config either loads or throws ConfigError (a toml++
// parse error, a std::bad_alloc or a crash is a bug); a loaded config prints (to_toml) to a config that
// loads again and prints the same, so a run folder's config.toml always reproduces the run.
#include "fuzz_input.hpp"

#include "sim/train/config.hpp"

using namespace bitsim::sim::train;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 4096) return 0;
  const std::string text(bitsim::fuzz::as_text(data, size));
  TrainConfig c;
  try {
    c = parse_config(text, "fuzz.toml");
  } catch (const ConfigError&) {
    return 0;
  }
  const std::string printed = to_toml(c);
  try {
    const TrainConfig again = parse_config(printed, "printed.toml");
    if (to_toml(again) != printed) bitsim::fuzz::property_failed("to_toml of a reloaded config differs:\n" + printed);
  } catch (const ConfigError& e) {
    bitsim::fuzz::property_failed(std::string("the printed config does not load: ") + e.what() + "\n" + printed);
  }
  return 0;
}
