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
#include "distributed/training_options.h"

namespace dgr::distributed {

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

// Trains run.init_from on the stage-1 example store at `examples_path` (data/stage1_examples.h).
// Collective over `mpi`. Throws ConfigError / DataError / IoError on bad input.
TrainReport train_stage1(MpiContext& mpi, const TrainingRun& run, const TrainOptions& train,
                         const std::string& examples_path);

}  // namespace dgr::distributed
