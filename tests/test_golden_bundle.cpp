// `bitsim golden gemm`, `conv` and `attention` write bundles whose HDF5 datasets and hex files agree with each other and
// with the golden reference recomputed from the stored raw inputs; errors leave no bundle behind.
#include "formats/format.hpp"
#include "formats/format_text.hpp"
#include "formats/quantizer.hpp"
#include "sim/kernels/conv2d.hpp"
#include "sim/kernels/gemm.hpp"
#include "sim/nn/layers/attention_layer.hpp"

#include <H5Cpp.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
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

TEST_CASE("bitsim golden gemm with MX operands: element codes, E8M0 scales and C against the OCP rule", "[golden][bundle][mx]") {
  const fs::path dir = fs::temp_directory_path() / "bitsim_test_bundle_mx";
  fs::remove_all(dir);
  // k = 70: A's rows in blocks of 32 (32, 32, 6), B's columns in blocks of 16 (4 x 16, 6).
  const std::int64_t m = 3, k = 70, n = 4;
  const std::string cmd = std::string(BITSIM_BINARY) +
                          " golden gemm --m 3 --k 70 --n 4 --a-format mxfp8_e4m3 --b-format 'mx(element=fp4_e2m1,block=16)'"
                          " --acc fp32 --out-format fp32 --seed 5 --scale 4 --out " + dir.string() + " > /dev/null";
  REQUIRE(std::system(cmd.c_str()) == 0);
  H5::H5File f((dir / "bundle.h5").string(), H5F_ACC_RDONLY);
  const auto a_raw = read_dataset<double>(f, "/inputs/A_raw/values", H5::PredType::NATIVE_DOUBLE);
  const auto b_raw = read_dataset<double>(f, "/inputs/B_raw/values", H5::PredType::NATIVE_DOUBLE);
  auto hex_codes = [&](const std::string& name) {
    std::vector<std::uint64_t> v;
    for (const std::string& l : lines_of(dir / (name + ".hex"))) v.push_back(std::stoull(l, nullptr, 16));
    return v;
  };
  const auto a_codes = hex_codes("A"), a_scales = hex_codes("A_scale"), b_codes = hex_codes("B"), b_scales = hex_codes("B_scale");
  REQUIRE(a_codes.size() == static_cast<std::size_t>(m * k));
  REQUIRE(a_scales.size() == static_cast<std::size_t>(m * 3));  // [m, 3 blocks]
  REQUIRE(b_codes.size() == static_cast<std::size_t>(k * n));
  REQUIRE(b_scales.size() == static_cast<std::size_t>(5 * n));  // [5 blocks, n]
  // The OCP MX rule written out: X = 2^e, e = clamp(floor(log2 amax) - emax_elem, -127, 127); element =
  // round_rne(clamp(x / X, -L, L)); E8M0 code e + 127.
  auto oracle = [](const formats::Format& elem, int emax, double largest, const std::vector<double>& xs, std::vector<std::uint64_t>& codes,
                   std::uint64_t& scale, std::vector<double>& decoded) {
    double amax = 0;
    for (double x : xs) amax = std::max(amax, std::fabs(x));
    int e = -127;
    if (amax > 0) {
      int ex = 0;
      std::frexp(amax, &ex);
      e = std::clamp(ex - 1 - emax, -127, 127);
    }
    scale = static_cast<std::uint64_t>(e + 127);
    const formats::Quantizer q(elem);
    for (double x : xs) {
      const double y = std::clamp(std::ldexp(x, -e), -largest, largest);
      const formats::Quantized r = q.quantize(y);
      codes.push_back(*r.code);
      decoded.push_back(std::ldexp(r.value, e));
    }
  };
  const formats::Format e4m3 = formats::parse_format("fp8_e4m3"), e2m1 = formats::parse_format("fp4_e2m1");
  sim::Matrix a(m, k), b(k, n);
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t blk = 0; blk < 3; ++blk) {
      const std::int64_t k0 = blk * 32, k1 = std::min<std::int64_t>(k, k0 + 32);
      std::vector<double> xs(a_raw.begin() + i * k + k0, a_raw.begin() + i * k + k1), dec;
      std::vector<std::uint64_t> codes;
      std::uint64_t scale = 0;
      oracle(e4m3, 8, 448, xs, codes, scale, dec);
      INFO("A row " << i << " block " << blk);
      CHECK(a_scales[static_cast<std::size_t>(i * 3 + blk)] == scale);
      for (std::int64_t j = k0; j < k1; ++j) {
        CHECK(a_codes[static_cast<std::size_t>(i * k + j)] == codes[static_cast<std::size_t>(j - k0)]);
        a.data[static_cast<std::size_t>(i * k + j)] = dec[static_cast<std::size_t>(j - k0)];
      }
    }
  for (std::int64_t col = 0; col < n; ++col)
    for (std::int64_t blk = 0; blk < 5; ++blk) {
      const std::int64_t k0 = blk * 16, k1 = std::min<std::int64_t>(k, k0 + 16);
      std::vector<double> xs, dec;
      for (std::int64_t j = k0; j < k1; ++j) xs.push_back(b_raw[static_cast<std::size_t>(j * n + col)]);
      std::vector<std::uint64_t> codes;
      std::uint64_t scale = 0;
      oracle(e2m1, 2, 6, xs, codes, scale, dec);
      INFO("B column " << col << " block " << blk);
      CHECK(b_scales[static_cast<std::size_t>(blk * n + col)] == scale);
      for (std::int64_t j = k0; j < k1; ++j) {
        CHECK(b_codes[static_cast<std::size_t>(j * n + col)] == codes[static_cast<std::size_t>(j - k0)]);
        b.data[static_cast<std::size_t>(j * n + col)] = dec[static_cast<std::size_t>(j - k0)];
      }
    }
  // C: the golden reference GEMM of the decoded operands (exact products, fp32 accumulation in k order).
  sim::GemmConfig c;
  c.a_format = c.b_format = formats::parse_format("fp64");
  c.acc = formats::parse_format("fp32");
  c.out_format = formats::parse_format("fp32");
  const sim::GemmResult ref = sim::gemm_reference(c, a, b);
  CHECK(hex_codes("C") == ref.codes);
  H5::Group root = f.openGroup("/");
  CHECK(read_attr(root, "a_format") == "mx(element=float(e=4,m=3,special=fn))");
  CHECK_THAT(read_attr(root, "mx"), Catch::Contains("E8M0"));
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

TEST_CASE("bitsim golden attention equals the engine's attention layer bit for bit", "[golden][bundle][transformer]") {
  // The bundle is computed on the golden path (sim::gemm on doubles, explicit roundings); the engine's
  // layer runs its fp32 kernels. With --out-format fp32 both must give the same bits, for the default
  // accumulation and for one the engine runs through the reference kernels (bf16, pairwise).
  const std::int64_t T = 12, d = 8;
  for (const bool bf16_acc : {false, true}) {
    INFO((bf16_acc ? "acc bf16 pairwise" : "acc fp32 sequential"));
    const fs::path dir = fs::temp_directory_path() / "bitsim_test_attention_bundle";
    fs::remove_all(dir);
    const std::string cmd = std::string(BITSIM_BINARY) + " golden attention --tokens 12 --dim 8 --a-format fp32 --b-format fp32" +
                            (bf16_acc ? " --acc bf16 --order pairwise" : " --acc fp32") +
                            " --out-format fp32 --score-format bf16 --prob-format fp8_e4m3 --seed 5 --scale 2 --out " + dir.string() +
                            " > /dev/null";
    REQUIRE(std::system(cmd.c_str()) == 0);
    H5::H5File f((dir / "bundle.h5").string(), H5F_ACC_RDONLY);
    H5::Group root = f.openGroup("/");
    CHECK(read_attr(root, "kind") == "attention");
    CHECK(read_attr(root, "prob_format") == formats::parse_format("fp8_e4m3").to_string());
    auto input = [&](const char* t) { return read_dataset<double>(f, std::string("/inputs/") + t + "/values", H5::PredType::NATIVE_DOUBLE); };
    auto output = [&](const char* t) { return read_dataset<double>(f, std::string("/outputs/") + t + "/values", H5::PredType::NATIVE_DOUBLE); };
    const std::vector<double> q = input("Q"), k = input("K"), v = input("V");
    CHECK(q != input("Q_raw"));  // the raw values were rounded to fp32
    sim::nn::FTensor x(sim::Nchw{1, 3 * d, T, 1});
    for (std::int64_t t = 0; t < T; ++t)
      for (std::int64_t j = 0; j < d; ++j) {
        x.data[static_cast<std::size_t>(j * T + t)] = static_cast<float>(q[static_cast<std::size_t>(t * d + j)]);
        x.data[static_cast<std::size_t>((d + j) * T + t)] = static_cast<float>(k[static_cast<std::size_t>(t * d + j)]);
        x.data[static_cast<std::size_t>((2 * d + j) * T + t)] = static_cast<float>(v[static_cast<std::size_t>(t * d + j)]);
      }
    sim::nn::AttentionLayer layer(1);
    layer.name = "attn";
    layer.roles[sim::nn::Role::ATT_S] = sim::nn::RoleRounding(formats::parse_format("bf16"), formats::RoundingSpec{});
    layer.roles[sim::nn::Role::ATT_P] = sim::nn::RoleRounding(formats::parse_format("fp8_e4m3"), formats::RoundingSpec{});
    if (bf16_acc) {
      layer.gemm.acc = formats::parse_format("bf16");
      layer.gemm.order = sim::AccOrder::pairwise;
    }
    const sim::nn::FTensor* in[1] = {&x};
    sim::nn::FTensor y;
    layer.forward(sim::nn::StepContext{}, in, y);
    auto as_doubles = [](const sim::nn::FTensor& t) { return std::vector<double>(t.data.begin(), t.data.end()); };
    CHECK(output("S") == as_doubles(layer.scores()));
    CHECK(output("P") == as_doubles(layer.probabilities()));
    std::vector<double> o(static_cast<std::size_t>(T * d));
    for (std::int64_t t = 0; t < T; ++t)
      for (std::int64_t j = 0; j < d; ++j) o[static_cast<std::size_t>(t * d + j)] = y.data[static_cast<std::size_t>(j * T + t)];
    CHECK(output("O") == o);
    // The probabilities are fp8 values, and each row sums to about 1.
    const std::vector<double> p = output("P");
    for (std::int64_t t = 0; t < T; ++t) {
      double row = 0;
      for (std::int64_t u = 0; u < T; ++u) row += p[static_cast<std::size_t>(t * T + u)];
      CHECK(row == Approx(1.0).margin(0.1));
    }
    CHECK(lines_of(dir / "P.hex").size() == static_cast<std::size_t>(T * T));
    fs::remove_all(dir);
  }
}
