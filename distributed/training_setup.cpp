#include "distributed/training_setup.h"

#include <glog/logging.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/util/error.h"
#include "core/util/files.h"

namespace dgr::distributed {

TrainingCommunicators make_training_communicators(const TrainingOptions& o, const TrainingRun& run,
                                                  MpiContext& mpi) {
  TrainingCommunicators out;
  MpiCommunicatorOptions mpi_options;
  mpi_options.shared_memory = o.shared_memory;
  out.gradients = make_communicator(o.backend, mpi, std::max(run.cuda_index, 0),
                                    o.collective_timeout_s, mpi_options);
  if (std::string(out.gradients->backend()) != "mpi") {
    // Only a step's few scalars: no shared-memory windows to set up for them.
    MpiCommunicatorOptions scalars;
    scalars.shared_memory = false;
    out.host = make_communicator("mpi", mpi, 0, o.collective_timeout_s, scalars);
  }
  LOG(INFO) << placement_line(mpi, DevicePlacement{run.device, run.cuda_index}) << ", gradients on "
            << out.gradients->transport();
  return out;
}

namespace fs = std::filesystem;

TrainLog::TrainLog(const std::string& run_dir, bool writer, bool append) {
  if (!writer) return;
  ensure_directory(run_dir);
  path_ = (fs::path(run_dir) / "train_log.jsonl").string();
  file_ = std::fopen(path_.c_str(), append ? "a" : "w");
  if (!file_) throw IoError(path_ + ": cannot open for writing");
}

TrainLog::~TrainLog() {
  if (file_) std::fclose(file_);
}

void TrainLog::write(const nlohmann::json& line) {
  if (!file_) return;
  const bool written = std::fprintf(file_, "%s\n", line.dump().c_str()) >= 0;
  if (!written || std::fflush(file_) != 0) {
    throw IoError(path_ + ": cannot write a log line (" + std::strerror(errno) + ")");
  }
}

TrainingModel load_training_model(const std::string& init_from, const std::string& device,
                                  double dropout) {
  TrainingModel out{model::load_pretrained(init_from, device), {}, {}};
  out.saved_config = out.pretrained.config;
  if (dropout >= 0) {
    model::BartConfig& config = out.pretrained.config;
    config.dropout = dropout;
    config.attention_dropout = dropout;
    config.activation_dropout = dropout;
    out.pretrained.model = model::BartModel(config);
    model::load_bart_weights(out.pretrained.model,
                             (fs::path(init_from) / "model.safetensors").string());
    out.pretrained.model->to(model::parse_device(device));
  }
  if (file_exists(init_from + "/vocab.json") && file_exists(init_from + "/merges.txt")) {
    out.tokenizer_dir = init_from;
  }
  return out;
}

namespace {

// The dropout stream of a rank other than 0 from step `step` on. Ranks > 0 switch to it after
// every checkpoint and when resuming from one, so that a resumed run draws the same masks as an
// uninterrupted one (only rank 0's stream is saved in the checkpoint).
void reseed_rank_stream(uint64_t seed, int rank, int64_t step) {
  torch::manual_seed(seed + static_cast<uint64_t>(rank) + 1000003ull * static_cast<uint64_t>(step));
}

}  // namespace

std::optional<LoadedCheckpoint> resume_training(const std::string& run_dir, bool resume,
                                                CheckpointModel& model, int rank, int cuda_index,
                                                TrainerState& state) {
  const auto offset = static_cast<uint64_t>(rank);
  torch::manual_seed(state.seed + offset);
  std::optional<LoadedCheckpoint> loaded;
  if (resume) loaded = load_latest_checkpoint(run_dir, model);
  if (!loaded) return loaded;
  if (loaded->state.global_batch != state.global_batch) {
    throw ConfigError("cannot resume " + loaded->dir + ": it was trained with global_batch " +
                      std::to_string(loaded->state.global_batch) + ", the config says " +
                      std::to_string(state.global_batch));
  }
  const int world_size = state.world_size;
  state = loaded->state;
  state.world_size = world_size;
  // Dropout streams differ per rank; the saved state is rank 0's, the others derive theirs.
  if (rank == 0) {
    model::restore_rng_state(state.torch_rng);
    if (cuda_index >= 0 && !state.cuda_rng.empty()) {
      model::restore_cuda_rng_state(cuda_index, state.cuda_rng);
    } else if (cuda_index >= 0) {
      LOG(WARNING) << loaded->dir << " holds no CUDA generator state (written by a CPU run): "
                   << "dropout masks on the GPU differ from those of an uninterrupted run";
    }
  } else {
    reseed_rank_stream(state.seed, rank, state.step);
  }
  LOG_IF(INFO, rank == 0) << "resuming from " << loaded->dir << " at step " << state.step
                          << " (epoch " << state.epoch << ", row " << state.cursor << "; saved by "
                          << loaded->state.world_size << " rank(s))";
  return loaded;
}

void save_training_checkpoint(Communicator& control, const std::string& run_dir,
                              const CheckpointModel& model, DataParallelAdamW& optimizer,
                              TrainerState& state, const std::string& config_yaml, int keep_last,
                              double loss, int cuda_index) {
  // Sharded moments are assembled on every rank (a collective) before rank 0 writes.
  const model::NamedTensors optimizer_state = optimizer.state();
  if (control.rank() == 0) {
    state.torch_rng = model::serialize_rng_state();
    state.cuda_rng = cuda_index >= 0 ? model::serialize_cuda_rng_state(cuda_index) : "";
    const std::string dir =
        save_checkpoint(run_dir, model, optimizer_state, state, config_yaml, keep_last);
    LOG(INFO) << "step " << state.step << ": loss " << loss << ", checkpoint " << dir;
  } else {
    reseed_rank_stream(state.seed, control.rank(), state.step);
  }
  control.barrier();
}

std::string export_trained_model(Communicator& control, const CheckpointModel& model,
                                 const std::string& run_dir, const std::string& export_dir) {
  std::string out = export_dir.empty() ? (fs::path(run_dir) / "model").string() : export_dir;
  if (control.rank() == 0) {
    model.save_pretrained(out);
    LOG(INFO) << "wrote the trained model to " << out;
  }
  control.barrier();
  return out;
}

}  // namespace dgr::distributed
