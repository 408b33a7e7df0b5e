#include "core/model/dropout.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <string>

#include "core/model/dropout_kernel.h"
#include "core/util/error.h"

namespace dgr::model {
namespace {

// Tiles per parallel task: 64 tiles = 16Ki elements, a few tens of µs of work.
constexpr int64_t kGrainTiles = 64;

uint64_t draw_key() {
  auto generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  return at::check_generator<at::CPUGeneratorImpl>(generator)->random64();
}

class CpuDropout : public torch::autograd::Function<CpuDropout> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               double p) {
    const torch::Tensor input = x.contiguous();
    const int64_t n = input.numel();
    torch::Tensor y = torch::empty_like(input, at::MemoryFormat::Contiguous);
    torch::Tensor keep = torch::empty(input.sizes(), input.options().dtype(torch::kUInt8));
    // Keep iff the word is >= p·2^32 (rounded), so P(keep) = 1 - p to 2^-32; p < 1 here, but
    // p·2^32 can still round to 2^32, which must not wrap to 0 (keep everything).
    const auto threshold =
        static_cast<uint32_t>(std::min<long long>(std::llround(p * 4294967296.0), 0xFFFFFFFFLL));
    const auto scale = static_cast<float>(1.0 / (1.0 - p));
    const uint64_t key = draw_key();
    const float* xs = input.data_ptr<float>();
    float* ys = y.data_ptr<float>();
    uint8_t* ks = keep.data_ptr<uint8_t>();
    const int64_t tiles = (n + kDropoutTile - 1) / kDropoutTile;
    at::parallel_for(0, tiles, kGrainTiles, [&](int64_t begin, int64_t end) {
      dropout_forward_kernel(xs, ys, ks, n, begin, end, key, threshold, scale);
    });
    ctx->save_for_backward({keep});
    ctx->saved_data["scale"] = static_cast<double>(scale);
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const torch::Tensor keep = ctx->get_saved_variables()[0];
    const auto scale = static_cast<float>(ctx->saved_data["scale"].toDouble());
    const torch::Tensor& dy = grads[0];
    if (dy.requires_grad() || dy.scalar_type() != torch::kFloat32) {
      // create_graph: a differentiable product instead of the kernel.
      return {dy * (keep.to(dy.scalar_type()) * scale), torch::Tensor()};
    }
    const torch::Tensor g = dy.contiguous();
    torch::Tensor dx = torch::empty_like(g, at::MemoryFormat::Contiguous);
    const float* gs = g.data_ptr<float>();
    const uint8_t* ks = keep.data_ptr<uint8_t>();
    float* out = dx.data_ptr<float>();
    at::parallel_for(0, g.numel(), kGrainTiles * kDropoutTile, [&](int64_t begin, int64_t end) {
      dropout_backward_kernel(gs, ks, out, begin, end, scale);
    });
    return {dx, torch::Tensor()};
  }
};

}  // namespace

torch::Tensor dropout(const torch::Tensor& x, double p, bool train) {
  if (!(p >= 0.0 && p <= 1.0)) {
    throw ConfigError("dropout probability must be in [0, 1], got " + std::to_string(p));
  }
  if (!train || p == 0.0 || x.numel() == 0) return x;
  if (p == 1.0 || !x.device().is_cpu() || x.scalar_type() != torch::kFloat32 ||
      x.layout() != torch::kStrided) {
    return torch::dropout(x, p, train);
  }
  return CpuDropout::apply(x, p);
}

}  // namespace dgr::model
