// ZeRO-1: AdamW with its moments sharded over the ranks. It works on the GradientReducer's
// buckets in shard mode: each bucket (padded to a multiple of the world size) is reduce-scattered,
// so rank r holds the mean gradient of block r of every bucket; this optimizer keeps exp_avg and
// exp_avg_sq for those blocks only (1/N of the state per rank), updates the parameter elements
// they cover, and all-gathers every bucket's parameters so that all replicas are equal again.
// Communication per step is one reduce-scatter plus one all-gather of the parameters: the volume
// of the all-reduce it replaces.
//
// Guarantees: the update of every element is model::adamw_update, as in model::AdamW, so a
// sharded run equals an unsharded one up to the order in which the global gradient norm is
// summed (tested to 1e-6 after 20 steps in tests/distributed/sharded_optimizer_mpi_torch.cpp).
// state() is collective and returns model::AdamW::state()'s names and shapes, so checkpoints are
// interchangeable between sharded and unsharded runs and between world sizes.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/model/safetensors.h"
#include "core/model/training.h"
#include "distributed/communicator.h"
#include "distributed/gradient_reducer.h"

namespace dgr::distributed {

class ShardedAdamW {
 public:
  // `names[i]` names reducer.params()[i] (unique; they decide weight decay and the state's
  // tensor names). The reducer must be in shard mode and, like the communicator, outlive this.
  ShardedAdamW(std::vector<std::string> names, const GradientReducer& reducer, Communicator& comm,
               model::AdamWOptions options);

  // After reducer.finish() (and clip_grad_norm): one AdamW update of this rank's blocks with
  // learning rate `lr`, then the all-gather of the parameters. Collective.
  void step(double lr);
  int64_t steps() const { return steps_; }

  // model::AdamW::state() of the whole model, assembled by all-gathering the moments (CPU
  // tensors). Collective: every rank must call it.
  model::NamedTensors state();
  // Takes this rank's blocks of a full state (model::AdamW::state(), e.g. from a checkpoint);
  // DataError naming `source` as model::check_adamw_state says.
  void load_state(const model::NamedTensors& state, const std::string& source);

  // Float32 moment elements this rank holds (2 per element of its blocks).
  int64_t local_state_elements() const;

 private:
  // A run of one parameter's elements inside this rank's block of a bucket.
  struct Segment {
    size_t param = 0;
    int64_t param_offset = 0;  // into the flattened parameter
    int64_t block_offset = 0;  // into the rank's block
    int64_t numel = 0;
    bool decay = true;
  };

  std::vector<std::string> names_;
  const GradientReducer& reducer_;
  Communicator& comm_;
  model::AdamWOptions options_;
  int64_t steps_ = 0;

  std::vector<torch::Tensor> flat_params_;      // [param] a flat view of the parameter
  std::vector<std::vector<Segment>> segments_;  // [bucket]
  std::vector<torch::Tensor> exp_avg_;          // [bucket] this rank's block
  std::vector<torch::Tensor> exp_avg_sq_;       // [bucket]
  std::vector<torch::Tensor> gathered_;         // [bucket] the padded bucket of parameters
};

}  // namespace dgr::distributed
