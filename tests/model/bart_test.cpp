// BART: HF config.json reading and writing; parameter names and shapes exactly HF's
// BartForConditionalGeneration; incremental decoding through the KV cache (token by token, in
// chunks, after reorder, with encoder padding) equal to the full teacher-forced forward;
// gradients for every parameter; seeded determinism; dropout only in training.
#include "core/model/bart.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/model/bart_config.h"
#include "core/util/error.h"
#include "core/util/files.h"

namespace dgr::model {
namespace {

constexpr int64_t kVocab = 50;

class BartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::set_num_threads(1);
    dir_ = std::filesystem::path(DGR_TEST_TMP_DIR) /
           ("bart_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  std::filesystem::path dir_;
};

BartModel tiny_model(uint64_t seed = 1) {
  torch::manual_seed(seed);
  BartModel model(BartConfig::preset("tiny", kVocab));
  model->eval();
  return model;
}

// Random tokens in [3, kVocab) (no special ids), right-padded rows of the given lengths.
std::pair<torch::Tensor, torch::Tensor> encoder_batch(const std::vector<int64_t>& lengths) {
  int64_t longest = *std::max_element(lengths.begin(), lengths.end());
  auto ids = torch::full({static_cast<int64_t>(lengths.size()), longest}, 1, torch::kLong);
  auto mask = torch::zeros_like(ids);
  for (size_t i = 0; i < lengths.size(); ++i) {
    auto row = static_cast<int64_t>(i);
    ids[row].narrow(0, 0, lengths[i]).copy_(torch::randint(3, kVocab, {lengths[i]}, torch::kLong));
    mask[row].narrow(0, 0, lengths[i]).fill_(1);
  }
  return {ids, mask};
}

// [B, T] decoder inputs starting with the decoder start token (2).
torch::Tensor decoder_inputs(int64_t rows, int64_t length) {
  auto ids = torch::randint(3, kVocab, {rows, length}, torch::kLong);
  ids.select(1, 0).fill_(2);
  return ids;
}

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

// ---- config ---------------------------------------------------------------------------------

TEST_F(BartTest, PresetsHaveThePublishedSizes) {
  auto base = BartConfig::preset("bart-base", 50265);
  EXPECT_EQ(base.d_model, 768);
  EXPECT_EQ(base.encoder_layers, 6);
  EXPECT_EQ(base.decoder_attention_heads, 12);
  EXPECT_EQ(base.decoder_ffn_dim, 3072);
  auto large = BartConfig::preset("bart-large", 50265);
  EXPECT_EQ(large.d_model, 1024);
  EXPECT_EQ(large.decoder_layers, 12);
  EXPECT_EQ(large.encoder_attention_heads, 16);
  EXPECT_EQ(large.encoder_ffn_dim, 4096);
  EXPECT_EQ(large.max_position_embeddings, 1024);
  auto tiny = BartConfig::preset("tiny", 100);
  EXPECT_EQ(tiny.vocab_size, 100);
  EXPECT_EQ(tiny.d_model, 32);
  EXPECT_THROW(BartConfig::preset("bart-huge", 10), ConfigError);
}

TEST_F(BartTest, ConfigRoundTripsThroughHuggingFaceJson) {
  auto config = BartConfig::preset("tiny", kVocab);
  config.activation_function = "relu";
  config.scale_embedding = true;
  config.dropout = 0.2;
  config.decoder_start_token_id = 0;
  write_bart_config(config, path("config.json"));
  std::string text = read_file(path("config.json"));
  EXPECT_NE(text.find("\"model_type\": \"bart\""), std::string::npos);
  EXPECT_NE(text.find("BartForConditionalGeneration"), std::string::npos);

  auto back = read_bart_config(path("config.json"));
  EXPECT_EQ(back.vocab_size, config.vocab_size);
  EXPECT_EQ(back.d_model, config.d_model);
  EXPECT_EQ(back.encoder_layers, config.encoder_layers);
  EXPECT_EQ(back.decoder_ffn_dim, config.decoder_ffn_dim);
  EXPECT_EQ(back.max_position_embeddings, config.max_position_embeddings);
  EXPECT_EQ(back.activation_function, "relu");
  EXPECT_TRUE(back.scale_embedding);
  EXPECT_DOUBLE_EQ(back.dropout, 0.2);
  EXPECT_EQ(back.decoder_start_token_id, 0);
}

// An excerpt of facebook/bart-large's config.json, with keys dgr does not use.
const char* kHfConfig = R"({
  "_name_or_path": "bart-large", "activation_dropout": 0.1, "activation_function": "gelu",
  "add_bias_logits": false, "add_final_layer_norm": false,
  "architectures": ["BartModel"], "attention_dropout": 0.1, "bos_token_id": 0,
  "classif_dropout": 0.1, "d_model": 1024, "decoder_attention_heads": 16,
  "decoder_ffn_dim": 4096, "decoder_layerdrop": 0.0, "decoder_layers": 12,
  "decoder_start_token_id": 2, "dropout": 0.1, "encoder_attention_heads": 16,
  "encoder_ffn_dim": 4096, "encoder_layerdrop": 0.0, "encoder_layers": 12, "eos_token_id": 2,
  "forced_eos_token_id": 2, "id2label": {"0": "LABEL_0"}, "init_std": 0.02,
  "is_encoder_decoder": true, "max_position_embeddings": 1024, "model_type": "bart",
  "normalize_before": false, "num_hidden_layers": 12, "pad_token_id": 1,
  "scale_embedding": false, "task_specific_params": {"summarization": {"length_penalty": 1.0}},
  "vocab_size": 50265
})";

TEST_F(BartTest, ReadsHuggingFaceBartLargeConfig) {
  write_file_atomic(path("config.json"), kHfConfig);
  auto config = read_bart_config(path("config.json"));
  EXPECT_EQ(config.vocab_size, 50265);
  EXPECT_EQ(config.d_model, 1024);
  EXPECT_EQ(config.encoder_layers, 12);
  EXPECT_EQ(config.decoder_attention_heads, 16);
  EXPECT_EQ(config.pad_token_id, 1);
  EXPECT_EQ(config.decoder_start_token_id, 2);
  EXPECT_EQ(config.activation_function, "gelu");
  EXPECT_DOUBLE_EQ(config.attention_dropout, 0.1);
  EXPECT_DOUBLE_EQ(config.layer_norm_eps, 1e-5);
}

// The message of the ConfigError thrown for a config.json with `text`.
std::string config_error(const std::string& file, const std::string& text) {
  write_file_atomic(file, text);
  try {
    read_bart_config(file);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

std::string with_replaced(const std::string& from, const std::string& to) {
  std::string text = kHfConfig;
  auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return text.replace(at, from.size(), to);
}

TEST_F(BartTest, BadConfigsNameFileAndKey) {
  const std::string file = path("config.json");
  auto missing = config_error(file, with_replaced("\"d_model\": 1024,", ""));
  EXPECT_NE(missing.find(file), std::string::npos) << missing;
  EXPECT_NE(missing.find("d_model"), std::string::npos) << missing;
  EXPECT_NE(missing.find("missing"), std::string::npos) << missing;

  auto mbart = config_error(
      file, with_replaced("\"normalize_before\": false", "\"normalize_before\": true"));
  EXPECT_NE(mbart.find("normalize_before"), std::string::npos) << mbart;
  EXPECT_NE(mbart.find("mBART"), std::string::npos) << mbart;
  auto final_norm = config_error(
      file, with_replaced("\"add_final_layer_norm\": false", "\"add_final_layer_norm\": true"));
  EXPECT_NE(final_norm.find("add_final_layer_norm"), std::string::npos) << final_norm;
  auto untied =
      config_error(file, with_replaced("\"vocab_size\": 50265",
                                       "\"vocab_size\": 50265, \"tie_word_embeddings\": false"));
  EXPECT_NE(untied.find("tie_word_embeddings"), std::string::npos) << untied;

  auto type =
      config_error(file, with_replaced("\"model_type\": \"bart\"", "\"model_type\": \"mbart\""));
  EXPECT_NE(type.find("model_type"), std::string::npos) << type;
  auto wrong_type = config_error(file, with_replaced("\"d_model\": 1024", "\"d_model\": \"big\""));
  EXPECT_NE(wrong_type.find("d_model"), std::string::npos) << wrong_type;
  auto heads = config_error(
      file, with_replaced("\"encoder_attention_heads\": 16", "\"encoder_attention_heads\": 7"));
  EXPECT_NE(heads.find("encoder_attention_heads"), std::string::npos) << heads;
  auto activation = config_error(file, with_replaced("\"activation_function\": \"gelu\"",
                                                     "\"activation_function\": \"swish\""));
  EXPECT_NE(activation.find("activation_function"), std::string::npos) << activation;
  auto json = config_error(file, "{ not json");
  EXPECT_NE(json.find(file), std::string::npos) << json;

  EXPECT_THROW(read_bart_config(path("absent.json")), IoError);
}

TEST_F(BartTest, EncoderInputIsBosQueryEosTruncatedToPositions) {
  auto config = BartConfig::preset("tiny", kVocab);
  EXPECT_EQ(bart_encoder_input({5, 6}, config), (std::vector<int64_t>{0, 5, 6, 2}));
  std::vector<int32_t> long_query(100, 7);
  auto ids = bart_encoder_input(long_query, config);
  EXPECT_EQ(static_cast<int64_t>(ids.size()), config.max_position_embeddings);
  EXPECT_EQ(ids.front(), 0);
  EXPECT_EQ(ids.back(), 2);
}

// ---- parameters -----------------------------------------------------------------------------

// Every tensor name of HF's BartForConditionalGeneration for `config`, except the ties
// (embed_tokens, lm_head) and the final_logits_bias buffer.
std::map<std::string, std::vector<int64_t>> hf_parameters(const BartConfig& c) {
  const int64_t d = c.d_model, v = c.vocab_size;
  std::map<std::string, std::vector<int64_t>> p;
  p["model.shared.weight"] = {v, d};
  auto attention = [&](const std::string& prefix) {
    for (const char* proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
      p[prefix + "." + proj + ".weight"] = {d, d};
      p[prefix + "." + proj + ".bias"] = {d};
    }
  };
  auto norm = [&](const std::string& prefix) {
    p[prefix + ".weight"] = {d};
    p[prefix + ".bias"] = {d};
  };
  for (const std::string side : {"encoder", "decoder"}) {
    const bool decoder = side == "decoder";
    const std::string stack = "model." + side;
    p[stack + ".embed_positions.weight"] = {c.max_position_embeddings + 2, d};
    norm(stack + ".layernorm_embedding");
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
      p[layer + ".fc1.weight"] = {ffn, d};
      p[layer + ".fc1.bias"] = {ffn};
      p[layer + ".fc2.weight"] = {d, ffn};
      p[layer + ".fc2.bias"] = {d};
      norm(layer + ".final_layer_norm");
    }
  }
  return p;
}

TEST_F(BartTest, ParameterNamesAndShapesAreHuggingFaces) {
  auto config = BartConfig::preset("tiny", kVocab);
  BartModel model(config);
  std::map<std::string, std::vector<int64_t>> actual;
  for (const auto& item : model->named_parameters()) {
    actual[item.key()] = item.value().sizes().vec();
  }
  auto expected = hf_parameters(config);
  EXPECT_EQ(actual.size(), expected.size());
  for (const auto& [name, shape] : expected) {
    auto it = actual.find(name);
    ASSERT_NE(it, actual.end()) << "missing " << name;
    EXPECT_EQ(it->second, shape) << name;
  }
  for (const auto& [name, shape] : actual) {
    EXPECT_TRUE(expected.count(name)) << "unexpected " << name;
  }
  auto buffers = model->named_buffers();
  ASSERT_EQ(buffers.size(), 1u);
  EXPECT_EQ(buffers[0].key(), "final_logits_bias");
  EXPECT_EQ(buffers[0].value().sizes().vec(), (std::vector<int64_t>{1, kVocab}));

  auto ties = bart_tied_weights();
  EXPECT_EQ(ties.size(), 3u);
  for (const auto& [alias, target] : ties) {
    EXPECT_EQ(target, "model.shared.weight") << alias;
    EXPECT_FALSE(actual.count(alias)) << alias;
  }
  EXPECT_TRUE(ties.count("lm_head.weight"));
}

TEST_F(BartTest, InitialisationFollowsHuggingFace) {
  auto model = tiny_model();
  const auto& config = model->config();
  auto params = model->named_parameters();
  EXPECT_EQ(params["model.shared.weight"][config.pad_token_id].abs().max().item<float>(), 0.0f);
  EXPECT_EQ(params["model.encoder.layers.0.fc1.bias"].abs().max().item<float>(), 0.0f);
  EXPECT_TRUE(torch::equal(params["model.decoder.layers.1.final_layer_norm.weight"],
                           torch::ones({config.d_model})));
  auto spread = params["model.decoder.layers.0.fc1.weight"].std().item<double>();
  EXPECT_NEAR(spread, config.init_std, 0.005);
  EXPECT_EQ(model->final_logits_bias.abs().max().item<float>(), 0.0f);
}

TEST_F(BartTest, SeedMakesTheModelReproducible) {
  auto a = tiny_model(7), b = tiny_model(7), c = tiny_model(8);
  auto pa = a->named_parameters(), pb = b->named_parameters(), pc = c->named_parameters();
  bool all_equal = true, any_differs = false;
  for (const auto& item : pa) {
    all_equal = all_equal && torch::equal(item.value(), pb[item.key()]);
    any_differs = any_differs || !torch::equal(item.value(), pc[item.key()]);
  }
  EXPECT_TRUE(all_equal);
  EXPECT_TRUE(any_differs);

  torch::manual_seed(3);
  auto [ids, mask] = encoder_batch({5, 3});
  auto dec = decoder_inputs(2, 4);
  EXPECT_TRUE(torch::equal(a->forward(ids, mask, dec), b->forward(ids, mask, dec)));
}

// ---- incremental decoding -------------------------------------------------------------------

// Logits of decoder_inputs fed in chunks of the given sizes through the KV cache.
torch::Tensor incremental_logits(BartModel& model, const torch::Tensor& ids,
                                 const torch::Tensor& mask, const torch::Tensor& dec,
                                 const std::vector<int64_t>& chunks) {
  auto state = model->start_decoding(model->encode(ids, mask), mask);
  std::vector<torch::Tensor> parts;
  int64_t at = 0;
  for (int64_t chunk : chunks) {
    parts.push_back(model->decode_step(state, dec.narrow(1, at, chunk)));
    at += chunk;
    EXPECT_EQ(state.length, at);
  }
  EXPECT_EQ(at, dec.size(1));
  return torch::cat(parts, 1);
}

TEST_F(BartTest, IncrementalDecodingEqualsFullForwardWithEncoderPadding) {
  torch::NoGradGuard no_grad;
  auto model = tiny_model();
  torch::manual_seed(11);
  auto [ids, mask] = encoder_batch({7, 3, 5});
  auto dec = decoder_inputs(3, 8);
  auto full = model->forward(ids, mask, dec);  // [3, 8, V]
  ASSERT_EQ(full.sizes().vec(), (std::vector<int64_t>{3, 8, kVocab}));
  EXPECT_GT(full.std().item<double>(), 1e-3);  // not trivially constant

  auto one_by_one = incremental_logits(model, ids, mask, dec, {1, 1, 1, 1, 1, 1, 1, 1});
  EXPECT_LT(max_diff(one_by_one, full), 1e-5);
  auto chunked = incremental_logits(model, ids, mask, dec, {2, 3, 1, 2});
  EXPECT_LT(max_diff(chunked, full), 1e-5);
  auto chunked3 = incremental_logits(model, ids, mask, dec, {3, 3, 2});
  EXPECT_LT(max_diff(chunked3, full), 1e-5);
}

TEST_F(BartTest, EncoderPaddingDoesNotChangeARow) {
  torch::NoGradGuard no_grad;
  auto model = tiny_model();
  torch::manual_seed(12);
  auto [ids, mask] = encoder_batch({7, 3, 5});
  auto dec = decoder_inputs(3, 6);
  auto batched = model->forward(ids, mask, dec);
  for (int64_t row : {1, 2}) {
    int64_t length = mask[row].sum().item<int64_t>();
    auto alone_ids = ids.narrow(0, row, 1).narrow(1, 0, length);
    auto alone = model->forward(alone_ids, torch::ones_like(alone_ids), dec.narrow(0, row, 1));
    EXPECT_LT(max_diff(alone, batched.narrow(0, row, 1)), 1e-5) << "row " << row;
  }
}

TEST_F(BartTest, DecoderRightPaddingDoesNotChangeEarlierPositions) {
  torch::NoGradGuard no_grad;
  auto model = tiny_model();
  torch::manual_seed(13);
  auto [ids, mask] = encoder_batch({4, 6});
  auto dec = decoder_inputs(2, 7);
  auto padded = dec.clone();
  padded[1].narrow(0, 4, 3).fill_(model->config().pad_token_id);
  auto a = model->forward(ids, mask, dec);
  auto b = model->forward(ids, mask, padded);
  EXPECT_LT(max_diff(a[1].narrow(0, 0, 4), b[1].narrow(0, 0, 4)), 1e-6);
}

TEST_F(BartTest, ReorderThenStepEqualsDecodingReorderedRowsFromScratch) {
  torch::NoGradGuard no_grad;
  auto model = tiny_model();
  torch::manual_seed(14);
  auto [ids, mask] = encoder_batch({6, 2, 4});
  auto prefix = decoder_inputs(3, 4);
  auto state = model->start_decoding(model->encode(ids, mask), mask);
  model->decode_step(state, prefix);

  auto rows = torch::tensor({2, 0, 0, 1, 2}, torch::kLong);
  state.reorder(rows);
  EXPECT_EQ(state.rows(), 5);
  EXPECT_EQ(state.length, 4);
  auto more = torch::randint(3, kVocab, {5, 3}, torch::kLong);
  auto first = model->decode_step(state, more.narrow(1, 0, 1));
  auto rest = model->decode_step(state, more.narrow(1, 1, 2));
  auto stepped = torch::cat({first, rest}, 1);  // [5, 3, V]

  auto scratch_dec = torch::cat({prefix.index_select(0, rows), more}, 1);  // [5, 7]
  auto scratch = model->forward(ids.index_select(0, rows), mask.index_select(0, rows), scratch_dec);
  EXPECT_LT(max_diff(stepped, scratch.narrow(1, 4, 3)), 1e-5);
}

TEST_F(BartTest, DecodingPastThePositionTableIsADataError) {
  torch::NoGradGuard no_grad;
  auto model = tiny_model();
  auto [ids, mask] = encoder_batch({3});
  auto state = model->start_decoding(model->encode(ids, mask), mask);
  model->decode_step(state, decoder_inputs(1, model->config().max_position_embeddings));
  EXPECT_THROW(model->decode_step(state, decoder_inputs(1, 1)), DataError);
}

// ---- parity with Hugging Face ---------------------------------------------------------------

// Logits of transformers' BartForConditionalGeneration (transformers 5.17, torch 2.11, eager and
// SDPA attention agree) for the checkpoint `formula_weights` builds, on the inputs of
// MatchesHuggingFaceOnAFormulaCheckpoint: logits[:, :, ::7], [2, 4, 10], row-major. The Python
// side set every tensor k of the sorted HF state-dict names (ties excluded) to the same formula.
const std::vector<float> kHfLogits = {
    8.405086e-01f,  -1.805085e+00f, -3.210211e-01f, -2.010643e-01f, -1.009087e+00f, -3.084053e+00f,
    1.267698e-01f,  4.720563e-01f,  -1.595954e+00f, -2.514597e-01f, 7.235355e-01f,  -1.263864e+00f,
    -2.943717e-01f, -3.934801e-01f, -1.484878e+00f, -3.165597e+00f, 5.081237e-02f,  7.588688e-01f,
    -1.083239e+00f, -1.013812e-01f, 5.110396e-01f,  -6.624927e-01f, 1.615483e-01f,  -7.595973e-01f,
    -2.010888e+00f, -2.005372e+00f, -1.723597e-01f, 3.823240e-01f,  -9.612122e-01f, -1.169065e-01f,
    2.293611e-01f,  -1.501057e+00f, -4.185241e-01f, -7.225465e-01f, -1.230358e+00f, -2.477791e+00f,
    4.594557e-02f,  2.392531e-01f,  -8.196740e-01f, -1.560668e-01f, 2.059699e-01f,  -5.451977e-01f,
    2.281858e+00f,  2.165901e-01f,  2.055711e-01f,  -7.046652e-02f, -2.185604e+00f, 1.025718e+00f,
    -6.144075e-01f, 2.005237e-01f,  -8.994209e-02f, -6.809044e-01f, 2.143765e+00f,  8.713192e-02f,
    5.614470e-01f,  -8.594942e-01f, -2.197025e+00f, 6.566737e-01f,  -2.356102e-01f, 5.526402e-01f,
    -2.876251e-01f, -7.626510e-01f, 1.609023e+00f,  2.165079e-02f,  7.713918e-01f,  -7.479542e-01f,
    -2.489963e+00f, 4.459108e-01f,  -2.238833e-01f, 4.085837e-01f,  2.182395e-01f,  -5.682615e-01f,
    1.909397e+00f,  -8.194311e-03f, -7.531239e-02f, 2.288072e-01f,  -2.199247e+00f, 7.382775e-01f,
    -3.909849e-01f, 2.049472e-01f};

// The k-th tensor (names sorted) gets s = sin(1.3 (k + 1) + 0.071 i + 0.0013 i i) over its flat
// index i, computed in float64: LayerNorm weights 1 + 0.2 s, biases 0.1 s, other weights 0.3 s.
void formula_weights(BartModel& model) {
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& item : model->named_parameters())
    tensors[item.key()] = item.value();
  for (const auto& item : model->named_buffers())
    tensors[item.key()] = item.value();
  torch::NoGradGuard no_grad;
  int64_t k = 0;
  for (auto& [name, tensor] : tensors) {
    auto i = torch::arange(tensor.numel(), torch::kFloat64);
    auto s = torch::sin(1.3 * static_cast<double>(k + 1) + 0.071 * i + 0.0013 * i * i);
    auto ends_with = [&](const std::string& suffix) {
      return name.size() >= suffix.size() &&
             name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    torch::Tensor v;
    if (ends_with("layer_norm.weight") || ends_with("layernorm_embedding.weight")) {
      v = 1.0 + 0.2 * s;
    } else if (ends_with(".bias") || name == "final_logits_bias") {
      v = 0.1 * s;
    } else {
      v = 0.3 * s;
    }
    tensor.copy_(v.to(torch::kFloat32).reshape(tensor.sizes()));
    ++k;
  }
  EXPECT_EQ(k, 118);
}

TEST_F(BartTest, MatchesHuggingFaceOnAFormulaCheckpoint) {
  auto config = BartConfig::preset("tiny", 64);
  config.decoder_layers = 3;
  config.decoder_ffn_dim = 48;
  BartModel model(config);
  model->eval();
  formula_weights(model);
  auto ids = torch::tensor({{0, 5, 6, 7, 8, 2}, {0, 9, 10, 2, 1, 1}}, torch::kLong);
  auto mask = ids.ne(1).to(torch::kLong);
  auto dec = torch::tensor({{2, 0, 11, 12}, {2, 0, 13, 14}}, torch::kLong);
  torch::NoGradGuard no_grad;
  auto logits = model->forward(ids, mask, dec).slice(2, 0, 64, 7).contiguous();  // [2, 4, 10]
  auto expected = torch::tensor(kHfLogits).view({2, 4, 10});
  EXPECT_LT(max_diff(logits, expected), 1e-4) << logits;
  // The same through the KV cache.
  EXPECT_LT(
      max_diff(incremental_logits(model, ids, mask, dec, {1, 2, 1}).slice(2, 0, 64, 7), expected),
      1e-4);
}

// ---- training -------------------------------------------------------------------------------

TEST_F(BartTest, TrainModeBackwardGivesEveryParameterAGradient) {
  auto model = tiny_model();
  model->train();
  torch::manual_seed(15);
  auto [ids, mask] = encoder_batch({6, 4});
  auto dec = decoder_inputs(2, 5);
  auto labels = torch::randint(3, kVocab, {2, 5}, torch::kLong);
  auto logits = model->forward(ids, mask, dec);
  auto loss =
      torch::nn::functional::cross_entropy(logits.reshape({-1, kVocab}), labels.reshape({-1}));
  loss.backward();
  for (const auto& item : model->named_parameters()) {
    ASSERT_TRUE(item.value().grad().defined()) << item.key();
    EXPECT_TRUE(torch::isfinite(item.value().grad()).all().item<bool>()) << item.key();
    EXPECT_GT(item.value().grad().abs().sum().item<double>(), 0.0) << item.key();
  }
}

// The shared matrix gets three gradients (the encoder's and the decoder's lookups, which are
// sparse, and the LM head's, dense) that autograd adds into one dense gradient. Against central
// differences in double precision: a row that two input positions look up, a row only the LM
// head uses, and the padding row (whose lookups contribute nothing).
TEST_F(BartTest, SharedEmbeddingGradientMatchesFiniteDifferences) {
  auto model = tiny_model();
  model->to(torch::kFloat64);
  auto ids = torch::tensor({{0, 7, 9, 7, 2, 1}, {0, 11, 7, 2, 1, 1}}, torch::kLong);
  auto mask = ids.ne(1).to(torch::kLong);
  auto dec = torch::tensor({{2, 0, 13, 7}, {2, 0, 9, 9}}, torch::kLong);
  auto labels = torch::tensor({{0, 13, 7, 2}, {0, 9, 9, 2}}, torch::kLong);
  auto loss_of = [&] {
    auto logits = model->forward(ids, mask, dec);
    return torch::nn::functional::cross_entropy(logits.reshape({-1, kVocab}), labels.reshape({-1}));
  };
  loss_of().backward();
  torch::Tensor weight = model->model->shared->weight;
  const torch::Tensor grad = weight.grad();
  ASSERT_TRUE(grad.defined());
  ASSERT_EQ(grad.layout(), torch::kStrided);  // dense, as the optimizer and the reducer expect
  torch::NoGradGuard no_grad;
  const double h = 1e-6;
  for (int64_t row : {7, 40, 1}) {
    for (int64_t col : {0, 5}) {
      const double saved = weight[row][col].item<double>();
      weight[row][col].fill_(saved + h);
      const double up = loss_of().item<double>();
      weight[row][col].fill_(saved - h);
      const double down = loss_of().item<double>();
      weight[row][col].fill_(saved);
      const double numeric = (up - down) / (2 * h);
      EXPECT_NEAR(grad[row][col].item<double>(), numeric, 1e-6 + 1e-5 * std::abs(numeric))
          << "row " << row << " column " << col;
    }
  }
}

TEST_F(BartTest, DropoutOnlyInTraining) {
  torch::NoGradGuard no_grad;
  auto model = tiny_model();
  torch::manual_seed(16);
  auto [ids, mask] = encoder_batch({5});
  auto dec = decoder_inputs(1, 4);
  EXPECT_TRUE(torch::equal(model->forward(ids, mask, dec), model->forward(ids, mask, dec)));
  model->train();
  EXPECT_FALSE(torch::equal(model->forward(ids, mask, dec), model->forward(ids, mask, dec)));
}

TEST_F(BartTest, ReluAndScaledEmbeddingsDecodeIncrementallyToo) {
  torch::NoGradGuard no_grad;
  auto config = BartConfig::preset("tiny", kVocab);
  config.activation_function = "relu";
  config.scale_embedding = true;
  torch::manual_seed(17);
  BartModel model(config);
  model->eval();
  auto [ids, mask] = encoder_batch({4, 2});
  auto dec = decoder_inputs(2, 5);
  auto full = model->forward(ids, mask, dec);
  EXPECT_LT(max_diff(incremental_logits(model, ids, mask, dec, {1, 2, 2}), full), 1e-5);
}

}  // namespace
}  // namespace dgr::model
