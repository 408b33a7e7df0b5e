#include "core/model/bert.h"

#include <fcntl.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <limits>

#include "core/model/dropout.h"
#include "core/model/pretrained.h"
#include "core/model/safetensors.h"
#include "core/model/state_dict.h"
#include "core/util/error.h"
#include "core/util/files.h"

namespace dgr::model {
namespace {

// The most negative finite value of `type`: masked scores get it instead of -inf, so a row
// whose keys are all padding gives a uniform softmax, never NaN.
c10::Scalar lowest(c10::ScalarType type) {
  switch (type) {
    case torch::kHalf:
      return -65504.0;
    case torch::kBFloat16:
      return -3.38e38;
    case torch::kDouble:
      return std::numeric_limits<double>::lowest();
    default:
      return std::numeric_limits<float>::lowest();
  }
}

torch::nn::LayerNorm make_layer_norm(const BertConfig& config) {
  return torch::nn::LayerNorm(
      torch::nn::LayerNormOptions({config.hidden_size}).eps(config.layer_norm_eps));
}

// HF's ACT2FN for the names validate() admits: "gelu" is the exact erf form, "gelu_new" and
// "gelu_pytorch_tanh" the tanh approximation.
torch::Tensor activation(const torch::Tensor& x, const std::string& name) {
  if (name == "relu") return torch::relu(x);
  if (name == "gelu_new" || name == "gelu_pytorch_tanh") return torch::gelu(x, "tanh");
  return torch::gelu(x);
}

std::string shape_string(torch::IntArrayRef shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    out += (i > 0 ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

// Ids must index their embedding table: a bad id would otherwise surface as a torch error
// deep inside the embedding lookup (or as undefined behaviour on some devices).
void check_ids(const torch::Tensor& ids, int64_t limit, const char* what, const char* key) {
  if (ids.numel() == 0) return;
  const int64_t low = ids.min().item<int64_t>();
  const int64_t high = ids.max().item<int64_t>();
  if (low < 0 || high >= limit) {
    throw DataError(std::string("BertModel: ") + what + " " + std::to_string(low < 0 ? low : high) +
                    " outside [0, " + std::to_string(limit) + ") (config " + key + ")");
  }
}

}  // namespace

// ---- embeddings -----------------------------------------------------------------------------

BertEmbeddingsImpl::BertEmbeddingsImpl(const BertConfig& config)
    : dropout_(config.hidden_dropout_prob) {
  // HF's registration order, so module_state() lists tensors as HF's state_dict does.
  word_embeddings = register_module(
      "word_embeddings",
      torch::nn::Embedding(torch::nn::EmbeddingOptions(config.vocab_size, config.hidden_size)
                               .padding_idx(config.pad_token_id)));
  position_embeddings =
      register_module("position_embeddings",
                      torch::nn::Embedding(config.max_position_embeddings, config.hidden_size));
  token_type_embeddings = register_module(
      "token_type_embeddings", torch::nn::Embedding(config.type_vocab_size, config.hidden_size));
  layer_norm = register_module("LayerNorm", make_layer_norm(config));
}

torch::Tensor BertEmbeddingsImpl::forward(const torch::Tensor& input_ids,
                                          const torch::Tensor& token_type_ids) {
  const int64_t s = input_ids.size(1);
  auto positions =
      torch::arange(s, torch::TensorOptions().dtype(torch::kLong).device(input_ids.device()));
  auto x = word_embeddings(input_ids) + token_type_embeddings(token_type_ids) +
           position_embeddings(positions);  // [B, S, H] + [B, S, H] + [S, H]
  x = layer_norm(x);
  return model::dropout(x, dropout_, is_training());
}

// ---- attention ------------------------------------------------------------------------------

BertSelfAttentionImpl::BertSelfAttentionImpl(const BertConfig& config)
    : heads_(config.num_attention_heads),
      head_dim_(config.hidden_size / config.num_attention_heads),
      dropout_(config.attention_probs_dropout_prob) {
  const int64_t h = config.hidden_size;
  query = register_module("query", torch::nn::Linear(h, h));
  key = register_module("key", torch::nn::Linear(h, h));
  value = register_module("value", torch::nn::Linear(h, h));
}

torch::Tensor BertSelfAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& blocked) {
  const int64_t b = x.size(0), s = x.size(1);
  auto heads = [&](const torch::Tensor& t) {  // [B, S, H] -> [B, heads, S, Dh]
    return t.view({b, s, heads_, head_dim_}).transpose(1, 2);
  };
  auto q = heads(query(x));
  auto k = heads(key(x));
  auto v = heads(value(x));
  auto scores = torch::matmul(q, k.transpose(-1, -2)) /
                std::sqrt(static_cast<double>(head_dim_));  // [B, heads, S, S]
  if (blocked.defined()) scores = scores.masked_fill(blocked, lowest(scores.scalar_type()));
  auto probs = torch::softmax(scores, -1);
  probs = model::dropout(probs, dropout_, is_training());
  auto context = torch::matmul(probs, v);                              // [B, heads, S, Dh]
  return context.transpose(1, 2).reshape({b, s, heads_ * head_dim_});  // [B, S, H]
}

BertResidualOutputImpl::BertResidualOutputImpl(int64_t in_features, const BertConfig& config)
    : dropout_(config.hidden_dropout_prob) {
  dense = register_module("dense", torch::nn::Linear(in_features, config.hidden_size));
  layer_norm = register_module("LayerNorm", make_layer_norm(config));
}

torch::Tensor BertResidualOutputImpl::forward(const torch::Tensor& x,
                                              const torch::Tensor& residual) {
  auto h = model::dropout(dense(x), dropout_, is_training());
  return layer_norm(h + residual);
}

BertAttentionImpl::BertAttentionImpl(const BertConfig& config) {
  self = register_module("self", BertSelfAttention(config));
  output = register_module("output", BertResidualOutput(config.hidden_size, config));
}

torch::Tensor BertAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& blocked) {
  return output(self(x, blocked), x);
}

// ---- layers ---------------------------------------------------------------------------------

BertIntermediateImpl::BertIntermediateImpl(const BertConfig& config)
    : activation_(config.hidden_act) {
  dense = register_module("dense", torch::nn::Linear(config.hidden_size, config.intermediate_size));
}

torch::Tensor BertIntermediateImpl::forward(const torch::Tensor& x) {
  return activation(dense(x), activation_);
}

BertLayerImpl::BertLayerImpl(const BertConfig& config) {
  attention = register_module("attention", BertAttention(config));
  intermediate = register_module("intermediate", BertIntermediate(config));
  output = register_module("output", BertResidualOutput(config.intermediate_size, config));
}

torch::Tensor BertLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& blocked) {
  auto y = attention(x, blocked);
  return output(intermediate(y), y);
}

BertEncoderImpl::BertEncoderImpl(const BertConfig& config) {
  layer = register_module("layer", torch::nn::ModuleList());
  for (int64_t i = 0; i < config.num_hidden_layers; ++i)
    layer->push_back(BertLayer(config));
}

torch::Tensor BertEncoderImpl::forward(const torch::Tensor& x, const torch::Tensor& blocked) {
  auto h = x;
  for (auto& module : *layer)
    h = module->as<BertLayer>()->forward(h, blocked);
  return h;
}

BertPoolerImpl::BertPoolerImpl(const BertConfig& config) {
  dense = register_module("dense", torch::nn::Linear(config.hidden_size, config.hidden_size));
}

torch::Tensor BertPoolerImpl::forward(const torch::Tensor& hidden) {
  return torch::tanh(dense(hidden.select(1, 0)));  // [B, H]
}

// ---- the models -----------------------------------------------------------------------------

BertModelImpl::BertModelImpl(const BertConfig& config) : config_(config) {
  validate(config, "BertModel");
  embeddings = register_module("embeddings", BertEmbeddings(config));
  encoder = register_module("encoder", BertEncoder(config));
  pooler = register_module("pooler", BertPooler(config));
}

torch::Tensor BertModelImpl::forward(const torch::Tensor& input_ids,
                                     const torch::Tensor& token_type_ids,
                                     const torch::Tensor& attention_mask) {
  if (input_ids.dim() != 2) {
    throw DataError("BertModel: input_ids must be [batch, length], got " +
                    shape_string(input_ids.sizes()));
  }
  const int64_t b = input_ids.size(0), s = input_ids.size(1);
  if (s > config_.max_position_embeddings) {
    throw DataError("BertModel: input of " + std::to_string(s) +
                    " tokens exceeds max_position_embeddings " +
                    std::to_string(config_.max_position_embeddings));
  }
  for (const torch::Tensor* t : {&token_type_ids, &attention_mask}) {
    if (t->defined() && t->sizes() != input_ids.sizes()) {
      throw DataError(
          "BertModel: " + std::string(t == &token_type_ids ? "token_type_ids" : "attention_mask") +
          " has shape " + shape_string(t->sizes()) + ", input_ids " +
          shape_string(input_ids.sizes()));
    }
  }
  check_ids(input_ids, config_.vocab_size, "token id", "vocab_size");
  torch::Tensor types = token_type_ids.defined() ? token_type_ids.to(torch::kLong)
                                                 : torch::zeros_like(input_ids, torch::kLong);
  check_ids(types, config_.type_vocab_size, "token type", "type_vocab_size");

  torch::Tensor blocked;  // [B, 1, 1, S]: true where the key is padding
  if (attention_mask.defined()) blocked = attention_mask.eq(0).view({b, 1, 1, s});
  auto x = embeddings(input_ids, types);  // [B, S, H]
  return encoder(x, blocked);
}

BertForSequenceClassificationImpl::BertForSequenceClassificationImpl(const BertConfig& config)
    : config_(config) {
  bert = register_module("bert", BertModel(config));
  classifier =
      register_module("classifier", torch::nn::Linear(config.hidden_size, config.num_labels));

  // HF's _init_weights, in module order so that a seed reproduces the model.
  torch::NoGradGuard no_grad;
  for (auto& module : modules(/*include_self=*/false)) {
    if (auto* linear = module->as<torch::nn::Linear>()) {
      linear->weight.normal_(0.0, config.initializer_range);
      linear->bias.zero_();
    } else if (auto* embedding = module->as<torch::nn::Embedding>()) {
      embedding->weight.normal_(0.0, config.initializer_range);
      if (auto pad = embedding->options.padding_idx()) embedding->weight[*pad].zero_();
    }
  }
}

torch::Tensor BertForSequenceClassificationImpl::forward(const torch::Tensor& input_ids,
                                                         const torch::Tensor& token_type_ids,
                                                         const torch::Tensor& attention_mask) {
  auto hidden = bert(input_ids, token_type_ids, attention_mask);  // [B, S, H]
  auto pooled = bert->pooler(hidden);                             // [B, H]
  const double p =
      config_.classifier_dropout >= 0.0 ? config_.classifier_dropout : config_.hidden_dropout_prob;
  return classifier(model::dropout(pooled, p, is_training()));  // [B, num_labels]
}

// ---- checkpoints ----------------------------------------------------------------------------

std::vector<std::string> bert_ignored_buffers() {
  return {"bert.embeddings.position_ids", "embeddings.position_ids",
          "bert.embeddings.token_type_ids", "embeddings.token_type_ids"};
}

void load_bert_weights(BertForSequenceClassification& model, const std::string& safetensors_path) {
  NamedTensors tensors = read_safetensors(safetensors_path, torch::kFloat32);
  // transformers renames these on load (TensorFlow-era LayerNorm names).
  auto rename_suffix = [](std::string& name, const std::string& from, const std::string& to) {
    if (name.size() >= from.size() &&
        name.compare(name.size() - from.size(), from.size(), from) == 0) {
      name.replace(name.size() - from.size(), from.size(), to);
    }
  };
  for (auto& entry : tensors) {
    rename_suffix(entry.first, "LayerNorm.gamma", "LayerNorm.weight");
    rename_suffix(entry.first, "LayerNorm.beta", "LayerNorm.bias");
  }
  StateLoadOptions options;
  options.ignore = bert_ignored_buffers();
  options.name_prefixes = {"bert."};
  load_state(*model, tensors, safetensors_path, options);
}

PretrainedBertClassifier load_bert_classifier(const std::string& dir,
                                              const std::string& device_name) {
  namespace fs = std::filesystem;
  const torch::Device device = parse_device(device_name);
  const std::string config_path = (fs::path(dir) / "config.json").string();
  const std::string weights_path = (fs::path(dir) / "model.safetensors").string();
  std::vector<std::string> missing;
  for (const auto& path : {config_path, weights_path}) {
    if (!file_exists(path)) missing.push_back(path);
  }
  if (!missing.empty()) {
    std::string message = "BERT checkpoint directory " + dir + ": missing " + missing[0];
    if (missing.size() > 1) message += " and " + missing[1];
    if (file_exists((fs::path(dir) / "pytorch_model.bin").string())) {
      message += " (pytorch_model.bin is not read: convert it to model.safetensors)";
    } else if (file_exists((fs::path(dir) / "model.safetensors.index.json").string())) {
      message += " (sharded safetensors checkpoints are not supported)";
    }
    throw IoError(message);
  }
  PretrainedBertClassifier out;
  out.config = read_bert_config(config_path);
  out.model = BertForSequenceClassification(out.config);
  load_bert_weights(out.model, weights_path);
  out.model->to(device);
  out.model->eval();
  return out;
}

namespace {

// Best effort: makes a rename inside `dir` durable.
void fsync_directory(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

void check_config_matches(const BertForSequenceClassification& model, const BertConfig& config,
                          const std::string& dir) {
  validate(config, dir + "/config.json");
  const BertConfig& m = model->config();
  auto same = [&](const char* key, int64_t a, int64_t b) {
    if (a != b) {
      throw ConfigError(dir + ": save_bert_classifier: config key \"" + std::string(key) +
                        "\" is " + std::to_string(b) + " but the model has " + std::to_string(a));
    }
  };
  same("vocab_size", m.vocab_size, config.vocab_size);
  same("hidden_size", m.hidden_size, config.hidden_size);
  same("num_hidden_layers", m.num_hidden_layers, config.num_hidden_layers);
  same("num_attention_heads", m.num_attention_heads, config.num_attention_heads);
  same("intermediate_size", m.intermediate_size, config.intermediate_size);
  same("max_position_embeddings", m.max_position_embeddings, config.max_position_embeddings);
  same("type_vocab_size", m.type_vocab_size, config.type_vocab_size);
  same("pad_token_id", m.pad_token_id, config.pad_token_id);
  same("num_labels", m.num_labels, config.num_labels);
  if (m.hidden_act != config.hidden_act) {
    throw ConfigError(dir + ": save_bert_classifier: config key \"hidden_act\" is \"" +
                      config.hidden_act + "\" but the model has \"" + m.hidden_act + "\"");
  }
}

void write_bert_files(const BertForSequenceClassification& model, const BertConfig& config,
                      const std::string& dir, const std::string& tokenizer_dir) {
  namespace fs = std::filesystem;
  write_bert_config(config, (fs::path(dir) / "config.json").string());
  write_safetensors((fs::path(dir) / "model.safetensors").string(), module_state(*model),
                    {{"format", "pt"}});
  if (tokenizer_dir.empty()) return;
  for (const char* name : {"vocab.txt", "tokenizer_config.json"}) {
    const std::string source = (fs::path(tokenizer_dir) / name).string();
    if (std::string(name) != "vocab.txt" && !file_exists(source)) continue;
    write_file_atomic((fs::path(dir) / name).string(), read_file(source));
  }
}

}  // namespace

void save_bert_classifier(const BertForSequenceClassification& model, const BertConfig& config,
                          const std::string& dir, const std::string& tokenizer_dir) {
  namespace fs = std::filesystem;
  check_config_matches(model, config, dir);
  if (!tokenizer_dir.empty() && !file_exists((fs::path(tokenizer_dir) / "vocab.txt").string())) {
    throw IoError((fs::path(tokenizer_dir) / "vocab.txt").string() +
                  ": tokenizer file not found (save_bert_classifier " + dir + ")");
  }
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec)) throw IoError(dir + ": exists and is not a directory");
    write_bert_files(model, config, dir, tokenizer_dir);
    return;
  }
  fs::path target = fs::path(dir);
  if (!target.has_filename()) target = target.parent_path();  // "a/b/" -> "a/b"
  if (target.has_parent_path()) ensure_directory(target.parent_path().string());
  const std::string tmp = target.string() + ".tmp." + std::to_string(::getpid());
  fs::remove_all(tmp, ec);
  ensure_directory(tmp);
  try {
    write_bert_files(model, config, tmp, tokenizer_dir);
    fsync_directory(tmp);
    fs::rename(tmp, target, ec);
    if (ec) throw IoError(dir + ": cannot rename " + tmp + " into place: " + ec.message());
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  fsync_directory(target.has_parent_path() ? target.parent_path().string() : ".");
}

}  // namespace dgr::model
