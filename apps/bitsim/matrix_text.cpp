#include "apps/bitsim/matrix_text.hpp"
#include "io/excerpt.hpp"

#include "formats/format_text.hpp"
#include "io/files.hpp"

#include <fmt/format.h>

#include <sstream>

namespace bitsim::cli {

sim::Matrix read_text_matrix(const std::string& path) {
  std::istringstream in(io::read_file(path));  // io::FileError is a std::runtime_error naming the path
  sim::Matrix m;
  std::string line;
  std::size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    std::istringstream tokens(line);
    std::string token;
    std::int64_t cols = 0;
    std::vector<double> row;
    while (tokens >> token) {
      ++cols;
      auto v = formats::parse_number(token);
      if (!v)
        throw std::runtime_error(fmt::format("{}: row {} (line {}), column {}: cannot parse '{}' as a number", path,
                                             m.rows + 1, line_no, cols, io::excerpt(token)));
      row.push_back(*v);
    }
    if (cols == 0) continue;  // blank line
    if (m.rows > 0 && cols != m.cols)
      throw std::runtime_error(fmt::format("{}: row {} (line {}) has {} columns, row 1 has {}", path, m.rows + 1, line_no,
                                           cols, m.cols));
    m.cols = cols;
    ++m.rows;
    m.data.insert(m.data.end(), row.begin(), row.end());
  }
  if (m.rows == 0) throw std::runtime_error(fmt::format("{}: empty matrix", path));
  return m;
}

}  // namespace bitsim::cli
