// Training checkpoints: run_dir/checkpoints/step-NNNNNNN/ holds everything a run needs to go on
// exactly where it stopped — the model as a Hugging Face directory (model.safetensors,
// config.json, vocab.json + merges.txt), optimizer.safetensors (AdamW::state()),
// trainer_state.yaml (step, epoch, data cursor, seed, world size, RNG state), the resolved
// config.yaml, and checksums.yaml (SHA-256 and size of every other file).
//
// Guarantees: a checkpoint directory appears complete or not at all (written under
// checkpoints/.tmp-step-NNNNNNN.<pid>, every file fsynced, the directory fsynced, then renamed);
// `checkpoints/latest` (one line: the directory name) is replaced atomically after the rename,
// so it always names a complete checkpoint; loading verifies every checksum first, so a missing,
// truncated or altered file is a DataError naming it, never a silently different run.
// Temporary directories left by a crash are ignored by loading and removed by the next save.
//
// Test hook (fault tests only, never set in production): with the environment variable
// DGR_FAULT_KILL_DURING_SAVE=<step>, save_checkpoint of that step sends its own process SIGKILL
// after the model files are written into the temporary directory and before the optimizer state,
// the trainer state and the checksums are, leaving the half-written checkpoint that a crash or
// an external kill mid-save leaves (tests/faults/kill_during_save_test.sh).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/model/bart.h"
#include "core/model/bart_config.h"
#include "core/model/safetensors.h"
#include "core/model/training.h"

namespace dgr::distributed {

struct TrainerState {
  int64_t step = 0;          // optimizer updates done
  int64_t epoch = 0;         // current epoch (0-based)
  int64_t cursor = 0;        // rows of the epoch's permutation consumed
  uint64_t seed = 0;         // the run's seed (permutations are derived from seed and epoch)
  int world_size = 1;        // ranks that trained up to here
  int64_t global_batch = 0;  // examples per update over all ranks
  std::string torch_rng;     // model::serialize_rng_state() of rank 0 (hex)
  // model::serialize_cuda_rng_state() of rank 0's GPU (hex; empty when it trained on the CPU)
  std::string cuda_rng;
  std::string config_hash;  // SHA-256 of the resolved config
};

struct CheckpointPaths {
  std::string dir;
};

// "step-0000042": the directory name of the checkpoint after `step` updates (7 digits, more
// when needed).
std::string checkpoint_name(int64_t step);

// Writes run_dir/checkpoints/step-NNNNNNN/ (see above) and returns its path; an existing
// checkpoint of the same step is replaced. `tokenizer_dir` (may be empty) provides vocab.json
// and merges.txt. After `latest` is updated, the oldest step-* directories beyond `keep_last`
// are deleted (keep_last <= 0 keeps all). Called by rank 0 only. IoError when a file cannot be
// written, ConfigError when `config` does not describe `model`.
// What a checkpoint keeps of a model and gives back: its Hugging Face directory (weights in
// model.safetensors, config.json, tokenizer files) and its weights from such a directory.
// BART (stage 1, distillation) and the BERT cross-encoder implement it.
class CheckpointModel {
 public:
  virtual ~CheckpointModel() = default;
  // Writes the model's files into `dir` (through write_file_atomic or fsynced writes).
  virtual void save_pretrained(const std::string& dir) const = 0;
  // Loads `safetensors_path` into the model; DataError on a tensor of another shape.
  virtual void load_weights(const std::string& safetensors_path) = 0;
};

// The BART model of stage 1 and distillation as a CheckpointModel (tokenizer_dir: where
// vocab.json + merges.txt come from; may be empty). Shares the module (a holder), keeps a
// reference to the config.
class BartCheckpointModel final : public CheckpointModel {
 public:
  BartCheckpointModel(const model::BartModel& model, const model::BartConfig& config,
                      std::string tokenizer_dir = "");
  void save_pretrained(const std::string& dir) const override;
  void load_weights(const std::string& safetensors_path) override;

 private:
  model::BartModel model_;
  const model::BartConfig& config_;
  std::string tokenizer_dir_;
};

std::string save_checkpoint(const std::string& run_dir, const CheckpointModel& model,
                            const model::NamedTensors& optimizer_state, const TrainerState& state,
                            const std::string& config_yaml, int keep_last);
// The same for BART, with the optimizer or its state as tensors.
std::string save_checkpoint(const std::string& run_dir, const model::BartModel& model,
                            const model::BartConfig& config, const model::AdamW& optimizer,
                            const TrainerState& state, const std::string& config_yaml,
                            const std::string& tokenizer_dir, int keep_last);
// The same with the optimizer state given as tensors (AdamW::state()'s names: what a sharded
// optimizer assembles collectively before rank 0 saves).
std::string save_checkpoint(const std::string& run_dir, const model::BartModel& model,
                            const model::BartConfig& config,
                            const model::NamedTensors& optimizer_state, const TrainerState& state,
                            const std::string& config_yaml, const std::string& tokenizer_dir,
                            int keep_last);

struct LoadedCheckpoint {
  std::string dir;
  TrainerState state;
  model::NamedTensors optimizer_state;  // for AdamW::load_state
};

// The checkpoint run_dir/checkpoints/latest names, loaded as load_checkpoint does; when `latest`
// is absent, the newest step-* directory whose checksums verify (incomplete ones are skipped with
// a warning naming them); std::nullopt when the run has no checkpoint. DataError when `latest`
// names a directory that does not exist, or when step-* directories exist but none is complete.
std::optional<LoadedCheckpoint> load_latest_checkpoint(const std::string& run_dir,
                                                       CheckpointModel& model);
std::optional<LoadedCheckpoint> load_latest_checkpoint(const std::string& run_dir,
                                                       model::BartModel& model);

// Verifies dir/checksums.yaml (a missing, truncated or altered file is a DataError naming it),
// loads dir/model.safetensors into `model` (model::load_bart_weights: DataError on a tensor of
// another shape) and returns the trainer state and the optimizer tensors. The torch RNG state
// is returned, not restored: call model::restore_rng_state(state.torch_rng).
LoadedCheckpoint load_checkpoint(const std::string& dir, CheckpointModel& model);
LoadedCheckpoint load_checkpoint(const std::string& dir, model::BartModel& model);

// A checkpoint's trainer_state.yaml: the text of `state`, and the state read back from `path`
// (DataError naming it when it is unreadable, of another format version, or out of range).
std::string trainer_state_yaml(const TrainerState& state);
TrainerState read_trainer_state(const std::string& path);

// The resolved config text saved with the checkpoint in `dir` (dir/config.yaml).
std::string checkpoint_config_yaml(const std::string& dir);

}  // namespace dgr::distributed
