// Hugging Face checkpoint directories for BART: `config.json` + `model.safetensors` (+ the
// tokenizer's `vocab.json` and `merges.txt`), as `facebook/bart-*` publishes them and as
// `save_pretrained` in transformers writes them. Loading maps HF's names one to one (tied
// embed_tokens / lm_head copies are aliases of model.shared.weight; bare BartModel names without
// "model." and a missing final_logits_bias are accepted, as HF does); saving writes only
// the untied tensors, which HF re-ties on load.
//
// Guarantees: save_pretrained then load_pretrained gives a model with identical tensors (and so
// identical logits); a missing file is an IoError naming it, a tensor that is unknown, missing,
// mis-shaped or not finite a DataError naming it, an unusable device a ConfigError; a new directory
// appears complete or not at all (written under a temporary name, then renamed).
#pragma once

#include <torch/types.h>

#include <string>

#include "core/model/bart.h"
#include "core/model/bart_config.h"

namespace dgr::model {

struct PretrainedBart {
  BartConfig config;
  BartModel model{nullptr};  // in eval mode, on the requested device, float32
};

// "cpu", "cuda" or "cuda:N". ConfigError for anything else, for cuda when this libtorch sees no
// CUDA device, and for a device index past the devices present.
torch::Device parse_device(const std::string& device);

// Reads dir/config.json and dir/model.safetensors (F16/BF16 weights become float32).
PretrainedBart load_pretrained(const std::string& dir, const std::string& device = "cpu");

// Loads the weights of one safetensors file into `model` (HF names, as load_pretrained).
void load_bart_weights(BartModel& model, const std::string& safetensors_path);

// Writes dir/config.json, dir/model.safetensors (metadata {"format": "pt"}) and, when
// `tokenizer_dir` is given, copies its vocab.json and merges.txt. A new `dir` is written under
// a temporary name and renamed into place; in an existing `dir` each file is replaced
// atomically and other files are kept. ConfigError when `config` does not describe `model`.
void save_pretrained(const BartModel& model, const BartConfig& config, const std::string& dir,
                     const std::string& tokenizer_dir = "");

}  // namespace dgr::model
