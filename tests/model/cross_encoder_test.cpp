// The cross-encoder teacher on a tiny BertForSequenceClassification checkpoint written here
// with HF names: each passage's score is the model's logit of `[CLS] query [SEP] title: text
// [SEP]` scored alone (whatever the batch size and the padding of its batch), logit 1 for a
// two-label model; lowercasing follows tokenizer_config.json, else the options; long passages
// are truncated to max_length; unknown ids, bad text, missing files and unusable options are
// errors that say which.
#include "teacher/cross_encoder.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/model/bert.h"
#include "core/model/safetensors.h"
#include "core/model/state_dict.h"
#include "core/text/wordpiece.h"
#include "core/util/error.h"

namespace dgr::teacher {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kVocab = {
    "[PAD]", "[UNK]",   "[CLS]",  "[SEP]", "[MASK]", "the",   "capital", "of",   "france",
    "is",    "paris",   "city",   "river", "seine",  "flows", "through", "a",    "##s",
    "in",    "germany", "berlin", "what",  "where",  ":",     ".",       ",",    "?",
    "hello", "world",   "long",   "##er",  "text",   "title", "about",   "many", "words",
};

template <typename E, typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "(no error of the expected type)";
}

class CrossEncoderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::set_num_threads(1);
    dir_ = fs::path(DGR_TEST_TMP_DIR) /
           ("cross_encoder_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    corpus_.add({"p1", "Paris", "Paris is the capital of France."});
    corpus_.add({"p2", "", "The Seine flows through Paris."});
    corpus_.add({"p3", "Berlin", "Berlin is the capital of Germany, a city."});
    std::string long_text = std::string(200, 'a');  // one word of 200 characters: [UNK]
    for (int i = 0; i < 4; ++i)
      long_text += " many words about many long texts, the text of a long title.";
    corpus_.add({"p4", "Long", long_text});
    for (int i = 0; i < 12; ++i) {
      corpus_.add({"r" + std::to_string(i), i % 2 ? "title" : "",
                   std::string("the river ") + (i % 3 ? "seine " : "") + "flows through a city"});
    }
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A checkpoint directory `name`: config.json, model.safetensors (a seeded random model with
  // random LayerNorms), vocab.txt and, when given, tokenizer_config.json.
  std::string write_checkpoint(const std::string& name, int64_t num_labels = 1,
                               const std::string& tokenizer_config = "",
                               std::vector<std::string> vocab = kVocab) {
    const fs::path dir = dir_ / name;
    fs::create_directories(dir);
    model::BertConfig config = model::BertConfig::preset("tiny", 48, num_labels);
    torch::manual_seed(17);
    model::BertForSequenceClassification model(config);
    {
      torch::NoGradGuard no_grad;
      for (auto& item : model->named_parameters()) {
        const bool norm_weight = item.key().find("LayerNorm.weight") != std::string::npos;
        item.value().copy_(torch::randn_like(item.value()) * 0.3 + (norm_weight ? 1.0 : 0.0));
      }
    }
    model::write_bert_config(config, (dir / "config.json").string());
    model::write_safetensors((dir / "model.safetensors").string(), model::module_state(*model),
                             {{"format", "pt"}});
    std::ofstream out(dir / "vocab.txt");
    for (const auto& token : vocab)
      out << token << "\n";
    if (!tokenizer_config.empty()) std::ofstream(dir / "tokenizer_config.json") << tokenizer_config;
    return dir.string();
  }

  // The logit `column` of the pair scored alone, computed without the teacher.
  static float alone(const std::string& dir, const std::string& query, const std::string& passage,
                     size_t max_length, int64_t column = 0, bool lowercase = true) {
    text::WordPieceOptions options;
    options.lowercase = lowercase;
    const auto tokenizer = text::WordPieceTokenizer::load(dir + "/vocab.txt", options);
    const text::PairEncoding pair = tokenizer.encode_pair(query, passage, max_length);
    model::PretrainedBertClassifier bert = model::load_bert_classifier(dir);
    const auto n = static_cast<int64_t>(pair.input_ids.size());
    std::vector<int64_t> ids(pair.input_ids.begin(), pair.input_ids.end());
    std::vector<int64_t> types(pair.token_type_ids.begin(), pair.token_type_ids.end());
    torch::NoGradGuard no_grad;
    const torch::Tensor logits =
        bert.model->forward(torch::tensor(ids).view({1, n}), torch::tensor(types).view({1, n}),
                            torch::ones({1, n}, torch::kLong));
    return logits[0][column].item<float>();
  }

  fs::path dir_;
  data::Corpus corpus_;
};

TEST_F(CrossEncoderTest, PassageTextIsTitleColonText) {
  EXPECT_EQ(CrossEncoderTeacher::passage_text({"x", "Paris", "The city."}), "Paris: The city.");
  EXPECT_EQ(CrossEncoderTeacher::passage_text({"x", "", "The city."}), "The city.");
}

TEST_F(CrossEncoderTest, ScoresAreTheLogitsOfEachPairScoredAlone) {
  const std::string dir = write_checkpoint("ckpt");
  CrossEncoderTeacher teacher(dir, corpus_);
  EXPECT_EQ(teacher.name(), "cross-encoder:" + dir);
  EXPECT_EQ(teacher.num_labels(), 1);
  EXPECT_EQ(teacher.max_length(), 64);  // max_position_embeddings of the tiny config
  const std::string query = "What is the capital of France?";
  const std::vector<std::string> ids = {"p2", "p1", "p3"};
  const std::vector<float> scores = teacher.score("q1", query, ids);
  ASSERT_EQ(scores.size(), 3u);
  for (size_t i = 0; i < ids.size(); ++i) {
    const auto& passage = corpus_[*corpus_.find(ids[i])];
    EXPECT_NEAR(scores[i], alone(dir, query, CrossEncoderTeacher::passage_text(passage), 64), 1e-5)
        << ids[i];
  }
  EXPECT_NE(scores[0], scores[1]);
  EXPECT_TRUE(teacher.score("q1", query, {}).empty());
  // score_texts takes the texts as given.
  const std::vector<float> direct = teacher.score_texts(query, {"Paris: Paris is the capital "
                                                                "of France."});
  EXPECT_NEAR(direct[0], scores[1], 1e-5);
}

TEST_F(CrossEncoderTest, BatchSizeAndPaddingDoNotChangeScores) {
  const std::string dir = write_checkpoint("ckpt");
  std::vector<std::string> ids;
  for (int i = 0; i < 12; ++i)
    ids.push_back("r" + std::to_string(i));
  ids.push_back("p1");
  ids.push_back("p3");
  const std::string query = "where does the seine flow?";
  CrossEncoderOptions one;
  one.batch_size = 1;
  const std::vector<float> reference =
      CrossEncoderTeacher(dir, corpus_, one).score("q", query, ids);
  for (int batch : {2, 5, 64}) {
    CrossEncoderOptions options;
    options.batch_size = batch;
    const std::vector<float> scores =
        CrossEncoderTeacher(dir, corpus_, options).score("q", query, ids);
    ASSERT_EQ(scores.size(), ids.size());
    for (size_t i = 0; i < ids.size(); ++i)
      EXPECT_NEAR(scores[i], reference[i], 1e-5) << "batch " << batch << ", " << ids[i];
  }
}

TEST_F(CrossEncoderTest, TwoLabelModelsScoreWithTheLogitOfLabelOne) {
  const std::string dir = write_checkpoint("two", /*num_labels=*/2);
  CrossEncoderTeacher teacher(dir, corpus_);
  EXPECT_EQ(teacher.num_labels(), 2);
  const std::string query = "capital of germany";
  const float score = teacher.score("q", query, {"p3"})[0];
  const std::string text = CrossEncoderTeacher::passage_text(corpus_[2]);
  EXPECT_NEAR(score, alone(dir, query, text, 64, /*column=*/1), 1e-5);
  EXPECT_GT(std::abs(score - alone(dir, query, text, 64, /*column=*/0)), 1e-4);
}

TEST_F(CrossEncoderTest, LowercasingFollowsTokenizerConfigThenOptions) {
  // Upper case words are [UNK] in this lowercase vocabulary unless they are lowercased.
  auto same = [&](const std::string& dir, CrossEncoderOptions options) {
    CrossEncoderTeacher teacher(dir, corpus_, options);
    return teacher.score("q", "CAPITAL OF FRANCE", {"p1"})[0] ==
           teacher.score("q", "capital of france", {"p1"})[0];
  };
  CrossEncoderOptions cased;
  cased.lowercase = false;
  const std::string plain = write_checkpoint("plain");
  EXPECT_TRUE(same(plain, {}));
  EXPECT_FALSE(same(plain, cased));
  const std::string says_cased = write_checkpoint("cased", 1, R"({"do_lower_case": false})");
  EXPECT_FALSE(same(says_cased, {}));
  const std::string says_uncased = write_checkpoint("uncased", 1, R"({"do_lower_case": true})");
  EXPECT_TRUE(same(says_uncased, cased));
}

TEST_F(CrossEncoderTest, LongPassagesAreTruncatedToMaxLength) {
  // tokenizer_config.json's model_max_length (16) is below the model's 64 positions.
  const std::string dir = write_checkpoint("short", 1, R"({"model_max_length": 16})");
  CrossEncoderTeacher teacher(dir, corpus_);
  EXPECT_EQ(teacher.max_length(), 16);
  const std::string query = "many words";
  const float score = teacher.score("q", query, {"p4"})[0];
  const std::string text = CrossEncoderTeacher::passage_text(corpus_[3]);
  EXPECT_NEAR(score, alone(dir, query, text, 16), 1e-5);
  EXPECT_GT(std::abs(score - alone(dir, query, text, 20)), 1e-5);  // the cut matters

  CrossEncoderOptions options;
  options.max_length = 12;
  EXPECT_EQ(CrossEncoderTeacher(dir, corpus_, options).max_length(), 12);
  options.max_length = 65;
  const std::string message =
      error_of<ConfigError>([&] { CrossEncoderTeacher t(dir, corpus_, options); });
  EXPECT_NE(message.find("max_length 65 exceeds the model's max_position_embeddings 64"),
            std::string::npos)
      << message;
}

TEST_F(CrossEncoderTest, UnknownPassagesAndBadTextAreDataErrors) {
  const std::string dir = write_checkpoint("ckpt");
  CrossEncoderTeacher teacher(dir, corpus_);
  std::string message = error_of<DataError>([&] { teacher.score("q7", "paris", {"p1", "nope"}); });
  EXPECT_NE(message.find("unknown passage id 'nope'"), std::string::npos) << message;
  EXPECT_NE(message.find("query 'q7'"), std::string::npos) << message;
  message = error_of<DataError>([&] { teacher.score("q8", "bad \xff query", {"p1"}); });
  EXPECT_NE(message.find("query 'q8'"), std::string::npos) << message;
  EXPECT_NE(message.find("not valid UTF-8"), std::string::npos) << message;
  corpus_.add({"bad", "", "broken \xc3 text"});
  message = error_of<DataError>([&] { teacher.score("q9", "paris", {"bad"}); });
  EXPECT_NE(message.find("passage 'bad'"), std::string::npos) << message;
}

TEST_F(CrossEncoderTest, UnusableCheckpointsAndOptionsAreReported) {
  const std::string dir = write_checkpoint("ckpt");
  fs::remove(dir + "/vocab.txt");
  std::string message = error_of<IoError>([&] { CrossEncoderTeacher t(dir, corpus_); });
  EXPECT_NE(message.find(dir + "/vocab.txt"), std::string::npos) << message;

  // More vocabulary lines than the model's 48 embedding rows.
  std::vector<std::string> big = kVocab;
  for (int i = 0; i < 20; ++i)
    big.push_back("extra" + std::to_string(i));
  const std::string too_big = write_checkpoint("big", 1, "", big);
  message = error_of<DataError>([&] { CrossEncoderTeacher t(too_big, corpus_); });
  EXPECT_NE(message.find(too_big + "/vocab.txt: 56 tokens"), std::string::npos) << message;

  std::vector<std::string> no_sep;
  for (const auto& token : kVocab) {
    if (token != "[SEP]") no_sep.push_back(token);
  }
  const std::string sepless = write_checkpoint("sepless", 1, "", no_sep);
  message = error_of<DataError>([&] { CrossEncoderTeacher t(sepless, corpus_); });
  EXPECT_NE(message.find("vocab.txt"), std::string::npos) << message;
  EXPECT_NE(message.find("[SEP]"), std::string::npos) << message;

  const std::string good = write_checkpoint("good");
  CrossEncoderOptions options;
  options.batch_size = 0;
  EXPECT_NE(error_of<ConfigError>([&] {
              CrossEncoderTeacher t(good, corpus_, options);
            }).find("batch_size"),
            std::string::npos);
  options = {};
  options.device = "gpu";
  EXPECT_THROW(CrossEncoderTeacher t(good, corpus_, options), ConfigError);
}

}  // namespace
}  // namespace dgr::teacher
