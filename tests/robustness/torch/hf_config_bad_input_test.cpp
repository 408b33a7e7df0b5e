// Hugging Face config.json for BART (core/model/bart_config.h) and BERT (core/model/
// bert_config.h) on bad files: not JSON, invalid UTF-8, values of the wrong type, missing
// required keys, values out of range, another model_type. Each is a ConfigError naming the file
// and (where one is at fault) the key; an unreadable file is an IoError.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "core/model/bart_config.h"
#include "core/model/bert_config.h"
#include "tests/robustness/torch/expect_error.h"

namespace dgr::robustness {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using model::BartConfig;
using model::BertConfig;

class HfConfigBadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(DGR_TEST_TMP_DIR) /
           ("robust-hf-config-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "config.json").string();
    model::write_bart_config(BartConfig::preset("tiny", 64), path_);
    bart_ = Json::parse(std::ifstream(path_));
    model::write_bert_config(BertConfig::preset("tiny", 64, 1), path_);
    bert_ = Json::parse(std::ifstream(path_));
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write_text(const std::string& text) {
    std::ofstream(path_, std::ios::binary | std::ios::trunc) << text;
  }
  // The valid config with one change.
  void write_bart(const std::function<void(Json&)>& change) {
    Json j = bart_;
    change(j);
    write_text(j.dump(2));
  }
  void write_bert(const std::function<void(Json&)>& change) {
    Json j = bert_;
    change(j);
    write_text(j.dump(2));
  }
  void expect_bart(std::initializer_list<std::string> needles) {
    expect_error<ConfigError>([&] { model::read_bart_config(path_); }, needles);
  }
  void expect_bert(std::initializer_list<std::string> needles) {
    expect_error<ConfigError>([&] { model::read_bert_config(path_); }, needles);
  }
  // A file both readers must refuse with the same words.
  void expect_both(std::initializer_list<std::string> needles) {
    expect_bart(needles);
    expect_bert(needles);
  }

  fs::path dir_;
  std::string path_;
  Json bart_;
  Json bert_;
};

TEST_F(HfConfigBadInput, TheValidConfigsLoad) {
  write_bart([](Json&) {});
  EXPECT_EQ(model::read_bart_config(path_).d_model, 32);
  write_bert([](Json&) {});
  EXPECT_EQ(model::read_bert_config(path_).hidden_size, 32);
}

TEST_F(HfConfigBadInput, NotJson) {
  write_text("");
  expect_both({path_, "not valid JSON"});
  write_text("{\"d_model\": 32,");
  expect_both({path_, "not valid JSON"});
  write_text("d_model: 32\n");
  expect_both({path_, "not valid JSON"});
  // The JSON reader stops at a NUL byte: what precedes it is read, and found wanting.
  write_text(std::string("{\"d_model\": 32}\0\0\0", 18));
  expect_both({path_, "\"vocab_size\"", "missing"});
}

TEST_F(HfConfigBadInput, NotAnObject) {
  write_text("[1, 2]");
  expect_both({path_, "expected a JSON object"});
  write_text("null");
  expect_both({path_, "expected a JSON object"});
}

TEST_F(HfConfigBadInput, InvalidUtf8) {
  write_text("{\"model_type\": \"bart\xff\xfe\", \"d_model\": 32}");
  expect_both({path_, "not valid JSON"});
  write_text("{\"\xc3\x28\": 1}");
  expect_both({path_, "not valid JSON"});
}

TEST_F(HfConfigBadInput, WrongTypes) {
  write_bart([](Json& j) { j["d_model"] = "32"; });
  expect_bart({path_, "\"d_model\"", "expected an integer"});
  write_bart([](Json& j) { j["encoder_layers"] = 2.5; });
  expect_bart({path_, "\"encoder_layers\"", "expected an integer"});
  write_bart([](Json& j) { j["scale_embedding"] = 1; });
  expect_bart({path_, "\"scale_embedding\"", "expected true or false"});
  write_bart([](Json& j) { j["activation_function"] = 5; });
  expect_bart({path_, "\"activation_function\"", "expected a string"});
  write_bart([](Json& j) { j["dropout"] = "0.1"; });
  expect_bart({path_, "\"dropout\"", "expected a number"});
  write_bart([](Json& j) { j["model_type"] = Json::array({"bart"}); });
  expect_bart({path_, "\"model_type\"", "expected a string"});

  write_bert([](Json& j) { j["hidden_size"] = Json::object(); });
  expect_bert({path_, "\"hidden_size\"", "expected an integer"});
  write_bert([](Json& j) { j["is_decoder"] = "false"; });
  expect_bert({path_, "\"is_decoder\"", "expected true or false"});
  write_bert([](Json& j) { j["id2label"] = Json::array({"score"}); });
  expect_bert({path_, "\"id2label\""});
}

TEST_F(HfConfigBadInput, MissingRequiredKeys) {
  for (const char* key : {"vocab_size", "d_model", "encoder_layers", "decoder_attention_heads",
                          "max_position_embeddings"}) {
    write_bart([&](Json& j) { j.erase(key); });
    expect_bart({path_, std::string("\"") + key + "\"", "missing"});
  }
  write_bart([](Json& j) { j["d_model"] = nullptr; });
  expect_bart({path_, "\"d_model\"", "missing"});
  for (const char* key : {"vocab_size", "hidden_size", "num_hidden_layers"}) {
    write_bert([&](Json& j) { j.erase(key); });
    expect_bert({path_, std::string("\"") + key + "\"", "missing"});
  }
  write_text("{}");
  expect_both({path_, "\"vocab_size\"", "missing"});
}

TEST_F(HfConfigBadInput, OutOfRangeValues) {
  write_bart([](Json& j) { j["encoder_attention_heads"] = 5; });
  expect_bart({path_, "\"encoder_attention_heads\"", "do not divide d_model 32"});
  write_bart([](Json& j) { j["decoder_layers"] = 0; });
  expect_bart({path_, "\"decoder_layers\"", "must be positive"});
  write_bart([](Json& j) { j["vocab_size"] = -5; });
  expect_bart({path_, "\"vocab_size\"", "must be positive"});
  write_bart([](Json& j) { j["pad_token_id"] = 64; });
  expect_bart({path_, "\"pad_token_id\"", "outside the vocabulary"});
  write_bart([](Json& j) { j["dropout"] = 1.5; });
  expect_bart({path_, "\"dropout\"", "[0, 1)"});
  write_bart([](Json& j) { j["activation_function"] = "swish"; });
  expect_bart({path_, "\"activation_function\"", "swish"});
  // 2^64 - 1 does not fit an int64: it must not wrap into a plausible size.
  write_bart([](Json& j) { j["d_model"] = UINT64_MAX; });
  expect_bart({path_, "\"d_model\""});
  // Sizes no machine can hold are refused before anything is allocated.
  write_bart([](Json& j) { j["vocab_size"] = int64_t{1} << 62; });
  expect_bart({path_, "\"vocab_size\"", "too large"});
  write_bart([](Json& j) { j["max_position_embeddings"] = int64_t{1} << 40; });
  expect_bart({path_, "\"max_position_embeddings\"", "too large"});

  write_bert([](Json& j) { j["num_attention_heads"] = 3; });
  expect_bert({path_, "\"num_attention_heads\""});
  write_bert([](Json& j) { j["num_hidden_layers"] = 0; });
  expect_bert({path_, "\"num_hidden_layers\"", "must be positive"});
  write_bert([](Json& j) { j["vocab_size"] = -1; });
  expect_bert({path_, "\"vocab_size\"", "must be positive"});
  write_bert([](Json& j) { j["hidden_dropout_prob"] = -0.5; });
  expect_bert({path_, "\"hidden_dropout_prob\""});
  write_bert([](Json& j) { j["intermediate_size"] = int64_t{1} << 50; });
  expect_bert({path_, "\"intermediate_size\"", "too large"});
}

TEST_F(HfConfigBadInput, UnknownModelType) {
  write_bart([](Json& j) { j["model_type"] = "gpt2"; });
  expect_bart({path_, "\"model_type\"", "gpt2"});
  write_bart([](Json& j) { j["model_type"] = "mbart"; });
  expect_bart({path_, "\"model_type\"", "mbart"});
  write_bart([](Json& j) { j["normalize_before"] = true; });
  expect_bart({path_, "\"normalize_before\""});
  write_bert([](Json& j) { j["model_type"] = "roberta"; });
  expect_bert({path_, "\"model_type\"", "roberta"});
  write_bert([](Json& j) { j["position_embedding_type"] = "relative_key"; });
  expect_bert({path_, "\"position_embedding_type\""});
  // A BERT config given where a BART one is expected, and the other way round.
  write_bert([](Json&) {});
  expect_bart({path_, "\"model_type\"", "bert"});
  write_bart([](Json&) {});
  expect_bert({path_, "\"model_type\"", "bart"});
}

TEST_F(HfConfigBadInput, UnreadableFileIsAnIoError) {
  fs::remove(path_);
  expect_error<IoError>([&] { model::read_bart_config(path_); }, {path_});
  expect_error<IoError>([&] { model::read_bert_config(path_); }, {path_});
}

}  // namespace
}  // namespace dgr::robustness
