#include "sim/data/gz_file.hpp"

#include "io/files.hpp"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>

namespace bitsim::sim::data {

namespace {

gzFile as_gz(void* p) { return static_cast<gzFile>(p); }

}  // namespace

GzFile::GzFile(std::string path) : path_(std::move(path)) {
  try {
    io::require_regular_file(path_);
  } catch (const io::FileError& e) {
    throw DatasetError(e.what());
  }
  errno = 0;
  gzFile f = gzopen(path_.c_str(), "rb");
  if (f == nullptr) {
    const std::string why = errno != 0 ? std::strerror(errno) : "out of memory";
    throw DatasetError(path_ + ": cannot open: " + why);
  }
  gzbuffer(f, 1u << 17);
  gz_ = f;
}

GzFile::~GzFile() {
  if (gz_ != nullptr) gzclose(as_gz(gz_));
}

std::size_t GzFile::read(std::uint8_t* dst, std::size_t n) {
  std::size_t done = 0;
  while (done < n) {
    // gzread takes an unsigned and returns an int: read at most 1 GiB per call.
    const auto chunk = static_cast<unsigned>(std::min<std::size_t>(n - done, std::size_t{1} << 30));
    const int got = gzread(as_gz(gz_), dst + done, chunk);
    if (got < 0) {
      int code = Z_OK;
      const char* msg = gzerror(as_gz(gz_), &code);
      std::string why = msg != nullptr ? msg : "unknown zlib error";
      if (why.starts_with(path_ + ": ")) why.erase(0, path_.size() + 2);  // zlib prefixes the path itself
      throw DatasetError(path_ + ": corrupt gzip data: " + why);
    }
    done += static_cast<std::size_t>(got);
    if (static_cast<unsigned>(got) < chunk) {
      int code = Z_OK;
      gzerror(as_gz(gz_), &code);
      if (code == Z_BUF_ERROR) truncated_stream_ = true;  // "unexpected end of file" in the gzip stream
      break;
    }
  }
  return done;
}

std::size_t GzFile::read_into(std::vector<std::uint8_t>& out, std::size_t n) {
  constexpr std::size_t kChunk = std::size_t{1} << 24;  // 16 MiB
  std::size_t done = 0;
  while (done < n) {
    const std::size_t want = std::min(kChunk, n - done);
    const std::size_t old = out.size();
    out.resize(old + want);
    const std::size_t got = read(out.data() + old, want);
    out.resize(old + got);
    done += got;
    if (got < want) break;
  }
  return done;
}

std::uint64_t GzFile::count_rest(std::uint64_t limit) {
  std::uint8_t buf[1 << 14];
  std::uint64_t total = 0;
  while (total < limit) {
    const std::size_t got = read(buf, sizeof buf);
    total += got;
    if (got < sizeof buf) break;
  }
  return total;
}

}  // namespace bitsim::sim::data
