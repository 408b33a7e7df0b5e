// Dropout for the models' training forwards. On the CPU, for float32, the mask comes from a
// counter-based generator (core/model/dropout_kernel.h) keyed by one 64-bit draw from torch's
// default CPU generator, and is filled by all intra-op threads at once; torch's CPU dropout
// draws a double from the default generator per element, on one thread (about 5 ns an element:
// some 13% of a bart-base forward). Elsewhere (CUDA, other dtypes) it is torch::dropout.
//
// Guarantees: the same as torch::dropout's (identity outside training or for p = 0; zeros for
// p = 1; each element kept with probability 1 - p, to 2^-32, and scaled by 1 / (1 - p) in
// float32). The masks depend only on the generator's state, not on the thread count or the
// host's instruction set, so manual_seed and a restored generator state (exact resume)
// reproduce them. The backward multiplies by the saved one-byte mask (and is differentiable
// again, for double backward).
#pragma once

#include <torch/types.h>

namespace dgr::model {

// Dropout of `x` with drop probability `p` in [0, 1] when `train`; ConfigError for p outside.
torch::Tensor dropout(const torch::Tensor& x, double p, bool train);

}  // namespace dgr::model
