// Loading named tensors into a torch module by name (parameters and buffers), and saving a
// module's tensors under the same names. With modules named like Hugging Face's, a module's
// `named_parameters()` are the checkpoint's names, so HF checkpoints load without a mapping
// table; tied weights stored under several names are declared as aliases.
#pragma once

#include <torch/nn/module.h>

#include <map>
#include <string>
#include <vector>

#include "core/model/safetensors.h"

namespace dgr::model {

struct StateLoadOptions {
  // File name -> module name of tied duplicates (e.g. "lm_head.weight" -> "model.shared.weight").
  // An alias fills its target when the target itself is absent; otherwise its shape is checked
  // and it is skipped.
  std::map<std::string, std::string> aliases;
  // File names ignored silently (e.g. HF's non-persistent buffers).
  std::vector<std::string> ignore;
  // Prefixes tried when a file name is not found as is: a name "encoder.x" also matches the
  // module's "model.encoder.x" with prefix "model." (checkpoints of the bare BartModel).
  std::vector<std::string> name_prefixes;
};

struct StateLoadReport {
  std::vector<std::string> loaded;   // module names that received a tensor
  std::vector<std::string> aliased;  // file names consumed as aliases
};

// Copies every tensor of `tensors` into the module's parameter or buffer of the same name
// (converted to the module tensor's dtype and device, without autograd). Throws DataError
// naming `source` and the tensor for: a tensor the module does not have (with the closest
// module name as a hint), a module tensor the file lacks (all missing names listed), a
// shape mismatch (both shapes given), and floating values that are NaN or infinite. Nothing is
// modified when any error is found: every problem is collected first (the first 10 listed in
// one message), then the copies are made.
// A module tensor that shares its storage with one that is filled (weights tied by registering
// one tensor under two names) counts as filled. `loaded` lists module names in registration
// order; `aliased` lists every alias file name present, whether it filled its target or not.
StateLoadReport load_state(torch::nn::Module& module, const NamedTensors& tensors,
                           const std::string& source, const StateLoadOptions& options = {});

// The module's parameters then buffers, by name, in registration order, on the CPU, detached.
// Tensors of a CPU module share its storage (no copy of the weights): clone to snapshot them.
NamedTensors module_state(const torch::nn::Module& module);

}  // namespace dgr::model
