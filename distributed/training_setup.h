// What every data-parallel trainer sets up the same way from its job: the parameters by name,
// AdamW's options and the learning-rate schedule. A job is any struct with the fields lr, beta1,
// beta2, adam_eps, weight_decay, warmup_steps, decay and end_lr (TrainJob, CrossEncoderTrainJob).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/model/training.h"

namespace dgr::distributed {

struct NamedParameters {
  std::vector<std::pair<std::string, torch::Tensor>> named;  // for model::AdamW
  std::vector<std::string> names;                            // for ShardedAdamW
  std::vector<torch::Tensor> params;                         // for GradientReducer
};

inline NamedParameters named_parameters(const torch::nn::Module& module) {
  NamedParameters out;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    out.named.emplace_back(item.key(), item.value());
    out.names.push_back(item.key());
    out.params.push_back(item.value());
  }
  return out;
}

template <class Job>
model::AdamWOptions adamw_options(const Job& job) {
  model::AdamWOptions adam;
  adam.lr = job.lr;
  adam.beta1 = job.beta1;
  adam.beta2 = job.beta2;
  adam.eps = job.adam_eps;
  adam.weight_decay = job.weight_decay;
  return adam;
}

template <class Job>
model::LrSchedule lr_schedule(const Job& job, int64_t total_steps) {
  model::LrSchedule schedule;
  schedule.peak_lr = job.lr;
  schedule.warmup_steps = job.warmup_steps;
  schedule.total_steps = total_steps;
  schedule.decay = job.decay;
  schedule.end_lr = job.end_lr;
  return schedule;
}

}  // namespace dgr::distributed
