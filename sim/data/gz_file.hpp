// Sequential reading of a data file through zlib's gzopen/gzread, which decompresses gzip files and
// reads uncompressed files unchanged ("transparent" mode), so readers accept both "x.gz" and "x".
// Every failure throws DatasetError naming the file. Used by the IDX and CIFAR readers only.
#pragma once

#include "sim/data/dataset.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace bitsim::sim::data {

class GzFile {
 public:
  // Throws DatasetError "<path>: file not found" (or "cannot open: <reason>").
  explicit GzFile(std::string path);
  ~GzFile();
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;

  const std::string& path() const { return path_; }

  // Reads up to n bytes into dst; returns how many were read (< n only at the end of the data).
  // A gzip stream that ends prematurely also returns short, and sets truncated_stream(); a corrupt
  // stream throws DatasetError with zlib's message.
  std::size_t read(std::uint8_t* dst, std::size_t n);

  // Appends exactly n bytes to out, reading in chunks so a lying header cannot make it allocate more
  // than the file holds. Returns the number of bytes actually appended (< n if the data ends early).
  std::size_t read_into(std::vector<std::uint8_t>& out, std::size_t n);

  // Counts (and discards) the bytes left, stopping after `limit`.
  std::uint64_t count_rest(std::uint64_t limit = std::uint64_t{1} << 40);

  // True once a short read was caused by a gzip stream cut off before its end.
  bool truncated_stream() const { return truncated_stream_; }

 private:
  std::string path_;
  void* gz_ = nullptr;  // gzFile; kept opaque so zlib.h stays out of this header
  bool truncated_stream_ = false;
};

}  // namespace bitsim::sim::data
