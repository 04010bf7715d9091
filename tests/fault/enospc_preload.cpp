// A fault injector for tests/cli/faults.sh: loaded with LD_PRELOAD, it makes writes to chosen files
// fail as on a full disk, so the tests can check that bitsim reports it and keeps its last checkpoint.
//
//   BITSIM_FAULT_PATH   a substring; files opened (open, openat, creat, fopen) with a path containing
//                       it are "doomed" (unset: nothing is)
//   BITSIM_FAULT_AFTER  how far each doomed file may extend (default 0): the disk has room for that many
//                       bytes of it. As on a real file system, rewriting bytes that are already on disk
//                       always succeeds, space reserved with fallocate() is kept for the file, and only
//                       writes (or reservations) beyond the room fail: the write that crosses it is
//                       short, the next ones fail with ENOSPC. A file that is already larger when opened
//                       keeps its size as room.
//   BITSIM_FAULT_WRITE_DELAY_US  each write to a doomed file first sleeps this long (a slow disk), so
//                       that a test can kill a process while it is inside a long series of writes
// The first refused write is announced on stderr ("enospc_preload: writes refused (ENOSPC)"), so a
// test can tell that the fault was actually injected (at once: the program may end with _Exit).
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>

namespace {

constexpr int kMaxFd = 65536;
long long g_room[kMaxFd];       // how far a doomed fd's file may extend; -1: not doomed
long long g_allocated[kMaxFd];  // how far its file is allocated on the "disk" (written or reserved)
bool g_init = false;
const char* g_path = nullptr;
long long g_after = 0;
long long g_refused = 0;
long long g_delay_us = 0;

template <class F>
F real(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

void init() {
  if (g_init) return;
  g_init = true;
  for (long long& l : g_room) l = -1;
  g_path = getenv("BITSIM_FAULT_PATH");
  if (g_path && !*g_path) g_path = nullptr;
  if (const char* a = getenv("BITSIM_FAULT_AFTER")) g_after = atoll(a);
  if (const char* d = getenv("BITSIM_FAULT_WRITE_DELAY_US")) g_delay_us = atoll(d);
}

bool doomed(int fd) { return fd >= 0 && fd < kMaxFd && g_room[fd] >= 0; }

void opened(int fd, const char* path) {
  init();
  if (fd < 0 || fd >= kMaxFd) return;
  g_room[fd] = (g_path && path && strstr(path, g_path)) ? g_after : -1;
  if (g_room[fd] < 0) return;
  struct stat st {};
  g_allocated[fd] = fstat(fd, &st) == 0 ? st.st_size : 0;
  if (g_allocated[fd] > g_room[fd]) g_room[fd] = g_allocated[fd];
}

void announce() {
  if (g_refused++ == 0) {
    static const char msg[] = "enospc_preload: writes refused (ENOSPC)\n";
    (void)!real<ssize_t (*)(int, const void*, size_t)>("write")(2, msg, sizeof msg - 1);
  }
}

// Where write() on fd writes: the end for O_APPEND, else the file offset.
long long current_offset(int fd) {
  if (fcntl(fd, F_GETFL) & O_APPEND) {
    struct stat st {};
    return fstat(fd, &st) == 0 ? st.st_size : 0;
  }
  return lseek(fd, 0, SEEK_CUR);
}

// How many of the n bytes written at `offset` the disk takes: all of them on a file that is not doomed
// or within what is allocated; else up to the room (0: ENOSPC, announced).
ssize_t allowance(int fd, size_t n, long long offset) {
  init();
  if (!doomed(fd) || offset < 0) return static_cast<ssize_t>(n);
  if (g_delay_us > 0) usleep(static_cast<useconds_t>(g_delay_us));
  const long long end = offset + static_cast<long long>(n);
  if (end <= g_allocated[fd]) return static_cast<ssize_t>(n);
  const long long limit = g_room[fd] > g_allocated[fd] ? g_room[fd] : g_allocated[fd];
  const long long ok = offset >= limit ? 0 : (end <= limit ? static_cast<long long>(n) : limit - offset);
  if (ok == 0) {
    announce();
    errno = ENOSPC;
    return -1;
  }
  if (offset + ok > g_allocated[fd]) g_allocated[fd] = offset + ok;
  return static_cast<ssize_t>(ok);
}

// fallocate(): a reservation within the room succeeds and counts as allocated; beyond it, ENOSPC. A
// punched hole that reaches the end of what is allocated frees it.
int reserve(int fd, int mode, long long offset, long long len) {
  init();
  if (!doomed(fd)) return 0;
  if (mode & FALLOC_FL_PUNCH_HOLE) {
    if (offset < g_allocated[fd] && offset + len >= g_allocated[fd]) g_allocated[fd] = offset;
    return 0;
  }
  const long long end = offset + len;
  if (end <= g_allocated[fd]) return 0;
  if (end > g_room[fd]) {
    announce();
    return ENOSPC;
  }
  g_allocated[fd] = end;
  return 0;
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
  const ssize_t ok = allowance(fd, n, doomed(fd) ? current_offset(fd) : 0);
  if (ok < 0) return -1;
  return real<ssize_t (*)(int, const void*, size_t)>("write")(fd, buf, static_cast<size_t>(ok));
}
ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
  const ssize_t ok = allowance(fd, n, off);
  if (ok < 0) return -1;
  return real<ssize_t (*)(int, const void*, size_t, off_t)>("pwrite")(fd, buf, static_cast<size_t>(ok), off);
}
ssize_t pwrite64(int fd, const void* buf, size_t n, off_t off) {
  const ssize_t ok = allowance(fd, n, off);
  if (ok < 0) return -1;
  return real<ssize_t (*)(int, const void*, size_t, off_t)>("pwrite64")(fd, buf, static_cast<size_t>(ok), off);
}
ssize_t writev(int fd, const struct iovec* iov, int count) {
  size_t n = 0;
  for (int i = 0; i < count; ++i) n += iov[i].iov_len;
  const ssize_t ok = allowance(fd, n, doomed(fd) ? current_offset(fd) : 0);
  if (ok < 0) return -1;
  if (static_cast<size_t>(ok) == n) return real<ssize_t (*)(int, const struct iovec*, int)>("writev")(fd, iov, count);
  // Short: pass only the first `ok` bytes, from the first buffer that holds them.
  return real<ssize_t (*)(int, const void*, size_t)>("write")(fd, iov[0].iov_base, static_cast<size_t>(ok) < iov[0].iov_len ? static_cast<size_t>(ok) : iov[0].iov_len);
}
int fallocate(int fd, int mode, off_t off, off_t len) {
  if (const int err = reserve(fd, mode, off, len)) {
    errno = err;
    return -1;
  }
  return real<int (*)(int, int, off_t, off_t)>("fallocate")(fd, mode, off, len);
}
int fallocate64(int fd, int mode, off_t off, off_t len) {
  if (const int err = reserve(fd, mode, off, len)) {
    errno = err;
    return -1;
  }
  return real<int (*)(int, int, off_t, off_t)>("fallocate64")(fd, mode, off, len);
}
int posix_fallocate(int fd, off_t off, off_t len) {
  if (const int err = reserve(fd, 0, off, len)) return err;
  return real<int (*)(int, off_t, off_t)>("posix_fallocate")(fd, off, len);
}
// Shrinking a file frees what lies beyond its new end (reservations too).
int ftruncate(int fd, off_t len) {
  init();
  if (doomed(fd) && len < g_allocated[fd]) g_allocated[fd] = len;
  return real<int (*)(int, off_t)>("ftruncate")(fd, len);
}
int ftruncate64(int fd, off_t len) {
  init();
  if (doomed(fd) && len < g_allocated[fd]) g_allocated[fd] = len;
  return real<int (*)(int, off_t)>("ftruncate64")(fd, len);
}

}  // extern "C"
