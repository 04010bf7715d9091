#include "io/files.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <chrono>
#include <thread>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace bitsim::io {

namespace fs = std::filesystem;

FileError::FileError(std::string path, std::string cause)
    : Error(path + ": " + cause, ErrorSite::in_file(path)), path_(std::move(path)), cause_(std::move(cause)) {}

namespace {

std::string errno_text(int err) { return std::strerror(err); }

// The cause when a path cannot be opened for reading: "cannot open: no such file", "cannot open (Permission denied)".
std::string cannot_open(int err) { return err == ENOENT ? "cannot open: no such file" : "cannot open (" + errno_text(err) + ")"; }

// What a file of this type is, for "is a ..." messages.
const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISSOCK(mode)) return "a socket";
  return "a special file";
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // Closes now and reports the error close() gives (on NFS, a write error may first show here).
  int close() {
    const int r = ::close(fd_);
    fd_ = -1;
    return r;
  }

 private:
  int fd_;
};

void write_all(int fd, std::string_view text, const std::string& path) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t w = ::write(fd, text.data() + done, text.size() - done);
    if (w < 0 && errno == EINTR) continue;
    // write() returning 0 for a non-empty buffer means the device took nothing: a full disk.
    if (w <= 0) throw FileError(path, "write failed: " + errno_text(w < 0 ? errno : ENOSPC));
    done += static_cast<std::size_t>(w);
  }
}

void sync_directory_of(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  const std::string dir = parent.empty() ? "." : parent.string();
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);  // makes the rename durable; a file system without directory fsync is not an error
    ::close(dfd);
  }
}

// fsyncs and renames `temp` over `target`; removes `temp` and throws on failure.
void commit(const std::string& temp, const std::string& target) {
  const int fd = ::open(temp.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    ::unlink(temp.c_str());
    throw FileError(target, "writing failed: the temporary file " + temp + " is gone: " + errno_text(err));
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    ::unlink(temp.c_str());
    throw FileError(target, "flushing to disk failed: " + errno_text(err));
  }
  ::close(fd);
  if (std::rename(temp.c_str(), target.c_str()) != 0) {
    const int err = errno;
    ::unlink(temp.c_str());
    throw FileError(target, "replacing the file failed: " + errno_text(err));
  }
  sync_directory_of(target);
}

}  // namespace

void require_regular_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw FileError(path, cannot_open(errno));
  if (!S_ISREG(st.st_mode)) throw FileError(path, fmt::format("is {}, not a file", kind_of(st.st_mode)));
  if (::access(path.c_str(), R_OK) != 0) throw FileError(path, cannot_open(errno));
}

void check_input_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw FileError(path, cannot_open(errno));
  if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode))
    throw FileError(path, fmt::format("is {}, not a file", kind_of(st.st_mode)));
  if (::access(path.c_str(), R_OK) != 0) throw FileError(path, cannot_open(errno));
}

std::string read_file(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) throw FileError(path, cannot_open(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw FileError(path, errno_text(errno));
  // A pipe is a stream of text like a file (`<(command)`, /dev/stdin); anything else that is not a
  // regular file (a directory, a device such as /dev/null or /dev/zero, a socket) is a mistake.
  if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode))
    throw FileError(path, fmt::format("is {}, not a file", kind_of(st.st_mode)));
  // O_NONBLOCK only kept open() from waiting for a FIFO's writer; reads should wait.
  ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK);
  std::string text;
  if (S_ISREG(st.st_mode)) text.reserve(static_cast<std::size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw FileError(path, "read failed: " + errno_text(errno));
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  return text;
}

namespace {

// Follows `path` through its symbolic links (a chain of them) to the name that is not a link: an
// existing file of another type, or a name that does not exist yet. `exists` tells which.
std::string follow_links(const std::string& path, struct stat& st, bool& exists) {
  if (path.empty()) throw FileError(path, "empty path");
  std::string p = path;
  for (int hops = 0;; ++hops) {
    if (::lstat(p.c_str(), &st) != 0) {
      if (errno != ENOENT) throw FileError(p, errno_text(errno));
      exists = false;  // a new file, or a dangling link's target: created by the rename
      return p;
    }
    exists = true;
    if (!S_ISLNK(st.st_mode)) return p;
    if (hops >= 40) throw FileError(path, "too many levels of symbolic links");
    std::string link(PATH_MAX, '\0');
    const ssize_t n = ::readlink(p.c_str(), link.data(), link.size());
    if (n < 0) throw FileError(p, errno_text(errno));
    link.resize(static_cast<std::size_t>(n));
    const fs::path target(link);
    p = target.is_absolute() ? target.string() : (fs::path(p).parent_path() / target).string();
  }
}

}  // namespace

std::string output_target(const std::string& path) {
  struct stat st {};
  bool exists = false;
  const std::string p = follow_links(path, st, exists);
  if (exists && !S_ISREG(st.st_mode))
    throw FileError(p, fmt::format("is {}; bitsim writes its output only to regular files", kind_of(st.st_mode)));
  return p;
}

std::string output_directory_target(const std::string& dir) {
  struct stat st {};
  bool exists = false;
  const std::string p = follow_links(dir, st, exists);
  if (exists && !S_ISDIR(st.st_mode)) throw FileError(p, fmt::format("is {}, not a folder", kind_of(st.st_mode)));
  return p;
}

void check_output_path(const std::string& path) { (void)output_target(path); }

void write_file_atomically(const std::string& path, std::string_view text) {
  replace_file_atomically(path, [&](const std::string& temp) {
    Fd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (fd.get() < 0) throw FileError(temp, "cannot create: " + errno_text(errno));
    write_all(fd.get(), text, temp);
    if (fd.close() != 0) throw FileError(temp, "write failed: " + errno_text(errno));
  });
}

void replace_file_atomically(const std::string& path, const std::function<void(const std::string& temp_path)>& write) {
  const std::string target = output_target(path);
  const std::string temp = target + ".tmp";
  try {
    write(temp);
  } catch (const FileError& e) {
    ::unlink(temp.c_str());
    // Name the file the user asked for; the temporary name means nothing to them.
    throw FileError(target, e.path() == temp ? e.cause() : std::string(e.what()));
  } catch (...) {
    ::unlink(temp.c_str());
    throw;
  }
  commit(temp, target);
}

void make_directories(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw FileError(dir, "cannot create the folder: " + ec.message());
  if (!fs::is_directory(dir, ec)) throw FileError(dir, "exists and is not a folder");
}

FileLock::FileLock(const std::string& path, double wait_seconds) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw FileError(path, "cannot open: " + std::string(std::strerror(errno)));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(wait_seconds);
  while (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err == EINTR) continue;
    if (err != EWOULDBLOCK || std::chrono::steady_clock::now() >= deadline) {
      ::close(fd_);
      throw FileError(path, err == EWOULDBLOCK ? fmt::format("is being written by another process (waited {:g} s)", wait_seconds)
                                               : "cannot lock: " + std::string(std::strerror(err)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace bitsim::io
