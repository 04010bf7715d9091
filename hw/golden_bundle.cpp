#include "hw/golden_bundle.hpp"

#include "formats/format_text.hpp"
#include "io/files.hpp"

#include <H5Cpp.h>
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace bitsim::hw {

namespace fs = std::filesystem;

namespace {

void write_string_attribute(H5::H5Object& obj, const std::string& name, const std::string& value) {
  const H5::StrType type(H5::PredType::C_S1, value.empty() ? 1 : value.size());
  const H5::DataSpace scalar(H5S_SCALAR);
  H5::Attribute attr = obj.createAttribute(name, type, scalar);
  attr.write(type, value.empty() ? std::string(" ") : value);
}

template <class T>
void write_dataset(H5::Group& group, const std::string& name, const std::vector<std::int64_t>& shape,
                   const std::vector<T>& data, const H5::PredType& type) {
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  const H5::DataSpace space(static_cast<int>(dims.size()), dims.data());
  H5::DataSet ds = group.createDataSet(name, type, space);
  ds.write(data.data(), type);
}

void write_hex(const BundleTensor& t, const fs::path& path) {
  std::ofstream out(path);
  if (!out) throw io::FileError(path.string(), "cannot create");
  const int digits = (t.width + 3) / 4;
  for (std::uint64_t c : t.codes) out << formats::format_code(c, t.width).substr(2, static_cast<std::size_t>(digits)) << '\n';
  if (!out) throw io::FileError(path.string(), "write failed");
}

void write_h5(const Bundle& b, const fs::path& path) {
  H5::Exception::dontPrint();
  try {
    H5::H5File file(path.string(), H5F_ACC_TRUNC);
    H5::Group root = file.openGroup("/");
    write_string_attribute(root, "kind", b.kind);
    for (const auto& [k, v] : b.attributes) write_string_attribute(root, k, v);
    H5::Group inputs = file.createGroup("/inputs"), outputs = file.createGroup("/outputs");
    for (const BundleTensor& t : b.tensors) {
      H5::Group& g = t.role == "input" ? inputs : outputs;
      H5::Group tg = g.createGroup(t.name);
      write_dataset(tg, "values", t.shape, t.values, H5::PredType::NATIVE_DOUBLE);
      write_dataset(tg, "codes", t.shape, t.codes, H5::PredType::NATIVE_UINT64);
      write_string_attribute(tg, "format", t.format);
      write_string_attribute(tg, "code_width", std::to_string(t.width));
      write_string_attribute(tg, "hex_file", t.name + ".hex");
    }
    file.flush(H5F_SCOPE_GLOBAL);
  } catch (const H5::Exception& e) {
    throw io::FileError(path.string(), "HDF5 error: " + e.getDetailMsg());
  }
}

void write_manifest(const Bundle& b, const fs::path& path) {
  std::ofstream out(path);
  if (!out) throw io::FileError(path.string(), "cannot create");
  out << "bitsim golden-vector bundle (layout: docs/golden-vectors.md)\n";
  out << "kind: " << b.kind << "\n";
  for (const auto& [k, v] : b.attributes) out << k << ": " << v << "\n";
  out << "\nfiles:\n  bundle.h5: /inputs/<name>/{values,codes}, /outputs/<name>/{values,codes}, attributes as above\n";
  for (const BundleTensor& t : b.tensors) {
    out << "  " << t.name << ".hex: " << t.role << ", shape [";
    for (std::size_t i = 0; i < t.shape.size(); ++i) out << (i ? "," : "") << t.shape[i];
    out << "] row-major, " << t.codes.size() << " codes of " << t.width << " bits in " << t.format << "\n";
  }
  if (!out) throw io::FileError(path.string(), "write failed");
}

}  // namespace

void write_bundle(const Bundle& b, const std::string& dir) {
  // A link to a bundle folder stays a link: the folder it points to is replaced.
  const fs::path target(io::output_directory_target(dir));
  if (fs::exists(target) && !fs::exists(target / "manifest.txt"))
    throw io::FileError(dir, "exists and is not a bitsim bundle (no manifest.txt); refusing to replace it");
  const fs::path parent = target.has_parent_path() ? target.parent_path() : fs::path(".");
  if (!fs::is_directory(parent)) throw io::FileError(dir, "parent directory does not exist");
  const fs::path tmp = parent / (target.filename().string() + ".partial");
  std::error_code ec;
  fs::remove_all(tmp, ec);
  if (!fs::create_directory(tmp, ec)) throw io::FileError(tmp.string(), fmt::format("cannot create ({})", ec.message()));
  try {
    write_h5(b, tmp / "bundle.h5");
    for (const BundleTensor& t : b.tensors) write_hex(t, tmp / (t.name + ".hex"));
    write_manifest(b, tmp / "manifest.txt");
    if (fs::exists(target)) fs::remove_all(target);
    fs::rename(tmp, target);
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
}

}  // namespace bitsim::hw
