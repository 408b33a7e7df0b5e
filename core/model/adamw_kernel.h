// The AdamW update of a range of float32 elements in one pass over memory (see
// model::adamw_update for the formula). Torch-free and compiled without errno-setting math, so
// the compiler vectorises the square root and the division; the caller splits the range over
// threads.
#pragma once

#include <cstdint>

namespace dgr::model {

struct AdamWKernelConstants {
  float decay_factor = 1.0f;  // 1 - lr * weight_decay, or 1 without decay
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float step_size = 0.0f;  // lr / (1 - beta1^t)
  float bias_correction2_sqrt = 1.0f;
  float eps = 1e-8f;
};

// Elements [begin, end) of the parameter p, gradient g and moments m, v.
void adamw_kernel(float* p, const float* g, float* m, float* v, int64_t begin, int64_t end,
                  const AdamWKernelConstants& c);

}  // namespace dgr::model
