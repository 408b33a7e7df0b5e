#include "core/model/retrieval_model.h"

#include <filesystem>

#include "core/model/bart_generator.h"
#include "core/model/pretrained.h"
#include "core/model/safetensors.h"
#include "core/util/error.h"
#include "core/util/files.h"

namespace dgr::model {
namespace {

namespace fs = std::filesystem;

class BartRetrievalModel final : public RetrievalModel {
 public:
  explicit BartRetrievalModel(PretrainedBart pretrained)
      : pretrained_(std::move(pretrained)), generator_(pretrained_.model) {}

  search::StepModel& step_model() override { return generator_; }

  void rescore(const std::vector<search::TokenId>& query,
               const std::vector<search::ViewPrompt>& views,
               std::vector<search::GeneratedKey>& keys) override {
    std::vector<std::vector<search::TokenId>> prompts;
    std::vector<std::vector<search::TokenId>> targets;
    prompts.reserve(keys.size());
    targets.reserve(keys.size());
    for (const search::GeneratedKey& key : keys) {
      const search::ViewPrompt* prompt = nullptr;
      for (const search::ViewPrompt& view : views) {
        if (view.view == key.view) prompt = &view;
      }
      CHECK(prompt) << "a key of view " << search::view_name(key.view) << " without its prompt";
      prompts.push_back(prompt->prefix);
      targets.push_back(key.tokens);
    }
    const std::vector<double> scores = generator_.score_sequences(query, prompts, targets);
    for (size_t i = 0; i < keys.size(); ++i)
      keys[i].log_prob = scores[i];
  }

  const BartConfig& config() const override { return pretrained_.config; }

  int64_t num_parameters() const override {
    int64_t n = 0;
    for (const auto& p : pretrained_.model->parameters())
      n += p.numel();
    return n;
  }

 private:
  PretrainedBart pretrained_;
  BartGenerator generator_;
};

}  // namespace

std::unique_ptr<RetrievalModel> load_retrieval_model(const std::string& dir,
                                                     const std::string& device) {
  if (!fs::is_directory(dir)) {
    throw IoError(dir +
                  ": no such checkpoint directory (expected config.json and "
                  "model.safetensors in Hugging Face layout)");
  }
  return std::make_unique<BartRetrievalModel>(load_pretrained(dir, device));
}

void create_checkpoint(const BartConfig& config, uint64_t seed, const std::string& tokenizer_dir,
                       const std::string& out_dir) {
  validate(config, out_dir + "/config.json");
  torch::manual_seed(seed);
  BartModel model(config);
  save_pretrained(model, config, out_dir, tokenizer_dir);
}

CheckpointInfo describe_checkpoint(const std::string& dir) {
  const std::string config_path = (fs::path(dir) / "config.json").string();
  const std::string weights_path = (fs::path(dir) / "model.safetensors").string();
  if (!fs::is_directory(dir)) throw IoError(dir + ": no such checkpoint directory");
  CheckpointInfo info;
  info.config = read_bart_config(config_path);
  const SafetensorsHeader header = read_safetensors_header(weights_path);
  for (const SafetensorsEntry& entry : header.entries) {
    int64_t values = 1;
    for (int64_t d : entry.shape)
      values *= d;
    info.stored_values += values;
    info.tensors.push_back({entry.name, entry.dtype, entry.shape});
  }
  info.bytes = fs::file_size(weights_path);
  info.has_tokenizer = file_exists((fs::path(dir) / "vocab.json").string()) &&
                       file_exists((fs::path(dir) / "merges.txt").string());
  return info;
}

}  // namespace dgr::model
