// Stage 1 (learning to generate identifiers) as an objective of the data-parallel loop
// (data_parallel_trainer.h, where a step reads top to bottom): every rank holds a full model
// replica and reads only its rows of the stage-1 example store.
//
// World-size invariance: epoch e shuffles all rows with a permutation seeded by (seed, e); step s
// takes the next `global_batch` rows of it and rank r of N takes the r-th of N equal pieces. The
// loss is the sum over the global batch's target tokens divided by their global count. A rank
// runs its piece in micro-batches of `micro_batch` examples and accumulates their gradients, so
// with the same micro_batch, 1 rank with batch B and 2 ranks with B/2 each run the very same
// micro-batches and make a bit-identical update (the per-rank loss scale N/tokens and the 1/N
// average are exact powers of two apart; dropout > 0 draws masks per rank). Resuming restores
// model, AdamW, the data cursor and the RNG, with any number of ranks. No torch in this header.
#pragma once

#include <cstdint>
#include <string>

#include "distributed/mpi_context.h"

namespace dgr::distributed {

struct TrainJob {
  std::string examples_path;  // stage-1 example store (data/stage1_examples.h)
  std::string init_from;      // checkpoint directory in Hugging Face layout
  std::string run_dir;        // checkpoints/, train_log.jsonl
  std::string export_dir;     // final model in Hugging Face layout
  std::string device = "cpu";
  std::string config_yaml;  // resolved config, stored in checkpoints
  std::string config_hash;

  uint64_t seed = 13;
  int64_t global_batch = 32;
  int64_t micro_batch = 0;  // per forward/backward on a rank; 0 = global_batch / ranks
  int64_t max_steps = 0;    // 0 = epochs x rows / global_batch
  int epochs = 1;
  double lr = 3e-5;
  int64_t warmup_steps = 0;
  std::string decay = "linear";
  double end_lr = 0;
  double weight_decay = 0.01;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double adam_eps = 1e-8;
  double clip_norm = 0.1;  // 0 = off
  double label_smoothing = 0.1;
  double dropout = -1;  // < 0: the model config's
  int64_t checkpoint_every = 1000;
  int keep_last = 3;
  int64_t log_every = 10;
  std::string backend = "mpi";
  double bucket_mb = 25;
  bool overlap = true;
  int zero_stage = 0;  // 1: AdamW state sharded over the ranks (ShardedAdamW)
  bool resume = true;
  double progress_interval_s = 30;

  // Copy warm start (data/copy_task.h): steps 1..copy_steps train on random-token copies at
  // their own schedule (warm-up, then constant copy_lr); the identifier steps follow with the
  // schedule above. 0 = none.
  int64_t copy_steps = 0;
  double copy_lr = 1e-3;
  int64_t copy_warmup_steps = 50;
  int copy_length = 16;
  double copy_mix = 0;  // fraction of every identifier step's global batch that are copies

  // Input probe (distributed/input_probe.h): measured at step 0, every probe_every steps and at
  // the last step; from probe_check_after steps after the copy warm start on (> 0), a gap below
  // probe_min_gap stops the run (the switch from copies to identifiers dips it for a while).
  int probe_examples = 32;
  int64_t probe_every = 100;
  double probe_min_gap = 0.1;
  int64_t probe_check_after = 500;
};

struct TrainReport {
  int64_t first_step = 0;  // > 0 when resumed
  int64_t steps = 0;       // the step count reached
  double final_loss = 0;   // mean label-smoothed loss per target token, last logged step
  double first_loss = 0;   // the same, first step of this run
  double seconds = 0;
  double samples_per_second = 0;
  double tokens_per_second = 0;
  double exposed_comm_fraction = 0;   // exposed all-reduce time / step time
  int64_t optimizer_state_bytes = 0;  // AdamW moments held by rank 0
  uint64_t peak_rss_bytes = 0;
  double final_probe_gap = 0;  // of the last probe (0 without one)
  double final_encoder_spread = 0;
};

// Collective over `mpi`. Throws ConfigError / DataError / IoError on bad input.
TrainReport train_stage1(MpiContext& mpi, const TrainJob& job);

}  // namespace dgr::distributed
