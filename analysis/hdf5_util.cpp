#include "analysis/hdf5_util.hpp"

#include <atomic>
#include <optional>
#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <system_error>
#include <vector>

namespace bitsim::analysis::h5 {

namespace {
H5::CompType build_stats_type() {
  H5::CompType t(sizeof(StatsRow));
  const H5::PredType& u = H5::PredType::NATIVE_UINT64;
  const H5::PredType& d = H5::PredType::NATIVE_DOUBLE;
  const H5::PredType& i = H5::PredType::NATIVE_INT32;
#define BITSIM_FIELD(name, type) t.insertMember(#name, HOFFSET(StatsRow, name), type)
  BITSIM_FIELD(step, u);
  BITSIM_FIELD(count, u);
  BITSIM_FIELD(before_finite, u);
  BITSIM_FIELD(before_zeros, u);
  BITSIM_FIELD(before_pos_inf, u);
  BITSIM_FIELD(before_neg_inf, u);
  BITSIM_FIELD(before_nan, u);
  BITSIM_FIELD(before_mean, d);
  BITSIM_FIELD(before_std, d);
  BITSIM_FIELD(before_min, d);
  BITSIM_FIELD(before_max, d);
  BITSIM_FIELD(before_absmax, d);
  BITSIM_FIELD(before_skewness, d);
  BITSIM_FIELD(before_kurtosis, d);
  BITSIM_FIELD(after_finite, u);
  BITSIM_FIELD(after_zeros, u);
  BITSIM_FIELD(after_pos_inf, u);
  BITSIM_FIELD(after_neg_inf, u);
  BITSIM_FIELD(after_nan, u);
  BITSIM_FIELD(after_mean, d);
  BITSIM_FIELD(after_std, d);
  BITSIM_FIELD(after_min, d);
  BITSIM_FIELD(after_max, d);
  BITSIM_FIELD(after_absmax, d);
  BITSIM_FIELD(after_skewness, d);
  BITSIM_FIELD(after_kurtosis, d);
  BITSIM_FIELD(underflow, u);
  BITSIM_FIELD(saturated, u);
  BITSIM_FIELD(overflow, u);
  BITSIM_FIELD(mse, d);
  BITSIM_FIELD(snr_db, d);
  BITSIM_FIELD(distinct, u);
  BITSIM_FIELD(utilization, d);
  BITSIM_FIELD(scaled, i);
  BITSIM_FIELD(scale_exponent, i);
#undef BITSIM_FIELD
  return t;
}

H5::CompType build_step_type() {
  H5::CompType t(sizeof(StepRow));
  t.insertMember("step", HOFFSET(StepRow, step), H5::PredType::NATIVE_UINT64);
  t.insertMember("loss", HOFFSET(StepRow, loss), H5::PredType::NATIVE_DOUBLE);
  t.insertMember("accuracy", HOFFSET(StepRow, accuracy), H5::PredType::NATIVE_DOUBLE);
  t.insertMember("lr", HOFFSET(StepRow, lr), H5::PredType::NATIVE_DOUBLE);
  return t;
}
}  // namespace

const H5::CompType& stats_row_type() {
  static const H5::CompType t = build_stats_type();
  return t;
}
const H5::CompType& step_row_type() {
  static const H5::CompType t = build_step_type();
  return t;
}

void set_attr(H5::H5Object& o, const char* name, const std::string& v) {
  if (o.attrExists(name)) o.removeAttr(name);
  H5::StrType t(H5::PredType::C_S1, H5T_VARIABLE);
  t.setCset(H5T_CSET_UTF8);
  H5::Attribute a = o.createAttribute(name, t, H5::DataSpace(H5S_SCALAR));
  a.write(t, v);
}
void set_attr(H5::H5Object& o, const char* name, std::int64_t v) {
  if (o.attrExists(name)) o.removeAttr(name);
  H5::Attribute a = o.createAttribute(name, H5::PredType::NATIVE_INT64, H5::DataSpace(H5S_SCALAR));
  a.write(H5::PredType::NATIVE_INT64, &v);
}
void set_attr(H5::H5Object& o, const char* name, double v) {
  if (o.attrExists(name)) o.removeAttr(name);
  H5::Attribute a = o.createAttribute(name, H5::PredType::NATIVE_DOUBLE, H5::DataSpace(H5S_SCALAR));
  a.write(H5::PredType::NATIVE_DOUBLE, &v);
}
bool has_attr(const H5::H5Object& o, const char* name) { return o.attrExists(name); }
std::string attr_string(const H5::H5Object& o, const char* name) {
  H5::Attribute a = o.openAttribute(name);
  if (a.getTypeClass() != H5T_STRING) throw H5::AttributeIException("attr_string", std::string(name) + " is not a string");
  std::string v;
  a.read(a.getStrType(), v);
  return v;
}
std::int64_t attr_int(const H5::H5Object& o, const char* name) {
  H5::Attribute a = o.openAttribute(name);
  if (a.getTypeClass() != H5T_INTEGER) throw H5::AttributeIException("attr_int", std::string(name) + " is not an integer");
  std::int64_t v = 0;
  a.read(H5::PredType::NATIVE_INT64, &v);
  return v;
}
double attr_double(const H5::H5Object& o, const char* name) {
  H5::Attribute a = o.openAttribute(name);
  const H5T_class_t c = a.getTypeClass();
  if (c != H5T_FLOAT && c != H5T_INTEGER) throw H5::AttributeIException("attr_double", std::string(name) + " is not a number");
  double v = 0;
  a.read(H5::PredType::NATIVE_DOUBLE, &v);
  return v;
}

bool exists(const H5::Group& g, const std::string& path) { return H5Lexists(g.getId(), path.c_str(), H5P_DEFAULT) > 0; }

H5::DataSet create_rows(H5::Group& g, const std::string& name, const H5::DataType& type, hsize_t cols, hsize_t chunk_rows,
                        int deflate) {
  const int rank = cols ? 2 : 1;
  const hsize_t dims[2] = {0, cols}, maxd[2] = {H5S_UNLIMITED, cols}, chunk[2] = {chunk_rows, cols};
  H5::DataSpace space(rank, dims, maxd);
  H5::DSetCreatPropList p;
  H5Pset_obj_track_times(p.getId(), false);  // no timestamps: equal statistics give equal datasets
  p.setChunk(rank, chunk);
  if (deflate > 0) {
    p.setShuffle();
    p.setDeflate(deflate);
  }
  return g.createDataSet(name, type, space, p);
}

hsize_t rows(const H5::DataSet& ds) {
  H5::DataSpace s = ds.getSpace();
  hsize_t dims[2] = {0, 0};
  s.getSimpleExtentDims(dims);
  return dims[0];
}

void append_row(H5::DataSet& ds, const void* data, const H5::DataType& mem, hsize_t cols) {
  H5::DataSpace s = ds.getSpace();
  const int rank = s.getSimpleExtentNdims();
  hsize_t dims[2] = {0, 0};
  s.getSimpleExtentDims(dims);
  const hsize_t grown[2] = {dims[0] + 1, dims[1]};
  ds.extend(grown);
  H5::DataSpace fs = ds.getSpace();
  const hsize_t start[2] = {dims[0], 0}, count[2] = {1, rank == 2 ? cols : 1};
  fs.selectHyperslab(H5S_SELECT_SET, count, start);
  H5::DataSpace ms(rank, count);
  try {
    ds.write(data, mem, ms, fs);
  } catch (const H5::Exception& e) {
    // The cause is on HDF5's error stack now; closing the dataspaces while unwinding would clear it.
    throw H5::DataSetIException(e.getFuncName(), error_cause().value_or(e.getDetailMsg()));
  }
}

void read_row(const H5::DataSet& ds, hsize_t row, void* data, const H5::DataType& mem, hsize_t cols) {
  H5::DataSpace fs = ds.getSpace();
  const int rank = fs.getSimpleExtentNdims();
  const hsize_t start[2] = {row, 0}, count[2] = {1, rank == 2 ? cols : 1};
  fs.selectHyperslab(H5S_SELECT_SET, count, start);
  H5::DataSpace ms(rank, count);
  ds.read(data, mem, ms, fs);
}

void set_rows(H5::DataSet& ds, hsize_t n) {
  H5::DataSpace s = ds.getSpace();
  hsize_t dims[2] = {0, 0};
  s.getSimpleExtentDims(dims);
  dims[0] = n;
  ds.extend(dims);  // H5Dset_extent: shrinks too
}

namespace {
std::atomic<bool> g_unclosable{false};

herr_t collect_error(unsigned, const H5E_error2_t* e, void* out) {
  if (e && e->desc) static_cast<std::vector<std::string>*>(out)->push_back(e->desc);
  return 0;
}
}  // namespace

std::optional<std::string> error_cause() {
  std::vector<std::string> descs;  // innermost first
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect_error, &descs);
  // The sec2 driver's "file write failed: ..., errno = 28, error message = 'No space left on device', ...".
  for (const std::string& d : descs) {
    const std::string key = "error message = '";
    if (const std::size_t k = d.find(key); k != std::string::npos) {
      const std::size_t end = d.find('\'', k + key.size());
      if (end != std::string::npos) return d.substr(k + key.size(), end - k - key.size());
    }
  }
  if (descs.empty()) return std::nullopt;
  return descs.front();
}

namespace {
// The file descriptor of a file opened with the default (sec2) driver; -1 for any other.
int file_descriptor(H5::H5File& file) {
  void* handle = nullptr;
  if (H5Fget_vfd_handle(file.getId(), H5P_DEFAULT, &handle) < 0 || !handle) return -1;
  return *static_cast<int*>(handle);
}
}  // namespace

void release_flush_space(H5::H5File& file) {
  const int fd = file_descriptor(file);
  struct stat st {};
  if (fd < 0 || fstat(fd, &st) != 0) return;
  // Frees what the reservation left beyond the end of the file (a no-op where nothing is reserved).
  (void)fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, st.st_size, off_t{1} << 40);
}

void reserve_flush_space(H5::H5File& file) {
  const int fd = file_descriptor(file);
  if (fd < 0) return;
  struct stat st {};
  if (fstat(fd, &st) != 0) return;
  size_t max_size = 0, min_clean = 0, cur_size = 0;
  int entries = 0;
  if (H5Fget_mdc_size(file.getId(), &max_size, &min_clean, &cur_size, &entries) < 0) return;
  haddr_t eoa = 0;
  if (H5Fget_eoa(file.getId(), &eoa) < 0) return;
  const auto size = static_cast<std::uint64_t>(st.st_size);
  // Every metadata entry a flush writes has its file address already allocated, below the end of the
  // address space (eoa): entries move on a flush only when their serialized size changes, which this
  // file's kinds of metadata do not (no filtered heaps, no persistent free-space sections). The margin,
  // 64 KiB and 1/16 of the metadata cache, covers what that reasoning might miss.
  const std::uint64_t beyond = (eoa > size ? eoa - size : 0) + cur_size / 16 + (std::uint64_t{1} << 16);
  if (fallocate(fd, FALLOC_FL_KEEP_SIZE, static_cast<off_t>(size), static_cast<off_t>(beyond)) == 0) return;
  const int err = errno;
  if (err == EOPNOTSUPP || err == ENOSYS) return;  // no reservation on this file system: flush unprotected
  throw std::system_error(err, std::generic_category());
}

namespace {
struct FlushJob {
  hid_t file;
  int result;  // 0 flushed, 1 failed; -1 the job did not finish
};

int run_flush_job(void* arg) {
  auto* job = static_cast<FlushJob*>(arg);
  // The job's process shares this thread's error-reporting settings: it keeps them as they were.
  H5E_auto2_t func = nullptr;
  void* data = nullptr;
  H5Eget_auto2(H5E_DEFAULT, &func, &data);
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  job->result = H5Fflush(job->file, H5F_SCOPE_GLOBAL) < 0 ? 1 : 0;
  H5Eset_auto2(H5E_DEFAULT, func, data);
  return 0;
}
}  // namespace

void flush_surviving_kill(H5::H5File& file) {
  constexpr std::size_t kStackBytes = std::size_t{8} << 20;  // touched only as deep as the flush goes
  void* stack = mmap(nullptr, kStackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack != MAP_FAILED) {
    FlushJob job{file.getId(), -1};
    // CLONE_VM: the process shares this one's memory (nothing is copied) and flushes HDF5's state in
    // place. CLONE_VFORK: this thread waits until it has exited. Not CLONE_THREAD: it is not part of
    // this process, so a SIGKILL of this process does not stop it.
    const pid_t child = clone(run_flush_job, static_cast<char*>(stack) + kStackBytes, CLONE_VM | CLONE_VFORK | SIGCHLD, &job);
    if (child > 0) {
      int status = 0;
      while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
      }
    }
    munmap(stack, kStackBytes);
    if (job.result == 0) return;
  }
  // No job process, or its flush failed: flush here (a failure throws, with HDF5's error stack).
  file.flush(H5F_SCOPE_GLOBAL);
}

void mark_unclosable_file() { g_unclosable.store(true); }
bool unclosable_file_open() { return g_unclosable.load(); }

}  // namespace bitsim::analysis::h5
