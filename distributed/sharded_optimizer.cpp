#include "distributed/sharded_optimizer.h"

#include <glog/logging.h>

#include <algorithm>
#include <unordered_set>
#include <utility>

namespace dgr::distributed {

ShardedAdamW::ShardedAdamW(std::vector<std::string> names, const GradientReducer& reducer,
                           Communicator& comm, model::AdamWOptions options)
    : names_(std::move(names)), reducer_(reducer), comm_(comm), options_(options) {
  CHECK(reducer_.sharded()) << "ShardedAdamW needs a GradientReducer with options.shard";
  const std::vector<torch::Tensor>& params = reducer_.params();
  CHECK_EQ(names_.size(), params.size()) << "ShardedAdamW: one name per parameter";
  std::unordered_set<std::string> seen;
  for (const std::string& name : names_) {
    CHECK(seen.insert(name).second) << "ShardedAdamW: parameter name " << name << " given twice";
  }

  torch::NoGradGuard no_grad;
  for (const torch::Tensor& param : params) {
    CHECK(param.is_contiguous()) << "ShardedAdamW: parameters must be contiguous";
    flat_params_.push_back(param.detach().view({-1}));
  }
  const auto& layout = reducer_.layout();
  const int64_t world = comm_.size();
  segments_.resize(layout.size());
  for (size_t b = 0; b < layout.size(); ++b) {
    const torch::Tensor& shard = reducer_.shard_buffer(b);
    const int64_t block = shard.numel();
    const int64_t lo = reducer_.shard_offset(b);
    const int64_t hi = lo + block;
    for (const BucketSlot& slot : layout[b]) {
      const int64_t start = std::max(lo, slot.offset);
      const int64_t end = std::min(hi, slot.offset + slot.numel);
      if (start >= end) continue;
      segments_[b].push_back(Segment{slot.param, start - slot.offset, start - lo, end - start,
                                     model::applies_weight_decay(names_[slot.param])});
    }
    const auto float_options = shard.options();
    exp_avg_.push_back(torch::zeros({block}, float_options));
    exp_avg_sq_.push_back(torch::zeros({block}, float_options));
    gathered_.push_back(torch::zeros({block * world}, float_options));
  }
}

void ShardedAdamW::step(double lr) {
  torch::NoGradGuard no_grad;
  ++steps_;
  const auto& layout = reducer_.layout();
  for (size_t b = 0; b < layout.size(); ++b) {
    const torch::Tensor& grad = reducer_.shard_buffer(b);
    const int64_t block = grad.numel();
    torch::Tensor own = gathered_[b].narrow(0, reducer_.shard_offset(b), block);
    for (const Segment& s : segments_[b]) {
      torch::Tensor p = flat_params_[s.param].narrow(0, s.param_offset, s.numel);
      const torch::Tensor g = grad.narrow(0, s.block_offset, s.numel);
      torch::Tensor m = exp_avg_[b].narrow(0, s.block_offset, s.numel);
      torch::Tensor v = exp_avg_sq_[b].narrow(0, s.block_offset, s.numel);
      model::adamw_update(p, g, m, v, lr, steps_, s.decay, options_);
      own.narrow(0, s.block_offset, s.numel).copy_(p);
    }
    // In place: this rank's block already sits at its place in the gathered bucket.
    comm_.all_gather(own.data_ptr(), gathered_[b].data_ptr(), static_cast<size_t>(block),
                     DataType::kFloat32);
    for (const BucketSlot& slot : layout[b]) {
      flat_params_[slot.param].copy_(gathered_[b].narrow(0, slot.offset, slot.numel));
    }
  }
}

model::NamedTensors ShardedAdamW::state() {
  torch::NoGradGuard no_grad;
  const std::vector<torch::Tensor>& params = reducer_.params();
  std::vector<torch::Tensor> full_avg(params.size()), full_avg_sq(params.size());
  const auto& layout = reducer_.layout();
  for (size_t b = 0; b < layout.size(); ++b) {
    const int64_t block = exp_avg_[b].numel();
    for (const bool squared : {false, true}) {
      torch::Tensor full = torch::zeros({block * comm_.size()}, exp_avg_[b].options());
      torch::Tensor own = full.narrow(0, reducer_.shard_offset(b), block);
      own.copy_(squared ? exp_avg_sq_[b] : exp_avg_[b]);
      comm_.all_gather(own.data_ptr(), full.data_ptr(), static_cast<size_t>(block),
                       DataType::kFloat32);
      for (const BucketSlot& slot : layout[b]) {
        (squared ? full_avg_sq : full_avg)[slot.param] = full.narrow(0, slot.offset, slot.numel)
                                                             .view(params[slot.param].sizes())
                                                             .to(torch::kCPU);
      }
    }
  }
  model::NamedTensors out;
  out.reserve(2 * params.size() + 1);
  for (const bool squared : {false, true}) {
    std::vector<torch::Tensor>& full = squared ? full_avg_sq : full_avg;
    for (size_t i = 0; i < params.size(); ++i) {
      // A parameter without a gradient has no bucket; its moments stay zero, as in model::AdamW.
      torch::Tensor moment = full[i].defined()
                                 ? full[i].contiguous()
                                 : torch::zeros(params[i].sizes(), torch::dtype(torch::kFloat32));
      out.emplace_back((squared ? "exp_avg_sq." : "exp_avg.") + names_[i], std::move(moment));
    }
  }
  out.emplace_back("step", torch::scalar_tensor(steps_, torch::kLong));
  return out;
}

void ShardedAdamW::load_state(const model::NamedTensors& state, const std::string& source) {
  std::vector<std::pair<std::string, torch::Tensor>> named;
  const std::vector<torch::Tensor>& params = reducer_.params();
  for (size_t i = 0; i < params.size(); ++i)
    named.emplace_back(names_[i], params[i]);
  const model::AdamWStateTensors found = model::check_adamw_state(state, named, source);
  torch::NoGradGuard no_grad;
  for (size_t b = 0; b < segments_.size(); ++b) {
    for (const Segment& s : segments_[b]) {
      exp_avg_[b]
          .narrow(0, s.block_offset, s.numel)
          .copy_(found.exp_avg[s.param].reshape({-1}).narrow(0, s.param_offset, s.numel));
      exp_avg_sq_[b]
          .narrow(0, s.block_offset, s.numel)
          .copy_(found.exp_avg_sq[s.param].reshape({-1}).narrow(0, s.param_offset, s.numel));
    }
  }
  steps_ = found.step;
}

int64_t ShardedAdamW::local_state_elements() const {
  int64_t total = 0;
  for (size_t b = 0; b < exp_avg_.size(); ++b)
    total += exp_avg_[b].numel() + exp_avg_sq_[b].numel();
  return total;
}

}  // namespace dgr::distributed
