// The options of a data-parallel training, as the configuration holds them: `TrainingOptions`
// (batch, schedule, AdamW, clipping, logging, checkpoints, gradient all-reduce), shared by the
// train section (stage 1 and distillation, `TrainOptions`) and the teacher's training section
// (teacher/cross_encoder_trainer.h); and `TrainingRun`, what a training takes from the rest of
// the run (directories, seed, device, the resolved config). No torch in this header.
#pragma once

#include <cstdint>
#include <string>

#include "core/util/options.h"

namespace dgr::distributed {

struct TrainingOptions {
  int global_batch = 32;
  int micro_batch = 0;
  int max_steps = 0;
  int epochs = 1;
  double lr = 3e-5;
  int warmup_steps = 500;
  double warmup_ratio = 0.0;
  std::string decay = "linear";
  double end_lr = 0.0;
  double weight_decay = 0.01;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double adam_eps = 1e-8;
  double clip_norm = 0.1;
  double dropout = -1.0;
  int checkpoint_every = 1000;
  int keep_last = 3;
  int log_every = 10;
  std::string backend = "mpi";
  bool shared_memory = true;
  double collective_timeout_s = 600;
  std::string precision = "fp32";
  bool tf32 = true;
  std::string grad_compression = "none";
  double bucket_mb = 25.0;
  std::string overlap = "auto";
  int zero_stage = 0;
  bool resume = true;
  std::string export_dir;
};

template <class V>
void visit(V& v, TrainingOptions& o) {
  v.field("global_batch", o.global_batch,
          "Examples per optimizer step over all ranks (cut into equal per-rank pieces): "
          "stage-1 examples, distillation queries or teacher groups.");
  v.field("micro_batch", o.micro_batch,
          "Examples per forward/backward on a rank; a rank accumulates global_batch / (ranks x "
          "micro_batch) of them per step (one all-reduce per step). 0 = global_batch / ranks. "
          "The same micro_batch on any number of ranks computes the very same update.");
  v.field("max_steps", o.max_steps, "Optimizer steps; 0 = epochs x examples / global_batch.");
  v.field("epochs", o.epochs, "Passes over the examples when max_steps is 0.");
  v.field("lr", o.lr, "Peak learning rate.");
  v.field("warmup_steps", o.warmup_steps, "Linear warm-up steps from 0 to the peak rate.");
  v.field("warmup_ratio", o.warmup_ratio,
          "Warm-up as a fraction of the training's steps (the paper's 10%: 0.1), rounded to whole "
          "steps, for when the steps are not known before the data is read; > 0 replaces "
          "warmup_steps.");
  v.field("decay", config::Choice{o.decay, {"linear", "constant", "polynomial"}},
          "Learning-rate decay after warm-up (to end_lr at the last step).");
  v.field("end_lr", o.end_lr, "Learning rate at the last step.");
  v.field("weight_decay", o.weight_decay,
          "AdamW decoupled weight decay (not applied to biases and LayerNorm weights).");
  v.field("beta1", o.beta1, "AdamW beta1.");
  v.field("beta2", o.beta2, "AdamW beta2.");
  v.field("adam_eps", o.adam_eps, "AdamW epsilon.");
  v.field("clip_norm", o.clip_norm, "Global gradient-norm clip; 0 disables.");
  v.field("dropout", o.dropout,
          "Dropout during training; negative = the model config's. With dropout > 0 results "
          "depend on the number of ranks (each rank draws its own masks).");
  v.field("checkpoint_every", o.checkpoint_every,
          "Steps between checkpoints in the run directory's checkpoints/ (and one at the end).");
  v.field("keep_last", o.keep_last, "Checkpoints kept; 0 keeps all.");
  v.field("log_every", o.log_every, "Steps between lines of train_log.jsonl and progress.");
  v.field("backend", config::Choice{o.backend, {"mpi", "nccl"}},
          "Gradient all-reduce: MPI on host memory or NCCL on GPUs.");
  v.field("shared_memory", o.shared_memory,
          "mpi backend, every rank on one machine: all-reduce float32 gradients through a "
          "shared-memory window (each rank sums its slice of every rank's buffer, then copies "
          "the other slices back; the same bits as MPI_Allreduce on 2 ranks, 2-3x faster than "
          "Open MPI's, docs/benchmarks.md). false, or ranks on several machines: MPI_Allreduce.");
  v.field("collective_timeout_s", o.collective_timeout_s,
          "NCCL only: seconds a collective may take before the communicator is aborted and the "
          "job ends with an error naming the rank and the collective (a peer that stopped or "
          "hangs); 0 waits forever.");
  v.field("precision", config::Choice{o.precision, {"fp32", "bf16"}},
          "Forward precision: fp32, or bf16 autocast (matrix products in bfloat16; weights, "
          "gradients, their all-reduce and AdamW stay fp32). Meant for GPUs; on a CPU without "
          "bfloat16 units it is slower than fp32.");
  v.field("grad_compression", config::Choice{o.grad_compression, {"none", "bf16"}},
          "Gradient buckets on the wire: none (float32) or bf16 (half the bytes; each pair of "
          "ranks' values added in float32 and rounded once to bfloat16, then back into the "
          "float32 gradients, like DDP's bf16 compression hook). bf16 gives up exact agreement "
          "between world sizes; not with zero_stage 1.");
  v.field("tf32", o.tf32,
          "On GPUs, TF32 tensor cores for the fp32 matrix products (torch's matmul precision "
          "\"high\"); no effect on the CPU.");
  v.field("bucket_mb", o.bucket_mb, "Gradient bucket size in MB (reverse registration order).");
  v.field("overlap", config::Choice{o.overlap, {"auto", "true", "false"}},
          "true: all-reduce each bucket from a communication thread as soon as backward has "
          "produced it; false: all buckets after backward. auto: true with nccl or when a core "
          "per node is left for the communication thread (ranks x threads < cores), else false "
          "(on fully used cores the thread slows backward more than it hides).");
  v.field("zero_stage", o.zero_stage,
          "0: every rank holds the AdamW state; 1: ZeRO-1, the state is sharded over the ranks "
          "(reduce-scatter of gradients, all-gather of parameters).");
  v.field("resume", o.resume,
          "Continue from the run directory's checkpoints/latest when it exists.");
  v.field("export_dir", o.export_dir,
          "The trained model in Hugging Face layout (for --init-from); empty = the run "
          "directory's model/.");
}

// Stage 1's copy warm start (data/copy_task.h).
struct CopyWarmStartOptions {
  int steps = 0;
  double lr = 1e-3;
  int warmup_steps = 50;
  int length = 16;
  double mix = 0.0;
};

template <class V>
void visit(V& v, CopyWarmStartOptions& o) {
  v.field("steps", o.steps,
          "Stage 1 only: optimizer steps on random-token copies (source = target) before the "
          "identifier examples; they come on top of max_steps. Models trained from scratch need "
          "them (a few hundred) to keep the encoder from collapsing; 0 = none.");
  v.field("lr", o.lr, "Peak learning rate of the copy steps (constant after their warm-up).");
  v.field("warmup_steps", o.warmup_steps, "Linear warm-up of the copy steps.");
  v.field("length", o.length,
          "Tokens of the longest copied sequence; lengths are uniform in [length/2, length].");
  v.field("mix", o.mix,
          "Fraction of every later step's global batch made of copies (rounded to whole "
          "examples; the rest are identifier examples): keeps the encoder reading its input "
          "while the targets offer a language-model shortcut. 0 = none.");
}

// Stage 1's guard against a model that ignores its input (distributed/input_probe.h).
struct InputProbeOptions {
  int examples = 32;
  int every = 100;
  double min_gap = 0.1;
  int check_after = 500;
};

template <class V>
void visit(V& v, InputProbeOptions& o) {
  v.field("examples", o.examples,
          "Stage 1 only: examples of the fixed probe batch (distinct sources and targets); "
          "0 = no probe.");
  v.field("every", o.every,
          "Steps between probes (also at step 0 and the last step); each writes probe_gap, "
          "probe_nll_true, probe_nll_shuffled and encoder_spread to train_log.jsonl.");
  v.field("min_gap", o.min_gap,
          "Smallest NLL gap (nats per target token) between targets after another example's "
          "source and after their own that shows the model reads its input.");
  v.field("check_after", o.check_after,
          "Identifier steps (after the copy warm start) from which a probe gap below min_gap "
          "stops the run with an error (the model ignores its input); the switch from copies to "
          "identifiers dips the gap for a few hundred steps. 0 = only log.");
}

// The generative retriever's training (`dgr train`): stage 1, and the student's side of
// distillation (distributed/distill_trainer.h adds its own options).
struct TrainOptions : TrainingOptions {
  std::string stage = "stage1";
  double label_smoothing = 0.1;
  CopyWarmStartOptions copy;
  InputProbeOptions probe;
};

template <class V>
void visit(V& v, TrainOptions& o) {
  v.field("stage", config::Choice{o.stage, {"stage1", "distill"}},
          "What `dgr train` trains: stage1 (identifiers from the stage-1 example store) or "
          "distill (DGR: ranking losses on the distillation set plus the generation loss).");
  visit(v, static_cast<TrainingOptions&>(o));
  v.field("label_smoothing", o.label_smoothing, "Label smoothing of the cross-entropy.");
  v.section("copy", o.copy, "Stage 1's copy warm start on random-token sequences.");
  v.section("probe", o.probe,
            "Stage 1's probe of whether the model reads its input (NLL gap, encoder spread).");
}

// What a training takes from the rest of the run.
struct TrainingRun {
  std::string run_dir;         // checkpoints/, train_log.jsonl; the export's default home
  std::string init_from;       // the model to start from, in Hugging Face layout
  std::string device = "cpu";  // as placed for this rank (device_placement.h): "cpu" or "cuda:K"
  int cuda_index = -1;         // K, the communicator's device too; -1 on the CPU
  std::string config_yaml;     // the resolved configuration, stored in checkpoints
  std::string config_hash;
  uint64_t seed = 13;
  double progress_interval_s = 30;
  bool overlap = true;  // TrainingOptions::overlap resolved for this node (auto decided)
};

// OptionError for a value out of range, or a global batch that does not split into
// `world_size` ranks x micro-batches.
void check_training_options(const TrainingOptions& o, int world_size);

// check_training_options and the label smoothing both stages of `dgr train` use.
void check_train_options(const TrainOptions& o, int world_size);

// The steps of a training over `rows` rows an epoch: max_steps, else epochs x rows /
// global_batch. OptionError when the global batch is larger than the rows (`rows_what` says what
// they are, e.g. "training groups") or the warm-up leaves no step to decay in.
int64_t training_steps(const TrainingOptions& o, int64_t rows, const std::string& rows_what);

// The warm-up steps of a training of `total_steps`: warmup_ratio x total_steps rounded, when the
// ratio is set, else warmup_steps.
int64_t warmup_steps(const TrainingOptions& o, int64_t total_steps);

}  // namespace dgr::distributed
