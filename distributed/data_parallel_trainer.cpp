#include "distributed/data_parallel_trainer.h"

#include <glog/logging.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>

#include "core/util/error.h"
#include "core/util/memory.h"
#include "core/util/progress.h"
#include "core/util/timing.h"
#include "distributed/gradient_reducer.h"

namespace dgr::distributed {

using Clock = std::chrono::steady_clock;

DataParallelReport train_data_parallel(Communicator& gradients, Communicator& control,
                                       TrainableModel& model, const DataParallelJob& job,
                                       const std::vector<TrainingPhase>& phases,
                                       Objective& objective) {
  const TrainingOptions& o = job.options;
  const TrainingRun& run = job.run;
  const NonFinitePolicy& nonfinite = job.nonfinite;
  const auto start = Clock::now();
  const int64_t ranks = gradients.size();
  const int64_t rank = gradients.rank();
  const bool root = rank == 0;
  int64_t total_steps = 0;
  for (const TrainingPhase& phase : phases)
    total_steps += phase.steps;
  const uint64_t rows = objective.rows();

  torch::nn::Module& module = model.module();
  const NamedParameters parameters = named_parameters(module);
  const torch::DeviceType device_type =
      parameters.params.empty() ? torch::kCPU : parameters.params.front().device().type();
  const model::Precision precision =
      model::parse_precision(o.precision, config::key_name(config::option_key(o, o.precision)));
  if (device_type == torch::kCUDA) model::set_tf32_matmul(o.tf32);
  TrainerState state;
  state.seed = run.seed;
  state.global_batch = o.global_batch;
  state.config_hash = run.config_hash;
  state.world_size = static_cast<int>(ranks);
  std::optional<LoadedCheckpoint> resumed =
      resume_training(run.run_dir, o.resume, model, static_cast<int>(rank), run.cuda_index, state);
  GradientReducer reducer(parameters.params, gradients, reducer_options(o, run.overlap));
  // ZeRO-1 keeps 1/N of the AdamW moments per rank; otherwise every rank holds all of them.
  DataParallelAdamW optimizer(parameters, reducer, gradients, adamw_options(o));
  if (resumed) optimizer.load_state(resumed->optimizer_state, resumed->dir);
  resumed.reset();  // the optimizer tensors of the checkpoint are copied; free them
  module.train();

  TrainLog log(run.run_dir, root, /*append=*/state.step > 0);
  DataParallelReport report;
  report.first_step = state.step;
  if (state.step == 0) objective.at_start(log);

  const int64_t per_rank = o.global_batch / ranks;
  const int64_t micro = o.micro_batch > 0 ? o.micro_batch : per_rank;
  std::vector<uint64_t> order = epoch_order(rows, run.seed, state.epoch);
  double total_step_seconds = 0, total_exposed = 0, window_seconds = 0;
  int64_t total_items = 0, total_tokens = 0, window_items = 0, window_tokens = 0;
  bool first_taken = false;
  ProgressOptions progress_options;
  progress_options.log_interval_s = run.progress_interval_s;
  Progress progress(job.name, total_steps, root, progress_options);
  progress.add(state.step);

  while (state.step < total_steps) {
    // The phase of this step, and the step within it.
    size_t phase_index = 0;
    int64_t phase_step = state.step;
    while (phase_index + 1 < phases.size() && phase_step >= phases[phase_index].steps) {
      phase_step -= phases[phase_index].steps;
      ++phase_index;
    }
    const TrainingPhase& phase = phases[phase_index];
    const int64_t stored = phase.stored_rows;
    if (stored > 0 && state.cursor + stored > static_cast<int64_t>(rows)) {
      ++state.epoch;
      state.cursor = 0;
      order = epoch_order(rows, run.seed, state.epoch);
    }
    const auto step_start = Clock::now();
    // Rank r takes positions [r·B/N, (r+1)·B/N) of the global batch: stored rows first, then
    // generated examples.
    StepShare share;
    share.step = state.step;
    share.epoch = state.epoch;
    share.micro_batch = micro;
    const int64_t lo = rank * per_rank, hi = lo + per_rank;
    for (int64_t i = lo; i < std::min(hi, stored); ++i)
      share.rows.push_back(order[static_cast<size_t>(state.cursor + i)]);
    if (hi > stored) {
      share.generated_first = static_cast<uint64_t>(std::max(lo, stored) - stored);
      share.generated_count = static_cast<uint64_t>(hi - stored) - share.generated_first;
    }
    std::vector<int64_t> counts = objective.prepare(share);
    if (!counts.empty()) {
      control.all_reduce(counts.data(), counts.size(), DataType::kInt64, ReduceOp::kSum);
    }

    double forward_s = 0, backward_s = 0;
    std::vector<double> sums(objective.sum_count(), 0.0);
    for (int64_t first = 0; first < per_rank; first += micro) {
      reducer.begin_step(/*sync=*/first + micro >= per_rank);
      auto t0 = Clock::now();
      torch::Tensor loss;
      {
        const model::AutocastScope autocast(precision, device_type);
        loss = objective.forward(first, micro, counts, sums);
      }
      forward_s += seconds_since(t0);
      t0 = Clock::now();
      if (loss.defined() && loss.requires_grad()) loss.backward();
      backward_s += seconds_since(t0);
    }
    auto t0 = Clock::now();
    // clip_norm 0: the norm is still measured (and logged), nothing is scaled.
    const double grad_norm = synchronise_gradients(reducer, o.clip_norm);
    const double sync_s = seconds_since(t0);
    if (!sums.empty()) {
      control.all_reduce(sums.data(), sums.size(), DataType::kFloat64, ReduceOp::kSum);
    }
    // Every rank sees the same sums and norm, so every rank decides alike.
    StepOutcome outcome = objective.outcome(sums, counts);
    const double lr = phase.schedule.lr(phase_step);
    const bool finite = std::isfinite(outcome.loss) && std::isfinite(grad_norm);
    double optimizer_s = 0;
    if (finite) {
      t0 = Clock::now();
      optimizer.step(lr);  // with ZeRO-1 the all-gather of the parameters counts as optimizer time
      optimizer_s = seconds_since(t0);
    } else {
      const std::string what = job.name + ": the loss is " + std::to_string(outcome.loss) +
                               " and the gradient norm " + std::to_string(grad_norm) + " at step " +
                               std::to_string(state.step + 1);
      const std::string advice = " (lower " + config::key_name(config::option_key(o, o.lr)) + "?)";
      if (!nonfinite.skip) {
        throw DataError(what + (nonfinite.policy_key.address
                                    ? " (" + config::key_name(nonfinite.policy_key) + ": abort)"
                                    : advice));
      }
      ++report.skipped_steps;
      LOG_IF(WARNING, root) << what << ": step skipped (" << report.skipped_steps << " so far)";
      if (report.skipped_steps >= nonfinite.max_skipped) {
        throw DataError(what + ": " + std::to_string(report.skipped_steps) + " steps skipped, " +
                        config::key_name(nonfinite.max_skipped_key) + " is " +
                        std::to_string(nonfinite.max_skipped) + advice);
      }
    }

    state.cursor += stored;
    ++state.step;
    const double step_s = seconds_since(step_start);
    const double exposed = reducer.last_exposed_seconds();
    total_step_seconds += step_s;
    total_exposed += exposed;
    total_items += o.global_batch;
    total_tokens += outcome.tokens;
    window_seconds += step_s;
    window_items += o.global_batch;
    window_tokens += outcome.tokens;
    if (finite) {
      if (!first_taken) {
        report.first_loss = outcome.loss;
        report.first_fields = outcome.fields;
      }
      first_taken = true;
      report.final_loss = outcome.loss;
      report.final_fields = outcome.fields;
    }
    report.steps = state.step;

    const bool last = state.step == total_steps;
    const nlohmann::json extra = objective.after_step(state.step, last);
    const bool log_step =
        state.step % o.log_every == 0 || last || state.step == report.first_step + 1 || !finite;
    if (log_step) {
      nlohmann::json line = {
          {"step", state.step},
          {"epoch", state.epoch},
          {"loss", finite_or_null(outcome.loss)},
          {"lr", lr},
          {"grad_norm", finite_or_null(grad_norm)},
          {job.items_name, window_items / std::max(1e-9, window_seconds)},
          {"seconds",
           StepSeconds{step_s, forward_s, backward_s, exposed, sync_s, optimizer_s}.json()},
          {"ranks", ranks}};
      if (window_tokens > 0) line["tokens_per_s"] = window_tokens / std::max(1e-9, window_seconds);
      if (nonfinite.policy_key.address) {
        line["skipped"] = !finite;
        line["skipped_steps"] = report.skipped_steps;
      }
      if (!phase.name.empty()) line["phase"] = phase.name;
      line.update(outcome.fields);
      if (extra.is_object()) line.update(extra);
      log.write(line);
      window_seconds = 0;
      window_items = window_tokens = 0;
    } else if (extra.is_object() && !extra.empty()) {
      nlohmann::json line = extra;
      line["step"] = state.step;
      log.write(line);
    }
    progress.add(1);
    objective.after_log(state.step, last, log);

    if (state.step % o.checkpoint_every == 0 || last) {
      save_training_checkpoint(control, run.run_dir, model, optimizer, state, run.config_yaml,
                               o.keep_last, outcome.loss, run.cuda_index);
    }
  }
  progress.finish();
  objective.at_end(state.step, log);

  report.export_dir = export_trained_model(control, model, run.run_dir, o.export_dir);
  report.seconds = seconds_since(start);
  report.items_per_second = total_items / std::max(1e-9, total_step_seconds);
  report.tokens_per_second = total_tokens / std::max(1e-9, total_step_seconds);
  report.exposed_comm_fraction = total_exposed / std::max(1e-9, total_step_seconds);
  report.optimizer_state_bytes = optimizer.state_bytes();
  report.peak_rss_bytes = peak_rss_bytes();
  return report;
}

}  // namespace dgr::distributed
