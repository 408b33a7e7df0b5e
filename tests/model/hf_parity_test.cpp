// Parity with Hugging Face transformers: a tiny BartForConditionalGeneration with random
// weights, saved by transformers' own save_pretrained (tests/model/fixtures/hf_tiny_bart, made by
// make_hf_tiny_bart.py beside it), loads through load_pretrained and gives the logits
// transformers computed, for a batch with encoder padding, by full forward and by incremental
// decoding. This pins the architecture (post-LayerNorm, layernorm_embedding, position offset 2,
// GELU, tied embeddings, final_logits_bias) to the reference, not only to itself.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/model/bart.h"
#include "core/model/pretrained.h"

namespace dgr::model {
namespace {

const std::string kFixture = std::string(DGR_SOURCE_DIR) + "/tests/model/fixtures/hf_tiny_bart";

struct Expected {
  torch::Tensor input_ids, attention_mask, decoder_input_ids, logits;
};

torch::Tensor to_tensor(const nlohmann::json& j, torch::ScalarType type) {
  std::vector<double> flat;
  std::vector<int64_t> shape;
  const nlohmann::json* level = &j;
  while (level->is_array()) {
    shape.push_back(static_cast<int64_t>(level->size()));
    level = &(*level)[0];
  }
  std::function<void(const nlohmann::json&)> walk = [&](const nlohmann::json& node) {
    if (node.is_array()) {
      for (const auto& child : node)
        walk(child);
    } else {
      flat.push_back(node.get<double>());
    }
  };
  walk(j);
  return torch::tensor(flat, torch::kFloat64).reshape(shape).to(type);
}

Expected expected() {
  std::ifstream in(kFixture + "/expected.json");
  const nlohmann::json j = nlohmann::json::parse(in);
  return {to_tensor(j["input_ids"], torch::kInt64), to_tensor(j["attention_mask"], torch::kInt64),
          to_tensor(j["decoder_input_ids"], torch::kInt64),
          to_tensor(j["logits"], torch::kFloat32)};
}

TEST(HfParity, ConfigJsonWrittenByTransformersReads) {
  const BartConfig config = read_bart_config(kFixture + "/config.json");
  EXPECT_EQ(config.vocab_size, 48);
  EXPECT_EQ(config.d_model, 16);
  EXPECT_EQ(config.encoder_layers, 2);
  EXPECT_EQ(config.decoder_ffn_dim, 24);
  EXPECT_EQ(config.max_position_embeddings, 20);
  EXPECT_EQ(config.decoder_start_token_id, 2);
}

TEST(HfParity, FullForwardGivesTheLogitsOfTransformers) {
  torch::set_num_threads(1);
  const Expected e = expected();
  PretrainedBart bart = load_pretrained(kFixture, "cpu");
  torch::NoGradGuard no_grad;
  const torch::Tensor logits =
      bart.model->forward(e.input_ids, e.attention_mask, e.decoder_input_ids);
  ASSERT_EQ(logits.sizes(), e.logits.sizes());
  EXPECT_LT((logits - e.logits).abs().max().item<double>(), 1e-4);
}

TEST(HfParity, IncrementalDecodingGivesTheLogitsOfTransformers) {
  torch::set_num_threads(1);
  const Expected e = expected();
  PretrainedBart bart = load_pretrained(kFixture, "cpu");
  torch::NoGradGuard no_grad;
  const torch::Tensor encoder_out = bart.model->encode(e.input_ids, e.attention_mask);
  DecoderState state = bart.model->start_decoding(encoder_out, e.attention_mask);
  const int64_t steps = e.decoder_input_ids.size(1);
  for (int64_t t = 0; t < steps; ++t) {
    const torch::Tensor step = bart.model->decode_step(
        state,
        e.decoder_input_ids.index({torch::indexing::Slice(), torch::indexing::Slice(t, t + 1)}));
    const torch::Tensor want =
        e.logits.index({torch::indexing::Slice(), torch::indexing::Slice(t, t + 1)});
    EXPECT_LT((step - want).abs().max().item<double>(), 1e-4) << "step " << t;
  }
}

}  // namespace
}  // namespace dgr::model
