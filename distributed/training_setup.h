// What the data-parallel loop (data_parallel_trainer.h) and its objectives set up alike from a
// training's options (training_options.h): the per-epoch order of the rows, the parameters by
// name, AdamW, the learning-rate schedule, the reducer's options, the model, train_log.jsonl,
// checkpoints and the export.
#pragma once

#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/model/pretrained.h"
#include "core/model/safetensors.h"
#include "core/model/training.h"
#include "core/util/error.h"
#include "distributed/checkpoint.h"
#include "distributed/communicator.h"
#include "distributed/device_placement.h"
#include "distributed/gradient_reducer.h"
#include "distributed/mpi_context.h"
#include "distributed/sharded_optimizer.h"
#include "distributed/training_options.h"

namespace dgr::distributed {

struct NamedParameters {
  std::vector<std::pair<std::string, torch::Tensor>> named;  // for model::AdamW
  std::vector<std::string> names;                            // for ShardedAdamW
  std::vector<torch::Tensor> params;                         // for GradientReducer
};

// The rows of epoch `epoch` in training order: a Fisher-Yates shuffle with our own draws, so the
// order is the same on every platform and standard library.
inline std::vector<uint64_t> epoch_order(uint64_t rows, uint64_t seed, int64_t epoch) {
  std::vector<uint64_t> order(rows);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(epoch) + 1);
  for (uint64_t i = rows; i > 1; --i) {
    const uint64_t j = rng() % i;
    std::swap(order[i - 1], order[j]);
  }
  return order;
}

inline NamedParameters named_parameters(const torch::nn::Module& module) {
  NamedParameters out;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    out.named.emplace_back(item.key(), item.value());
    out.names.push_back(item.key());
    out.params.push_back(item.value());
  }
  return out;
}

inline model::AdamWOptions adamw_options(const TrainingOptions& o) {
  model::AdamWOptions adam;
  adam.lr = o.lr;
  adam.beta1 = o.beta1;
  adam.beta2 = o.beta2;
  adam.eps = o.adam_eps;
  adam.weight_decay = o.weight_decay;
  return adam;
}

// The schedule of `o` over `total_steps`.
inline model::LrSchedule lr_schedule(const TrainingOptions& o, int64_t total_steps) {
  model::LrSchedule schedule;
  schedule.peak_lr = o.lr;
  schedule.warmup_steps = warmup_steps(o, total_steps);
  schedule.total_steps = total_steps;
  schedule.decay = o.decay;
  schedule.end_lr = o.end_lr;
  return schedule;
}

// `overlap` is o.overlap as resolved for this node (TrainingRun::overlap).
inline GradientReducerOptions reducer_options(const TrainingOptions& o, bool overlap) {
  GradientReducerOptions options;
  options.bucket_mb = o.bucket_mb;
  options.overlap = overlap;
  options.shard = o.zero_stage == 1;
  options.bf16_compression = o.grad_compression == "bf16";
  return options;
}

// AdamW as the job asks for it: replicated on every rank (model::AdamW), or with ZeRO-1 sharded
// over the ranks (ShardedAdamW, on `reducer` in shard mode). The reducer and the communicator must
// outlive it.
class DataParallelAdamW {
 public:
  DataParallelAdamW(const NamedParameters& parameters, const GradientReducer& reducer,
                    Communicator& comm, const model::AdamWOptions& options) {
    if (reducer.sharded()) {
      sharded_ = std::make_unique<ShardedAdamW>(parameters.names, reducer, comm, options);
    } else {
      replicated_ = std::make_unique<model::AdamW>(parameters.named, options);
      for (const auto& [name, param] : parameters.named)
        replicated_elements_ += 2 * param.numel();
    }
  }

  void step(double lr) { sharded_ ? sharded_->step(lr) : replicated_->step(lr); }
  // model::AdamW::state()'s tensors; collective when sharded (every rank must call it).
  model::NamedTensors state() { return sharded_ ? sharded_->state() : replicated_->state(); }
  void load_state(const model::NamedTensors& state, const std::string& source) {
    sharded_ ? sharded_->load_state(state, source) : replicated_->load_state(state, source);
  }
  // Bytes of AdamW moments this rank holds.
  int64_t state_bytes() const {
    const int64_t elements = sharded_ ? sharded_->local_state_elements() : replicated_elements_;
    return elements * static_cast<int64_t>(sizeof(float));
  }

 private:
  std::unique_ptr<model::AdamW> replicated_;
  std::unique_ptr<ShardedAdamW> sharded_;
  int64_t replicated_elements_ = 0;
};

// Gradients travel on the configured backend; the few scalars of a step (counts, loss sums)
// stay in host memory on MPI, whatever the backend.
struct TrainingCommunicators {
  std::unique_ptr<Communicator> gradients;
  std::unique_ptr<Communicator> host;  // only when `gradients` is not MPI
  Communicator& control() { return host ? *host : *gradients; }
};

// The gradients' communicator on the run's device (TrainingRun::cuda_index, found by
// place_rank_device), logged rank by rank.
TrainingCommunicators make_training_communicators(const TrainingOptions& o, const TrainingRun& run,
                                                  MpiContext& mpi);

// After the last backward of a step: the gradients averaged over the ranks and clipped to a
// global norm of clip_norm (0: measured, nothing scaled). Returns the norm before clipping, the
// same on every rank.
inline double synchronise_gradients(GradientReducer& reducer, double clip_norm) {
  reducer.finish();
  return reducer.clip_grad_norm(clip_norm > 0 ? clip_norm
                                              : std::numeric_limits<double>::infinity());
}

// A run's train_log.jsonl: one JSON object per line, flushed at once. Only the writer (rank 0)
// opens the file (creating run_dir), appending when the run resumes; on the other ranks write()
// does nothing. IoError naming the file when it cannot be opened or a line cannot be written
// (a full disk), so no log line is lost silently.
class TrainLog {
 public:
  TrainLog(const std::string& run_dir, bool writer, bool append);
  ~TrainLog();
  TrainLog(const TrainLog&) = delete;
  TrainLog& operator=(const TrainLog&) = delete;
  void write(const nlohmann::json& line);

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

// Where a step's time went, as every trainer logs it under "seconds".
struct StepSeconds {
  double step = 0;
  double forward = 0;
  double backward = 0;
  double communication_exposed = 0;
  double synchronise = 0;
  double optimizer = 0;

  nlohmann::json json() const {
    return {{"step", step},
            {"forward", forward},
            {"backward", backward},
            {"communication_exposed", communication_exposed},
            {"synchronise", synchronise},
            {"optimizer", optimizer}};
  }
};

// The BART model a seq2seq trainer starts from (stage 1, distillation).
struct TrainingModel {
  model::PretrainedBart pretrained;  // on the device; dropout rates as the trainer asked
  model::BartConfig saved_config;    // the config as loaded: what checkpoints and exports keep
  std::string tokenizer_dir;         // init_from when it holds vocab.json + merges.txt, else ""
};

// Loads `init_from` on `device`. With dropout >= 0 the layers are rebuilt at that rate (they
// read it from the config) and the weights loaded again; the saved config keeps the model's own.
TrainingModel load_training_model(const std::string& init_from, const std::string& device,
                                  double dropout);

// A model the data-parallel trainer trains: its module (parameters, train and eval modes) and
// how a checkpoint saves and restores it.
class TrainableModel : public CheckpointModel {
 public:
  virtual torch::nn::Module& module() = 0;
};

// A TrainingModel as a TrainableModel: checkpoints and exports keep the config as loaded and
// the tokenizer files of init_from.
class BartTrainable final : public TrainableModel {
 public:
  explicit BartTrainable(TrainingModel& loaded)
      : loaded_(loaded),
        checkpoint_(loaded.pretrained.model, loaded.saved_config, loaded.tokenizer_dir) {}
  torch::nn::Module& module() override { return *loaded_.pretrained.model; }
  void save_pretrained(const std::string& dir) const override { checkpoint_.save_pretrained(dir); }
  void load_weights(const std::string& path) override { checkpoint_.load_weights(path); }

 private:
  TrainingModel& loaded_;
  BartCheckpointModel checkpoint_;
};

// When `resume` and run_dir holds a checkpoint: loads its weights into `model`, replaces `state`
// by the saved one (world_size excepted) and restores the RNG (rank 0 the saved stream, the
// other ranks a stream derived from seed, rank and step, as at a fresh start they derive theirs
// from seed and rank). Returns the checkpoint for the optimizer's load_state, or nullopt (the
// RNG then seeded with seed + rank). ConfigError when the checkpoint's global batch differs.
//
// On a GPU (`cuda_index` >= 0) rank 0 also restores its CUDA generator from the checkpoint's
// cuda_rng (the other ranks reseed theirs with the CPU one, which torch::manual_seed does); a
// checkpoint written on the CPU has none, and the masks of the resumed GPU run then differ from
// an uninterrupted one (logged).
std::optional<LoadedCheckpoint> resume_training(const std::string& run_dir, bool resume,
                                                CheckpointModel& model, int rank, int cuda_index,
                                                TrainerState& state);

// A checkpoint of step state.step: the optimizer state is assembled on every rank (collective
// when sharded), rank 0 saves (and logs `loss`), the other ranks reseed their dropout stream as
// resume_training does (so resuming here draws what the uninterrupted run draws), then every
// rank waits on `control`.
void save_training_checkpoint(Communicator& control, const std::string& run_dir,
                              const CheckpointModel& model, DataParallelAdamW& optimizer,
                              TrainerState& state, const std::string& config_yaml, int keep_last,
                              double loss, int cuda_index = -1);

// The trained model in Hugging Face layout at export_dir (empty: run_dir/model), written by
// rank 0; every rank then waits on `control`. Returns the directory.
std::string export_trained_model(Communicator& control, const CheckpointModel& model,
                                 const std::string& run_dir, const std::string& export_dir);

}  // namespace dgr::distributed
