#include "distributed/trainer.h"

#include <glog/logging.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <random>

#include "core/model/bart.h"
#include "core/model/pretrained.h"
#include "core/model/training.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "core/util/memory.h"
#include "core/util/progress.h"
#include "data/copy_task.h"
#include "data/stage1_examples.h"
#include "distributed/checkpoint.h"
#include "distributed/communicator.h"
#include "distributed/example_batch.h"
#include "distributed/gradient_reducer.h"
#include "distributed/input_probe.h"
#include "distributed/sharded_optimizer.h"
#include "distributed/training_setup.h"

namespace dgr::distributed {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void check_job(const TrainJob& job, int world_size) {
  check_data_parallel_job(job, world_size, "train");
  if (job.label_smoothing < 0 || job.label_smoothing >= 1) {
    throw ConfigError("train.label_smoothing must be in [0, 1)");
  }
  if (job.checkpoint_every < 1) throw ConfigError("train.checkpoint_every must be at least 1");
  if (job.copy_steps < 0) throw ConfigError("train.copy.steps must be >= 0");
  if (job.copy_steps > 0) {
    if (!(job.copy_lr > 0)) throw ConfigError("train.copy.lr must be positive");
    if (job.copy_warmup_steps < 0) throw ConfigError("train.copy.warmup_steps must be >= 0");
    if (job.copy_length < 1) throw ConfigError("train.copy.length must be at least 1");
  }
  if (!(job.copy_mix >= 0 && job.copy_mix < 1)) {
    throw ConfigError("train.copy.mix must be in [0, 1), got " + std::to_string(job.copy_mix));
  }
  if (job.probe_examples < 0) throw ConfigError("train.probe.examples must be >= 0");
  if (job.probe_every < 1) throw ConfigError("train.probe.every must be at least 1");
  if (job.probe_check_after < 0) throw ConfigError("train.probe.check_after must be >= 0");
}

// What a collapsed model looks like and what to change; thrown on every rank at once (the
// probe's numbers are all-reduced).
[[noreturn]] void throw_ignores_input(const TrainJob& job, int64_t step, const ProbeResult& p) {
  char numbers[320];
  std::snprintf(numbers, sizeof numbers,
                "the NLL per target token is %.4f after the example's own source and %.4f after "
                "another example's source (gap %.4f < train.probe.min_gap %.4g); encoder output "
                "spread %.3g",
                p.nll_true, p.nll_shuffled, p.gap, job.probe_min_gap, p.encoder_spread);
  throw DataError("train: the model ignores its input at step " + std::to_string(step) + ": " +
                  numbers +
                  ". The loss falls only because the decoder learns the targets as a language "
                  "model. Train from scratch with a copy warm start (train.copy.steps, e.g. 300) "
                  "and a lower train.lr (e.g. 3e-4), or start from a pretrained model; "
                  "train.probe.check_after 0 only logs the probe.");
}

}  // namespace

TrainReport train_stage1(MpiContext& mpi, const TrainJob& job) {
  const auto start = Clock::now();
  check_job(job, mpi.size());
  const int64_t ranks = mpi.size();
  const int64_t rank = mpi.rank();

  const data::Stage1ExampleFile examples = data::Stage1ExampleFile::open(job.examples_path);
  const uint64_t rows = examples.size();
  if (rows == 0) throw DataError(job.examples_path + ": the example store holds no examples");
  const int64_t steps_per_epoch = static_cast<int64_t>(rows) / job.global_batch;
  if (steps_per_epoch == 0) {
    throw ConfigError("train.global_batch (" + std::to_string(job.global_batch) +
                      ") is larger than the " + std::to_string(rows) + " examples of " +
                      job.examples_path);
  }
  // Identifier steps; the copy steps come first and on top.
  const int64_t main_steps = job.max_steps > 0 ? job.max_steps : steps_per_epoch * job.epochs;
  if (job.decay != "constant" && main_steps <= job.warmup_steps) {
    throw ConfigError("train.warmup_steps (" + std::to_string(job.warmup_steps) +
                      ") must be smaller than the " + std::to_string(main_steps) +
                      " training steps when train.decay is " + job.decay);
  }
  const int64_t total_steps = job.copy_steps + main_steps;

  // Every rank starts from the same weights: the checkpoint, then (when resuming) the latest.
  TrainingModel loaded_model = load_training_model(job.init_from, job.device, job.dropout);
  const torch::Device device = model::parse_device(job.device);
  model::BartModel& bart = loaded_model.pretrained.model;
  const model::BartConfig& config = loaded_model.pretrained.config;

  const NamedParameters parameters = named_parameters(*bart);
  const model::LrSchedule schedule = lr_schedule(job, main_steps);
  model::LrSchedule copy_schedule;
  copy_schedule.peak_lr = job.copy_lr;
  copy_schedule.warmup_steps = job.copy_warmup_steps;
  copy_schedule.total_steps = std::max<int64_t>(1, job.copy_steps);
  copy_schedule.decay = "constant";
  data::CopyTaskOptions copy_options;
  copy_options.length = job.copy_length;
  copy_options.vocab_size = static_cast<int32_t>(config.vocab_size);
  copy_options.excluded = {static_cast<int32_t>(config.bos_token_id),
                           static_cast<int32_t>(config.eos_token_id),
                           static_cast<int32_t>(config.pad_token_id),
                           static_cast<int32_t>(config.decoder_start_token_id)};
  copy_options.seed = job.seed;
  // Copies in every identifier step's global batch (train.copy.mix).
  const auto mixed_copies = static_cast<int64_t>(std::llround(job.copy_mix * job.global_batch));
  std::optional<data::CopyTask> copies;  // checked up front, only when used
  if (job.copy_steps > 0 || mixed_copies > 0) copies.emplace(copy_options);
  const InputProbe probe(examples, job.probe_examples, job.seed);

  TrainerState state;
  state.seed = job.seed;
  state.global_batch = job.global_batch;
  state.config_hash = job.config_hash;
  state.world_size = mpi.size();
  std::optional<LoadedCheckpoint> loaded =
      resume_training(job.run_dir, job.resume, bart, mpi.rank(), state);

  TrainingCommunicators comms = make_training_communicators(job.backend, mpi);
  Communicator& control = comms.control();
  Communicator* comm = comms.gradients.get();
  GradientReducer reducer(parameters.params, *comm, reducer_options(job));
  // ZeRO-1 keeps 1/N of the AdamW moments per rank; otherwise every rank holds all of them.
  DataParallelAdamW optimizer(parameters, reducer, *comm, adamw_options(job));
  if (loaded) optimizer.load_state(loaded->optimizer_state, loaded->dir);
  loaded.reset();  // the optimizer tensors of the checkpoint are copied; free them
  bart->train();

  TrainLog log(job.run_dir, mpi.is_root(), /*append=*/state.step > 0);

  TrainReport report;
  report.first_step = state.step;
  const int64_t per_rank = job.global_batch / ranks;
  const int64_t micro = job.micro_batch > 0 ? job.micro_batch : per_rank;
  const int64_t accumulation = per_rank / micro;
  std::vector<uint64_t> order = epoch_order(rows, job.seed, state.epoch);
  double window_seconds = 0, window_comm = 0;
  int64_t window_samples = 0, window_tokens = 0, window_steps = 0;
  double total_step_seconds = 0, total_exposed = 0;
  int64_t total_samples = 0, total_tokens = 0;
  ProgressOptions progress_options;
  progress_options.log_interval_s = job.progress_interval_s;
  Progress progress("train", total_steps, mpi.is_root(), progress_options);
  progress.add(state.step);

  // The probe: every probe_every steps, at the last step and before the first; its numbers
  // join that step's log line (or make one of their own).
  std::optional<ProbeResult> probed;
  auto run_probe = [&]() {
    probed = probe.measure(bart, config, device, control);
    report.final_probe_gap = probed->gap;
    report.final_encoder_spread = probed->encoder_spread;
    if (job.probe_check_after > 0 && state.step - job.copy_steps >= job.probe_check_after &&
        probed->gap < job.probe_min_gap) {
      throw_ignores_input(job, state.step, *probed);
    }
  };
  auto probe_json = [](const ProbeResult& p) {
    return nlohmann::json{{"probe_nll_true", p.nll_true},
                          {"probe_nll_shuffled", p.nll_shuffled},
                          {"probe_gap", p.gap},
                          {"encoder_spread", p.encoder_spread}};
  };
  // A probe at a step without a log line of its own gets one.
  auto log_probe_alone = [&]() {
    if (!mpi.is_root()) return;
    nlohmann::json line = probe_json(*probed);
    line["step"] = state.step;
    log.write(line);
  };
  if (probe.enabled() && state.step == 0) {
    run_probe();
    log_probe_alone();
  }

  while (state.step < total_steps) {
    const bool copying = state.step < job.copy_steps;
    // A global batch is `stored` rows of the epoch order followed by random-token copies (all
    // of it during the warm start, copy_mix of it afterwards); rank r takes positions
    // [r·per_rank, (r+1)·per_rank) of that list.
    const int64_t stored = copying ? 0 : job.global_batch - mixed_copies;
    if (stored > 0 && state.cursor + stored > static_cast<int64_t>(rows)) {
      ++state.epoch;
      state.cursor = 0;
      order = epoch_order(rows, job.seed, state.epoch);
    }
    const auto step_start = Clock::now();
    const int64_t lo = rank * per_rank, hi = lo + per_rank;
    std::vector<data::Stage1Example> local;
    if (lo < stored) {
      const int64_t first = state.cursor + lo;
      const int64_t last = state.cursor + std::min(hi, stored);
      local = examples.read(std::vector<uint64_t>(order.begin() + first, order.begin() + last));
    }
    if (hi > stored) {
      const int64_t from = std::max(lo, stored) - stored;
      std::vector<data::Stage1Example> copied =
          copies->examples(static_cast<uint64_t>(state.step), static_cast<uint64_t>(from),
                           static_cast<uint64_t>(hi - stored - from));
      local.insert(local.end(), std::make_move_iterator(copied.begin()),
                   std::make_move_iterator(copied.end()));
    }
    std::vector<ExampleBatch> batches;
    int64_t local_tokens = 0;
    for (int a = 0; a < accumulation; ++a) {
      std::vector<data::Stage1Example> part(local.begin() + a * micro,
                                            local.begin() + (a + 1) * micro);
      try {
        batches.push_back(collate_examples(part, config, device));
      } catch (const DataError& e) {
        throw DataError(job.examples_path + ": " + e.what());
      }
      local_tokens += batches.back().target_tokens;
    }
    // The loss is normalised by the global batch's target tokens, known before forward.
    int64_t global_tokens = local_tokens;
    control.all_reduce(&global_tokens, 1, DataType::kInt64, ReduceOp::kSum);
    const double scale = static_cast<double>(ranks) / std::max<int64_t>(1, global_tokens);

    double forward_s = 0, backward_s = 0;
    double sums[2] = {0, 0};  // label-smoothed loss, nll over this rank's tokens
    for (int a = 0; a < accumulation; ++a) {
      reducer.begin_step(/*sync=*/a + 1 == accumulation);
      auto t0 = Clock::now();
      const ExampleBatch& b = batches[static_cast<size_t>(a)];
      const torch::Tensor logits = bart->forward(b.input_ids, b.attention_mask, b.decoder_input);
      const model::LossSums loss =
          model::label_smoothed_cross_entropy(logits, b.labels, job.label_smoothing, kIgnoreLabel);
      sums[0] += loss.loss.item<double>();
      sums[1] += loss.nll.item<double>();
      forward_s += seconds_since(t0);
      t0 = Clock::now();
      (loss.loss * scale).backward();
      backward_s += seconds_since(t0);
    }
    auto t0 = Clock::now();
    // clip_norm 0: the norm is still measured (and logged), nothing is scaled.
    const double grad_norm = synchronise_gradients(reducer, job.clip_norm);
    const double sync_s = seconds_since(t0);
    t0 = Clock::now();
    const double lr =
        copying ? copy_schedule.lr(state.step) : schedule.lr(state.step - job.copy_steps);
    optimizer.step(lr);  // with ZeRO-1 the all-gather of the parameters counts as optimizer time
    const double optimizer_s = seconds_since(t0);
    control.all_reduce(sums, 2, DataType::kFloat64, ReduceOp::kSum);

    state.cursor += stored;
    ++state.step;
    const double step_s = seconds_since(step_start);
    const double exposed = reducer.last_exposed_seconds();
    total_step_seconds += step_s;
    total_exposed += exposed;
    total_samples += job.global_batch;
    total_tokens += global_tokens;
    window_seconds += step_s;
    window_comm += exposed;
    window_samples += job.global_batch;
    window_tokens += global_tokens;
    ++window_steps;
    const double loss_per_token = sums[0] / std::max<int64_t>(1, global_tokens);
    if (!std::isfinite(loss_per_token)) {
      throw DataError("train: the loss became " + std::to_string(loss_per_token) + " at step " +
                      std::to_string(state.step) + " (lower train.lr?)");
    }
    if (report.steps == 0 && state.step == report.first_step + 1)
      report.first_loss = loss_per_token;
    report.final_loss = loss_per_token;
    report.steps = state.step;

    probed.reset();
    if (probe.enabled() && (state.step % job.probe_every == 0 || state.step == total_steps)) {
      run_probe();
    }
    const bool log_step = state.step % job.log_every == 0 || state.step == total_steps ||
                          state.step == report.first_step + 1;
    if (!log_step && probed) log_probe_alone();
    if (mpi.is_root() && log_step) {
      nlohmann::json line = {
          {"step", state.step},
          {"epoch", state.epoch},
          {"loss", loss_per_token},
          {"nll", sums[1] / std::max<int64_t>(1, global_tokens)},
          {"lr", lr},
          {"grad_norm", grad_norm},
          {"samples_per_s", window_samples / std::max(1e-9, window_seconds)},
          {"tokens_per_s", window_tokens / std::max(1e-9, window_seconds)},
          {"seconds",
           StepSeconds{step_s, forward_s, backward_s, exposed, sync_s, optimizer_s}.json()},
          {"ranks", ranks}};
      if (copying) line["phase"] = "copy";
      if (probed) line.update(probe_json(*probed));
      log.write(line);
      window_seconds = window_comm = 0;
      window_samples = window_tokens = window_steps = 0;
    }
    progress.add(1);

    if (state.step % job.checkpoint_every == 0 || state.step == total_steps) {
      save_training_checkpoint(control, job.run_dir, bart, loaded_model.saved_config, optimizer,
                               state, job.config_yaml, loaded_model.tokenizer_dir, job.keep_last,
                               loss_per_token);
    }
  }
  progress.finish();

  export_trained_model(control, bart, loaded_model, job.run_dir, job.export_dir);
  report.seconds = seconds_since(start);
  report.samples_per_second = total_samples / std::max(1e-9, total_step_seconds);
  report.tokens_per_second = total_tokens / std::max(1e-9, total_step_seconds);
  report.exposed_comm_fraction = total_exposed / std::max(1e-9, total_step_seconds);
  report.peak_rss_bytes = peak_rss_bytes();
  report.optimizer_state_bytes = optimizer.state_bytes();
  return report;
}

}  // namespace dgr::distributed
