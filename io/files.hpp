// Reading input files and writing output files safely, for every part of bitsim that touches the file
// system (configs, matrices, test vectors, random words, checkpoints, run folders, statistics, tables,
// golden bundles).
//
// Inputs: a path that names a directory, a device or anything else that is not a regular file is an
// error naming the path (a std::ifstream opens a directory on Linux and reads it as empty).
// Outputs are replaced atomically (a temporary file in the same folder, fsync, rename), so a reader
// sees the old file or the new one, never half of one. Atomic replacement is right for regular files
// only: an output path that names a directory, device, FIFO or socket is refused before anything is
// written (renaming over /dev/full would replace the device node). A symbolic link is followed: the
// file it points to is replaced, atomically, in that file's folder, and the link stays a link.
#pragma once

#include "io/error.hpp"

#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace bitsim::io {

// A file-system error. what() starts with the path; cause() is the reason alone (e.g. "No space left
// on device", "is a directory"), for callers that prefix their own context.
class FileError : public bitsim::Error {
 public:
  FileError(std::string path, std::string cause);
  const std::string& path() const { return path_; }
  const std::string& cause() const { return cause_; }

 private:
  std::string path_, cause_;
};

// Throws FileError unless `path` names an existing regular file (symbolic links followed) that this
// process may read. For readers that open the file themselves (HDF5, zlib).
void require_regular_file(const std::string& path);

// Throws FileError unless `path` names a regular file or a pipe that this process may read: what a
// reader that streams its input (line by line) checks before opening it.
void check_input_file(const std::string& path);

// The whole content of a regular file or a pipe (`<(command)`, /dev/stdin when piped). Throws
// FileError when the path is missing, unreadable, a directory, a device or a socket, or a read fails.
std::string read_file(const std::string& path);

// Where an output named `path` is written: `path` itself, or for a symbolic link (a chain of them) the
// file it finally points to. Throws FileError when that exists and is not a regular file.
std::string output_target(const std::string& path);

// The same for an output folder (a golden-vector bundle): `dir`, or what its links point to. Throws
// FileError when that exists and is not a folder.
std::string output_directory_target(const std::string& dir);

// Throws FileError when `path` cannot be an output file (see output_target). A command calls it for
// each output before it starts long work, so that a bad output path fails early.
void check_output_path(const std::string& path);

// Replaces the file at output_target(path) by `text`, atomically. On failure the old file (if any) is
// unchanged, no temporary file is left, and FileError names the file and the cause.
void write_file_atomically(const std::string& path, std::string_view text);

// For writers that produce a whole file by their own means (HDF5): `write` receives the path of a
// temporary file in the target's folder and must create it there; when it returns, the file is synced
// and renamed over the target. If `write` throws, the temporary file is removed and the exception
// passes on; the old file is unchanged.
void replace_file_atomically(const std::string& path, const std::function<void(const std::string& temp_path)>& write);

// Makes `dir` and its parents as needed. Throws FileError when a component exists and is not a
// directory, or cannot be created.
void make_directories(const std::string& dir);

// An exclusive lock (flock) on an existing file, held while the object lives, for a writer that keeps
// a file open and changes it in place (the statistics file). The lock belongs to the open file: a
// process started with a copy of this one's file table (clone, fork) holds it too until it exits, so
// a helper process that finishes a write keeps the lock until the write is done. Waits up to
// `wait_seconds` for another holder to let go; then throws FileError ("is being written by another
// process").
class FileLock {
 public:
  FileLock(const std::string& path, double wait_seconds);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace bitsim::io
