#include "sim/methods/batchnorm_methods.hpp"

#include "sim/methods/banner2018/range_batchnorm.hpp"
#include "sim/methods/wageubn2019/wageubn_batchnorm.hpp"
#include "sim/nn/layers/batchnorm_layer.hpp"

#include <functional>
#include <stdexcept>

namespace bitsim::sim::methods {

namespace {

struct MethodEntry {
  const char* name;
  std::function<std::unique_ptr<nn::BatchNormMethod>(const BatchNormChoice&)> make;
};

const std::vector<MethodEntry>& methods() {
  static const std::vector<MethodEntry> m = {
      {"standard", [](const BatchNormChoice&) { return std::make_unique<nn::StandardBatchNorm>(); }},
      {"range", [](const BatchNormChoice& c) { return std::make_unique<RangeBatchNorm>(c.range_chunks, c.range_new_weight); }},
      {"wageubn", [](const BatchNormChoice&) { return std::make_unique<WageubnBatchNorm>(); }},
  };
  return m;
}

}  // namespace

std::vector<std::string> batchnorm_method_names() {
  std::vector<std::string> names;
  for (const MethodEntry& e : methods()) names.emplace_back(e.name);
  return names;
}

std::unique_ptr<nn::BatchNormMethod> make_batchnorm_method(const BatchNormChoice& choice) {
  for (const MethodEntry& e : methods())
    if (choice.method == e.name) return e.make(choice);
  throw std::invalid_argument("unknown batch-norm method '" + choice.method + "'");
}

void configure_batchnorm(nn::Layer& layer, const BatchNormChoice& choice) {
  if (auto* bn = dynamic_cast<nn::BatchNormLayer*>(&layer)) bn->set_method(make_batchnorm_method(choice));
}

}  // namespace bitsim::sim::methods
