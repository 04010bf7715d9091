#include "analysis/stats_writer.hpp"

#include "analysis/hdf5_util.hpp"
#include "io/files.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <algorithm>
#include <map>
#include <optional>
#include <vector>

namespace bitsim::analysis {

namespace {

// One row per chunk, written once: a chunk is never rewritten, so no file space is ever freed and
// reused while the file on disk still points at it (a grown chunk of many rows would move at every
// flush, and its old place could be overwritten before the next flush records the move).
constexpr hsize_t kStatsChunkRows = 1;
constexpr hsize_t kWideChunkRows = 1;

// File access: no file locking (readers may watch a running log); no raw-data chunk cache, so each
// row's chunk goes to fresh space at the end of the file when written; and a metadata cache that
// keeps every change in memory until an explicit flush, so the file's structure on disk changes only
// in commit().
H5::FileAccPropList access_list() {
  H5::FileAccPropList fapl;
  H5Pset_file_locking(fapl.getId(), false, true);
  fapl.setCache(0, 0, 0, 1.0);
  H5AC_cache_config_t cfg;
  cfg.version = H5AC__CURR_CACHE_CONFIG_VERSION;
  H5Pget_mdc_config(fapl.getId(), &cfg);
  cfg.evictions_enabled = false;
  cfg.incr_mode = H5C_incr__off;
  cfg.flash_incr_mode = H5C_flash_incr__off;
  cfg.decr_mode = H5C_decr__off;
  cfg.set_initial_size = true;
  cfg.initial_size = 32 << 20;
  cfg.max_size = 128 << 20;  // H5C__MAX_MAX_CACHE_SIZE; with evictions off the cache may grow past it
  cfg.min_size = 1 << 20;
  if (H5Pset_mdc_config(fapl.getId(), &cfg) < 0) throw H5::PropListIException("access_list", "H5Pset_mdc_config failed");
  return fapl;
}

struct Site {
  SiteInfo info;
  std::string path;  // "/layers/<layer>/<site>", for messages
  H5::Group group;
  H5::DataSet stats, hist_before, hist_after;
  std::optional<H5::DataSet> sample_index, sample_before, sample_after;
};

}  // namespace

struct StatsWriter::Impl {
  // Held while the file is open, and by a flush process until its flush ends: a resumed run opens
  // the file only after a killed run's last flush is complete, and two runs never write one file.
  // Declared first, so it is released after the file is closed.
  std::optional<io::FileLock> lock;
  std::string path, partial;  // partial: the name written until the first commit (empty once renamed)
  RunInfo run;
  H5::H5File file;
  H5::DataSet steps;
  std::vector<Site> sites;
  std::map<std::string, int> by_path;

  bool failed = false;  // a write or flush failed: the file cannot be closed cleanly any more
  std::optional<std::uint64_t> last_committed;  // the last step a flush completed

  // After a failed write the file on disk is what the last flush wrote (reserve_flush_space keeps a
  // flush from being cut short): it stays, readable, or, before any step was complete, goes.
  [[noreturn]] void fail(const std::string& what, const std::string& cause) {
    failed = true;
    std::string state;
    if (!partial.empty()) {
      std::error_code ec;
      std::filesystem::remove(partial, ec);
      state = "no step was complete, so no statistics file is left";
    } else {
      state = last_committed ? fmt::format("the file keeps every step up to step {}, readable", *last_committed)
                             : std::string("the file keeps the steps it held before");
    }
    throw StatsFileError(fmt::format("{}: {}: {} ({})", path, what, cause, state));
  }
  // The cause from HDF5's error stack while it still holds one, else the exception's own detail
  // (h5::append_row puts the cause there before unwinding clears the stack).
  [[noreturn]] void fail(const std::string& what, const H5::Exception& e) {
    fail(what, h5::error_cause().value_or(e.getDetailMsg()));
  }

  void write_root_attributes() {
    h5::set_attr(file, "schema", std::string(kStatsSchema));
    h5::set_attr(file, "schema_version", kStatsSchemaVersion);
    h5::set_attr(file, "bitsim_version", run.version);
    h5::set_attr(file, "run_name", run.name);
    h5::set_attr(file, "seed", static_cast<std::int64_t>(run.seed));
    h5::set_attr(file, "every", run.every);
    h5::set_attr(file, "sample", run.sample);
    h5::set_attr(file, "config", run.config);
    h5::set_attr(file, "model", run.model);
    h5::set_attr(file, "hist_min_exponent", static_cast<std::int64_t>(kHistMinExponent));
    h5::set_attr(file, "hist_bins", static_cast<std::int64_t>(kHistBins));
  }

  H5::Group group_at(const std::string& path_name) {
    // Creates every missing group along an absolute path.
    std::string at;
    std::size_t i = 1;
    while (i <= path_name.size()) {
      const std::size_t j = std::min(path_name.find('/', i), path_name.size());
      at.append("/").append(path_name, i, j - i);
      if (!h5::exists(file, at)) file.createGroup(at);
      i = j + 1;
    }
    return file.openGroup(path_name);
  }

  void open_site_datasets(Site& s) {
    s.stats = s.group.openDataSet("stats");
    s.hist_before = s.group.openDataSet("hist_before");
    s.hist_after = s.group.openDataSet("hist_after");
    if (h5::exists(s.group, "sample_index")) {
      s.sample_index = s.group.openDataSet("sample_index");
      s.sample_before = s.group.openDataSet("sample_before");
      s.sample_after = s.group.openDataSet("sample_after");
    }
  }
};

StatsWriter::StatsWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StatsWriter::StatsWriter(StatsWriter&&) noexcept = default;
StatsWriter& StatsWriter::operator=(StatsWriter&&) noexcept = default;
StatsWriter::~StatsWriter() {
  // H5File's destructor closes (and flushes) the file. After a failed write (a full disk) that close
  // would fail too and leave HDF5 to crash at exit: keep the file open (one more reference, so the
  // destructor's close only drops it) and let the program end without HDF5's exit handler.
  if (impl_ && impl_->failed) {
    H5Iinc_ref(impl_->file.getId());
    h5::mark_unclosable_file();
  } else if (impl_) {
    // Whatever the close would write, written where a kill cannot cut it short.
    try {
      h5::flush_surviving_kill(impl_->file);
    } catch (const H5::Exception&) {
      // The close reports nothing either; the file keeps every committed step.
    }
  }
}

StatsWriter StatsWriter::create(const std::string& path, const RunInfo& run) {
  H5::Exception::dontPrint();
  auto im = std::make_unique<Impl>();
  im->path = path;
  im->partial = path + ".partial";
  im->run = run;
  std::error_code ec;
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  try {
    im->file = H5::H5File(im->partial, H5F_ACC_TRUNC, H5::FileCreatPropList::DEFAULT, access_list());
    im->lock.emplace(im->partial, 0.0);  // a new file: nobody else holds it
    im->write_root_attributes();
    im->steps = h5::create_rows(im->file, "steps", h5::step_row_type(), 0, kStatsChunkRows, static_cast<int>(run.compression));
  } catch (const H5::Exception& e) {
    throw StatsFileError(fmt::format("{}: cannot create the statistics file: {}", im->partial, h5::error_cause().value_or(e.getDetailMsg())));
  } catch (const io::FileError& e) {
    throw StatsFileError(e.what());
  }
  return StatsWriter(std::move(im));
}

StatsWriter StatsWriter::resume(const std::string& path, const RunInfo& run, std::uint64_t first_step,
                                double lock_wait_seconds) {
  H5::Exception::dontPrint();
  auto im = std::make_unique<Impl>();
  im->path = path;
  im->run = run;
  try {
    im->lock.emplace(path, lock_wait_seconds);
  } catch (const io::FileError& e) {
    throw StatsFileBusy(e.what());
  }
  try {
    if (!H5::H5File::isHdf5(path)) throw StatsFileError(path + ": not an HDF5 file, so the statistics cannot be continued");
    im->file = H5::H5File(path, H5F_ACC_RDWR, H5::FileCreatPropList::DEFAULT, access_list());
    if (!h5::has_attr(im->file, "schema") || h5::attr_string(im->file, "schema") != kStatsSchema)
      throw StatsFileError(path + ": not a bitsim statistics file (no schema = \"bitsim-stats\" attribute)");
    if (h5::attr_int(im->file, "schema_version") != kStatsSchemaVersion)
      throw StatsFileError(fmt::format("{}: schema_version {} cannot be continued by this bitsim (writes {})", path,
                                       h5::attr_int(im->file, "schema_version"), kStatsSchemaVersion));
    im->steps = im->file.openDataSet("steps");
    // Keep the rows of steps before first_step; later rows are written again by the resumed run. A
    // row whose step does not follow its predecessor's is the torn end of a flush the kill cut short
    // (complete_step_rows, stats_schema.hpp): it and the rows after it go too.
    auto keep_rows = [&](H5::DataSet& ds, const H5::CompType& type, std::size_t size) {
      std::vector<std::uint64_t> steps(h5::rows(ds));
      std::vector<unsigned char> row(size);
      for (hsize_t i = 0; i < steps.size(); ++i) {
        h5::read_row(ds, i, row.data(), type, 1);
        std::memcpy(&steps[i], row.data(), sizeof steps[i]);  // `step` is the first member of both row types
      }
      steps.resize(complete_step_rows(steps, [](std::uint64_t step) { return step; }));
      return static_cast<hsize_t>(std::lower_bound(steps.begin(), steps.end(), first_step) - steps.begin());
    };
    const hsize_t kept_steps = keep_rows(im->steps, h5::step_row_type(), sizeof(StepRow));
    h5::set_rows(im->steps, kept_steps);
    if (kept_steps > 0) {
      StepRow last;
      h5::read_row(im->steps, kept_steps - 1, &last, h5::step_row_type(), 1);
      im->last_committed = last.step;
    }
    if (h5::exists(im->file, "layers")) {
      H5::Group layers = im->file.openGroup("layers");
      for (hsize_t i = 0; i < layers.getNumObjs(); ++i) {
        const std::string lname = layers.getObjnameByIdx(i);
        H5::Group lg = layers.openGroup(lname);
        for (hsize_t k = 0; k < lg.getNumObjs(); ++k) {
          Site s;
          const std::string sname = lg.getObjnameByIdx(k);
          s.group = lg.openGroup(sname);
          im->open_site_datasets(s);
          s.info.order = h5::attr_int(s.group, "order");
          const hsize_t keep = keep_rows(s.stats, h5::stats_row_type(), sizeof(StatsRow));
          for (H5::DataSet* ds : {&s.stats, &s.hist_before, &s.hist_after}) h5::set_rows(*ds, keep);
          if (s.sample_index)
            for (H5::DataSet* ds : {&*s.sample_index, &*s.sample_before, &*s.sample_after}) h5::set_rows(*ds, keep);
          const std::string p = "/layers/" + lname + "/" + sname;
          s.path = p;
          im->by_path[p] = static_cast<int>(im->sites.size());
          im->sites.push_back(std::move(s));
        }
      }
    }
    h5::flush_surviving_kill(im->file);
  } catch (const H5::Exception& e) {
    throw StatsFileError(fmt::format("{}: cannot continue the statistics file (damaged?): {}", path, e.getDetailMsg()));
  }
  return StatsWriter(std::move(im));
}

int StatsWriter::site(const SiteInfo& info) {
  Impl& im = *impl_;
  const std::string p = info.path();
  if (auto it = im.by_path.find(p); it != im.by_path.end()) return it->second;
  try {
    Site s;
    s.info = info;
    s.path = p;
    s.info.order = static_cast<std::int64_t>(im.sites.size());
    if (h5::exists(im.file, p)) {
      s.group = im.file.openGroup(p);
      im.open_site_datasets(s);
    } else {
      s.group = im.group_at(p);
      H5::Group layer = im.file.openGroup(p.substr(0, p.rfind('/')));
      if (!h5::has_attr(layer, "kind")) {
        h5::set_attr(layer, "kind", info.kind);
        h5::set_attr(layer, "node", info.node);
      }
      h5::set_attr(s.group, "layer", info.layer);
      h5::set_attr(s.group, "kind", info.kind);
      h5::set_attr(s.group, "node", info.node);
      h5::set_attr(s.group, "role", info.role);
      h5::set_attr(s.group, "tensor", info.tensor);
      h5::set_attr(s.group, "slot", info.slot);
      h5::set_attr(s.group, "quantizer", info.quantizer);
      h5::set_attr(s.group, "format", info.format);
      h5::set_attr(s.group, "format_bits", info.format_bits);
      h5::set_attr(s.group, "codes", static_cast<std::int64_t>(info.limits.codes));
      h5::set_attr(s.group, "max_finite", info.limits.max_finite);
      h5::set_attr(s.group, "min_finite", info.limits.min_finite);
      h5::set_attr(s.group, "order", s.info.order);
      const int z = static_cast<int>(im.run.compression);
      s.stats = h5::create_rows(s.group, "stats", h5::stats_row_type(), 0, kStatsChunkRows, z);
      s.hist_before = h5::create_rows(s.group, "hist_before", H5::PredType::NATIVE_UINT64, kHistBins, kWideChunkRows, z);
      s.hist_after = h5::create_rows(s.group, "hist_after", H5::PredType::NATIVE_UINT64, kHistBins, kWideChunkRows, z);
      if (im.run.sample > 0) {
        const auto k = static_cast<hsize_t>(im.run.sample);
        s.sample_index = h5::create_rows(s.group, "sample_index", H5::PredType::NATIVE_UINT64, k, kWideChunkRows, z);
        s.sample_before = h5::create_rows(s.group, "sample_before", H5::PredType::NATIVE_FLOAT, k, kWideChunkRows, z);
        s.sample_after = h5::create_rows(s.group, "sample_after", H5::PredType::NATIVE_FLOAT, k, kWideChunkRows, z);
      }
    }
    im.by_path[p] = static_cast<int>(im.sites.size());
    im.sites.push_back(std::move(s));
    return static_cast<int>(im.sites.size()) - 1;
  } catch (const H5::Exception& e) {
    im.fail("cannot create the group " + p, e);
  }
}

void StatsWriter::write(int site, const StatsRow& row, const TensorStats& stats, std::span<const std::uint64_t> sample_index,
                        std::span<const float> sample_before, std::span<const float> sample_after) {
  Impl& im = *impl_;
  Site& s = im.sites.at(static_cast<std::size_t>(site));
  try {
    h5::append_row(s.stats, &row, h5::stats_row_type(), 1);
    h5::append_row(s.hist_before, stats.before.hist.data(), H5::PredType::NATIVE_UINT64, kHistBins);
    h5::append_row(s.hist_after, stats.after.hist.data(), H5::PredType::NATIVE_UINT64, kHistBins);
    if (s.sample_index) {
      const auto k = static_cast<std::size_t>(im.run.sample);
      if (sample_index.size() != k || sample_before.size() != k || sample_after.size() != k)
        throw StatsFileError(fmt::format("{}: a sample of {} values was expected", im.path, k));
      h5::append_row(*s.sample_index, sample_index.data(), H5::PredType::NATIVE_UINT64, k);
      h5::append_row(*s.sample_before, sample_before.data(), H5::PredType::NATIVE_FLOAT, k);
      h5::append_row(*s.sample_after, sample_after.data(), H5::PredType::NATIVE_FLOAT, k);
    }
  } catch (const H5::Exception& e) {
    im.fail("cannot write the statistics of " + s.path, e);
  }
}

void StatsWriter::commit(const StepRow& row) {
  Impl& im = *impl_;
  try {
    h5::append_row(im.steps, &row, h5::step_row_type(), 1);
  } catch (const H5::Exception& e) {
    im.fail(fmt::format("cannot write step {}", row.step), e);
  }
  try {
    h5::reserve_flush_space(im.file);
  } catch (const std::system_error& e) {
    im.fail(fmt::format("cannot write step {}", row.step), e.code().message());
  }
  try {
    h5::flush_surviving_kill(im.file);
  } catch (const H5::Exception& e) {
    im.fail(fmt::format("cannot write step {}", row.step), e);
  }
  h5::release_flush_space(im.file);
  im.last_committed = row.step;
  if (!im.partial.empty()) {
    std::error_code ec;
    std::filesystem::rename(im.partial, im.path, ec);
    if (ec) throw StatsFileError(fmt::format("{}: cannot rename {} to it: {}", im.path, im.partial, ec.message()));
    im.partial.clear();
  }
}

std::uint64_t StatsWriter::committed_steps() const { return h5::rows(impl_->steps); }
const std::string& StatsWriter::path() const { return impl_->path; }

}  // namespace bitsim::analysis
