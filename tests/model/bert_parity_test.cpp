// Parity with Hugging Face transformers for the cross-encoder: a tiny
// BertForSequenceClassification with random weights saved by transformers' own save_pretrained,
// its vocab.txt and tokenizer_config.json (tests/model/fixtures/hf_tiny_bert, made by
// make_hf_tiny_bert.py beside it), and the ids and logits transformers computed for a few pairs.
// The WordPiece ids (uncased and cased, truncated at max_length 24 for two pairs) and the logits
// must match: this pins tokenizer and model to the reference, not only to themselves. Skipped
// while the fixture has not been generated.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/model/bert.h"
#include "core/text/wordpiece.h"
#include "data/corpus.h"
#include "teacher/cross_encoder.h"

namespace dgr::model {
namespace {

namespace fs = std::filesystem;

const std::string kFixture = std::string(DGR_SOURCE_DIR) + "/tests/model/fixtures/hf_tiny_bert";

struct ExpectedPair {
  std::string query, passage;
  size_t max_length = 0;
  std::vector<int32_t> input_ids, token_type_ids, cased_input_ids;
  std::vector<float> logits;
};

std::vector<ExpectedPair> expected_pairs() {
  std::ifstream in(kFixture + "/expected.json");
  const nlohmann::json j = nlohmann::json::parse(in);
  std::vector<ExpectedPair> pairs;
  for (const auto& p : j.at("pairs")) {
    ExpectedPair e;
    e.query = p.at("query").get<std::string>();
    e.passage = p.at("passage").get<std::string>();
    e.max_length = p.at("max_length").get<size_t>();
    e.input_ids = p.at("input_ids").get<std::vector<int32_t>>();
    e.token_type_ids = p.at("token_type_ids").get<std::vector<int32_t>>();
    e.cased_input_ids = p.at("cased_input_ids").get<std::vector<int32_t>>();
    e.logits = p.at("logits").get<std::vector<float>>();
    pairs.push_back(std::move(e));
  }
  return pairs;
}

text::WordPieceTokenizer fixture_tokenizer(bool lowercase) {
  text::BertTokenizerConfig config =
      text::read_bert_tokenizer_config(kFixture + "/tokenizer_config.json");
  config.options.lowercase = lowercase;
  return text::WordPieceTokenizer::load(kFixture + "/vocab.txt", config.options);
}

class BertParity : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kFixture + "/expected.json")) {
      GTEST_SKIP() << "no HF fixture at " << kFixture
                   << "; make it where transformers is installed with: python3 "
                      "tests/model/fixtures/make_hf_tiny_bert.py tests/model/fixtures/hf_tiny_bert";
    }
    torch::set_num_threads(1);
  }
};

TEST_F(BertParity, TokenizerGivesTheIdsOfTransformers) {
  const auto uncased = fixture_tokenizer(true);
  const auto cased = fixture_tokenizer(false);
  const auto pairs = expected_pairs();
  ASSERT_FALSE(pairs.empty());
  for (const ExpectedPair& e : pairs) {
    const text::PairEncoding got = uncased.encode_pair(e.query, e.passage, e.max_length);
    EXPECT_EQ(got.input_ids, e.input_ids) << e.query << " | " << e.passage;
    EXPECT_EQ(got.token_type_ids, e.token_type_ids) << e.query << " | " << e.passage;
    EXPECT_EQ(cased.encode_pair(e.query, e.passage, e.max_length).input_ids, e.cased_input_ids)
        << "cased: " << e.query << " | " << e.passage;
  }
}

TEST_F(BertParity, ModelGivesTheLogitsOfTransformers) {
  const BertConfig config = read_bert_config(kFixture + "/config.json");
  EXPECT_EQ(config.hidden_size, 32);
  EXPECT_EQ(config.num_hidden_layers, 2);
  EXPECT_EQ(config.intermediate_size, 37);
  EXPECT_EQ(config.num_labels, 1);
  PretrainedBertClassifier bert = load_bert_classifier(kFixture, "cpu");
  torch::NoGradGuard no_grad;
  for (const ExpectedPair& e : expected_pairs()) {
    const auto n = static_cast<int64_t>(e.input_ids.size());
    const std::vector<int64_t> ids(e.input_ids.begin(), e.input_ids.end());
    const std::vector<int64_t> types(e.token_type_ids.begin(), e.token_type_ids.end());
    const torch::Tensor logits =
        bert.model->forward(torch::tensor(ids).view({1, n}), torch::tensor(types).view({1, n}),
                            torch::ones({1, n}, torch::kLong));
    ASSERT_EQ(logits.size(1), static_cast<int64_t>(e.logits.size()));
    for (size_t k = 0; k < e.logits.size(); ++k) {
      EXPECT_NEAR(logits[0][static_cast<int64_t>(k)].item<float>(), e.logits[k], 1e-4)
          << e.query << " | " << e.passage;
    }
  }
}

TEST_F(BertParity, TeacherScoresAreTheLogitsOfTransformers) {
  // The whole teacher path: tokenizer_config.json (lowercasing, model_max_length 64 by
  // default), truncation, a batch padded to a longer filler passage, logit 0 as the score.
  const data::Corpus corpus;
  const std::string filler = "the river flows through the city of london " + std::string(30, 'a');
  for (size_t max_length : {size_t{24}, size_t{64}}) {
    teacher::CrossEncoderOptions options;
    if (max_length != 64) options.max_length = static_cast<int>(max_length);
    options.batch_size = 2;
    teacher::CrossEncoderTeacher teacher(kFixture, corpus, options);
    EXPECT_EQ(teacher.max_length(), static_cast<int64_t>(max_length));
    for (const ExpectedPair& e : expected_pairs()) {
      if (e.max_length != max_length) continue;
      const std::vector<float> scores =
          teacher.score_texts(e.query, {e.passage, filler + " " + filler});
      EXPECT_NEAR(scores[0], e.logits[0], 1e-4) << e.query << " | " << e.passage;
    }
  }
}

}  // namespace
}  // namespace dgr::model
