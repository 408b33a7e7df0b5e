// What a training step needs besides the model: fairseq's label-smoothed cross-entropy, the
// learning-rate schedule (linear warm-up, then linear / polynomial / no decay), our own AdamW
// whose state is plain named tensors (so a checkpoint, and later ZeRO-1, can hold it), and the
// state of torch's default CPU generator as a string for trainer_state.yaml.
//
// Guarantees: the loss equals fairseq's label_smoothed_nll_loss (pinned against a hand
// computation in tests/model/training_test.cpp); AdamW equals torch.optim.AdamW (decoupled
// weight decay) to 1e-6 on the tested tensors; state() -> load_state() into a fresh optimizer
// continues bit for bit.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/model/safetensors.h"

namespace dgr::model {

struct LossSums {
  torch::Tensor loss;  // 0-d float32, differentiable: label-smoothed loss summed over tokens
  torch::Tensor nll;   // 0-d float32, differentiable: plain negative log-likelihood sum
  int64_t tokens = 0;  // targets that are not ignore_index
};

// logits [N, T, V] (any floating dtype; computed in float32), targets [N, T] int64 with
// `ignore_index` at padded positions. fairseq's exact form, with eps_i = ε / (V - 1):
//   nll    = Σ_t −log p(y_t)
//   smooth = Σ_t Σ_v −log p(v)           (the target included)
//   loss   = (1 − ε − eps_i)·nll + eps_i·smooth
// i.e. the target gets weight 1 − ε and every other token ε/(V−1). ε = 0 gives the summed
// cross-entropy. Throws DataError on mismatched shapes, ε outside [0, 1) or V < 2.
LossSums label_smoothed_cross_entropy(const torch::Tensor& logits, const torch::Tensor& targets,
                                      double epsilon, int64_t ignore_index = -100);

// The learning rate of update `step` (counted from 0), as transformers'
// get_linear_schedule_with_warmup and fairseq's polynomial_decay:
//   step < warmup_steps:        peak_lr · step / warmup_steps     (so lr(0) = 0 with warm-up)
//   warmup_steps ≤ step ≤ total: "constant"   → peak_lr
//                                "linear"     → end_lr + (peak_lr − end_lr)·(total − step)/(total −
//                                warmup) "polynomial" → end_lr + (peak_lr − end_lr)·((total −
//                                step)/(total − warmup))^power
//   step > total_steps:          end_lr ("constant": peak_lr)
// Polynomial with power 1 is linear. ConfigError for an unknown `decay`, and for "linear" /
// "polynomial" without total_steps > warmup_steps (an unset total would silently train at
// end_lr).
struct LrSchedule {
  double peak_lr = 3e-5;
  int64_t warmup_steps = 0;
  int64_t total_steps = 0;
  std::string decay = "linear";  // linear | constant | polynomial
  double end_lr = 0;
  double power = 1.0;  // polynomial only (fairseq's default 1)

  double lr(int64_t step) const;
};

struct AdamWOptions {
  double lr = 1e-5;  // used by step() only through its argument; kept for the config mapping
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;
};

// True when weight decay applies to the parameter `name`: not to biases (a name ending in
// ".bias" or equal to "bias") nor to LayerNorm weights (a name containing "layer_norm" or
// "layernorm", any case: BART's *_layer_norm and layernorm_embedding). Embeddings and every
// other weight decay, as transformers' Trainer and fairseq do.
bool applies_weight_decay(const std::string& name);

// One AdamW update of float32 tensors in place (the formula below), at optimizer step t >= 1:
// the one both AdamW and the sharded (ZeRO-1) optimizer run, so they agree element for element.
void adamw_update(torch::Tensor& param, const torch::Tensor& grad, torch::Tensor& exp_avg,
                  torch::Tensor& exp_avg_sq, double lr, int64_t t, bool decay,
                  const AdamWOptions& options);

// AdamW (Loshchilov & Hutter) exactly as torch.optim.AdamW, per parameter p with gradient g:
//   p ← p·(1 − lr·wd)                       (decoupled decay; wd = 0 for applies_weight_decay
//   false) m ← β1·m + (1 − β1)·g,   v ← β2·v + (1 − β2)·g² p ← p − lr/(1 − β1^t) · m / (√v / √(1 −
//   β2^t) + eps)
// t is one counter for the whole optimizer (steps()), incremented by every step(). Moments are
// float32 on each parameter's device, allocated at construction.
class AdamW {
 public:
  // Names must be unique and tensors distinct (a tied weight is listed once), else CHECK fails.
  AdamW(std::vector<std::pair<std::string, torch::Tensor>> named_params, AdamWOptions options);

  // One update with learning rate `lr`, from each parameter's .grad(); a parameter whose grad is
  // undefined is left alone (its moments too).
  void step(double lr);
  // Zeroes every defined gradient in place (libtorch 1.13's Optimizer::zero_grad: gradients stay
  // allocated, so views a gradient reducer holds on them stay valid).
  void zero_grad();
  int64_t steps() const { return steps_; }
  const AdamWOptions& options() const { return options_; }
  const std::vector<std::pair<std::string, torch::Tensor>>& named_params() const { return params_; }

  // "exp_avg.<param>", "exp_avg_sq.<param>" (CPU float32, in parameter order) and "step" (0-d
  // int64). Detached; on a CPU optimizer the moments share storage with the optimizer's (no copy
  // of gigabytes at checkpoint time): clone them to keep a snapshot across steps.
  NamedTensors state() const;
  // Restores what state() returned (e.g. read from optimizer.safetensors). Every tensor is checked
  // before anything is modified: a missing moment, a mis-shaped one or a missing / non-scalar
  // "step" is a DataError naming `source` and the tensor. Moments of parameters this optimizer
  // does not hold are ignored, so a shard of the parameters (ZeRO-1) can load the full state.
  void load_state(const NamedTensors& state, const std::string& source);

 private:
  std::vector<std::pair<std::string, torch::Tensor>> params_;
  std::vector<torch::Tensor> exp_avg_;
  std::vector<torch::Tensor> exp_avg_sq_;
  std::vector<bool> decay_;
  AdamWOptions options_;
  int64_t steps_ = 0;
};

// The tensors of an AdamW state (AdamW::state()'s names) for `params`, in parameter order, after
// checking them all: DataError naming `source` and listing every missing, mis-shaped or
// non-floating moment and a missing / non-scalar / negative "step". Tensors of other names are
// ignored. AdamW::load_state and the sharded optimizer both read checkpoints through it.
struct AdamWStateTensors {
  int64_t step = 0;
  std::vector<torch::Tensor> exp_avg;     // [param], shaped like it
  std::vector<torch::Tensor> exp_avg_sq;  // [param]
};
AdamWStateTensors check_adamw_state(
    const NamedTensors& state, const std::vector<std::pair<std::string, torch::Tensor>>& params,
    const std::string& source);

// The state of torch's default CPU generator (manual_seed, randn, dropout masks, randperm) as
// lowercase hex, for trainer_state.yaml; restore_rng_state puts it back, so the random numbers
// drawn afterwards are those drawn after serialize_rng_state. DataError when `hex` is malformed
// or not a state of this generator (wrong size).
std::string serialize_rng_state();
void restore_rng_state(const std::string& hex);

// The same for the default generator of CUDA device `index` (dropout masks of a model on the
// GPU). Both throw ConfigError when this process has no such CUDA device (a CPU-only libtorch).
std::string serialize_cuda_rng_state(int index);
void restore_cuda_rng_state(int index, const std::string& hex);

// The precisions a training computes in (TrainingOptions::precision).
enum class Precision { kFloat32, kBFloat16 };

// "fp32" or "bf16" as Precision; ConfigError naming `what` for anything else.
Precision parse_precision(const std::string& name, const std::string& what);

// Mixed precision over a scope, as torch.autocast: with kBFloat16 the matrix products and other
// autocast-eligible ops of forwards run in bfloat16 on `device_type` (CPU or CUDA) while the
// weights, their gradients and the optimizer stay fp32 (the "master" weights: autocast casts
// them per forward, caching the casts until the outermost scope closes). With kFloat32 the scope
// does nothing. Scopes nest; each restores what it found.
class AutocastScope {
 public:
  AutocastScope(Precision precision, torch::DeviceType device_type);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_ = false;
  torch::DeviceType device_type_ = torch::kCPU;
  bool was_enabled_ = false;
  torch::ScalarType was_dtype_ = torch::kBFloat16;
};

// TF32 tensor cores for fp32 matrix products on GPUs (torch's float32 matmul precision "high";
// "highest" when off). No effect on the CPU.
void set_tf32_matmul(bool allowed);

}  // namespace dgr::model
