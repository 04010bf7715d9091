#include "io/npy.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstring>

namespace bitsim::io {

namespace {

constexpr std::string_view kMagic = "\x93NUMPY";
constexpr std::int64_t kMaxElements = std::int64_t{1} << 32;

// The text after `'key':` in the header dict, leading spaces skipped; empty if the key is absent.
std::string_view value_after(std::string_view header, std::string_view key) {
  const std::string quoted = "'" + std::string(key) + "'";
  const std::size_t k = header.find(quoted);
  if (k == std::string_view::npos) return {};
  std::size_t i = header.find(':', k + quoted.size());
  if (i == std::string_view::npos) return {};
  ++i;
  while (i < header.size() && header[i] == ' ') ++i;
  return header.substr(i);
}

int item_size(const std::string& descr) {
  if (descr.size() < 3) return 0;
  const char order = descr[0];
  if (order != '<' && order != '>' && order != '|' && order != '=') return 0;
  const std::string type = descr.substr(1);
  if (type == "f4") return 4;
  if (type == "f8") return 8;
  return 0;
}

}  // namespace

std::int64_t NpyArray::count() const {
  std::int64_t n = 1;
  for (const std::int64_t d : shape) n *= d;
  return n;
}

NpyArray parse_npy(std::string_view bytes, const std::string& source) {
  auto fail = [&](const std::string& what) { return NpyError(fmt::format("{}: {}", source, what)); };
  if (bytes.size() < 10 || bytes.substr(0, 6) != kMagic) throw fail("not a .npy file (no \\x93NUMPY magic)");
  const auto major = static_cast<unsigned char>(bytes[6]);
  if (major < 1 || major > 3) throw fail(fmt::format(".npy version {} is not one of 1, 2, 3", major));
  std::size_t header_len = 0, start = 0;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | static_cast<std::size_t>(static_cast<unsigned char>(bytes[9])) << 8;
    start = 10;
  } else {
    if (bytes.size() < 12) throw fail("truncated .npy header");
    for (int i = 3; i >= 0; --i) header_len = header_len << 8 | static_cast<unsigned char>(bytes[8 + static_cast<std::size_t>(i)]);
    start = 12;
  }
  if (header_len > bytes.size() - start) throw fail("truncated .npy header");
  const std::string_view header = bytes.substr(start, header_len);
  NpyArray a;
  const std::string_view descr = value_after(header, "descr");
  if (descr.size() < 2 || descr[0] != '\'') throw fail("the header has no 'descr'");
  const std::size_t close = descr.find('\'', 1);
  if (close == std::string_view::npos) throw fail("the header's 'descr' is not a string");
  a.descr = std::string(descr.substr(1, close - 1));
  if (item_size(a.descr) == 0)
    throw fail(fmt::format("dtype '{}' is not float32 or float64 (convert with x.astype(np.float32) or np.float64)", a.descr));
  const std::string_view order = value_after(header, "fortran_order");
  if (order.rfind("True", 0) == 0) a.fortran_order = true;
  else if (order.rfind("False", 0) != 0) throw fail("the header has no 'fortran_order' True or False");
  const std::string_view shape = value_after(header, "shape");
  if (shape.empty() || shape[0] != '(') throw fail("the header has no 'shape' tuple");
  const std::size_t end = shape.find(')');
  if (end == std::string_view::npos) throw fail("the header's 'shape' is not closed");
  std::int64_t elements = 1;
  std::size_t i = 1;
  while (i < end) {
    while (i < end && (shape[i] == ' ' || shape[i] == ',')) ++i;
    if (i >= end) break;
    std::int64_t d = 0;
    std::size_t digits = 0;
    while (i < end && shape[i] >= '0' && shape[i] <= '9') {
      if (++digits > 12) throw fail("a dimension of the shape is too large");
      d = d * 10 + (shape[i++] - '0');
    }
    if (digits == 0) throw fail("the header's 'shape' is not a tuple of integers");
    while (i < end && shape[i] == 'L') ++i;  // Python 2 longs
    a.shape.push_back(d);
    if (d != 0 && elements > kMaxElements / d) throw fail("more than 2^32 elements");
    elements *= d;
  }
  const std::size_t want = static_cast<std::size_t>(elements) * static_cast<std::size_t>(item_size(a.descr));
  const std::size_t have = bytes.size() - start - header_len;
  if (have != want)
    throw fail(fmt::format("{} bytes of data where the header ({} {} elements) needs {}", have, elements, a.descr, want));
  a.data = std::string(bytes.substr(start + header_len));
  return a;
}

std::vector<double> npy_doubles(const NpyArray& a, const std::string& source) {
  const int size = item_size(a.descr);
  if (size == 0) throw NpyError(fmt::format("{}: dtype '{}' is not float32 or float64", source, a.descr));
  const bool swap = (a.descr[0] == '>') == (std::endian::native == std::endian::little);
  const std::size_t n = a.data.size() / static_cast<std::size_t>(size);
  std::vector<double> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    unsigned char b[8];
    std::memcpy(b, a.data.data() + i * static_cast<std::size_t>(size), static_cast<std::size_t>(size));
    if (swap) std::reverse(b, b + size);
    if (size == 4) {
      float f;
      std::memcpy(&f, b, 4);
      out[i] = f;
    } else {
      std::memcpy(&out[i], b, 8);
    }
  }
  return out;
}

std::string npy_file(const std::string& descr, bool fortran_order, const std::vector<std::int64_t>& shape,
                     std::string_view data) {
  std::string dims;
  for (const std::int64_t d : shape) dims += std::to_string(d) + ", ";
  if (shape.size() > 1) dims.erase(dims.size() - 2);        // (2, 3)
  else if (shape.size() == 1) dims.erase(dims.size() - 1);  // (5,)
  std::string header = fmt::format("{{'descr': '{}', 'fortran_order': {}, 'shape': ({}), }}", descr,
                                   fortran_order ? "True" : "False", dims);
  // Magic (6) + version (2) + length (2) + header, padded with spaces and a newline to a multiple of 64.
  const std::size_t total = (10 + header.size() + 1 + 63) / 64 * 64;
  header.append(total - 10 - header.size() - 1, ' ');
  header += '\n';
  std::string out(kMagic);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  out.append(data);
  return out;
}

}  // namespace bitsim::io
