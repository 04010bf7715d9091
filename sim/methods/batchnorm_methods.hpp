// The batch-normalization methods a config can choose (formats.batchnorm), by name: "standard"
// (sim/nn/layers/batchnorm_method.hpp), "range" (Banner et al. 2018, banner2018/range_batchnorm.hpp) and
// "wageubn" (Yang et al. 2019, wageubn2019/wageubn_batchnorm.hpp). A new method: its folder and one
// entry in batchnorm_methods.cpp.
#pragma once

#include "sim/nn/layers/batchnorm_method.hpp"
#include "sim/nn/layer.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace bitsim::sim::methods {

// A method by name, with the options some methods read (the config's formats.range_bn_chunks and
// formats.range_bn_new_weight are Range BN's).
struct BatchNormChoice {
  std::string method = "standard";
  std::int64_t range_chunks = 16;
  double range_new_weight = 0.9;
};

std::vector<std::string> batchnorm_method_names();
// Throws KernelShapeError for bad options, std::invalid_argument for an unknown name.
std::unique_ptr<nn::BatchNormMethod> make_batchnorm_method(const BatchNormChoice& choice);
// Gives `layer` the chosen method when it is a batch norm (resetting its running estimates); other
// layers are left alone.
void configure_batchnorm(nn::Layer& layer, const BatchNormChoice& choice);

}  // namespace bitsim::sim::methods
