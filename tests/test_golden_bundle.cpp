// `bitsim golden gemm` writes a bundle whose HDF5 datasets and hex files agree with each other and
// with the golden reference recomputed from the stored raw inputs; errors leave no bundle behind.
#include "formats/format.hpp"
#include "formats/format_text.hpp"
#include "sim/kernels/conv2d.hpp"
#include "sim/kernels/gemm.hpp"

#include <H5Cpp.h>
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace bitsim;
namespace fs = std::filesystem;

namespace {

template <class T> std::vector<T> read_dataset(H5::H5File& f, const std::string& path, const H5::PredType& type) {
  H5::DataSet ds = f.openDataSet(path);
  const auto n = static_cast<std::size_t>(ds.getSpace().getSimpleExtentNpoints());
  std::vector<T> v(n);
  ds.read(v.data(), type);
  return v;
}

std::string read_attr(H5::H5Object& obj, const std::string& name) {
  H5::Attribute a = obj.openAttribute(name);
  std::string s;
  a.read(a.getStrType(), s);
  return s;
}

std::vector<std::string> lines_of(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> v;
  for (std::string l; std::getline(in, l);) v.push_back(l);
  return v;
}

}  // namespace

TEST_CASE("bitsim golden gemm bundles agree with the golden reference", "[golden][bundle]") {
  const fs::path dir = fs::temp_directory_path() / "bitsim_test_bundle";
  fs::remove_all(dir);
  const std::string cmd = std::string(BITSIM_BINARY) +
                          " golden gemm --m 3 --k 20 --n 5 --a-format fp8_e4m3 --b-format fp8_e5m2 --acc fp16 --order pairwise"
                          " --out-format bf16 --rounding rtz --seed 11 --scale 3 --out " + dir.string() + " > /dev/null";
  REQUIRE(std::system(cmd.c_str()) == 0);
  H5::H5File f((dir / "bundle.h5").string(), H5F_ACC_RDONLY);
  H5::Group root = f.openGroup("/");
  CHECK(read_attr(root, "kind") == "gemm");
  CHECK(read_attr(root, "order") == "pairwise");
  sim::Matrix a(3, 20), b(20, 5);
  a.data = read_dataset<double>(f, "/inputs/A_raw/values", H5::PredType::NATIVE_DOUBLE);
  b.data = read_dataset<double>(f, "/inputs/B_raw/values", H5::PredType::NATIVE_DOUBLE);
  sim::GemmConfig c;
  c.a_format = formats::parse_format("fp8_e4m3");
  c.b_format = formats::parse_format("fp8_e5m2");
  c.acc = formats::parse_format("fp16");
  c.order = sim::AccOrder::pairwise;
  c.out_format = formats::parse_format("bf16");
  c.rounding = formats::Rounding::rtz;
  const sim::GemmResult ref = sim::gemm_reference(c, a, b);
  const auto codes = read_dataset<std::uint64_t>(f, "/outputs/C/codes", H5::PredType::NATIVE_UINT64);
  const auto values = read_dataset<double>(f, "/outputs/C/values", H5::PredType::NATIVE_DOUBLE);
  REQUIRE(codes == ref.codes);
  REQUIRE(values == ref.values.data);
  // The hex file holds the same codes, 4 hex digits each for bf16.
  const auto hex = lines_of(dir / "C.hex");
  REQUIRE(hex.size() == codes.size());
  for (std::size_t i = 0; i < hex.size(); ++i) CHECK(hex[i] == formats::format_code(codes[i], 16).substr(2));
  const auto a_codes = read_dataset<std::uint64_t>(f, "/inputs/A/codes", H5::PredType::NATIVE_UINT64);
  const auto a_hex = lines_of(dir / "A.hex");
  REQUIRE(a_hex.size() == 60);
  CHECK(a_hex[7] == formats::format_code(a_codes[7], 8).substr(2));
  fs::remove_all(dir);
}

TEST_CASE("bitsim golden errors leave nothing behind", "[golden][bundle][errors]") {
  const fs::path dir = fs::temp_directory_path() / "bitsim_test_bundle_bad";
  fs::remove_all(dir);
  // A bad format name is an error before anything is written.
  const std::string cmd = std::string(BITSIM_BINARY) + " golden gemm --a-format fp9 --b-format int8 --acc int32 --out-format int32 --out " +
                          dir.string() + " 2> /dev/null";
  CHECK(WEXITSTATUS(std::system(cmd.c_str())) == 2);
  CHECK_FALSE(fs::exists(dir));
  CHECK_FALSE(fs::exists(dir.string() + ".partial"));
  // An existing directory that is not a bundle is never replaced.
  fs::create_directory(dir);
  std::ofstream(dir / "keep.txt") << "mine";
  const std::string cmd2 = std::string(BITSIM_BINARY) + " golden gemm --a-format int8 --b-format int8 --acc int32 --out-format int32 --out " +
                           dir.string() + " 2> /dev/null";
  CHECK(WEXITSTATUS(std::system(cmd2.c_str())) == 2);
  CHECK(fs::exists(dir / "keep.txt"));
  fs::remove_all(dir);
}

TEST_CASE("bitsim golden conv bundles agree with the convolution kernels", "[golden][bundle]") {
  const fs::path dir = fs::temp_directory_path() / "bitsim_test_conv_bundle";
  fs::remove_all(dir);
  const std::string cmd = std::string(BITSIM_BINARY) +
                          " golden conv --n 2 --c 4 --h 5 --w 5 --k 6 --kh 3 --kw 3 --stride 2 --pad 1 --groups 2"
                          " --a-format fp8_e4m3 --b-format fp8_e5m2 --acc fp16 --out-format bf16 --seed 4 --out " +
                          dir.string() + " > /dev/null";
  REQUIRE(std::system(cmd.c_str()) == 0);
  H5::H5File f((dir / "bundle.h5").string(), H5F_ACC_RDONLY);
  sim::GemmConfig c;
  c.a_format = formats::parse_format("fp8_e4m3");
  c.b_format = formats::parse_format("fp8_e5m2");
  c.acc = formats::parse_format("fp16");
  c.out_format = formats::parse_format("bf16");
  sim::Conv2dParams p;
  p.stride_h = p.stride_w = 2;
  p.pad_h = p.pad_w = 1;
  p.groups = 2;
  const sim::Nchw xs{2, 4, 5, 5}, ws{6, 2, 3, 3}, ys{2, 6, 3, 3};
  const sim::NchwArray x(xs, read_dataset<double>(f, "/inputs/x_raw/values", H5::PredType::NATIVE_DOUBLE));
  const sim::NchwArray w(ws, read_dataset<double>(f, "/inputs/w_raw/values", H5::PredType::NATIVE_DOUBLE));
  const sim::NchwArray dy(ys, read_dataset<double>(f, "/inputs/dy_raw/values", H5::PredType::NATIVE_DOUBLE));
  CHECK(read_dataset<double>(f, "/outputs/y/values", H5::PredType::NATIVE_DOUBLE) == sim::conv2d_forward(c, x, w, p).data);
  CHECK(read_dataset<double>(f, "/outputs/dx/values", H5::PredType::NATIVE_DOUBLE) ==
        sim::conv2d_backward_input(c, dy, w, xs, p).data);
  CHECK(read_dataset<double>(f, "/outputs/dw/values", H5::PredType::NATIVE_DOUBLE) ==
        sim::conv2d_backward_weight(c, x, dy, ws, p).data);
  const auto y_codes = read_dataset<std::uint64_t>(f, "/outputs/y/codes", H5::PredType::NATIVE_UINT64);
  const auto y_hex = lines_of(dir / "y.hex");
  REQUIRE(y_hex.size() == 108);
  CHECK(y_hex[50] == formats::format_code(y_codes[50], 16).substr(2));
  fs::remove_all(dir);
}
