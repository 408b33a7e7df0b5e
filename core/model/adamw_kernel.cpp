#include "core/model/adamw_kernel.h"

#include <cmath>

namespace dgr::model {

void adamw_kernel(float* __restrict p, const float* __restrict g, float* __restrict m,
                  float* __restrict v, int64_t begin, int64_t end, const AdamWKernelConstants& c) {
  const float one_minus_beta1 = 1.0f - c.beta1;
  const float one_minus_beta2 = 1.0f - c.beta2;
  for (int64_t i = begin; i < end; ++i) {
    const float grad = g[i];
    const float mi = m[i] * c.beta1 + grad * one_minus_beta1;
    const float vi = v[i] * c.beta2 + grad * grad * one_minus_beta2;
    m[i] = mi;
    v[i] = vi;
    const float denom = std::sqrt(vi) / c.bias_correction2_sqrt + c.eps;
    p[i] = p[i] * c.decay_factor - c.step_size * (mi / denom);
  }
}

}  // namespace dgr::model
