// Data-parallel gradient averaging with communication hidden behind backward, after PyTorch DDP's
// reducer: the parameters are packed once, in reverse registration order (roughly the order in
// which backward produces their gradients), into buckets of about `bucket_mb` MiB, each one flat
// float32 buffer. Every parameter's .grad() is a view of its slot in a bucket, so autograd
// accumulates straight into the buckets; a hook on each parameter's gradient accumulator counts
// the parameters that have reported in, and a bucket whose parameters are all in is all-reduced
// at once (asynchronously) while backward goes on with the rest of the model.
//
// One optimizer step with k micro-batches:
//   for i in 0..k-1: reducer.begin_step(/*sync=*/i == k - 1); loss_i.backward();
//   reducer.finish();                  // .grad() of every parameter = mean over ranks
//   reducer.clip_grad_norm(max_norm);  // optional; the same on every rank
//   optimizer.step();
// With `shard` (ZeRO-1), each bucket is reduce-scattered instead: its buffer is padded to a
// multiple of the world size and rank r receives the mean of block r only (shard_buffer(b),
// which covers shard_offset(b) .. + shard_buffer(b).numel() of the bucket); a ShardedAdamW then
// updates just those elements and all-gathers the parameters. .grad() then holds this rank's
// local gradient, not the mean.
//
// Between the first begin_step and finish the gradients belong to the reducer: the first
// begin_step zeroes them (no zero_grad needed), later micro-batches add to them. Buckets are
// launched strictly in bucket order on every rank, so the collectives match even when ranks see
// their gradients in different orders or some parameters get none (their slots stay zero).
#pragma once

#include <torch/torch.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "distributed/communicator.h"

namespace dgr::distributed {

struct GradientReducerOptions {
  double bucket_mb = 25;  // MiB of float32 gradients per bucket (DDP's bucket_cap_mb)
  bool overlap = true;    // false: every bucket is all-reduced in finish(), after backward
  // true: the mean over ranks (the communicator divides, as part of each bucket's collective).
  // false: the sum, for losses already normalised by the global batch.
  bool average = true;
  // true: reduce-scatter the buckets (ZeRO-1, see above) instead of all-reducing them.
  bool shard = false;
  // true: each bucket travels as bfloat16 (half the bytes; every pair of ranks' values added in
  // float32 and rounded once), then returns to its float32 buffer; the average is taken there.
  // Like DDP's bf16 compression hook: gradients lose their low 16 bits, and results no longer
  // agree exactly between world sizes. Not with `shard`.
  bool bf16_compression = false;
};

// Where one parameter's gradient lives: `numel` floats from `offset` of its bucket's buffer.
struct BucketSlot {
  size_t param = 0;  // index into the parameter list given to the constructor
  int64_t offset = 0;
  int64_t numel = 0;
};

class GradientReducer {
 public:
  // `params` in registration order (module.parameters()); those that do not require a gradient
  // are left out. All must be float32 on one device (host memory for the mpi backend). The
  // communicator must outlive the reducer.
  GradientReducer(std::vector<torch::Tensor> params, Communicator& comm,
                  GradientReducerOptions options = {});
  ~GradientReducer();  // removes the hooks
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // Before each micro-batch's backward. The first call of a step zeroes the gradients; sync=false
  // (micro-batches before the last) only accumulates locally, sync=true launches the buckets as
  // they fill.
  void begin_step(bool sync = true);
  // After the last micro-batch's backward: launches the buckets not launched yet (those with
  // unused parameters, or all of them without overlap) and waits for every bucket. Afterwards
  // each parameter's .grad() holds the mean gradient over the ranks (the sum without `average`).
  void finish();
  // After finish(): the L2 norm of all gradients together (the same on every rank, since the
  // buckets are); if it exceeds max_norm > 0, scales them by max_norm / (norm + 1e-6). Returns the
  // norm before clipping. With `shard`: the norm over every rank's blocks (one all-reduce of the
  // squares), and only this rank's blocks are scaled.
  double clip_grad_norm(double max_norm);

  // bucket -> its parameters' slots, in the order they were packed.
  const std::vector<std::vector<BucketSlot>>& layout() const { return layout_; }
  size_t bucket_count() const { return layout_.size(); }
  // Buckets whose all-reduce has started in the current step (after a full backward with
  // overlap: all of them, unless some parameter got no gradient).
  size_t buckets_launched() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return next_launch_;
  }
  // The flat float32 buffer of bucket `b` (with `shard`, padded to a multiple of the world size).
  const torch::Tensor& bucket_buffer(size_t b) const { return buffers_.at(b); }
  bool sharded() const { return options_.shard; }
  // With `shard`: this rank's block of bucket `b` after finish() (the mean over ranks), and where
  // the block starts in the bucket.
  const torch::Tensor& shard_buffer(size_t b) const { return shards_.at(b); }
  int64_t shard_offset(size_t b) const { return shards_.at(b).numel() * comm_.rank(); }
  const std::vector<torch::Tensor>& params() const { return params_; }

  // Of the last finish(): seconds the communicator spent in this step's collectives, and seconds
  // finish() took (launching what was left and waiting): the communication exposed after
  // backward.
  double last_comm_seconds() const { return last_comm_seconds_; }
  double last_exposed_seconds() const { return last_exposed_seconds_; }

 private:
  void on_gradient_ready(size_t slot_param);
  void point_grad_at_slot(size_t param);
  void launch_ready_buckets();  // under mutex_
  void launch(size_t bucket);   // under mutex_

  std::vector<torch::Tensor> params_;
  Communicator& comm_;
  GradientReducerOptions options_;

  std::vector<std::vector<BucketSlot>> layout_;
  std::vector<torch::Tensor> buffers_;     // [bucket] flat float32
  std::vector<torch::Tensor> shards_;      // [bucket] this rank's reduced block (shard mode)
  std::vector<torch::Tensor> compressed_;  // [bucket] bfloat16 copy on the wire (compression)
  std::vector<torch::Tensor> views_;       // [param] view of its slot, shaped like the parameter
  std::vector<int64_t> bucket_of_;         // [param] its bucket, -1 when left out

  // Autograd hooks on the gradient accumulators (kept alive here, so the hooks stay attached).
  struct Hook;
  std::vector<std::unique_ptr<Hook>> hooks_;

  mutable std::mutex mutex_;  // hooks may run on autograd's device threads
  bool step_open_ = false;
  bool sync_ = false;
  std::vector<char> reported_;                // [param] its gradient is in, in the sync micro-batch
  std::vector<size_t> pending_;               // [bucket] parameters still to report
  size_t next_launch_ = 0;                    // buckets [0, next_launch_) are launched
  std::vector<std::shared_ptr<Work>> works_;  // [bucket]
  bool finished_ = false;                     // finish() ran since the last begin_step

  double last_comm_seconds_ = 0.0;
  double last_exposed_seconds_ = 0.0;
};

}  // namespace dgr::distributed
