// Built-in model descriptions (declarative; model_spec.hpp), for inputs of any size and channels:
//   mlp               Graham 2017 section 2.1, permutation invariant:
//                     FC(width)-BN-ReLU-FC(width)-BN-ReLU-FC(classes) (hidden FCs without bias: BN follows)
//   cnn               small VGG-style CNN (PyTorch comparison in docs/PERFORMANCE.md): conv3x3 32-BN-ReLU, conv3x3
//                     32-BN-ReLU, maxpool2, conv3x3 64-BN-ReLU, conv3x3 64-BN-ReLU, maxpool2, FC(classes)
//   resnet20          He et al. 2016 CIFAR ResNet-20: conv3x3 16-BN-ReLU, 3 stages x 3 basic blocks
//                     (widths 16, 32, 64; stride 2 entering stages 2 and 3; 1x1 conv + BN projection
//                     shortcut where the shape changes), ReLU after each add, global average pool, FC
//   preact_resnet20   the pre-activation variant (He et al. 2016b): BN-ReLU before each conv, the
//                     projection shortcut reads the pre-activated input, final BN-ReLU before the pool
// `width` sets the MLP's hidden width (default 1024) and scales the CNNs' channels (widths are
// multiplied by width/16 for ResNets and width/32 for the CNN when given; 0 = default).
#pragma once

#include "sim/nn/model_spec.hpp"

#include <vector>

namespace bitsim::sim::nn {

// Throws ModelError naming the model when unknown. `classes` sets the last FC.
ModelSpec builtin_model(const std::string& name, std::int64_t classes, std::int64_t width = 0);
// The names builtin_model() knows.
std::vector<std::string> builtin_model_names();

}  // namespace bitsim::sim::nn
