#include "sim/train/step_csv.hpp"

#include "io/files.hpp"

#include <charconv>
#include <fstream>

namespace bitsim::sim::train {

StepCsv::StepCsv(std::string path, const std::string& header, bool resume, std::uint64_t first_step) : path_(std::move(path)) {
  if (path_.empty()) return;
  std::string kept = header;
  if (resume) {
    std::ifstream in(path_);
    std::string line;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) {
      std::uint64_t step = 0;
      const auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), step);
      if (ec == std::errc() && end != line.data() && *end == ',' && step < first_step) kept += line + "\n";
    }
  }
  io::write_file_atomically(path_, kept);
}

void StepCsv::append(const std::string& row) {
  if (path_.empty()) return;
  std::ofstream out(path_, std::ios::app | std::ios::binary);
  out.write(row.data(), static_cast<std::streamsize>(row.size()));
  out.flush();
  if (!out) throw io::FileError(path_, "cannot append a row (disk full?)");
}

}  // namespace bitsim::sim::train
