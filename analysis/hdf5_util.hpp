// Small helpers over the HDF5 C++ API shared by the statistics writer and reader: the compound types
// of StatsRow and StepRow, attributes, appending a row to an extendible dataset. Internal to analysis/.
#pragma once

#include "analysis/stats_schema.hpp"

#include <H5Cpp.h>

#include <cstdint>
#include <optional>
#include <string>

namespace bitsim::analysis::h5 {

// Compound types laid out as the C++ structs (field names = member names).
const H5::CompType& stats_row_type();
const H5::CompType& step_row_type();

void set_attr(H5::H5Object& o, const char* name, const std::string& v);
void set_attr(H5::H5Object& o, const char* name, std::int64_t v);
void set_attr(H5::H5Object& o, const char* name, double v);
bool has_attr(const H5::H5Object& o, const char* name);
std::string attr_string(const H5::H5Object& o, const char* name);
std::int64_t attr_int(const H5::H5Object& o, const char* name);
double attr_double(const H5::H5Object& o, const char* name);

bool exists(const H5::Group& g, const std::string& path);

// A file HDF5 could not flush (a full disk) cannot be closed either, and HDF5 1.10's exit handler,
// which retries the close, then crashes. A writer in that state keeps the file open, marks it here,
// and the program ends with std::_Exit instead of returning from main (apps/bitsim/main.cpp), so the
// error it reported stays the last word. What the file held at its last successful flush stays readable.
void mark_unclosable_file();
bool unclosable_file_open();

// The cause of the HDF5 error being handled, from HDF5's error stack: the operating system's message
// when a read or write failed ("No space left on device"), else the innermost description; nullopt
// when the stack is empty. Call it in the catch block, before any other HDF5 call clears the stack.
std::optional<std::string> error_cause();

// Makes sure the next flush of `file` finds the disk space it needs: reserves, beyond the end of the
// file, room for every byte the flush may write past it (up to HDF5's end of allocated addresses, and
// a margin).
// HDF5 1.10 updates its metadata in place, so a flush cut short by a full disk leaves the file
// unreadable; a failed reservation instead leaves the file as its last flush wrote it. Throws
// std::system_error (ENOSPC, EDQUOT, ...) when the space is not there; does nothing on a file system
// that cannot reserve (fallocate unsupported).
void reserve_flush_space(H5::H5File& file);
// After the flush: gives back what the reservation holds beyond the end of the file.
void release_flush_space(H5::H5File& file);

// Flushes the file so that a SIGKILL of this process at any moment leaves it readable.
// HDF5 1.10 writes metadata in place, so a process killed inside a flush leaves a torn file. Here the
// flush runs in a separate process that shares this one's memory (clone with CLONE_VM and
// CLONE_VFORK, as posix_spawn does) while the calling thread waits: a SIGKILL of this process does not
// reach it, and it finishes the flush on its own. (A kill of the whole process group, or of that
// process, can still tear the file.) Where the process cannot be started, the flush runs here.
// Throws H5::Exception when the flush fails.
void flush_surviving_kill(H5::H5File& file);

// An extendible dataset of `cols` columns (0: one-dimensional), chunked by `chunk_rows`, shuffled and
// deflated at `deflate` (0: uncompressed).
H5::DataSet create_rows(H5::Group& g, const std::string& name, const H5::DataType& type, hsize_t cols, hsize_t chunk_rows,
                        int deflate);
// Number of rows (extent of the first dimension).
hsize_t rows(const H5::DataSet& ds);
// Appends one row (cols values; 1 for a one-dimensional dataset) from `data` in memory type `mem`. A
// failed write throws an H5::Exception whose detail is error_cause() ("No space left on device").
void append_row(H5::DataSet& ds, const void* data, const H5::DataType& mem, hsize_t cols);
// Reads row `row` into `data`.
void read_row(const H5::DataSet& ds, hsize_t row, void* data, const H5::DataType& mem, hsize_t cols);
// Shrinks (or grows) the first dimension to `n` rows.
void set_rows(H5::DataSet& ds, hsize_t n);

}  // namespace bitsim::analysis::h5
