#include "apps/bitsim/matrix_text.hpp"
#include "io/excerpt.hpp"

#include "formats/format_text.hpp"
#include "io/files.hpp"

#include <fmt/format.h>

#include <iterator>
#include <sstream>

namespace bitsim::cli {

namespace {

// Rows of whitespace-separated numbers, each read by `parse` (nullopt: not a number), into `data`.
template <class T, class Parse>
void read_rows(const std::string& path, std::int64_t& rows, std::int64_t& cols, std::vector<T>& data, Parse parse) {
  std::istringstream in(io::read_file(path));  // io::FileError is a std::runtime_error naming the path
  std::string line;
  std::size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    std::istringstream tokens(line);
    std::string token;
    std::int64_t n = 0;
    std::vector<T> row;
    while (tokens >> token) {
      ++n;
      auto v = parse(token);
      if (!v)
        throw bitsim::Error(fmt::format("{}: row {} (line {}), column {}: cannot parse '{}' as a number", path, rows + 1,
                                        line_no, n, io::excerpt(token)),
                            ErrorSite::in_file(path, static_cast<std::int64_t>(line_no)));
      row.push_back(std::move(*v));
    }
    if (n == 0) continue;  // blank line
    if (rows > 0 && n != cols)
      throw bitsim::Error(fmt::format("{}: row {} (line {}) has {} columns, row 1 has {}", path, rows + 1, line_no, n, cols),
                          ErrorSite::in_file(path, static_cast<std::int64_t>(line_no)));
    cols = n;
    ++rows;
    data.insert(data.end(), std::make_move_iterator(row.begin()), std::make_move_iterator(row.end()));
  }
  if (rows == 0) throw bitsim::Error(fmt::format("{}: empty matrix", path), ErrorSite::in_file(path));
}

}  // namespace

sim::Matrix read_text_matrix(const std::string& path) {
  sim::Matrix m;
  read_rows(path, m.rows, m.cols, m.data, [](const std::string& t) { return formats::parse_number(t); });
  return m;
}

sim::ExactMatrix read_exact_text_matrix(const std::string& path) {
  sim::ExactMatrix m;
  read_rows(path, m.rows, m.cols, m.data, [](const std::string& t) { return formats::parse_exact_number(t); });
  return m;
}

}  // namespace bitsim::cli
