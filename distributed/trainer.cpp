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

using config::key_name;
using config::option_key;
using config::OptionError;

// check_train_options, and stage 1's own: the copy warm start and the input probe.
void check_stage1_options(const TrainOptions& t, int world_size) {
  check_train_options(t, world_size);
  const CopyWarmStartOptions& c = t.copy;
  if (c.steps < 0) throw OptionError("{} must be >= 0", {option_key(t, c.steps)});
  if (c.steps > 0) {
    if (!(c.lr > 0)) throw OptionError("{} must be positive", {option_key(t, c.lr)});
    if (c.warmup_steps < 0) throw OptionError("{} must be >= 0", {option_key(t, c.warmup_steps)});
    if (c.length < 1) throw OptionError("{} must be at least 1", {option_key(t, c.length)});
  }
  if (!(c.mix >= 0 && c.mix < 1)) {
    throw OptionError("{} must be in [0, 1), got " + std::to_string(c.mix), {option_key(t, c.mix)});
  }
  const InputProbeOptions& p = t.probe;
  if (p.examples < 0) throw OptionError("{} must be >= 0", {option_key(t, p.examples)});
  if (p.every < 1) throw OptionError("{} must be at least 1", {option_key(t, p.every)});
  if (p.check_after < 0) throw OptionError("{} must be >= 0", {option_key(t, p.check_after)});
}

// What a collapsed model looks like and what to change; thrown on every rank at once (the
// probe's numbers are all-reduced).
[[noreturn]] void throw_ignores_input(const TrainOptions& t, int64_t step, const ProbeResult& p) {
  char numbers[320];
  std::snprintf(numbers, sizeof numbers,
                "the NLL per target token is %.4f after the example's own source and %.4f after "
                "another example's source (gap %.4f < %s %.4g); encoder output spread %.3g",
                p.nll_true, p.nll_shuffled, p.gap, key_name(option_key(t, t.probe.min_gap)).c_str(),
                t.probe.min_gap, p.encoder_spread);
  throw DataError(
      "train: the model ignores its input at step " + std::to_string(step) + ": " + numbers +
      ". The loss falls only because the decoder learns the targets as a language "
      "model. Train from scratch with a copy warm start (" +
      key_name(option_key(t, t.copy.steps)) + ", e.g. 300) and a lower " +
      key_name(option_key(t, t.lr)) + " (e.g. 3e-4), or start from a pretrained model; " +
      key_name(option_key(t, t.probe.check_after)) + " 0 only logs the probe.");
}

// Stage 1 as an objective: label-smoothed cross-entropy of the identifiers over the global
// batch's target tokens; stored rows are examples of the store, generated ones random-token
// copies (the warm start's phase, and train.copy.mix of every identifier step). The input probe
// runs before the first step, every probe_every steps and at the last.
class Stage1Objective : public Objective {
 public:
  Stage1Objective(const TrainOptions& train, const TrainingRun& run,
                  const data::Stage1ExampleFile& examples, TrainingModel& loaded,
                  Communicator& control, std::optional<data::CopyTask>& copies, TrainReport& report)
      : train_(train),
        examples_(examples),
        bart_(loaded.pretrained.model),
        config_(loaded.pretrained.config),
        device_(model::parse_device(run.device)),
        control_(control),
        copies_(copies),
        probe_(examples, train.probe.examples, run.seed),
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
        throw DataError(examples_.path() + ": " + e.what());
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
        model::label_smoothed_cross_entropy(logits, b.labels, train_.label_smoothing, kIgnoreLabel);
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
    if (!probe_.enabled() || (step % train_.probe.every != 0 && !last)) return {};
    run_probe(step);
    return probe_json(*probed_);
  }

 private:
  void run_probe(int64_t step) {
    probed_ = probe_.measure(bart_, config_, device_, control_);
    report_.final_probe_gap = probed_->gap;
    report_.final_encoder_spread = probed_->encoder_spread;
    const InputProbeOptions& p = train_.probe;
    if (p.check_after > 0 && step - train_.copy.steps >= p.check_after &&
        probed_->gap < p.min_gap) {
      throw_ignores_input(train_, step, *probed_);
    }
  }

  static nlohmann::json probe_json(const ProbeResult& p) {
    return nlohmann::json{{"probe_nll_true", p.nll_true},
                          {"probe_nll_shuffled", p.nll_shuffled},
                          {"probe_gap", p.gap},
                          {"encoder_spread", p.encoder_spread}};
  }

  const TrainOptions& train_;
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

TrainReport train_stage1(MpiContext& mpi, const TrainingRun& run, const TrainOptions& train,
                         const std::string& examples_path) {
  const auto start = Clock::now();
  check_stage1_options(train, mpi.size());

  const data::Stage1ExampleFile examples = data::Stage1ExampleFile::open(examples_path);
  const uint64_t rows = examples.size();
  if (rows == 0) throw DataError(examples_path + ": the example store holds no examples");
  // Identifier steps; the copy steps come first and on top.
  const int64_t main_steps =
      training_steps(train, static_cast<int64_t>(rows), "examples of " + examples_path);

  // Every rank starts from the same weights: the checkpoint, then (when resuming) the latest.
  TrainingModel loaded_model = load_training_model(run.init_from, run.device, train.dropout);
  const model::BartConfig& config = loaded_model.pretrained.config;

  // Copies in every identifier step's global batch (train.copy.mix).
  const auto mixed_copies = static_cast<int64_t>(std::llround(train.copy.mix * train.global_batch));
  std::vector<TrainingPhase> phases;
  if (train.copy.steps > 0) {
    TrainingPhase copy;
    copy.name = "copy";
    copy.steps = train.copy.steps;
    copy.schedule.peak_lr = train.copy.lr;
    copy.schedule.warmup_steps = train.copy.warmup_steps;
    copy.schedule.total_steps = train.copy.steps;
    copy.schedule.decay = "constant";
    copy.stored_rows = 0;
    phases.push_back(copy);
  }
  TrainingPhase identifiers;
  identifiers.steps = main_steps;
  identifiers.schedule = lr_schedule(train, main_steps);
  identifiers.stored_rows = train.global_batch - mixed_copies;
  phases.push_back(identifiers);

  data::CopyTaskOptions copy_options;
  copy_options.length = train.copy.length;
  copy_options.vocab_size = static_cast<int32_t>(config.vocab_size);
  copy_options.excluded = {static_cast<int32_t>(config.bos_token_id),
                           static_cast<int32_t>(config.eos_token_id),
                           static_cast<int32_t>(config.pad_token_id),
                           static_cast<int32_t>(config.decoder_start_token_id)};
  copy_options.seed = run.seed;
  std::optional<data::CopyTask> copies;  // checked up front, only when used
  if (train.copy.steps > 0 || mixed_copies > 0) copies.emplace(copy_options);

  TrainingCommunicators comms = make_training_communicators(train, run, mpi);
  TrainReport report;
  Stage1Objective objective(train, run, examples, loaded_model, comms.control(), copies, report);
  BartTrainable trainable(loaded_model);
  const DataParallelJob job{train, run, "train", "samples_per_s", {}};
  const DataParallelReport trained =
      train_data_parallel(*comms.gradients, comms.control(), trainable, job, phases, objective);
  report.first_step = trained.first_step;
  report.steps = trained.steps;
  report.first_loss = trained.first_loss;
  report.final_loss = trained.final_loss;
  report.seconds = seconds_since(start);
  report.samples_per_second = trained.items_per_second;
  report.tokens_per_second = trained.tokens_per_second;
  report.exposed_comm_fraction = trained.exposed_comm_fraction;
  report.peak_rss_bytes = trained.peak_rss_bytes;
  report.optimizer_state_bytes = trained.optimizer_state_bytes;
  return report;
}

}  // namespace dgr::distributed
