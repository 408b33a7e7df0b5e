#include "distributed/gradient_reducer.h"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <stdexcept>
#include <string>

namespace dgr::distributed {

namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

namespace {

// Calls `ready` after the AccumulateGrad node it is attached to has run. Our own
// FunctionPostHook rather than torch's LambdaPostHook helper, whose header pulls in the compiled
// autograd machinery in torch 2.x: function_hook.h is the one internal header this needs.
class GradientReadyHook final : public torch::autograd::FunctionPostHook {
 public:
  explicit GradientReadyHook(std::function<void()> ready) : ready_(std::move(ready)) {}
  torch::autograd::variable_list operator()(
      const torch::autograd::variable_list& outputs,
      const torch::autograd::variable_list& /*inputs*/) override {
    ready_();
    return outputs;
  }

 private:
  std::function<void()> ready_;
};

}  // namespace

// A post-hook on a parameter's AccumulateGrad node: it runs once autograd has added this
// backward's gradient into .grad() (our bucket slot).
struct GradientReducer::Hook {
  std::shared_ptr<torch::autograd::Node> accumulator;
  uintptr_t key = 0;
};

GradientReducer::GradientReducer(std::vector<torch::Tensor> params, Communicator& comm,
                                 GradientReducerOptions options)
    : params_(std::move(params)), comm_(comm), options_(options) {
  if (!(options_.bucket_mb > 0)) {
    throw std::invalid_argument("GradientReducer: bucket_mb must be positive");
  }
  if (options_.bf16_compression && options_.shard) {
    throw std::invalid_argument(
        "GradientReducer: bf16 compression all-reduces; it does not combine with shard");
  }
  const int64_t bucket_floats =
      std::max<int64_t>(1, static_cast<int64_t>(options_.bucket_mb * 1024 * 1024 / sizeof(float)));

  // Layout, once: reverse registration order, greedy packing; a parameter larger than a bucket
  // gets one of its own.
  bucket_of_.assign(params_.size(), -1);
  torch::Device device = torch::kCPU;
  bool first = true;
  int64_t filled = 0;
  for (size_t i = params_.size(); i-- > 0;) {
    const torch::Tensor& param = params_[i];
    if (!param.defined() || !param.requires_grad()) continue;
    if (param.scalar_type() != torch::kFloat32) {
      throw std::invalid_argument("GradientReducer: parameter " + std::to_string(i) + " is " +
                                  std::string(c10::toString(param.scalar_type())) +
                                  "; gradients are reduced in float32");
    }
    if (!param.is_leaf()) {
      throw std::invalid_argument("GradientReducer: parameter " + std::to_string(i) +
                                  " is not a leaf tensor");
    }
    if (first) {
      device = param.device();
      first = false;
    } else if (param.device() != device) {
      throw std::invalid_argument("GradientReducer: parameters on " + device.str() + " and " +
                                  param.device().str() + "; all must be on one device");
    }
    const int64_t numel = param.numel();
    if (layout_.empty() || (filled > 0 && filled + numel > bucket_floats)) {
      layout_.emplace_back();
      filled = 0;
    }
    layout_.back().push_back(BucketSlot{i, filled, numel});
    bucket_of_[i] = static_cast<int64_t>(layout_.size() - 1);
    filled += numel;
  }

  // One flat buffer per bucket and, per parameter, a view of its slot shaped like it. The views
  // are detached so that Optimizer::zero_grad's detach_() + zero_() works on them.
  views_.resize(params_.size());
  const int64_t world = comm_.size();
  for (const auto& bucket : layout_) {
    int64_t floats = 0;
    for (const BucketSlot& slot : bucket)
      floats += slot.numel;
    if (options_.shard) {
      // Equal blocks per rank; the padding stays zero (it is zeroed with the rest every step).
      const int64_t block = (floats + world - 1) / world;
      floats = block * world;
      shards_.push_back(torch::zeros({block}, torch::dtype(torch::kFloat32).device(device)));
    }
    buffers_.push_back(torch::zeros({floats}, torch::dtype(torch::kFloat32).device(device)));
    if (options_.bf16_compression) {
      compressed_.push_back(torch::zeros({floats}, torch::dtype(torch::kBFloat16).device(device)));
    }
    for (const BucketSlot& slot : bucket) {
      views_[slot.param] = buffers_.back()
                               .narrow(0, slot.offset, slot.numel)
                               .view(params_[slot.param].sizes())
                               .detach();
    }
  }
  reported_.assign(params_.size(), 0);
  pending_.assign(layout_.size(), 0);
  works_.resize(layout_.size());

  for (size_t i = 0; i < params_.size(); ++i) {
    if (bucket_of_[i] < 0) continue;
    auto hook = std::make_unique<Hook>();
    hook->accumulator = torch::autograd::impl::grad_accumulator(params_[i]);
    hook->key = hook->accumulator->add_post_hook(
        std::make_unique<GradientReadyHook>([this, i] { on_gradient_ready(i); }));
    hooks_.push_back(std::move(hook));
  }
}

GradientReducer::~GradientReducer() {
  for (auto& hook : hooks_)
    hook->accumulator->del_post_hook(hook->key);
  // Collectives still in flight write into our buffers: let them land.
  for (auto& work : works_) {
    if (!work) continue;
    try {
      work->wait();
    } catch (...) {
      // A failure was (or will be) reported by the communicator; nothing to add here.
    }
  }
}

void GradientReducer::point_grad_at_slot(size_t param) {
  torch::Tensor& grad = params_[param].mutable_grad();
  if (grad.defined() && grad.is_same(views_[param])) return;
  grad = views_[param];
}

void GradientReducer::begin_step(bool sync) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (step_open_ && sync_) {
    throw std::logic_error(
        "GradientReducer::begin_step: the previous micro-batch was the last of its step "
        "(sync=true); call finish() before the next step");
  }
  if (!step_open_) {
    // First micro-batch of a step: the gradients restart from zero, in the buckets.
    torch::NoGradGuard no_grad;
    for (auto& buffer : buffers_)
      buffer.zero_();
    for (size_t i = 0; i < params_.size(); ++i) {
      if (bucket_of_[i] >= 0) point_grad_at_slot(i);
    }
    step_open_ = true;
    finished_ = false;
  }
  sync_ = sync;
  if (sync) {
    std::fill(reported_.begin(), reported_.end(), 0);
    for (size_t b = 0; b < layout_.size(); ++b)
      pending_[b] = layout_[b].size();
    next_launch_ = 0;
    for (auto& work : works_)
      work.reset();
  }
}

void GradientReducer::on_gradient_ready(size_t param) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!step_open_) return;  // a backward outside begin_step/finish: plain local accumulation
  {
    // If .grad() was replaced since begin_step (set to none, or assigned), autograd accumulated
    // this backward's gradient into another tensor: move it into the slot.
    torch::NoGradGuard no_grad;
    torch::Tensor& grad = params_[param].mutable_grad();
    if (grad.defined() && !grad.is_same(views_[param])) {
      views_[param].add_(grad);
      grad = views_[param];
    }
  }
  if (!sync_) return;
  if (reported_[param]) {
    throw std::logic_error("GradientReducer: parameter " + std::to_string(param) +
                           " received a second gradient in the synchronising micro-batch (two "
                           "backward passes after begin_step(true)?)");
  }
  reported_[param] = 1;
  const auto bucket = static_cast<size_t>(bucket_of_[param]);
  if (--pending_[bucket] == 0 && options_.overlap) launch_ready_buckets();
}

void GradientReducer::launch_ready_buckets() {
  while (next_launch_ < layout_.size() && pending_[next_launch_] == 0)
    launch(next_launch_++);
}

void GradientReducer::launch(size_t bucket) {
  // With `average`, the communicator divides by the world size where the collective ran (the
  // communication thread or stream), not in finish().
  torch::Tensor& buffer = buffers_[bucket];
  const ReduceOp op = options_.average ? ReduceOp::kAvg : ReduceOp::kSum;
  if (options_.shard) {
    torch::Tensor& shard = shards_[bucket];
    works_[bucket] =
        comm_.reduce_scatter_async(buffer.data_ptr(), shard.data_ptr(),
                                   static_cast<size_t>(shard.numel()), DataType::kFloat32, op);
    return;
  }
  if (options_.bf16_compression) {
    // The sum travels in bfloat16; finish() brings it back and divides.
    torch::NoGradGuard no_grad;
    torch::Tensor& wire = compressed_[bucket];
    wire.copy_(buffer);
    works_[bucket] = comm_.all_reduce_async(wire.data_ptr(), static_cast<size_t>(wire.numel()),
                                            DataType::kBFloat16, ReduceOp::kSum);
    return;
  }
  works_[bucket] = comm_.all_reduce_async(buffer.data_ptr(), static_cast<size_t>(buffer.numel()),
                                          DataType::kFloat32, op);
}

void GradientReducer::finish() {
  const double start = now_seconds();
  std::lock_guard<std::mutex> lock(mutex_);
  if (!step_open_ || !sync_) {
    throw std::logic_error(
        "GradientReducer::finish: no synchronising micro-batch; call begin_step(true) before "
        "the last backward of the step");
  }
  // Buckets with parameters that got no gradient (or every bucket, without overlap), in bucket
  // order on every rank.
  while (next_launch_ < layout_.size())
    launch(next_launch_++);

  double comm_seconds = 0.0;
  torch::NoGradGuard no_grad;
  for (size_t b = 0; b < layout_.size(); ++b) {
    works_[b]->wait();  // rethrows the collective's failure
    comm_seconds += works_[b]->seconds();
    works_[b].reset();
    if (options_.bf16_compression) {
      buffers_[b].copy_(compressed_[b]);
      if (options_.average && comm_.size() > 1) buffers_[b].div_(static_cast<double>(comm_.size()));
    }
  }
  for (size_t i = 0; i < params_.size(); ++i) {
    if (bucket_of_[i] >= 0) point_grad_at_slot(i);  // unused parameters: their zero slot
  }
  step_open_ = false;
  finished_ = true;
  last_comm_seconds_ = comm_seconds;
  last_exposed_seconds_ = now_seconds() - start;
}

double GradientReducer::clip_grad_norm(double max_norm) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!finished_) {
    throw std::logic_error("GradientReducer::clip_grad_norm: call finish() first");
  }
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor>& reduced = options_.shard ? shards_ : buffers_;
  double squares = 0.0;
  for (const auto& buffer : reduced) {
    const double norm = buffer.norm().item<double>();  // accumulated in double on the CPU
    squares += norm * norm;
  }
  if (options_.shard) {
    // Every rank adds its blocks' squares (the padding is zero), in the communicator's memory.
    torch::Tensor sum =
        torch::full({1}, squares, torch::dtype(torch::kFloat64)).to(reduced.front().device());
    comm_.all_reduce(sum.data_ptr(), 1, DataType::kFloat64, ReduceOp::kSum);
    squares = sum.item<double>();
  }
  const double total = std::sqrt(squares);
  if (max_norm > 0 && total > max_norm) {
    const double coefficient = max_norm / (total + 1e-6);
    for (auto& buffer : reduced)
      buffer.mul_(coefficient);
  }
  return total;
}

}  // namespace dgr::distributed
