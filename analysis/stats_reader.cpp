#include "analysis/stats_reader.hpp"

#include "analysis/hdf5_util.hpp"
#include "io/files.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

namespace bitsim::analysis {

struct StatsReader::Impl {
  std::string path;
  H5::H5File file;
  std::int64_t version = 0, every = 0;
  std::vector<StepRow> steps;
  std::vector<SiteMeta> sites;

  [[noreturn]] void fail(const std::string& what) const { throw StatsFileError(path + ": " + what); }
};

StatsReader::StatsReader(const std::string& path) : impl_(std::make_unique<Impl>()) {
  H5::Exception::dontPrint();
  Impl& im = *impl_;
  im.path = path;
  try {
    io::require_regular_file(path);  // HDF5 reads a directory or a device with a misleading message
  } catch (const io::FileError& e) {
    throw StatsFileError(e.what());
  }
  try {
    if (!H5::H5File::isHdf5(path)) im.fail("not an HDF5 file");
    H5::FileAccPropList fapl;
    H5Pset_file_locking(fapl.getId(), false, true);
    im.file = H5::H5File(path, H5F_ACC_RDONLY, H5::FileCreatPropList::DEFAULT, fapl);
    if (!h5::has_attr(im.file, "schema") || h5::attr_string(im.file, "schema") != kStatsSchema)
      im.fail("an HDF5 file, but not a bitsim statistics file (no schema = \"bitsim-stats\" attribute)");
    im.version = h5::attr_int(im.file, "schema_version");
    if (im.version < 1 || im.version > kStatsSchemaVersion)
      im.fail(fmt::format("schema_version {} is not one this bitsim reads (1..{})", im.version, kStatsSchemaVersion));
    im.every = h5::has_attr(im.file, "every") ? h5::attr_int(im.file, "every") : 0;
    if (!h5::exists(im.file, "steps")) im.fail("no /steps dataset");
    H5::DataSet st = im.file.openDataSet("steps");
    im.steps.resize(h5::rows(st));
    if (!im.steps.empty()) st.read(im.steps.data(), h5::step_row_type());
    im.steps.resize(complete_step_rows(im.steps, [](const StepRow& r) { return r.step; }));
    if (h5::exists(im.file, "layers")) {
      H5::Group layers = im.file.openGroup("layers");
      for (hsize_t i = 0; i < layers.getNumObjs(); ++i) {
        const std::string lname = layers.getObjnameByIdx(i);
        H5::Group lg = layers.openGroup(lname);
        for (hsize_t k = 0; k < lg.getNumObjs(); ++k) {
          const std::string sname = lg.getObjnameByIdx(k);
          H5::Group g = lg.openGroup(sname);
          SiteMeta m;
          m.group = "/layers/" + lname + "/" + sname;
          m.layer = h5::attr_string(g, "layer");
          m.kind = h5::attr_string(g, "kind");
          m.node = h5::attr_int(g, "node");
          m.role = h5::attr_string(g, "role");
          m.tensor = h5::attr_string(g, "tensor");
          m.slot = h5::attr_int(g, "slot");
          m.quantizer = h5::attr_string(g, "quantizer");
          m.format = h5::attr_string(g, "format");
          m.format_bits = h5::attr_int(g, "format_bits");
          m.limits.codes = static_cast<std::uint64_t>(h5::attr_int(g, "codes"));
          m.limits.max_finite = h5::attr_double(g, "max_finite");
          m.limits.min_finite = h5::attr_double(g, "min_finite");
          m.order = h5::attr_int(g, "order");
          // Rows beyond the committed steps belong to a step that was not completed.
          m.rows = std::min<std::uint64_t>(h5::rows(g.openDataSet("stats")), im.steps.size());
          im.sites.push_back(std::move(m));
        }
      }
    }
  } catch (const H5::Exception& e) {
    im.fail("damaged or not a statistics file: " + e.getDetailMsg());
  }
  std::stable_sort(im.sites.begin(), im.sites.end(),
                   [](const SiteMeta& a, const SiteMeta& b) { return a.node != b.node ? a.node < b.node : a.order < b.order; });
}

StatsReader::StatsReader(StatsReader&&) noexcept = default;
StatsReader::~StatsReader() = default;

const std::string& StatsReader::path() const { return impl_->path; }
std::int64_t StatsReader::schema_version() const { return impl_->version; }
std::int64_t StatsReader::every() const { return impl_->every; }
std::string StatsReader::root_string(const char* name) const {
  try {
    return h5::has_attr(impl_->file, name) ? h5::attr_string(impl_->file, name) : std::string();
  } catch (const H5::Exception& e) {
    impl_->fail(fmt::format("attribute {}: {}", name, e.getDetailMsg()));
  }
}
const std::vector<StepRow>& StatsReader::steps() const { return impl_->steps; }
const std::vector<SiteMeta>& StatsReader::sites() const { return impl_->sites; }

std::optional<std::size_t> StatsReader::find(const std::string& group) const {
  for (std::size_t i = 0; i < impl_->sites.size(); ++i)
    if (impl_->sites[i].group == group) return i;
  return std::nullopt;
}

std::vector<StatsRow> StatsReader::rows(std::size_t site) const {
  const SiteMeta& m = impl_->sites.at(site);
  std::vector<StatsRow> out(m.rows);
  try {
    H5::DataSet ds = impl_->file.openDataSet(m.group + "/stats");
    for (std::uint64_t r = 0; r < m.rows; ++r) h5::read_row(ds, r, &out[r], h5::stats_row_type(), 1);
  } catch (const H5::Exception& e) {
    impl_->fail(fmt::format("{}/stats: {}", m.group, e.getDetailMsg()));
  }
  return out;
}

std::optional<StatsRow> StatsReader::row_at(std::size_t site, std::uint64_t step) const {
  for (const StatsRow& r : rows(site))
    if (r.step == step) return r;
  return std::nullopt;
}

std::vector<std::uint64_t> StatsReader::hist(std::size_t site, std::uint64_t row, bool after) const {
  const SiteMeta& m = impl_->sites.at(site);
  std::vector<std::uint64_t> out(kHistBins);
  const std::string name = m.group + (after ? "/hist_after" : "/hist_before");
  try {
    H5::DataSet ds = impl_->file.openDataSet(name);
    if (row >= h5::rows(ds)) impl_->fail(fmt::format("{}: no row {}", name, row));
    h5::read_row(ds, row, out.data(), H5::PredType::NATIVE_UINT64, kHistBins);
  } catch (const H5::Exception& e) {
    impl_->fail(fmt::format("{}: {}", name, e.getDetailMsg()));
  }
  return out;
}

}  // namespace bitsim::analysis
