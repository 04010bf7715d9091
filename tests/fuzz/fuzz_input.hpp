// Helpers shared by the fuzz targets (tests/fuzz/fuzz_*.cpp): turning the fuzzer's bytes into the
// inputs the readers take (text, or a file path), and failing loudly when a property does not hold.
//
// Every target defines LLVMFuzzerTestOneInput. Built with clang's -fsanitize=fuzzer (BITSIM_FUZZ=ON)
// it is a libFuzzer program; otherwise replay_main.cpp turns it into a program that runs the stored
// corpus and regression inputs once each, so every compiler build replays them (tests/fuzz/README.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <sys/mman.h>
#include <unistd.h>

namespace bitsim::fuzz {

// A property of the code under test failed for this input: print what, and abort so the fuzzer keeps
// the input as a crash (and the replay test fails).
[[noreturn]] inline void property_failed(const std::string& what) {
  std::fprintf(stderr, "fuzz property failed: %s\n", what.c_str());
  std::abort();
}

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// The bytes as an anonymous in-memory file, reachable by the path "/proc/self/fd/N" for readers that
// take a path (the dataset readers, HDF5). Closed (and freed) when it goes out of scope.
class MemoryFile {
 public:
  MemoryFile(const std::uint8_t* data, std::size_t size) : fd_(memfd_create("bitsim-fuzz", 0)) {
    if (fd_ < 0) property_failed("memfd_create failed");
    std::size_t done = 0;
    while (done < size) {
      const ssize_t n = ::write(fd_, data + done, size - done);
      if (n <= 0) property_failed("write to the memory file failed");
      done += static_cast<std::size_t>(n);
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemoryFile() { ::close(fd_); }
  MemoryFile(const MemoryFile&) = delete;
  MemoryFile& operator=(const MemoryFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  int fd_;
  std::string path_;
};

}  // namespace bitsim::fuzz
