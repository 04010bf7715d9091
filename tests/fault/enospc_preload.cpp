// A fault injector for tests/cli/faults.sh: loaded with LD_PRELOAD, it makes writes to chosen files
// fail as on a full disk, so the tests can check that bitsim reports it and keeps its last checkpoint.
//
//   BITSIM_FAULT_PATH   a substring; files opened (open, openat, creat, fopen) with a path containing
//                       it are "doomed" (unset: nothing is)
//   BITSIM_FAULT_AFTER  bytes each doomed file accepts before the disk is "full" (default 0); the
//                       write that crosses it is short, the next ones fail with ENOSPC, as on a real
//                       file system that runs out of space
// The first refused write is announced on stderr ("enospc_preload: writes refused (ENOSPC)"), so a
// test can tell that the fault was actually injected (at once: the program may end with _Exit).
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>

namespace {

constexpr int kMaxFd = 65536;
long long g_left[kMaxFd];  // bytes a doomed fd still accepts; -1: not doomed
bool g_init = false;
const char* g_path = nullptr;
long long g_after = 0;
long long g_refused = 0;

template <class F>
F real(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

void init() {
  if (g_init) return;
  g_init = true;
  for (long long& l : g_left) l = -1;
  g_path = getenv("BITSIM_FAULT_PATH");
  if (g_path && !*g_path) g_path = nullptr;
  if (const char* a = getenv("BITSIM_FAULT_AFTER")) g_after = atoll(a);
}

void opened(int fd, const char* path) {
  init();
  if (fd >= 0 && fd < kMaxFd) g_left[fd] = (g_path && path && strstr(path, g_path)) ? g_after : -1;
}

// How many of n bytes a write to fd may pass: n when fd is not doomed; else what is left (0: ENOSPC).
ssize_t allowance(int fd, size_t n) {
  init();
  if (fd < 0 || fd >= kMaxFd || g_left[fd] < 0) return static_cast<ssize_t>(n);
  const long long ok = g_left[fd] < static_cast<long long>(n) ? g_left[fd] : static_cast<long long>(n);
  if (ok == 0) {
    if (g_refused++ == 0) {
      static const char msg[] = "enospc_preload: writes refused (ENOSPC)\n";
      (void)!real<ssize_t (*)(int, const void*, size_t)>("write")(2, msg, sizeof msg - 1);
    }
    errno = ENOSPC;
    return -1;
  }
  g_left[fd] -= ok;
  return static_cast<ssize_t>(ok);
}

}  // namespace

extern "C" {

// The open family: the mode argument exists only with O_CREAT or O_TMPFILE, so it is read only then.
#define BITSIM_MODE_ARG(flags, mode)                                     \
  mode_t mode = 0;                                                       \
  if ((flags) & (O_CREAT | O_TMPFILE)) {                                 \
    va_list ap;                                                          \
    va_start(ap, flags);                                                 \
    mode = static_cast<mode_t>(va_arg(ap, int));                         \
    va_end(ap);                                                          \
  }

int open(const char* path, int flags, ...) {
  BITSIM_MODE_ARG(flags, mode)
  const int fd = real<int (*)(const char*, int, ...)>("open")(path, flags, mode);
  opened(fd, path);
  return fd;
}
int open64(const char* path, int flags, ...) {
  BITSIM_MODE_ARG(flags, mode)
  const int fd = real<int (*)(const char*, int, ...)>("open64")(path, flags, mode);
  opened(fd, path);
  return fd;
}
int openat(int dir, const char* path, int flags, ...) {
  BITSIM_MODE_ARG(flags, mode)
  const int fd = real<int (*)(int, const char*, int, ...)>("openat")(dir, path, flags, mode);
  opened(fd, path);
  return fd;
}
int creat(const char* path, mode_t mode) {
  const int fd = real<int (*)(const char*, mode_t)>("creat")(path, mode);
  opened(fd, path);
  return fd;
}
FILE* fopen(const char* path, const char* mode) {
  FILE* f = real<FILE* (*)(const char*, const char*)>("fopen")(path, mode);
  if (f) opened(fileno(f), path);
  return f;
}
FILE* fopen64(const char* path, const char* mode) {
  FILE* f = real<FILE* (*)(const char*, const char*)>("fopen64")(path, mode);
  if (f) opened(fileno(f), path);
  return f;
}

ssize_t write(int fd, const void* buf, size_t n) {
  const ssize_t ok = allowance(fd, n);
  if (ok < 0) return -1;
  return real<ssize_t (*)(int, const void*, size_t)>("write")(fd, buf, static_cast<size_t>(ok));
}
ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
  const ssize_t ok = allowance(fd, n);
  if (ok < 0) return -1;
  return real<ssize_t (*)(int, const void*, size_t, off_t)>("pwrite")(fd, buf, static_cast<size_t>(ok), off);
}
ssize_t pwrite64(int fd, const void* buf, size_t n, off_t off) {
  const ssize_t ok = allowance(fd, n);
  if (ok < 0) return -1;
  return real<ssize_t (*)(int, const void*, size_t, off_t)>("pwrite64")(fd, buf, static_cast<size_t>(ok), off);
}
ssize_t writev(int fd, const struct iovec* iov, int count) {
  size_t n = 0;
  for (int i = 0; i < count; ++i) n += iov[i].iov_len;
  const ssize_t ok = allowance(fd, n);
  if (ok < 0) return -1;
  if (static_cast<size_t>(ok) == n) return real<ssize_t (*)(int, const struct iovec*, int)>("writev")(fd, iov, count);
  // Short: pass only the first `ok` bytes, from the first buffer that holds them.
  return real<ssize_t (*)(int, const void*, size_t)>("write")(fd, iov[0].iov_base, static_cast<size_t>(ok) < iov[0].iov_len ? static_cast<size_t>(ok) : iov[0].iov_len);
}

}  // extern "C"
