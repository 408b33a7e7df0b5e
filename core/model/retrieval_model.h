// A generative retriever loaded for inference, behind a torch-free interface: the beam-search
// view of the model (search::StepModel) and teacher-forced rescoring of keys; plus creating and
// describing checkpoint directories. `dgr retrieve`, `dgr model` and the distributed retrieval
// driver use this header, so they compile without torch.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/model/bart_config.h"
#include "core/search/identifiers.h"
#include "core/search/step_model.h"

namespace dgr::model {

class RetrievalModel {
 public:
  virtual ~RetrievalModel() = default;

  virtual search::StepModel& step_model() = 0;
  // Sets every key's log_prob to Σ log p(token | query, prompt, earlier tokens) by teacher
  // forcing, batched (no length penalty).
  virtual void rescore(const std::vector<search::TokenId>& query,
                       const std::vector<search::ViewPrompt>& views,
                       std::vector<search::GeneratedKey>& keys) = 0;
  virtual const BartConfig& config() const = 0;
  virtual int64_t num_parameters() const = 0;
};

// Loads a checkpoint directory in Hugging Face layout (config.json + model.safetensors) onto
// `device` ("cpu", "cuda", "cuda:N") in eval mode. Throws IoError / DataError / ConfigError
// naming the file, tensor or key at fault.
std::unique_ptr<RetrievalModel> load_retrieval_model(const std::string& dir,
                                                     const std::string& device);

// Writes a freshly initialised model (weights drawn with `seed`) as a checkpoint directory in
// Hugging Face layout, with the tokenizer's vocab.json + merges.txt copied in.
void create_checkpoint(const BartConfig& config, uint64_t seed, const std::string& tokenizer_dir,
                       const std::string& out_dir);

struct CheckpointTensor {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
};
struct CheckpointInfo {
  BartConfig config;
  std::vector<CheckpointTensor> tensors;  // as stored, file order
  int64_t stored_values = 0;              // Σ over tensors of their element count
  uint64_t bytes = 0;                     // size of model.safetensors
  bool has_tokenizer = false;             // vocab.json + merges.txt present
};
// Reads config.json and the safetensors header only (no weights).
CheckpointInfo describe_checkpoint(const std::string& dir);

}  // namespace dgr::model
