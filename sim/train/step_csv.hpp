// A CSV file of a run folder with one row per event of a step (hazards.csv, loss_scale.csv), first
// field the step: created with its header on a fresh start; on a resume from step `first_step` the
// rows of the steps to be redone are dropped. Each row is appended in a single write and flushed, so a
// killed run leaves whole rows only.
#pragma once

#include <cstdint>
#include <string>

namespace bitsim::sim::train {

class StepCsv {
 public:
  // `path` empty: no file (ranks other than 0, or nothing to log).
  StepCsv(std::string path, const std::string& header, bool resume, std::uint64_t first_step);
  // Appends `row` (ending in a newline). Throws io::FileError when it cannot be written.
  void append(const std::string& row);
  bool enabled() const { return !path_.empty(); }

 private:
  std::string path_;
};

}  // namespace bitsim::sim::train
