#include "core/model/state_dict.h"

#include <torch/torch.h>

#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/util/error.h"

namespace dgr::model {
namespace {

// Problems listed in one DataError; the rest are counted (a wrong prefix makes every name
// unknown, and 500 lines of that help nobody).
constexpr size_t kMaxListedProblems = 10;

std::string shape_string(torch::IntArrayRef shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// The module name nearest to `name` by edit distance (first one on ties).
std::string closest_name(const std::string& name, const std::vector<std::string>& names) {
  std::string best;
  size_t best_distance = std::numeric_limits<size_t>::max();
  for (const std::string& candidate : names) {
    const size_t distance = edit_distance(name, candidate);
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  return best;
}

// Tied weights registered under several module names share one storage: filling one fills all.
bool same_storage(const torch::Tensor& a, const torch::Tensor& b) {
  return a.unsafeGetTensorImpl() == b.unsafeGetTensorImpl() ||
         (a.has_storage() && b.has_storage() && a.storage().is_alias_of(b.storage()) &&
          a.storage_offset() == b.storage_offset() && a.sizes() == b.sizes() &&
          a.strides() == b.strides());
}

// Collects located problems; `raise` throws them as one DataError.
class Problems {
 public:
  explicit Problems(std::string source) : source_(std::move(source)) {}

  void add(const std::string& message) { messages_.push_back(message); }
  void add_tensor(const std::string& name, const std::string& message) {
    add("tensor '" + name + "': " + message);
  }
  size_t size() const { return messages_.size(); }

  void raise() const {
    if (messages_.empty()) return;
    std::string text = located(source_, 0, messages_[0]);
    for (size_t i = 1; i < messages_.size() && i < kMaxListedProblems; ++i) {
      text += "\n" + located(source_, 0, messages_[i]);
    }
    if (messages_.size() > kMaxListedProblems) {
      text += "\n(and " + std::to_string(messages_.size() - kMaxListedProblems) + " more problems)";
    }
    throw DataError(text);
  }

 private:
  std::string source_;
  std::vector<std::string> messages_;
};

}  // namespace

StateLoadReport load_state(torch::nn::Module& module, const NamedTensors& tensors,
                           const std::string& source, const StateLoadOptions& options) {
  // Module tensors by name, parameters first, in registration order.
  std::vector<std::string> names;
  std::map<std::string, torch::Tensor> targets;
  auto collect = [&](const torch::OrderedDict<std::string, torch::Tensor>& dict) {
    for (const auto& item : dict) {
      // Undefined entries (Linear's absent bias, in some libtorch versions) hold no weights.
      if (!item.value().defined()) continue;
      if (targets.emplace(item.key(), item.value()).second) names.push_back(item.key());
    }
  };
  collect(module.named_parameters(/*recurse=*/true));
  collect(module.named_buffers(/*recurse=*/true));

  const std::set<std::string> ignored(options.ignore.begin(), options.ignore.end());
  Problems problems(source);
  size_t unknown_with_hint = 0;

  auto check_shape = [&](const std::string& file_name, const torch::Tensor& src,
                         const std::string& module_name) {
    const torch::Tensor& target = targets.at(module_name);
    if (src.sizes() == target.sizes()) return true;
    problems.add_tensor(file_name, "shape " + shape_string(src.sizes()) + " in the file, but " +
                                       "the module's '" + module_name + "' has shape " +
                                       shape_string(target.sizes()));
    return false;
  };
  // NaN or infinite weights load without complaint and only show as NaN scores or losses much
  // later, far from the file that caused them: refused here, naming the tensor.
  auto check_finite = [&](const std::string& file_name, const torch::Tensor& src) {
    if (!src.is_floating_point() || src.numel() == 0) return true;
    const int64_t bad = src.numel() - torch::isfinite(src).sum().item<int64_t>();
    if (bad == 0) return true;
    problems.add_tensor(file_name, std::to_string(bad) + " of its " + std::to_string(src.numel()) +
                                       " values are not finite (NaN or infinite)");
    return false;
  };

  // Pass 1: direct names (as is, then with each prefix). Aliases wait for pass 2, since they
  // only fill what no direct name filled.
  std::map<std::string, const torch::Tensor*> direct;  // module name -> file tensor
  std::map<std::string, std::string> direct_source;    // module name -> file name
  std::vector<std::pair<std::string, const torch::Tensor*>> alias_tensors;
  std::set<std::string> file_names;
  std::set<std::string> claimed;  // module names some file tensor maps to, even if mis-shaped
  for (const auto& [file_name, tensor] : tensors) {
    if (!file_names.insert(file_name).second) {
      problems.add_tensor(file_name, "appears twice");
      continue;
    }
    if (ignored.count(file_name) > 0) continue;
    if (options.aliases.count(file_name) > 0) {
      alias_tensors.emplace_back(file_name, &tensor);
      continue;
    }
    std::string module_name;
    if (targets.count(file_name) > 0) {
      module_name = file_name;
    } else {
      for (const std::string& prefix : options.name_prefixes) {
        if (targets.count(prefix + file_name) > 0) {
          module_name = prefix + file_name;
          break;
        }
      }
    }
    if (module_name.empty()) {
      // The hint costs a pass over all module names: only for the problems listed.
      std::string message = "not a parameter or buffer of the module";
      if (!names.empty() && unknown_with_hint++ < kMaxListedProblems) {
        message += " (closest module name: '" + closest_name(file_name, names) + "')";
      }
      problems.add_tensor(file_name, message);
      continue;
    }
    claimed.insert(module_name);
    if (direct.count(module_name) > 0) {
      problems.add_tensor(file_name, "fills the module's '" + module_name + "', as does '" +
                                         direct_source[module_name] + "'");
      continue;
    }
    if (!check_shape(file_name, tensor, module_name) || !check_finite(file_name, tensor)) continue;
    direct[module_name] = &tensor;
    direct_source[module_name] = file_name;
  }

  // Pass 2: aliases fill absent targets; present ones are only shape-checked.
  std::map<std::string, const torch::Tensor*> plan = direct;
  StateLoadReport report;
  for (const auto& [file_name, tensor] : alias_tensors) {
    const std::string& module_name = options.aliases.at(file_name);
    if (targets.count(module_name) == 0) {
      problems.add_tensor(file_name, "alias of '" + module_name +
                                         "', which is not a parameter or buffer of the module");
      continue;
    }
    claimed.insert(module_name);
    if (!check_shape(file_name, *tensor, module_name) || !check_finite(file_name, *tensor)) {
      continue;
    }
    report.aliased.push_back(file_name);
    if (plan.count(module_name) == 0) plan[module_name] = tensor;
  }

  // Missing: module tensors no file tensor maps to, unless tied to one that is filled.
  std::vector<std::string> missing;
  for (const std::string& name : names) {
    if (plan.count(name) > 0 || claimed.count(name) > 0) continue;
    const torch::Tensor& target = targets.at(name);
    const bool tied = std::any_of(plan.begin(), plan.end(), [&](const auto& filled) {
      return same_storage(target, targets.at(filled.first));
    });
    if (!tied) missing.push_back(name);
  }
  if (!missing.empty()) {
    std::string list;
    for (const std::string& name : missing)
      list += (list.empty() ? "'" : ", '") + name + "'";
    problems.add(std::to_string(missing.size()) +
                 " module tensor(s) missing from the file: " + list);
  }
  problems.raise();

  // Everything checked: copy.
  torch::NoGradGuard no_grad;
  for (const std::string& name : names) {
    auto it = plan.find(name);
    if (it == plan.end()) continue;
    targets.at(name).copy_(*it->second);
    report.loaded.push_back(name);
  }
  return report;
}

NamedTensors module_state(const torch::nn::Module& module) {
  NamedTensors state;
  auto add = [&](const torch::OrderedDict<std::string, torch::Tensor>& dict) {
    for (const auto& item : dict) {
      if (item.value().defined()) {
        state.emplace_back(item.key(), item.value().detach().to(torch::kCPU));
      }
    }
  };
  add(module.named_parameters(/*recurse=*/true));
  add(module.named_buffers(/*recurse=*/true));
  return state;
}

}  // namespace dgr::model
