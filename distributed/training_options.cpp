#include "distributed/training_options.h"

#include <algorithm>
#include <cmath>

namespace dgr::distributed {

void check_training_options(const TrainingOptions& o, int world_size) {
  using config::option_key;
  auto at_least = [&](const int& value, int low) {
    if (value < low) {
      throw config::OptionError(
          "{} must be at least " + std::to_string(low) + ", got " + std::to_string(value),
          {option_key(o, value)});
    }
  };
  at_least(o.global_batch, 1);
  at_least(o.micro_batch, 0);
  const int64_t per_rank = o.global_batch / world_size;
  const int64_t micro = o.micro_batch > 0 ? o.micro_batch : std::max<int64_t>(1, per_rank);
  if (o.global_batch % world_size != 0 || per_rank % micro != 0) {
    throw config::OptionError("{} (" + std::to_string(o.global_batch) +
                                  ") must be a multiple of ranks x {} (" +
                                  std::to_string(world_size) + " x " + std::to_string(micro) + ")",
                              {option_key(o, o.global_batch), option_key(o, o.micro_batch)});
  }
  at_least(o.max_steps, 0);
  if (o.max_steps == 0) at_least(o.epochs, 1);
  if (!(o.lr > 0)) throw config::OptionError("{} must be positive", {option_key(o, o.lr)});
  at_least(o.warmup_steps, 0);
  if (!(o.warmup_ratio >= 0 && o.warmup_ratio < 1)) {
    throw config::OptionError("{} must be in [0, 1), got " + std::to_string(o.warmup_ratio),
                              {option_key(o, o.warmup_ratio)});
  }
  if (!(o.clip_norm >= 0))
    throw config::OptionError("{} must be >= 0", {option_key(o, o.clip_norm)});
  if (o.dropout >= 1) throw config::OptionError("{} must be < 1", {option_key(o, o.dropout)});
  at_least(o.log_every, 1);
  at_least(o.checkpoint_every, 1);
  at_least(o.keep_last, 0);
  if (!(o.collective_timeout_s >= 0)) {
    throw config::OptionError("{} must be >= 0 (0 waits forever)",
                              {option_key(o, o.collective_timeout_s)});
  }
  if (o.grad_compression == "bf16" && o.zero_stage == 1) {
    throw config::OptionError(
        "{} bf16 all-reduces the buckets; {} 1 reduce-scatters them: choose one",
        {option_key(o, o.grad_compression), option_key(o, o.zero_stage)});
  }
  if (o.zero_stage != 0 && o.zero_stage != 1) {
    throw config::OptionError(
        "{} must be 0 (replicated AdamW state) or 1 (sharded), got " + std::to_string(o.zero_stage),
        {option_key(o, o.zero_stage)});
  }
}

void check_train_options(const TrainOptions& o, int world_size) {
  check_training_options(o, world_size);
  if (!(o.label_smoothing >= 0 && o.label_smoothing < 1)) {
    throw config::OptionError("{} must be in [0, 1)", {config::option_key(o, o.label_smoothing)});
  }
}

int64_t training_steps(const TrainingOptions& o, int64_t rows, const std::string& rows_what) {
  const int64_t steps_per_epoch = rows / o.global_batch;
  if (steps_per_epoch == 0) {
    throw config::OptionError("{} (" + std::to_string(o.global_batch) + ") is larger than the " +
                                  std::to_string(rows) + " " + rows_what,
                              {config::option_key(o, o.global_batch)});
  }
  const int64_t steps = o.max_steps > 0 ? o.max_steps : steps_per_epoch * o.epochs;
  const int64_t warmup = warmup_steps(o, steps);
  if (o.decay != "constant" && steps <= warmup) {
    const config::OptionKey used = o.warmup_ratio > 0 ? config::option_key(o, o.warmup_ratio)
                                                      : config::option_key(o, o.warmup_steps);
    throw config::OptionError("{} (" + std::to_string(warmup) +
                                  " warm-up steps) must be smaller than the " +
                                  std::to_string(steps) + " training steps when {} is " + o.decay,
                              {used, config::option_key(o, o.decay)});
  }
  return steps;
}

int64_t warmup_steps(const TrainingOptions& o, int64_t total_steps) {
  if (o.warmup_ratio > 0) return std::llround(o.warmup_ratio * static_cast<double>(total_steps));
  return o.warmup_steps;
}

}  // namespace dgr::distributed
