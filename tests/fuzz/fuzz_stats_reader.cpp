// Fuzz target: the HDF5 statistics-file reader (analysis::StatsReader), as `bitsim stats`, `bitsim
// sweep` and the notebooks' users reach it with files of their own.
// Properties: opening either succeeds or throws StatsFileError; on an opened file, every accessor
// (steps, sites, every row of every site, the histograms of the first and last row) either answers or
// throws StatsFileError; never a crash or another exception.
// The byte-level mutations mostly damage HDF5's own structures, which the HDF5 library itself parses
// (it is not ours to harden, but bitsim must turn its failures into StatsFileError).
#include "fuzz_input.hpp"

#include "analysis/stats_reader.hpp"

#include <H5Epublic.h>

using namespace bitsim::analysis;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool quiet = [] {  // HDF5 would print an error stack for every refused input
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)quiet;
  const bitsim::fuzz::MemoryFile file(data, size);
  try {
    const StatsReader r(file.path());
    (void)r.schema_version();
    (void)r.root_string("config");
    (void)r.every();
    (void)r.steps();
    for (std::size_t s = 0; s < r.sites().size(); ++s) {
      const std::vector<StatsRow> rows = r.rows(s);
      if (r.sites()[s].rows > 0) {
        (void)r.hist(s, 0, false);
        (void)r.hist(s, r.sites()[s].rows - 1, true);
      }
      for (const StepRow& st : r.steps()) (void)r.row_at(s, st.step);
    }
  } catch (const StatsFileError&) {
    return 0;
  }
  return 0;
}
