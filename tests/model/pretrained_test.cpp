// HF checkpoint directories: a hand-written checkpoint with HF names (ties included, in F32, F16
// and BF16) lands tensor by tensor in the right parameters; bare BartModel names load too;
// unknown, missing and mis-shaped tensors are DataErrors naming the tensor; missing files are
// IoErrors naming the file; save_pretrained -> load_pretrained gives identical logits.
#include "core/model/pretrained.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/model/safetensors.h"
#include "core/util/error.h"
#include "core/util/files.h"

namespace dgr::model {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kVocab = 30;

class PretrainedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::set_num_threads(1);
    dir_ = fs::path(DGR_TEST_TMP_DIR) /
           ("pretrained_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    config_ = BartConfig::preset("tiny", kVocab);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // A checkpoint directory `name` with config.json and these tensors.
  std::string write_checkpoint(const std::string& name, const NamedTensors& tensors) {
    std::string dir = path(name);
    fs::create_directories(dir);
    write_bart_config(config_, dir + "/config.json");
    write_safetensors(dir + "/model.safetensors", tensors, {{"format", "pt"}});
    return dir;
  }

  fs::path dir_;
  BartConfig config_;
};

// HF's BartForConditionalGeneration tensors for `c` (lm_head and embed_tokens ties included),
// each filled with values in (k + 1, k + 1.5) for the k-th tensor: distinct and recognisable
// even after rounding to BF16.
NamedTensors hf_checkpoint(const BartConfig& c) {
  const int64_t d = c.d_model, v = c.vocab_size;
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes;
  shapes.push_back({"final_logits_bias", {1, v}});
  shapes.push_back({"model.shared.weight", {v, d}});
  auto attention = [&](const std::string& prefix) {
    for (const char* proj : {"k_proj", "v_proj", "q_proj", "out_proj"}) {
      shapes.push_back({prefix + "." + proj + ".weight", {d, d}});
      shapes.push_back({prefix + "." + proj + ".bias", {d}});
    }
  };
  auto norm = [&](const std::string& prefix) {
    shapes.push_back({prefix + ".weight", {d}});
    shapes.push_back({prefix + ".bias", {d}});
  };
  for (const std::string side : {"encoder", "decoder"}) {
    const bool decoder = side == "decoder";
    const std::string stack = "model." + side;
    shapes.push_back({stack + ".embed_positions.weight", {c.max_position_embeddings + 2, d}});
    const int64_t layers = decoder ? c.decoder_layers : c.encoder_layers;
    const int64_t ffn = decoder ? c.decoder_ffn_dim : c.encoder_ffn_dim;
    for (int64_t i = 0; i < layers; ++i) {
      const std::string layer = stack + ".layers." + std::to_string(i);
      attention(layer + ".self_attn");
      norm(layer + ".self_attn_layer_norm");
      if (decoder) {
        attention(layer + ".encoder_attn");
        norm(layer + ".encoder_attn_layer_norm");
      }
      shapes.push_back({layer + ".fc1.weight", {ffn, d}});
      shapes.push_back({layer + ".fc1.bias", {ffn}});
      shapes.push_back({layer + ".fc2.weight", {d, ffn}});
      shapes.push_back({layer + ".fc2.bias", {d}});
      norm(layer + ".final_layer_norm");
    }
    norm(stack + ".layernorm_embedding");
  }
  NamedTensors tensors;
  for (size_t k = 0; k < shapes.size(); ++k) {
    const auto& [name, shape] = shapes[k];
    int64_t numel = 1;
    for (int64_t s : shape)
      numel *= s;
    auto values = static_cast<double>(k + 1) + torch::arange(numel, torch::kFloat32) / numel * 0.5;
    tensors.emplace_back(name, values.reshape(shape));
  }
  // The ties HF's state_dict also lists.
  const torch::Tensor shared = tensors[1].second;
  tensors.emplace_back("model.encoder.embed_tokens.weight", shared.clone());
  tensors.emplace_back("model.decoder.embed_tokens.weight", shared.clone());
  tensors.emplace_back("lm_head.weight", shared.clone());
  return tensors;
}

NamedTensors to_dtype(const NamedTensors& tensors, torch::ScalarType dtype) {
  NamedTensors out;
  for (const auto& [name, tensor] : tensors)
    out.emplace_back(name, tensor.to(dtype));
  return out;
}

// Every module tensor equals what the checkpoint holds under its name.
void expect_loaded(const BartModel& model, const NamedTensors& written) {
  std::map<std::string, torch::Tensor> by_name(written.begin(), written.end());
  size_t checked = 0;
  for (const auto& item : model->named_parameters()) {
    auto it = by_name.find(item.key());
    ASSERT_NE(it, by_name.end()) << item.key();
    EXPECT_TRUE(torch::equal(item.value(), it->second.to(torch::kFloat32))) << item.key();
    ++checked;
  }
  EXPECT_TRUE(
      torch::equal(model->final_logits_bias, by_name.at("final_logits_bias").to(torch::kFloat32)));
  EXPECT_EQ(checked + 1 + 3, written.size());  // + buffer + ties
}

std::string data_error(const std::string& dir) {
  try {
    load_pretrained(dir);
  } catch (const DataError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST_F(PretrainedTest, HandWrittenHuggingFaceCheckpointLandsTensorByTensor) {
  auto tensors = hf_checkpoint(config_);
  auto loaded = load_pretrained(write_checkpoint("f32", tensors), "cpu");
  EXPECT_EQ(loaded.config.d_model, config_.d_model);
  EXPECT_FALSE(loaded.model->is_training());
  expect_loaded(loaded.model, tensors);
  // The LM head is the shared embedding: logits of a zero hidden state are the bias.
  auto logits = loaded.model->lm_logits(torch::zeros({1, config_.d_model}));
  EXPECT_TRUE(torch::equal(logits, loaded.model->final_logits_bias));
}

TEST_F(PretrainedTest, HalfAndBfloat16CheckpointsLoadAsFloat32) {
  for (auto dtype : {torch::kFloat16, torch::kBFloat16}) {
    auto tensors = to_dtype(hf_checkpoint(config_), dtype);
    std::string name = dtype == torch::kFloat16 ? "f16" : "bf16";
    auto dir = write_checkpoint(name, tensors);
    EXPECT_EQ(read_safetensors_header(dir + "/model.safetensors").entries[0].dtype,
              dtype == torch::kFloat16 ? "F16" : "BF16");
    auto loaded = load_pretrained(dir);
    for (const auto& item : loaded.model->named_parameters()) {
      EXPECT_EQ(item.value().scalar_type(), torch::kFloat32) << item.key();
    }
    expect_loaded(loaded.model, tensors);
  }
}

TEST_F(PretrainedTest, BareBartModelNamesWithoutLogitsBiasLoad) {
  NamedTensors bare;
  for (const auto& [name, tensor] : hf_checkpoint(config_)) {
    if (name == "final_logits_bias" || name == "lm_head.weight") continue;
    bare.emplace_back(name.rfind("model.", 0) == 0 ? name.substr(6) : name, tensor);
  }
  auto loaded = load_pretrained(write_checkpoint("bare", bare));
  NamedTensors expected;
  for (const auto& [name, tensor] : bare)
    expected.emplace_back("model." + name, tensor);
  expected.emplace_back("final_logits_bias", torch::zeros({1, kVocab}));
  std::map<std::string, torch::Tensor> by_name(expected.begin(), expected.end());
  for (const auto& item : loaded.model->named_parameters()) {
    EXPECT_TRUE(torch::equal(item.value(), by_name.at(item.key()))) << item.key();
  }
  EXPECT_EQ(loaded.model->final_logits_bias.abs().max().item<float>(), 0.0f);
}

TEST_F(PretrainedTest, UnknownMissingAndMisshapedTensorsNameTheTensor) {
  auto unknown = hf_checkpoint(config_);
  unknown.emplace_back("model.encoder.layers.9.fc1.weight", torch::zeros({64, 32}));
  auto message = data_error(write_checkpoint("unknown", unknown));
  EXPECT_NE(message.find("model.encoder.layers.9.fc1.weight"), std::string::npos) << message;
  EXPECT_NE(message.find("model.safetensors"), std::string::npos) << message;

  NamedTensors missing;
  for (const auto& entry : hf_checkpoint(config_)) {
    if (entry.first != "model.decoder.layers.1.fc2.bias") missing.push_back(entry);
  }
  message = data_error(write_checkpoint("missing", missing));
  EXPECT_NE(message.find("model.decoder.layers.1.fc2.bias"), std::string::npos) << message;

  auto misshaped = hf_checkpoint(config_);
  for (auto& [name, tensor] : misshaped) {
    if (name == "model.encoder.embed_positions.weight") tensor = torch::zeros({10, 32});
  }
  message = data_error(write_checkpoint("misshaped", misshaped));
  EXPECT_NE(message.find("model.encoder.embed_positions.weight"), std::string::npos) << message;
  EXPECT_NE(message.find("[10, 32]"), std::string::npos) << message;

  auto tie = hf_checkpoint(config_);
  for (auto& [name, tensor] : tie) {
    if (name == "lm_head.weight") tensor = torch::zeros({kVocab + 1, 32});
  }
  message = data_error(write_checkpoint("tie", tie));
  EXPECT_NE(message.find("lm_head.weight"), std::string::npos) << message;
}

TEST_F(PretrainedTest, MissingFilesAndBadDevicesAreReported) {
  fs::create_directories(path("empty"));
  try {
    load_pretrained(path("empty"));
    FAIL() << "no error";
  } catch (const IoError& e) {
    std::string message = e.what();
    EXPECT_NE(message.find("config.json"), std::string::npos) << message;
    EXPECT_NE(message.find("model.safetensors"), std::string::npos) << message;
  }
  auto dir = write_checkpoint("no_weights", hf_checkpoint(config_));
  fs::remove(dir + "/model.safetensors");
  try {
    load_pretrained(dir);
    FAIL() << "no error";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("model.safetensors"), std::string::npos) << e.what();
  }

  EXPECT_EQ(parse_device("cpu"), torch::Device(torch::kCPU));
  EXPECT_THROW(parse_device("tpu"), ConfigError);
  EXPECT_THROW(parse_device("cuda:99"), ConfigError);
  if (!torch::cuda::is_available()) {
    EXPECT_THROW(load_pretrained(path("empty"), "cuda"), ConfigError);
    try {
      parse_device("cuda:0");
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("no CUDA device"), std::string::npos) << e.what();
    }
  }
}

TEST_F(PretrainedTest, SavePretrainedRoundTripsToIdenticalLogits) {
  torch::manual_seed(21);
  BartModel model(config_);
  model->eval();
  // Non-zero logits bias too, so the buffer is checked.
  {
    torch::NoGradGuard no_grad;
    model->final_logits_bias.normal_(0.0, 0.5);
  }
  std::string tokenizer = path("tokenizer");
  fs::create_directories(tokenizer);
  write_file_atomic(tokenizer + "/vocab.json", "{\"a\": 0}\n");
  write_file_atomic(tokenizer + "/merges.txt", "#version: 0.2\na b\n");

  std::string out = path("out/checkpoint");
  save_pretrained(model, config_, out, tokenizer);
  EXPECT_EQ(read_file(out + "/vocab.json"), "{\"a\": 0}\n");
  EXPECT_EQ(read_file(out + "/merges.txt"), "#version: 0.2\na b\n");
  auto header = read_safetensors_header(out + "/model.safetensors");
  EXPECT_EQ(header.metadata.at("format"), "pt");
  for (const auto& entry : header.entries) {
    EXPECT_NE(entry.name, "lm_head.weight");  // ties are not duplicated
  }
  size_t leftovers = 0;
  for (const auto& entry : fs::directory_iterator(path("out"))) {
    leftovers += entry.path().filename() != "checkpoint";
  }
  EXPECT_EQ(leftovers, 0u);  // no temporary directory left behind

  auto loaded = load_pretrained(out);
  torch::NoGradGuard no_grad;
  auto ids = torch::tensor({{0, 5, 6, 7, 2}, {0, 8, 2, 1, 1}}, torch::kLong);
  auto mask = ids.ne(1).to(torch::kLong);
  auto dec = torch::tensor({{2, 9, 10}, {2, 11, 12}}, torch::kLong);
  EXPECT_TRUE(torch::equal(model->forward(ids, mask, dec), loaded.model->forward(ids, mask, dec)));

  // Saving again into the existing directory replaces the files and keeps others.
  write_file_atomic(out + "/trainer_state.yaml", "step: 1\n");
  {
    torch::NoGradGuard guard;
    model->model->shared->weight.add_(1.0);
  }
  save_pretrained(model, config_, out);
  EXPECT_TRUE(file_exists(out + "/trainer_state.yaml"));
  auto reloaded = load_pretrained(out);
  EXPECT_TRUE(torch::equal(reloaded.model->model->shared->weight, model->model->shared->weight));

  // Errors: tokenizer files missing, config that does not describe the model.
  EXPECT_THROW(save_pretrained(model, config_, path("other"), path("no_tokenizer")), IoError);
  EXPECT_FALSE(fs::exists(path("other")));
  auto wrong = config_;
  wrong.d_model = 64;
  EXPECT_THROW(save_pretrained(model, wrong, path("other")), ConfigError);
}

}  // namespace
}  // namespace dgr::model
