// BERT sequence classifier with HF names: a checkpoint written under HF's
// BertForSequenceClassification names (in F32, F16 and BF16, with and without "bert.", with
// old LayerNorm gamma/beta names and HF's index buffers) lands tensor by tensor in the right
// module; unknown, missing and mis-shaped tensors are DataErrors naming the tensor; the forward
// pass equals a reference written here with plain torch ops (erf and tanh GELU, ReLU); padding
// in a batch does not change a sequence's logits; config.json reading and its errors.
#include "core/model/bert.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "core/model/safetensors.h"
#include "core/model/state_dict.h"
#include "core/util/error.h"

namespace dgr::model {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kVocab = 40;

template <typename E, typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "(no error of the expected type)";
}

// HF's BertForSequenceClassification state_dict names and shapes for `c`, in HF's order,
// listed here independently of the module.
std::vector<std::pair<std::string, std::vector<int64_t>>> hf_shapes(const BertConfig& c) {
  const int64_t h = c.hidden_size, f = c.intermediate_size;
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes = {
      {"bert.embeddings.word_embeddings.weight", {c.vocab_size, h}},
      {"bert.embeddings.position_embeddings.weight", {c.max_position_embeddings, h}},
      {"bert.embeddings.token_type_embeddings.weight", {c.type_vocab_size, h}},
      {"bert.embeddings.LayerNorm.weight", {h}},
      {"bert.embeddings.LayerNorm.bias", {h}},
  };
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "bert.encoder.layer." + std::to_string(i) + ".";
    for (const char* proj : {"query", "key", "value"}) {
      shapes.push_back({p + "attention.self." + proj + ".weight", {h, h}});
      shapes.push_back({p + "attention.self." + proj + ".bias", {h}});
    }
    shapes.push_back({p + "attention.output.dense.weight", {h, h}});
    shapes.push_back({p + "attention.output.dense.bias", {h}});
    shapes.push_back({p + "attention.output.LayerNorm.weight", {h}});
    shapes.push_back({p + "attention.output.LayerNorm.bias", {h}});
    shapes.push_back({p + "intermediate.dense.weight", {f, h}});
    shapes.push_back({p + "intermediate.dense.bias", {f}});
    shapes.push_back({p + "output.dense.weight", {h, f}});
    shapes.push_back({p + "output.dense.bias", {h}});
    shapes.push_back({p + "output.LayerNorm.weight", {h}});
    shapes.push_back({p + "output.LayerNorm.bias", {h}});
  }
  shapes.push_back({"bert.pooler.dense.weight", {h, h}});
  shapes.push_back({"bert.pooler.dense.bias", {h}});
  shapes.push_back({"classifier.weight", {c.num_labels, h}});
  shapes.push_back({"classifier.bias", {c.num_labels}});
  return shapes;
}

// The k-th tensor holds values in (k + 1, k + 1.5): distinct per tensor even after BF16 rounding.
NamedTensors distinct_checkpoint(const BertConfig& c) {
  NamedTensors tensors;
  const auto shapes = hf_shapes(c);
  for (size_t k = 0; k < shapes.size(); ++k) {
    const auto& [name, shape] = shapes[k];
    int64_t numel = 1;
    for (int64_t s : shape)
      numel *= s;
    auto values = static_cast<double>(k + 1) + torch::arange(numel, torch::kFloat32) / numel * 0.5;
    tensors.emplace_back(name, values.reshape(shape));
  }
  return tensors;
}

NamedTensors converted(const NamedTensors& tensors, torch::ScalarType dtype) {
  NamedTensors out;
  for (const auto& [name, tensor] : tensors)
    out.emplace_back(name, tensor.to(dtype));
  return out;
}

std::map<std::string, torch::Tensor> by_name(const NamedTensors& tensors) {
  return {tensors.begin(), tensors.end()};
}

// Every module tensor equals the checkpoint's tensor of the same HF name, as float32.
void expect_loaded(BertForSequenceClassification& model, const NamedTensors& written) {
  const auto file = by_name(written);
  const NamedTensors state = module_state(*model);
  EXPECT_EQ(state.size(), file.size());
  for (const auto& [name, tensor] : state) {
    auto it = file.find(name);
    ASSERT_NE(it, file.end()) << "module tensor " << name << " not in the checkpoint";
    EXPECT_TRUE(torch::equal(tensor, it->second.to(torch::kFloat32))) << name;
  }
}

// The logits of BertForSequenceClassification computed from the named tensors with plain torch
// ops: its own layer norm, attention with an additive mask, and the activation formulas.
torch::Tensor reference_logits(const std::map<std::string, torch::Tensor>& w, const BertConfig& c,
                               const torch::Tensor& ids, const torch::Tensor& types,
                               const torch::Tensor& mask) {
  const int64_t b = ids.size(0), s = ids.size(1), h = c.hidden_size;
  const int64_t heads = c.num_attention_heads, dh = h / heads;
  auto t = [&](const std::string& name) { return w.at(name); };
  auto linear = [&](const torch::Tensor& x, const std::string& name) {
    return torch::matmul(x, t(name + ".weight").t()) + t(name + ".bias");
  };
  auto norm = [&](const torch::Tensor& x, const std::string& name) {
    auto mean = x.mean(-1, true);
    auto var = (x - mean).pow(2).mean(-1, true);
    return (x - mean) / torch::sqrt(var + c.layer_norm_eps) * t(name + ".weight") +
           t(name + ".bias");
  };
  auto act = [&](const torch::Tensor& x) {
    if (c.hidden_act == "relu") return torch::clamp_min(x, 0.0);
    if (c.hidden_act == "gelu_new") {
      return 0.5 * x *
             (1.0 +
              torch::tanh(std::sqrt(2.0 / std::acos(-1.0)) * (x + 0.044715 * torch::pow(x, 3.0))));
    }
    return 0.5 * x * (1.0 + torch::erf(x / std::sqrt(2.0)));
  };

  auto x =
      t("bert.embeddings.word_embeddings.weight").index_select(0, ids.reshape(-1)).view({b, s, h});
  x = x + t("bert.embeddings.position_embeddings.weight").slice(0, 0, s).unsqueeze(0);
  x = x + t("bert.embeddings.token_type_embeddings.weight")
              .index_select(0, types.reshape(-1))
              .view({b, s, h});
  x = norm(x, "bert.embeddings.LayerNorm");
  // Additive mask over keys: 0 for tokens, a large negative number for padding.
  auto additive = (1.0 - mask.to(torch::kFloat32)).view({b, 1, 1, s}) * -1e9;
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "bert.encoder.layer." + std::to_string(i) + ".";
    auto split = [&](const torch::Tensor& y) {
      return y.reshape({b, s, heads, dh}).permute({0, 2, 1, 3});
    };
    auto q = split(linear(x, p + "attention.self.query"));
    auto k = split(linear(x, p + "attention.self.key"));
    auto v = split(linear(x, p + "attention.self.value"));
    auto probs =
        torch::softmax(torch::matmul(q, k.transpose(2, 3)) / std::sqrt(double(dh)) + additive, 3);
    auto context = torch::matmul(probs, v).permute({0, 2, 1, 3}).reshape({b, s, h});
    auto y =
        norm(linear(context, p + "attention.output.dense") + x, p + "attention.output.LayerNorm");
    auto z = act(linear(y, p + "intermediate.dense"));
    x = norm(linear(z, p + "output.dense") + y, p + "output.LayerNorm");
  }
  auto pooled = torch::tanh(linear(x.select(1, 0), "bert.pooler.dense"));
  return linear(pooled, "classifier");
}

class BertTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::set_num_threads(1);
    dir_ = fs::path(DGR_TEST_TMP_DIR) /
           ("bert_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    config_ = BertConfig::preset("tiny", kVocab, /*num_labels=*/1);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // A checkpoint directory with config.json and these tensors.
  std::string write_checkpoint(const std::string& name, const NamedTensors& tensors) {
    const std::string dir = path(name);
    fs::create_directories(dir);
    write_bert_config(config_, dir + "/config.json");
    write_safetensors(dir + "/model.safetensors", tensors, {{"format", "pt"}});
    return dir;
  }

  // A seeded random model whose LayerNorms are random too, so a misplaced norm changes logits.
  BertForSequenceClassification random_model(uint64_t seed) {
    torch::manual_seed(seed);
    BertForSequenceClassification model(config_);
    torch::NoGradGuard no_grad;
    for (auto& item : model->named_parameters()) {
      if (item.key().find("LayerNorm") != std::string::npos) {
        item.value().copy_(torch::randn_like(item.value()) * 0.3 +
                           (item.key().find("weight") != std::string::npos ? 1.0 : 0.0));
      } else {
        item.value().copy_(torch::randn_like(item.value()) * 0.3);
      }
    }
    model->eval();
    return model;
  }

  fs::path dir_;
  BertConfig config_;
};

TEST_F(BertTest, ModuleTensorsHaveHuggingFaceNamesAndShapes) {
  BertForSequenceClassification model(config_);
  const NamedTensors state = module_state(*model);
  const auto shapes = hf_shapes(config_);
  ASSERT_EQ(state.size(), shapes.size());
  for (size_t i = 0; i < shapes.size(); ++i) {
    EXPECT_EQ(state[i].first, shapes[i].first) << "position " << i;  // HF's order too
    EXPECT_EQ(state[i].second.sizes().vec(), shapes[i].second) << shapes[i].first;
  }
}

TEST_F(BertTest, EveryCheckpointTensorLandsInItsModule) {
  const NamedTensors written = distinct_checkpoint(config_);
  const PretrainedBertClassifier loaded =
      load_bert_classifier(write_checkpoint("ckpt", written), "cpu");
  BertForSequenceClassification model = loaded.model;
  EXPECT_FALSE(model->is_training());
  expect_loaded(model, written);
  // Through the C++ members, not names: the tensors reached the submodules that use them.
  const auto file = by_name(written);
  auto layer1 = model->bert->encoder->layer[1]->as<BertLayer>();
  EXPECT_TRUE(torch::equal(layer1->attention->self->key->weight,
                           file.at("bert.encoder.layer.1.attention.self.key.weight")));
  EXPECT_TRUE(torch::equal(layer1->output->layer_norm->bias,
                           file.at("bert.encoder.layer.1.output.LayerNorm.bias")));
  EXPECT_TRUE(torch::equal(layer1->intermediate->dense->weight,
                           file.at("bert.encoder.layer.1.intermediate.dense.weight")));
  EXPECT_TRUE(torch::equal(model->bert->embeddings->token_type_embeddings->weight,
                           file.at("bert.embeddings.token_type_embeddings.weight")));
  EXPECT_TRUE(torch::equal(model->bert->pooler->dense->bias, file.at("bert.pooler.dense.bias")));
  EXPECT_TRUE(torch::equal(model->classifier->weight, file.at("classifier.weight")));
}

TEST_F(BertTest, HalfAndBfloat16CheckpointsLoadAsFloat32) {
  for (auto dtype : {torch::kFloat16, torch::kBFloat16}) {
    const NamedTensors written = converted(distinct_checkpoint(config_), dtype);
    const std::string dir = write_checkpoint(dtype == torch::kFloat16 ? "f16" : "bf16", written);
    EXPECT_EQ(read_safetensors_header(dir + "/model.safetensors").entries[0].dtype,
              dtype == torch::kFloat16 ? "F16" : "BF16");
    PretrainedBertClassifier loaded = load_bert_classifier(dir);
    EXPECT_EQ(loaded.model->classifier->weight.scalar_type(), torch::kFloat32);
    expect_loaded(loaded.model, written);
  }
}

TEST_F(BertTest, IndexBuffersAreIgnoredAndBareOrOldNamesLoad) {
  NamedTensors written = distinct_checkpoint(config_);
  NamedTensors with_buffers = written;
  with_buffers.emplace_back("bert.embeddings.position_ids",
                            torch::arange(config_.max_position_embeddings).unsqueeze(0));
  with_buffers.emplace_back("bert.embeddings.token_type_ids",
                            torch::zeros({1, config_.max_position_embeddings}, torch::kLong));
  BertForSequenceClassification a(config_);
  load_bert_weights(a, write_checkpoint("buffers", with_buffers) + "/model.safetensors");
  expect_loaded(a, written);

  // A bare BertModel's names (no "bert.") plus the head, with TensorFlow-era LayerNorm names.
  NamedTensors bare;
  for (const auto& [name, tensor] : written) {
    std::string n = name.rfind("bert.", 0) == 0 ? name.substr(5) : name;
    if (n.size() > 16 && n.compare(n.size() - 16, 16, "LayerNorm.weight") == 0) {
      n = n.substr(0, n.size() - 6) + "gamma";
    } else if (n.size() > 14 && n.compare(n.size() - 14, 14, "LayerNorm.bias") == 0) {
      n = n.substr(0, n.size() - 4) + "beta";
    }
    bare.emplace_back(n, tensor);
  }
  bare.emplace_back("embeddings.position_ids", torch::arange(config_.max_position_embeddings));
  EXPECT_EQ(bare[3].first, "embeddings.LayerNorm.gamma");
  BertForSequenceClassification b(config_);
  load_bert_weights(b, write_checkpoint("bare", bare) + "/model.safetensors");
  expect_loaded(b, written);
}

TEST_F(BertTest, UnknownMissingAndMisShapedTensorsNameTheTensor) {
  const NamedTensors good = distinct_checkpoint(config_);

  NamedTensors unknown = good;
  unknown.emplace_back("bert.encoder.layer.0.attention.self.querry.weight", torch::zeros({32, 32}));
  BertForSequenceClassification a(config_);
  const std::string file = write_checkpoint("unknown", unknown) + "/model.safetensors";
  std::string message = error_of<DataError>([&] { load_bert_weights(a, file); });
  EXPECT_NE(message.find(file), std::string::npos) << message;
  EXPECT_NE(message.find("'bert.encoder.layer.0.attention.self.querry.weight'"), std::string::npos)
      << message;
  EXPECT_NE(message.find("closest module name: 'bert.encoder.layer.0.attention.self.query.weight'"),
            std::string::npos)
      << message;
  // An index buffer nobody declared is unknown like any other tensor.
  NamedTensors buffer = good;
  buffer.emplace_back("bert.embeddings.segment_ids", torch::zeros({1, 4}, torch::kLong));
  message = error_of<DataError>(
      [&] { load_bert_weights(a, write_checkpoint("buffer", buffer) + "/model.safetensors"); });
  EXPECT_NE(message.find("'bert.embeddings.segment_ids'"), std::string::npos) << message;

  NamedTensors missing;
  for (const auto& entry : good) {
    if (entry.first != "classifier.bias") missing.push_back(entry);
  }
  message = error_of<DataError>(
      [&] { load_bert_weights(a, write_checkpoint("missing", missing) + "/model.safetensors"); });
  EXPECT_NE(message.find("missing from the file: 'classifier.bias'"), std::string::npos) << message;

  NamedTensors shaped = good;
  for (auto& [name, tensor] : shaped) {
    if (name == "bert.pooler.dense.weight") tensor = torch::zeros({32, 16});
  }
  message = error_of<DataError>(
      [&] { load_bert_weights(a, write_checkpoint("shaped", shaped) + "/model.safetensors"); });
  EXPECT_NE(message.find("'bert.pooler.dense.weight': shape [32, 16]"), std::string::npos)
      << message;
  EXPECT_NE(message.find("[32, 32]"), std::string::npos) << message;

  // A failed load leaves the model untouched.
  torch::manual_seed(3);
  BertForSequenceClassification before(config_);
  const torch::Tensor kept = before->classifier->weight.clone();
  EXPECT_THROW(load_bert_weights(before, file), DataError);
  EXPECT_TRUE(torch::equal(before->classifier->weight, kept));
}

TEST_F(BertTest, MissingFilesAndBadDevicesAreReported) {
  const std::string dir = path("empty");
  fs::create_directories(dir);
  const std::string message = error_of<IoError>([&] { load_bert_classifier(dir); });
  EXPECT_NE(message.find(dir + "/config.json"), std::string::npos) << message;
  EXPECT_NE(message.find("model.safetensors"), std::string::npos) << message;
  const std::string ckpt = write_checkpoint("ckpt", distinct_checkpoint(config_));
  EXPECT_THROW(load_bert_classifier(ckpt, "tpu"), ConfigError);
}

TEST_F(BertTest, ForwardEqualsAPlainTorchReference) {
  for (const std::string act : {"gelu", "gelu_new", "relu"}) {
    config_.hidden_act = act;
    BertForSequenceClassification model = random_model(7);
    const auto weights = by_name(module_state(*model));
    // Two pairs, the second padded (its padding ids are not [PAD], which must not matter).
    const auto ids = torch::tensor(
        {{2, 5, 6, 7, 3, 8, 9, 10, 3}, {2, 11, 3, 12, 13, 3, 17, 18, 19}}, torch::kLong);
    const auto types =
        torch::tensor({{0, 0, 0, 0, 0, 1, 1, 1, 1}, {0, 0, 0, 1, 1, 1, 0, 0, 0}}, torch::kLong);
    const auto mask =
        torch::tensor({{1, 1, 1, 1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 1, 0, 0, 0}}, torch::kLong);
    torch::NoGradGuard no_grad;
    const torch::Tensor logits = model->forward(ids, types, mask);
    ASSERT_EQ(logits.sizes(), (std::vector<int64_t>{2, 1}));
    const torch::Tensor want = reference_logits(weights, config_, ids, types, mask);
    EXPECT_LT((logits - want).abs().max().item<double>(), 1e-5) << act;
  }
}

TEST_F(BertTest, ActivationsDiffer) {
  // Guards the reference test: the three activations give three different models.
  const auto ids = torch::tensor({{2, 5, 6, 3, 7, 8, 3}}, torch::kLong);
  std::vector<float> outputs;
  for (const std::string act : {"gelu", "gelu_new", "relu"}) {
    config_.hidden_act = act;
    torch::NoGradGuard no_grad;
    outputs.push_back(random_model(7)->forward(ids, {}, {}).item<float>());
  }
  EXPECT_NE(outputs[0], outputs[1]);
  EXPECT_NE(outputs[0], outputs[2]);
}

TEST_F(BertTest, PaddingInABatchDoesNotChangeTheLogits) {
  config_.num_labels = 2;
  BertForSequenceClassification model = random_model(11);
  torch::NoGradGuard no_grad;
  const auto alone_ids = torch::tensor({{2, 20, 21, 3, 22, 3}}, torch::kLong);
  const auto alone_types = torch::tensor({{0, 0, 0, 0, 1, 1}}, torch::kLong);
  const torch::Tensor alone = model->forward(alone_ids, alone_types, torch::ones_like(alone_ids));

  // The same pair as the middle row of a batch padded to 12.
  auto ids = torch::zeros({3, 12}, torch::kLong);
  auto types = torch::zeros({3, 12}, torch::kLong);
  auto mask = torch::zeros({3, 12}, torch::kLong);
  ids[0].copy_(torch::arange(12) + 2);
  types[0].slice(0, 6, 12).fill_(1);
  mask[0].fill_(1);
  ids[1].slice(0, 0, 6).copy_(alone_ids[0]);
  types[1].slice(0, 0, 6).copy_(alone_types[0]);
  mask[1].slice(0, 0, 6).fill_(1);
  ids[2].slice(0, 0, 4).copy_(torch::tensor({2, 30, 3, 3}));
  mask[2].slice(0, 0, 4).fill_(1);
  const torch::Tensor batch = model->forward(ids, types, mask);
  ASSERT_EQ(batch.sizes(), (std::vector<int64_t>{3, 2}));
  EXPECT_LT((batch[1] - alone[0]).abs().max().item<double>(), 1e-5);
  // Guard: the padded positions would change the result if they were attended to.
  const torch::Tensor unmasked = model->forward(ids, types, torch::ones_like(ids));
  EXPECT_GT((unmasked[1] - alone[0]).abs().max().item<double>(), 1e-4);
}

TEST_F(BertTest, DropoutOnlyInTraining) {
  BertForSequenceClassification model = random_model(5);
  const auto ids = torch::tensor({{2, 5, 6, 3, 7, 8, 3}}, torch::kLong);
  torch::NoGradGuard no_grad;
  const torch::Tensor a = model->forward(ids, {}, {});
  EXPECT_TRUE(torch::equal(a, model->forward(ids, {}, {})));
  model->train();
  torch::manual_seed(1);
  EXPECT_FALSE(torch::allclose(a, model->forward(ids, {}, {})));
}

TEST_F(BertTest, BadInputsAreDataErrors) {
  BertForSequenceClassification model(config_);
  torch::NoGradGuard no_grad;
  const auto long_ids = torch::full({1, config_.max_position_embeddings + 1}, 5, torch::kLong);
  EXPECT_NE(error_of<DataError>([&] {
              model->forward(long_ids, {}, {});
            }).find("exceeds max_position_embeddings 64"),
            std::string::npos);
  const auto bad_id = torch::tensor({{2, static_cast<int>(kVocab), 3}}, torch::kLong);
  EXPECT_NE(error_of<DataError>([&] { model->forward(bad_id, {}, {}); }).find("token id 40"),
            std::string::npos);
  const auto ids = torch::tensor({{2, 5, 3}}, torch::kLong);
  EXPECT_NE(error_of<DataError>([&] {
              model->forward(ids, torch::tensor({{0, 2, 1}}, torch::kLong), {});
            }).find("token type 2"),
            std::string::npos);
  EXPECT_NE(error_of<DataError>([&] {
              model->forward(ids, {}, torch::ones({1, 4}, torch::kLong));
            }).find("attention_mask has shape [1, 4]"),
            std::string::npos);
}

// ---- config.json ----------------------------------------------------------------------------

class BertConfigTest : public BertTest {
 protected:
  std::string write_json(const std::string& text) {
    const std::string p = path("config.json");
    std::ofstream(p) << text;
    return p;
  }
};

TEST_F(BertConfigTest, ReadsACrossEncoderConfig) {
  // The keys of cross-encoder/ms-marco-MiniLM-L-6-v2's config.json.
  const BertConfig c = read_bert_config(write_json(R"({
    "_name_or_path": "nreimers/MiniLM-L6-H384-uncased",
    "architectures": ["BertForSequenceClassification"],
    "attention_probs_dropout_prob": 0.1, "gradient_checkpointing": false,
    "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 384,
    "id2label": {"0": "LABEL_0"}, "initializer_range": 0.02, "intermediate_size": 1536,
    "label2id": {"LABEL_0": 0}, "layer_norm_eps": 1e-12, "max_position_embeddings": 512,
    "model_type": "bert", "num_attention_heads": 12, "num_hidden_layers": 6,
    "pad_token_id": 0, "position_embedding_type": "absolute",
    "sbert_ce_default_activation_function": "torch.nn.modules.linear.Identity",
    "transformers_version": "4.6.1", "type_vocab_size": 2, "use_cache": true,
    "vocab_size": 30522})"));
  EXPECT_EQ(c.hidden_size, 384);
  EXPECT_EQ(c.num_hidden_layers, 6);
  EXPECT_EQ(c.num_attention_heads, 12);
  EXPECT_EQ(c.intermediate_size, 1536);
  EXPECT_EQ(c.vocab_size, 30522);
  EXPECT_EQ(c.num_labels, 1);
  EXPECT_EQ(c.hidden_act, "gelu");
  EXPECT_DOUBLE_EQ(c.layer_norm_eps, 1e-12);
}

TEST_F(BertConfigTest, NumLabelsFollowsHuggingFace) {
  const std::string base =
      R"("model_type": "bert", "vocab_size": 40, "hidden_size": 32, "num_hidden_layers": 1,
         "num_attention_heads": 2, "intermediate_size": 8, "max_position_embeddings": 16)";
  EXPECT_EQ(read_bert_config(write_json("{" + base + "}")).num_labels, 2);  // HF's default
  EXPECT_EQ(read_bert_config(write_json("{" + base + R"(, "num_labels": 3})")).num_labels, 3);
  EXPECT_EQ(
      read_bert_config(write_json("{" + base + R"(, "num_labels": 3, "id2label": {"0": "a"}})"))
          .num_labels,
      1);
}

TEST_F(BertConfigTest, WriteThenReadGivesTheSameConfig) {
  BertConfig c = BertConfig::preset("tiny", 50, 3);
  c.hidden_act = "gelu_new";
  c.classifier_dropout = 0.2;
  write_bert_config(c, path("out.json"));
  const BertConfig r = read_bert_config(path("out.json"));
  EXPECT_EQ(r.vocab_size, 50);
  EXPECT_EQ(r.num_labels, 3);
  EXPECT_EQ(r.hidden_size, c.hidden_size);
  EXPECT_EQ(r.intermediate_size, 37);
  EXPECT_EQ(r.hidden_act, "gelu_new");
  EXPECT_DOUBLE_EQ(r.classifier_dropout, 0.2);
  EXPECT_DOUBLE_EQ(r.layer_norm_eps, c.layer_norm_eps);
}

TEST_F(BertConfigTest, UnsupportedOrMalformedConfigsAreConfigErrorsNamingTheKey) {
  const std::string base =
      R"("vocab_size": 40, "hidden_size": 32, "num_hidden_layers": 1,
         "num_attention_heads": 2, "intermediate_size": 8, "max_position_embeddings": 16)";
  auto error = [&](const std::string& extra) {
    const std::string p = write_json("{" + base + extra + "}");
    return error_of<ConfigError>([&] { read_bert_config(p); });
  };
  EXPECT_NE(error(R"(, "model_type": "roberta")").find("\"model_type\""), std::string::npos);
  EXPECT_NE(
      error(R"(, "position_embedding_type": "relative_key")").find("\"position_embedding_type\""),
      std::string::npos);
  EXPECT_NE(error(R"(, "add_cross_attention": true)").find("\"add_cross_attention\""),
            std::string::npos);
  EXPECT_NE(error(R"(, "hidden_act": "swish")").find("\"hidden_act\""), std::string::npos);
  EXPECT_NE(error(R"(, "num_attention_heads": 3)").find("do not divide hidden_size 32"),
            std::string::npos);
  EXPECT_NE(error(R"(, "hidden_size": "32")").find("expected an integer"), std::string::npos);
  const std::string p = write_json(R"({"vocab_size": 40})");
  const std::string message = error_of<ConfigError>([&] { read_bert_config(p); });
  EXPECT_NE(message.find(p), std::string::npos) << message;
  EXPECT_NE(message.find("\"hidden_size\": missing"), std::string::npos) << message;
  EXPECT_THROW(BertConfig::preset("huge"), ConfigError);
}

}  // namespace
}  // namespace dgr::model
