#include "core/model/bert_config.h"

#include <limits>
#include <nlohmann/json.hpp>

#include "core/util/error.h"
#include "core/util/files.h"

namespace dgr::model {
namespace {

using Json = nlohmann::json;

ConfigError key_error(const std::string& source, const std::string& key, const std::string& what) {
  return ConfigError(source + ": key \"" + key + "\": " + what);
}

std::string describe(const Json& value) {
  return std::string(value.type_name()) + " " + value.dump();
}

// Absent or null keys keep the default, unless required.
void read_int(const Json& root, const std::string& source, const char* key, int64_t& out,
              bool required) {
  auto it = root.find(key);
  if (it == root.end() || it->is_null()) {
    if (required) throw key_error(source, key, "missing (required for a BERT config)");
    return;
  }
  if (!it->is_number_integer()) {
    throw key_error(source, key, "expected an integer, got " + describe(*it));
  }
  if (it->is_number_unsigned() &&
      it->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    throw key_error(source, key, it->dump() + " is out of range");
  }
  out = it->get<int64_t>();
}

void read_double(const Json& root, const std::string& source, const char* key, double& out) {
  auto it = root.find(key);
  if (it == root.end() || it->is_null()) return;
  if (!it->is_number()) throw key_error(source, key, "expected a number, got " + describe(*it));
  out = it->get<double>();
}

void read_bool(const Json& root, const std::string& source, const char* key, bool& out) {
  auto it = root.find(key);
  if (it == root.end() || it->is_null()) return;
  if (!it->is_boolean()) {
    throw key_error(source, key, "expected true or false, got " + describe(*it));
  }
  out = it->get<bool>();
}

void read_string(const Json& root, const std::string& source, const char* key, std::string& out) {
  auto it = root.find(key);
  if (it == root.end() || it->is_null()) return;
  if (!it->is_string()) throw key_error(source, key, "expected a string, got " + describe(*it));
  out = it->get<std::string>();
}

bool supported_activation(const std::string& name) {
  return name == "gelu" || name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "relu";
}

}  // namespace

BertConfig BertConfig::preset(const std::string& name, int64_t vocab_size, int64_t num_labels) {
  BertConfig c;
  c.vocab_size = vocab_size;
  c.num_labels = num_labels;
  if (name == "tiny") {
    c.hidden_size = 32;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 2;
    c.intermediate_size = 37;
    c.max_position_embeddings = 64;
  } else if (name == "minilm-l6") {
    c.hidden_size = 384;
    c.num_hidden_layers = 6;
    c.num_attention_heads = 12;
    c.intermediate_size = 1536;
    c.max_position_embeddings = 512;
  } else if (name == "bert-base") {
    c.hidden_size = 768;
    c.num_hidden_layers = 12;
    c.num_attention_heads = 12;
    c.intermediate_size = 3072;
    c.max_position_embeddings = 512;
  } else {
    throw ConfigError("unknown BERT preset \"" + name +
                      "\" (expected \"tiny\", \"minilm-l6\" or \"bert-base\")");
  }
  validate(c, "preset " + name);
  return c;
}

void validate(const BertConfig& c, const std::string& source) {
  // The upper bound keeps a corrupt size from reaching the allocator (an overflowing or
  // terabyte-sized tensor is a crash there, not an error naming the key); no real model comes
  // near it.
  constexpr int64_t kMaxSize = (int64_t{1} << 31) - 1;
  auto positive = [&](const char* key, int64_t value) {
    if (value <= 0) throw key_error(source, key, "must be positive, got " + std::to_string(value));
    if (value > kMaxSize) {
      throw key_error(
          source, key,
          std::to_string(value) + " is too large (at most " + std::to_string(kMaxSize) + ")");
    }
  };
  positive("vocab_size", c.vocab_size);
  positive("hidden_size", c.hidden_size);
  positive("num_hidden_layers", c.num_hidden_layers);
  positive("num_attention_heads", c.num_attention_heads);
  positive("intermediate_size", c.intermediate_size);
  positive("max_position_embeddings", c.max_position_embeddings);
  positive("type_vocab_size", c.type_vocab_size);
  positive("num_labels", c.num_labels);
  if (c.hidden_size % c.num_attention_heads != 0) {
    throw key_error(source, "num_attention_heads",
                    std::to_string(c.num_attention_heads) + " heads do not divide hidden_size " +
                        std::to_string(c.hidden_size));
  }
  if (c.pad_token_id < 0 || c.pad_token_id >= c.vocab_size) {
    throw key_error(source, "pad_token_id",
                    "token id " + std::to_string(c.pad_token_id) + " outside the vocabulary of " +
                        std::to_string(c.vocab_size));
  }
  if (!supported_activation(c.hidden_act)) {
    throw key_error(source, "hidden_act",
                    "\"" + c.hidden_act +
                        "\" is not supported (\"gelu\", \"gelu_new\", \"gelu_pytorch_tanh\" or "
                        "\"relu\")");
  }
  auto probability = [&](const char* key, double p) {
    if (!(p >= 0.0 && p < 1.0)) {
      throw key_error(source, key, "must be in [0, 1), got " + std::to_string(p));
    }
  };
  probability("hidden_dropout_prob", c.hidden_dropout_prob);
  probability("attention_probs_dropout_prob", c.attention_probs_dropout_prob);
  if (c.classifier_dropout >= 0.0) probability("classifier_dropout", c.classifier_dropout);
  if (!(c.initializer_range > 0.0)) {
    throw key_error(source, "initializer_range", "must be positive");
  }
  if (!(c.layer_norm_eps > 0.0)) throw key_error(source, "layer_norm_eps", "must be positive");
}

BertConfig read_bert_config(const std::string& path) {
  const std::string text = read_file(path);
  Json root;
  try {
    root = Json::parse(text);
  } catch (const Json::exception& e) {
    throw ConfigError(path + ": not valid JSON: " + e.what());
  }
  if (!root.is_object()) throw ConfigError(path + ": expected a JSON object");

  std::string model_type = "bert";
  read_string(root, path, "model_type", model_type);
  if (model_type != "bert") {
    throw key_error(path, "model_type",
                    "\"" + model_type + "\" is not a BERT model (expected \"bert\")");
  }
  std::string position_embedding_type = "absolute";
  read_string(root, path, "position_embedding_type", position_embedding_type);
  if (position_embedding_type != "absolute") {
    throw key_error(path, "position_embedding_type",
                    "\"" + position_embedding_type +
                        "\": only \"absolute\" (learned) positions are implemented");
  }
  bool is_decoder = false;
  bool add_cross_attention = false;
  read_bool(root, path, "is_decoder", is_decoder);
  read_bool(root, path, "add_cross_attention", add_cross_attention);
  if (is_decoder) {
    throw key_error(path, "is_decoder", "true (a causal BERT decoder) is not supported");
  }
  if (add_cross_attention) {
    throw key_error(path, "add_cross_attention",
                    "true (cross-attention layers) is not supported: a cross-encoder is an "
                    "encoder");
  }

  BertConfig c;
  read_int(root, path, "vocab_size", c.vocab_size, true);
  read_int(root, path, "hidden_size", c.hidden_size, true);
  read_int(root, path, "num_hidden_layers", c.num_hidden_layers, true);
  read_int(root, path, "num_attention_heads", c.num_attention_heads, true);
  read_int(root, path, "intermediate_size", c.intermediate_size, true);
  read_int(root, path, "max_position_embeddings", c.max_position_embeddings, true);
  read_int(root, path, "type_vocab_size", c.type_vocab_size, false);
  read_int(root, path, "pad_token_id", c.pad_token_id, false);
  read_string(root, path, "hidden_act", c.hidden_act);
  read_double(root, path, "hidden_dropout_prob", c.hidden_dropout_prob);
  read_double(root, path, "attention_probs_dropout_prob", c.attention_probs_dropout_prob);
  read_double(root, path, "classifier_dropout", c.classifier_dropout);
  read_double(root, path, "initializer_range", c.initializer_range);
  read_double(root, path, "layer_norm_eps", c.layer_norm_eps);

  // HF: id2label decides the number of labels when present; num_labels only without it.
  if (auto it = root.find("id2label"); it != root.end() && !it->is_null()) {
    if (!it->is_object() || it->empty()) {
      throw key_error(path, "id2label",
                      "expected a non-empty object of label names, got " + describe(*it));
    }
    c.num_labels = static_cast<int64_t>(it->size());
  } else {
    read_int(root, path, "num_labels", c.num_labels, false);
  }
  validate(c, path);
  return c;
}

void write_bert_config(const BertConfig& c, const std::string& path) {
  validate(c, path);
  Json root = Json::object();
  root["model_type"] = "bert";
  root["architectures"] = Json::array({"BertForSequenceClassification"});
  root["vocab_size"] = c.vocab_size;
  root["hidden_size"] = c.hidden_size;
  root["num_hidden_layers"] = c.num_hidden_layers;
  root["num_attention_heads"] = c.num_attention_heads;
  root["intermediate_size"] = c.intermediate_size;
  root["max_position_embeddings"] = c.max_position_embeddings;
  root["type_vocab_size"] = c.type_vocab_size;
  root["pad_token_id"] = c.pad_token_id;
  root["hidden_act"] = c.hidden_act;
  root["hidden_dropout_prob"] = c.hidden_dropout_prob;
  root["attention_probs_dropout_prob"] = c.attention_probs_dropout_prob;
  root["classifier_dropout"] =
      c.classifier_dropout >= 0.0 ? Json(c.classifier_dropout) : Json(nullptr);
  root["initializer_range"] = c.initializer_range;
  root["layer_norm_eps"] = c.layer_norm_eps;
  root["position_embedding_type"] = "absolute";
  root["is_decoder"] = false;
  root["add_cross_attention"] = false;
  Json id2label = Json::object();
  Json label2id = Json::object();
  for (int64_t i = 0; i < c.num_labels; ++i) {
    const std::string label = "LABEL_" + std::to_string(i);
    id2label[std::to_string(i)] = label;
    label2id[label] = i;
  }
  root["id2label"] = id2label;
  root["label2id"] = label2id;
  write_file_atomic(path, root.dump(2) + "\n");
}

}  // namespace dgr::model
