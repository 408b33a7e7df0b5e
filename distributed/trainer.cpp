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
#include "core/util/timing.h"
#include "data/copy_task.h"
#include "data/stage1_examples.h"
#include "distributed/checkpoint.h"
#include "distributed/communicator.h"
#include "distributed/data_parallel_trainer.h"
#include "distributed/example_batch.h"
#include "distributed/gradient_reducer.h"
#include "distributed/input_probe.h"
#include "distributed/sharded_optimizer.h"
#include "distributed/training_setup.h"

namespace dgr::distributed {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

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

// Stage 1 as an objective: label-smoothed cross-entropy of the identifiers over the global
// batch's target tokens; stored rows are examples of the store, generated ones random-token
// copies (the warm start's phase, and train.copy.mix of every identifier step). The input probe
// runs before the first step, every probe_every steps and at the last.
class Stage1Objective : public Objective {
 public:
  Stage1Objective(const TrainJob& job, const data::Stage1ExampleFile& examples,
                  TrainingModel& loaded, Communicator& control,
                  std::optional<data::CopyTask>& copies, TrainReport& report)
      : job_(job),
        examples_(examples),
        bart_(loaded.pretrained.model),
        config_(loaded.pretrained.config),
        device_(model::parse_device(job.device)),
        control_(control),
        copies_(copies),
        probe_(examples, job.probe_examples, job.seed),
        report_(report) {}

  uint64_t rows() const override { return examples_.size(); }
  size_t sum_count() const override { return 2; }  // label-smoothed loss, nll over the tokens

  std::vector<int64_t> prepare(const StepShare& share) override {
    std::vector<data::Stage1Example> local;
    if (!share.rows.empty()) local = examples_.read(share.rows);
    if (share.generated_count > 0) {
      std::vector<data::Stage1Example> copied = copies_->examples(
          static_cast<uint64_t>(share.step), share.generated_first, share.generated_count);
      local.insert(local.end(), std::make_move_iterator(copied.begin()),
                   std::make_move_iterator(copied.end()));
    }
    const auto micro = static_cast<size_t>(share.micro_batch);
    batches_.clear();
    int64_t tokens = 0;
    for (size_t first = 0; first < local.size(); first += micro) {
      std::vector<data::Stage1Example> part(
          local.begin() + static_cast<std::ptrdiff_t>(first),
          local.begin() + static_cast<std::ptrdiff_t>(first + micro));
      try {
        batches_.push_back(collate_examples(part, config_, device_));
      } catch (const DataError& e) {
        throw DataError(job_.examples_path + ": " + e.what());
      }
      tokens += batches_.back().target_tokens;
    }
    return {tokens};  // the loss is normalised by the global batch's target tokens
  }

  torch::Tensor forward(int64_t first, int64_t count, const std::vector<int64_t>& counts,
                        std::vector<double>& sums) override {
    const ExampleBatch& b = batches_[static_cast<size_t>(first / count)];
    const torch::Tensor logits = bart_->forward(b.input_ids, b.attention_mask, b.decoder_input);
    const model::LossSums loss =
        model::label_smoothed_cross_entropy(logits, b.labels, job_.label_smoothing, kIgnoreLabel);
    sums[0] += loss.loss.item<double>();
    sums[1] += loss.nll.item<double>();
    const double scale =
        static_cast<double>(control_.size()) / static_cast<double>(std::max<int64_t>(1, counts[0]));
    return loss.loss * scale;
  }

  StepOutcome outcome(const std::vector<double>& sums,
                      const std::vector<int64_t>& counts) override {
    const auto tokens = static_cast<double>(std::max<int64_t>(1, counts[0]));
    StepOutcome out;
    out.loss = sums[0] / tokens;
    out.tokens = counts[0];
    out.fields = {{"nll", sums[1] / tokens}};
    return out;
  }

  void at_start(TrainLog& log) override {
    if (!probe_.enabled()) return;
    run_probe(0);
    nlohmann::json line = probe_json(*probed_);
    line["step"] = 0;
    log.write(line);
  }

  nlohmann::json after_step(int64_t step, bool last) override {
    if (!probe_.enabled() || (step % job_.probe_every != 0 && !last)) return {};
    run_probe(step);
    return probe_json(*probed_);
  }

 private:
  void run_probe(int64_t step) {
    probed_ = probe_.measure(bart_, config_, device_, control_);
    report_.final_probe_gap = probed_->gap;
    report_.final_encoder_spread = probed_->encoder_spread;
    if (job_.probe_check_after > 0 && step - job_.copy_steps >= job_.probe_check_after &&
        probed_->gap < job_.probe_min_gap) {
      throw_ignores_input(job_, step, *probed_);
    }
  }

  static nlohmann::json probe_json(const ProbeResult& p) {
    return nlohmann::json{{"probe_nll_true", p.nll_true},
                          {"probe_nll_shuffled", p.nll_shuffled},
                          {"probe_gap", p.gap},
                          {"encoder_spread", p.encoder_spread}};
  }

  const TrainJob& job_;
  const data::Stage1ExampleFile& examples_;
  model::BartModel& bart_;
  const model::BartConfig& config_;
  torch::Device device_;
  Communicator& control_;
  std::optional<data::CopyTask>& copies_;
  InputProbe probe_;
  TrainReport& report_;
  std::vector<ExampleBatch> batches_;
  std::optional<ProbeResult> probed_;
};

}  // namespace

TrainReport train_stage1(MpiContext& mpi, const TrainJob& job) {
  const auto start = Clock::now();
  check_job(job, mpi.size());

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

  // Every rank starts from the same weights: the checkpoint, then (when resuming) the latest.
  TrainingModel loaded_model = load_training_model(job.init_from, job.device, job.dropout);
  const model::BartConfig& config = loaded_model.pretrained.config;

  // Copies in every identifier step's global batch (train.copy.mix).
  const auto mixed_copies = static_cast<int64_t>(std::llround(job.copy_mix * job.global_batch));
  std::vector<TrainingPhase> phases;
  if (job.copy_steps > 0) {
    TrainingPhase copy;
    copy.name = "copy";
    copy.steps = job.copy_steps;
    copy.schedule.peak_lr = job.copy_lr;
    copy.schedule.warmup_steps = job.copy_warmup_steps;
    copy.schedule.total_steps = job.copy_steps;
    copy.schedule.decay = "constant";
    copy.stored_rows = 0;
    phases.push_back(copy);
  }
  TrainingPhase identifiers;
  identifiers.steps = main_steps;
  identifiers.schedule = lr_schedule(job, main_steps);
  identifiers.stored_rows = job.global_batch - mixed_copies;
  phases.push_back(identifiers);

  data::CopyTaskOptions copy_options;
  copy_options.length = job.copy_length;
  copy_options.vocab_size = static_cast<int32_t>(config.vocab_size);
  copy_options.excluded = {static_cast<int32_t>(config.bos_token_id),
                           static_cast<int32_t>(config.eos_token_id),
                           static_cast<int32_t>(config.pad_token_id),
                           static_cast<int32_t>(config.decoder_start_token_id)};
  copy_options.seed = job.seed;
  std::optional<data::CopyTask> copies;  // checked up front, only when used
  if (job.copy_steps > 0 || mixed_copies > 0) copies.emplace(copy_options);

  TrainingCommunicators comms = make_training_communicators(job.backend, mpi);
  TrainReport report;
  Stage1Objective objective(job, examples, loaded_model, comms.control(), copies, report);
  BartTrainable trainable(loaded_model);
  const DataParallelReport run =
      train_data_parallel(*comms.gradients, comms.control(), trainable,
                          data_parallel_options(job, "train"), phases, objective, "samples_per_s");
  report.first_step = run.first_step;
  report.steps = run.steps;
  report.first_loss = run.first_loss;
  report.final_loss = run.final_loss;
  report.seconds = seconds_since(start);
  report.samples_per_second = run.items_per_second;
  report.tokens_per_second = run.tokens_per_second;
  report.exposed_comm_fraction = run.exposed_comm_fraction;
  report.peak_rss_bytes = run.peak_rss_bytes;
  report.optimizer_state_bytes = run.optimizer_state_bytes;
  return report;
}

}  // namespace dgr::distributed
