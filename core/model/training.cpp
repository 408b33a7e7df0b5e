#include "core/model/training.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <glog/logging.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <mutex>
#include <tuple>
#include <unordered_set>
#include <utility>

#include "core/model/adamw_kernel.h"
#include "core/model/torch_runtime.h"
#include "core/util/error.h"

namespace dgr::model {
namespace {

std::string shape_text(const torch::IntArrayRef& sizes) {
  std::string out = "[";
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(sizes[i]);
  }
  return out + "]";
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

LossSums label_smoothed_cross_entropy(const torch::Tensor& logits, const torch::Tensor& targets,
                                      double epsilon, int64_t ignore_index) {
  if (logits.dim() != 3 || targets.dim() != 2 || logits.size(0) != targets.size(0) ||
      logits.size(1) != targets.size(1)) {
    throw DataError("label_smoothed_cross_entropy: logits " + shape_text(logits.sizes()) +
                    " and targets " + shape_text(targets.sizes()) +
                    " do not match (expected [N, T, V] and [N, T])");
  }
  if (!(epsilon >= 0.0 && epsilon < 1.0)) {
    throw DataError("label_smoothed_cross_entropy: epsilon must be in [0, 1), got " +
                    std::to_string(epsilon));
  }
  const int64_t vocab = logits.size(2);
  if (vocab < 2) {
    throw DataError("label_smoothed_cross_entropy: a vocabulary of " + std::to_string(vocab) +
                    " cannot be smoothed");
  }
  const torch::Tensor target = targets.to(torch::kLong);  // [N, T]
  const torch::Tensor ignored = target.eq(ignore_index);  // [N, T]
  const torch::Tensor safe = target.masked_fill(ignored, 0);
  LossSums out;
  out.tokens = (~ignored).sum().item<int64_t>();
  if (out.tokens > 0) {
    const int64_t lo = safe.min().item<int64_t>(), hi = safe.max().item<int64_t>();
    if (lo < 0 || hi >= vocab) {
      throw DataError("label_smoothed_cross_entropy: target id " +
                      std::to_string(lo < 0 ? lo : hi) + " is outside the vocabulary of " +
                      std::to_string(vocab) + " (and not ignore_index " +
                      std::to_string(ignore_index) + ")");
    }
  }

  const torch::Tensor lprobs = torch::log_softmax(logits.to(torch::kFloat32), -1);   // [N, T, V]
  const torch::Tensor nll_tok = -lprobs.gather(-1, safe.unsqueeze(-1)).squeeze(-1);  // [N, T]
  const torch::Tensor smooth_tok = -lprobs.sum(-1);                                  // [N, T]
  out.nll = nll_tok.masked_fill(ignored, 0.0).sum();
  const torch::Tensor smooth = smooth_tok.masked_fill(ignored, 0.0).sum();
  const double eps_i = epsilon / static_cast<double>(vocab - 1);
  out.loss = (1.0 - epsilon - eps_i) * out.nll + eps_i * smooth;
  return out;
}

double LrSchedule::lr(int64_t step) const {
  const bool decays = decay == "linear" || decay == "polynomial";
  if (!decays && decay != "constant") {
    throw ConfigError("lr schedule: unknown decay \"" + decay +
                      "\" (expected linear, constant or polynomial)");
  }
  if (decays && total_steps <= warmup_steps) {
    throw ConfigError("lr schedule: decay \"" + decay + "\" needs total_steps (" +
                      std::to_string(total_steps) + ") greater than warmup_steps (" +
                      std::to_string(warmup_steps) + ")");
  }
  if (step < 0) step = 0;
  if (step < warmup_steps) {
    return peak_lr * static_cast<double>(step) / static_cast<double>(warmup_steps);
  }
  if (!decays) return peak_lr;
  if (step >= total_steps) return end_lr;
  const double remaining = static_cast<double>(total_steps - step) /
                           static_cast<double>(total_steps - warmup_steps);  // (0, 1]
  const double factor = decay == "linear" ? remaining : std::pow(remaining, power);
  return end_lr + (peak_lr - end_lr) * factor;
}

bool applies_weight_decay(const std::string& name) {
  if (name == "bias" || ends_with(name, ".bias")) return false;
  const std::string low = lower(name);
  return low.find("layer_norm") == std::string::npos && low.find("layernorm") == std::string::npos;
}

AdamW::AdamW(std::vector<std::pair<std::string, torch::Tensor>> named_params, AdamWOptions options)
    : params_(std::move(named_params)), options_(options) {
  std::unordered_set<std::string> names;
  std::unordered_set<const void*> tensors;
  torch::NoGradGuard no_grad;
  for (const auto& [name, param] : params_) {
    CHECK(param.defined()) << "AdamW: parameter " << name << " is undefined";
    CHECK(names.insert(name).second) << "AdamW: parameter name " << name << " given twice";
    CHECK(tensors.insert(param.unsafeGetTensorImpl()).second)
        << "AdamW: parameter " << name << " is a tensor given under another name too";
    CHECK(param.is_floating_point()) << "AdamW: parameter " << name << " is not floating";
    const auto moment_options = param.options().dtype(torch::kFloat32);
    exp_avg_.push_back(torch::zeros(param.sizes(), moment_options));
    exp_avg_sq_.push_back(torch::zeros(param.sizes(), moment_options));
    decay_.push_back(applies_weight_decay(name));
  }
}

namespace {

// AdamW in one pass over memory: for float32 CPU tensors the update is bound by memory traffic,
// and torch's op-by-op form reads and writes the moments some eight times per step. Same
// arithmetic in float32 as the op-by-op form (the constants rounded to float as torch does).
void fused_adamw_cpu(float* p, const float* g, float* m, float* v, int64_t n,
                     const AdamWKernelConstants& constants) {
  at::parallel_for(0, n, 1 << 16, [&](int64_t begin, int64_t end) {
    adamw_kernel(p, g, m, v, begin, end, constants);
  });
}

bool fusable(const torch::Tensor& t) {
  return t.device().is_cpu() && t.scalar_type() == torch::kFloat32 && t.is_contiguous();
}

}  // namespace

void adamw_update(torch::Tensor& param, const torch::Tensor& grad, torch::Tensor& exp_avg,
                  torch::Tensor& exp_avg_sq, double lr, int64_t t, bool decay,
                  const AdamWOptions& options) {
  const double bias_correction1 = 1.0 - std::pow(options.beta1, static_cast<double>(t));
  const double bias_correction2 = 1.0 - std::pow(options.beta2, static_cast<double>(t));
  const double step_size = lr / bias_correction1;
  const double bias_correction2_sqrt = std::sqrt(bias_correction2);
  const bool decays = decay && options.weight_decay != 0.0;
  if (fusable(param) && fusable(grad) && fusable(exp_avg) && fusable(exp_avg_sq)) {
    AdamWKernelConstants constants;
    constants.decay_factor = decays ? static_cast<float>(1.0 - lr * options.weight_decay) : 1.0f;
    constants.beta1 = static_cast<float>(options.beta1);
    constants.beta2 = static_cast<float>(options.beta2);
    constants.step_size = static_cast<float>(step_size);
    constants.bias_correction2_sqrt = static_cast<float>(bias_correction2_sqrt);
    constants.eps = static_cast<float>(options.eps);
    fused_adamw_cpu(param.data_ptr<float>(), grad.data_ptr<float>(), exp_avg.data_ptr<float>(),
                    exp_avg_sq.data_ptr<float>(), param.numel(), constants);
    return;
  }
  if (decays) param.mul_(1.0 - lr * options.weight_decay);
  exp_avg.mul_(options.beta1).add_(grad, 1.0 - options.beta1);
  exp_avg_sq.mul_(options.beta2).addcmul_(grad, grad, 1.0 - options.beta2);
  const torch::Tensor denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(options.eps);
  param.addcdiv_(exp_avg, denom, -step_size);
}

void AdamW::step(double lr) {
  torch::NoGradGuard no_grad;
  ++steps_;
  for (size_t i = 0; i < params_.size(); ++i) {
    torch::Tensor& param = params_[i].second;
    const torch::Tensor& grad = param.grad();
    if (!grad.defined()) continue;
    // Moments and the update in float32 even for a half-precision parameter.
    const bool is_float = param.scalar_type() == torch::kFloat32;
    torch::Tensor p = is_float ? param : param.to(torch::kFloat32);
    const torch::Tensor g = grad.to(torch::kFloat32);
    adamw_update(p, g, exp_avg_[i], exp_avg_sq_[i], lr, steps_, decay_[i], options_);
    if (!is_float) param.copy_(p);
  }
}

void AdamW::zero_grad() {
  for (auto& entry : params_) {
    torch::Tensor& grad = entry.second.mutable_grad();
    if (grad.defined()) {
      grad.detach_();
      grad.zero_();
    }
  }
}

NamedTensors AdamW::state() const {
  NamedTensors out;
  out.reserve(2 * params_.size() + 1);
  for (size_t i = 0; i < params_.size(); ++i) {
    out.emplace_back("exp_avg." + params_[i].first, exp_avg_[i].detach().to(torch::kCPU));
  }
  for (size_t i = 0; i < params_.size(); ++i) {
    out.emplace_back("exp_avg_sq." + params_[i].first, exp_avg_sq_[i].detach().to(torch::kCPU));
  }
  out.emplace_back("step", torch::scalar_tensor(steps_, torch::kLong));
  return out;
}

AdamWStateTensors check_adamw_state(
    const NamedTensors& state, const std::vector<std::pair<std::string, torch::Tensor>>& params,
    const std::string& source) {
  std::map<std::string, torch::Tensor> by_name;
  for (const auto& [name, tensor] : state)
    by_name[name] = tensor;

  std::vector<std::string> problems;
  AdamWStateTensors found;
  auto step_it = by_name.find("step");
  if (step_it == by_name.end()) {
    problems.push_back("tensor \"step\" is missing");
  } else if (!step_it->second.defined() || step_it->second.numel() != 1 ||
             step_it->second.is_floating_point() || step_it->second.dim() > 1) {
    problems.push_back("tensor \"step\" must be one integer, got shape " +
                       shape_text(step_it->second.sizes()));
  } else {
    found.step = step_it->second.item<int64_t>();
    if (found.step < 0) {
      problems.push_back("tensor \"step\" is negative (" + std::to_string(found.step) + ")");
    }
  }
  found.exp_avg.resize(params.size());
  found.exp_avg_sq.resize(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const auto& [name, param] = params[i];
    for (const bool squared : {false, true}) {
      const std::string key = (squared ? "exp_avg_sq." : "exp_avg.") + name;
      auto it = by_name.find(key);
      if (it == by_name.end() || !it->second.defined()) {
        problems.push_back("tensor \"" + key + "\" is missing");
      } else if (it->second.sizes() != param.sizes()) {
        problems.push_back("tensor \"" + key + "\" has shape " + shape_text(it->second.sizes()) +
                           " but parameter " + name + " has " + shape_text(param.sizes()));
      } else if (!it->second.is_floating_point()) {
        problems.push_back("tensor \"" + key + "\" is not floating point");
      } else {
        (squared ? found.exp_avg_sq : found.exp_avg)[i] = it->second;
      }
    }
  }
  if (!problems.empty()) {
    std::string message = source + ": optimizer state does not fit this optimizer (" +
                          std::to_string(problems.size()) + " problem(s)): ";
    for (size_t i = 0; i < problems.size() && i < 10; ++i) {
      message += (i > 0 ? "; " : "") + problems[i];
    }
    if (problems.size() > 10) message += "; ...";
    throw DataError(message);
  }
  return found;
}

void AdamW::load_state(const NamedTensors& state, const std::string& source) {
  const AdamWStateTensors found = check_adamw_state(state, params_, source);
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    exp_avg_[i].copy_(found.exp_avg[i]);
    exp_avg_sq_[i].copy_(found.exp_avg_sq[i]);
  }
  steps_ = found.step;
}

namespace {

std::string generator_state_hex(at::Generator generator) {
  torch::Tensor state;
  {
    std::lock_guard<std::mutex> lock(generator.mutex());
    state = generator.get_state().contiguous();  // uint8 [bytes]
  }
  static const char* kDigits = "0123456789abcdef";
  const auto* bytes = state.data_ptr<uint8_t>();
  std::string hex;
  hex.reserve(2 * static_cast<size_t>(state.numel()));
  for (int64_t i = 0; i < state.numel(); ++i) {
    hex += kDigits[bytes[i] >> 4];
    hex += kDigits[bytes[i] & 0xF];
  }
  return hex;
}

// `what` names the generator in messages ("torch's CPU generator").
void set_generator_state(at::Generator generator, const std::string& hex, const std::string& what) {
  if (hex.empty() || hex.size() % 2 != 0) {
    throw DataError("torch RNG state: expected an even number of hex digits, got " +
                    std::to_string(hex.size()));
  }
  auto digit = [&](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    throw DataError(std::string("torch RNG state: '") + c + "' is not a hex digit");
  };
  torch::Tensor state = torch::empty({static_cast<int64_t>(hex.size() / 2)}, torch::kUInt8);
  auto* bytes = state.data_ptr<uint8_t>();
  for (size_t i = 0; i < hex.size() / 2; ++i) {
    bytes[i] = static_cast<uint8_t>(digit(hex[2 * i]) << 4 | digit(hex[2 * i + 1]));
  }
  try {
    std::lock_guard<std::mutex> lock(generator.mutex());
    generator.set_state(state);
  } catch (const c10::Error& e) {
    throw DataError("torch RNG state of " + std::to_string(state.numel()) +
                    " bytes is not a state of " + what + ": " + e.what_without_backtrace());
  }
}

at::Generator cuda_generator(int index) {
  if (index < 0 || index >= visible_cuda_devices()) {
    throw ConfigError("CUDA generator of device " + std::to_string(index) +
                      ": no such CUDA device in this process (a CPU-only libtorch, or fewer "
                      "visible GPUs)");
  }
  return at::globalContext().defaultGenerator(
      c10::Device(c10::DeviceType::CUDA, static_cast<c10::DeviceIndex>(index)));
}

}  // namespace

std::string serialize_rng_state() {
  return generator_state_hex(at::detail::getDefaultCPUGenerator());
}

void restore_rng_state(const std::string& hex) {
  set_generator_state(at::detail::getDefaultCPUGenerator(), hex, "torch's CPU generator");
}

std::string serialize_cuda_rng_state(int index) {
  return generator_state_hex(cuda_generator(index));
}

void restore_cuda_rng_state(int index, const std::string& hex) {
  at::Generator generator = cuda_generator(index);
  set_generator_state(generator, hex, "the CUDA generator of device " + std::to_string(index));
}

Precision parse_precision(const std::string& name, const std::string& what) {
  if (name == "fp32") return Precision::kFloat32;
  if (name == "bf16") return Precision::kBFloat16;
  throw ConfigError(what + " is \"" + name + "\": expected fp32 or bf16");
}

namespace {

// torch 2.4 replaced the per-device autocast switches by ones that take the device type; these
// two are the only places that know which torch this is.
std::pair<bool, torch::ScalarType> autocast_state(torch::DeviceType type) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  return {at::autocast::is_autocast_enabled(type), at::autocast::get_autocast_dtype(type)};
#else
  if (type == torch::kCPU)
    return {at::autocast::is_cpu_enabled(), at::autocast::get_autocast_cpu_dtype()};
  return {at::autocast::is_enabled(), at::autocast::get_autocast_gpu_dtype()};
#endif
}

void set_autocast_state(torch::DeviceType type, bool enabled, torch::ScalarType dtype) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  at::autocast::set_autocast_enabled(type, enabled);
  at::autocast::set_autocast_dtype(type, dtype);
#else
  if (type == torch::kCPU) {
    at::autocast::set_cpu_enabled(enabled);
    at::autocast::set_autocast_cpu_dtype(dtype);
  } else {
    at::autocast::set_enabled(enabled);
    at::autocast::set_autocast_gpu_dtype(dtype);
  }
#endif
}

}  // namespace

AutocastScope::AutocastScope(Precision precision, torch::DeviceType device_type)
    : device_type_(device_type) {
  if (precision == Precision::kFloat32) return;
  if (device_type != torch::kCPU && device_type != torch::kCUDA) {
    throw ConfigError("bf16 autocast runs on the CPU or a CUDA device, not " +
                      c10::DeviceTypeName(device_type));
  }
  active_ = true;
  std::tie(was_enabled_, was_dtype_) = autocast_state(device_type);
  set_autocast_state(device_type, true, at::kBFloat16);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  // The cached bf16 copies of the weights are stale once the optimizer steps: dropped when the
  // outermost scope closes, as torch.autocast does.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_autocast_state(device_type_, was_enabled_, was_dtype_);
}

void set_tf32_matmul(bool allowed) {
  at::globalContext().setFloat32MatmulPrecision(allowed ? "high" : "highest");
}

}  // namespace dgr::model
