// Hugging Face model directories (core/model/pretrained.h for BART, core/model/bert.h for the
// BERT cross-encoder) with a file missing, tensors missing, mis-shaped or unexpected, or weights
// that are NaN or infinite: each is refused as a whole with the error class and the name of the
// file and tensor at fault, never loaded half-way or into a model that would only produce NaN.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

#include "core/model/bart.h"
#include "core/model/bert.h"
#include "core/model/pretrained.h"
#include "core/model/safetensors.h"
#include "tests/robustness/torch/expect_error.h"

namespace dgr::robustness {
namespace {

namespace fs = std::filesystem;
using model::NamedTensors;

constexpr int64_t kVocab = 40;

class ModelDirBadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::set_num_threads(1);
    dir_ = fs::path(DGR_TEST_TMP_DIR) /
           ("robust-model-dir-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    bart_dir_ = (dir_ / "bart").string();
    bert_dir_ = (dir_ / "bert").string();
    torch::manual_seed(1);
    const model::BartConfig bart_config = model::BartConfig::preset("tiny", kVocab);
    model::save_pretrained(model::BartModel(bart_config), bart_config, bart_dir_);
    const model::BertConfig bert_config = model::BertConfig::preset("tiny", kVocab, 1);
    model::save_bert_classifier(model::BertForSequenceClassification(bert_config), bert_config,
                                bert_dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::string weights(const std::string& dir) { return dir + "/model.safetensors"; }

  // Rewrites dir/model.safetensors after `change` edits its tensors.
  template <class Change>
  static void edit_weights(const std::string& dir, Change&& change) {
    NamedTensors tensors = model::read_safetensors(weights(dir));
    change(tensors);
    model::write_safetensors(weights(dir), tensors, {{"format", "pt"}});
  }
  static torch::Tensor& tensor(NamedTensors& tensors, const std::string& name) {
    for (auto& [key, value] : tensors) {
      if (key == name) return value;
    }
    ADD_FAILURE() << "no tensor " << name;
    return tensors.front().second;
  }

  void expect_bart(std::initializer_list<std::string> needles) {
    expect_error<DataError>([&] { model::load_pretrained(bart_dir_); }, needles);
  }
  void expect_bert(std::initializer_list<std::string> needles) {
    expect_error<DataError>([&] { model::load_bert_classifier(bert_dir_); }, needles);
  }

  fs::path dir_;
  std::string bart_dir_;
  std::string bert_dir_;
};

TEST_F(ModelDirBadInput, TheValidDirectoriesLoad) {
  EXPECT_EQ(model::load_pretrained(bart_dir_).config.vocab_size, kVocab);
  EXPECT_EQ(model::load_bert_classifier(bert_dir_).config.vocab_size, kVocab);
}

TEST_F(ModelDirBadInput, MissingFilesAreIoErrorsNamingThem) {
  fs::remove(weights(bart_dir_));
  expect_error<IoError>([&] { model::load_pretrained(bart_dir_); }, {weights(bart_dir_)});
  fs::remove(bart_dir_ + "/config.json");
  expect_error<IoError>([&] { model::load_pretrained(bart_dir_); },
                        {weights(bart_dir_), bart_dir_ + "/config.json"});
  // A PyTorch pickle instead of safetensors gets a hint, not an attempt to unpickle it.
  std::ofstream(bart_dir_ + "/pytorch_model.bin") << "pickle";
  expect_error<IoError>([&] { model::load_pretrained(bart_dir_); }, {"pytorch_model.bin"});

  fs::remove(weights(bert_dir_));
  expect_error<IoError>([&] { model::load_bert_classifier(bert_dir_); }, {weights(bert_dir_)});
  expect_error<IoError>([&] { model::load_pretrained((dir_ / "nowhere").string()); }, {"nowhere"});
}

TEST_F(ModelDirBadInput, BadConfigIsAConfigErrorNamingIt) {
  std::ofstream(bart_dir_ + "/config.json", std::ios::trunc) << "{\"d_model\": ";
  expect_error<ConfigError>([&] { model::load_pretrained(bart_dir_); },
                            {bart_dir_ + "/config.json"});
}

TEST_F(ModelDirBadInput, WeightsThatAreNotSafetensorsAreADataError) {
  std::ofstream(weights(bart_dir_), std::ios::trunc) << "PK\x03\x04 a zip archive";
  expect_bart({weights(bart_dir_)});
  fs::resize_file(weights(bert_dir_), fs::file_size(weights(bert_dir_)) / 3);
  expect_bert({weights(bert_dir_)});
}

TEST_F(ModelDirBadInput, TensorOfTheWrongShape) {
  edit_weights(bart_dir_, [](NamedTensors& t) {
    tensor(t, "model.encoder.layers.1.fc1.weight") = torch::zeros({64, 16});
  });
  expect_bart({weights(bart_dir_), "model.encoder.layers.1.fc1.weight", "[64, 16]", "[64, 32]"});
  edit_weights(bert_dir_, [](NamedTensors& t) {
    tensor(t, "classifier.weight") = torch::zeros({2, 32});
  });
  expect_bert({weights(bert_dir_), "classifier.weight", "[2, 32]"});
}

TEST_F(ModelDirBadInput, MissingTensors) {
  edit_weights(bart_dir_, [](NamedTensors& t) {
    t.erase(std::remove_if(
                t.begin(), t.end(),
                [](const auto& e) { return e.first.find("layers.0.") != std::string::npos; }),
            t.end());
  });
  expect_bart({weights(bart_dir_), "missing from the file",
               "model.encoder.layers.0.self_attn.k_proj.weight"});
  edit_weights(bert_dir_, [](NamedTensors& t) {
    t.erase(std::remove_if(t.begin(), t.end(),
                           [](const auto& e) { return e.first == "classifier.bias"; }),
            t.end());
  });
  expect_bert({weights(bert_dir_), "missing from the file", "classifier.bias"});
}

// Decision: a tensor the model does not have is refused, not skipped. It means the checkpoint
// is of another architecture (or another variant, e.g. with extra layer norms) and loading the
// rest would give a model that silently computes something else.
TEST_F(ModelDirBadInput, UnexpectedTensorsAreRefused) {
  edit_weights(bart_dir_, [](NamedTensors& t) {
    t.emplace_back("model.encoder.layer_norm.weight", torch::ones({32}));
  });
  expect_bart({weights(bart_dir_), "model.encoder.layer_norm.weight", "not a parameter"});
  edit_weights(bert_dir_, [](NamedTensors& t) {
    t.emplace_back("bert.pooler.extra.weight", torch::ones({32}));
  });
  expect_bert({weights(bert_dir_), "bert.pooler.extra.weight", "not a parameter"});
}

// Decision: NaN or infinite weights are refused at load time (DataError naming the tensor).
// Such a model scores every passage NaN, so a run on it would go on for hours and end with
// empty rankings or a training loss of NaN far from the cause.
TEST_F(ModelDirBadInput, NanOrInfiniteWeightsAreRefusedNamingTheTensor) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  edit_weights(bart_dir_,
               [&](NamedTensors& t) { tensor(t, "model.decoder.layers.1.fc2.bias")[3] = nan; });
  expect_bart({weights(bart_dir_), "model.decoder.layers.1.fc2.bias", "not finite"});
  edit_weights(bart_dir_, [&](NamedTensors& t) {
    tensor(t, "model.decoder.layers.1.fc2.bias")[3] = 0;
    tensor(t, "model.shared.weight")[5][7] = -inf;
  });
  expect_bart({weights(bart_dir_), "model.shared.weight", "not finite"});
  edit_weights(bert_dir_, [&](NamedTensors& t) { tensor(t, "classifier.weight")[0][0] = inf; });
  expect_bert({weights(bert_dir_), "classifier.weight", "not finite"});

  // Half-precision weights that overflow to infinity on the way in are refused alike.
  edit_weights(bart_dir_, [&](NamedTensors& t) {
    tensor(t, "model.shared.weight")[5][7] = 0;
    tensor(t, "model.encoder.layernorm_embedding.weight") =
        torch::full({32}, 1e6).to(torch::kFloat16);
  });
  expect_bart({weights(bart_dir_), "model.encoder.layernorm_embedding.weight", "not finite"});
}

}  // namespace
}  // namespace dgr::robustness
