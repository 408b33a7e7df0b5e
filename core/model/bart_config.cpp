#include "core/model/bart_config.h"

#include <algorithm>
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

const char* json_type(const Json& value) {
  return value.type_name();
}

// Optional keys: absent or null keep the default.
void read_int(const Json& root, const std::string& source, const std::string& key, int64_t& out,
              bool required) {
  auto it = root.find(key);
  if (it == root.end() || it->is_null()) {
    if (required) throw key_error(source, key, "missing (required for a BART config)");
    return;
  }
  if (!it->is_number_integer()) {
    throw key_error(source, key,
                    std::string("expected an integer, got ") + json_type(*it) + " " + it->dump());
  }
  if (it->is_number_unsigned() &&
      it->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    throw key_error(source, key, it->dump() + " is out of range");
  }
  out = it->get<int64_t>();
}

void read_double(const Json& root, const std::string& source, const std::string& key, double& out) {
  auto it = root.find(key);
  if (it == root.end() || it->is_null()) return;
  if (!it->is_number()) {
    throw key_error(source, key,
                    std::string("expected a number, got ") + json_type(*it) + " " + it->dump());
  }
  out = it->get<double>();
}

void read_bool(const Json& root, const std::string& source, const std::string& key, bool& out) {
  auto it = root.find(key);
  if (it == root.end() || it->is_null()) return;
  if (!it->is_boolean()) {
    throw key_error(
        source, key,
        std::string("expected true or false, got ") + json_type(*it) + " " + it->dump());
  }
  out = it->get<bool>();
}

void read_string(const Json& root, const std::string& source, const std::string& key,
                 std::string& out) {
  auto it = root.find(key);
  if (it == root.end() || it->is_null()) return;
  if (!it->is_string()) {
    throw key_error(source, key,
                    std::string("expected a string, got ") + json_type(*it) + " " + it->dump());
  }
  out = it->get<std::string>();
}

}  // namespace

BartConfig BartConfig::preset(const std::string& name, int64_t vocab_size) {
  BartConfig c;
  c.vocab_size = vocab_size;
  c.dropout = 0.1;
  c.attention_dropout = 0.1;
  c.activation_dropout = 0.1;
  if (name == "tiny") {
    c.d_model = 32;
    c.encoder_layers = c.decoder_layers = 2;
    c.encoder_attention_heads = c.decoder_attention_heads = 4;
    c.encoder_ffn_dim = c.decoder_ffn_dim = 64;
    c.max_position_embeddings = 64;
  } else if (name == "mini") {
    c.d_model = 128;
    c.encoder_layers = c.decoder_layers = 2;
    c.encoder_attention_heads = c.decoder_attention_heads = 4;
    c.encoder_ffn_dim = c.decoder_ffn_dim = 512;
    c.max_position_embeddings = 128;
  } else if (name == "small") {
    c.d_model = 256;
    c.encoder_layers = c.decoder_layers = 3;
    c.encoder_attention_heads = c.decoder_attention_heads = 4;
    c.encoder_ffn_dim = c.decoder_ffn_dim = 1024;
    c.max_position_embeddings = 256;
  } else if (name == "bart-base") {
    c.d_model = 768;
    c.encoder_layers = c.decoder_layers = 6;
    c.encoder_attention_heads = c.decoder_attention_heads = 12;
    c.encoder_ffn_dim = c.decoder_ffn_dim = 3072;
    c.max_position_embeddings = 1024;
  } else if (name == "bart-large") {
    c.d_model = 1024;
    c.encoder_layers = c.decoder_layers = 12;
    c.encoder_attention_heads = c.decoder_attention_heads = 16;
    c.encoder_ffn_dim = c.decoder_ffn_dim = 4096;
    c.max_position_embeddings = 1024;
  } else {
    throw ConfigError(
        "unknown BART preset \"" + name +
        "\" (expected \"tiny\", \"mini\", \"small\", \"bart-base\" or \"bart-large\")");
  }
  validate(c, "preset " + name);
  return c;
}

void validate(const BartConfig& c, const std::string& source) {
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
  positive("d_model", c.d_model);
  positive("encoder_layers", c.encoder_layers);
  positive("decoder_layers", c.decoder_layers);
  positive("encoder_attention_heads", c.encoder_attention_heads);
  positive("decoder_attention_heads", c.decoder_attention_heads);
  positive("encoder_ffn_dim", c.encoder_ffn_dim);
  positive("decoder_ffn_dim", c.decoder_ffn_dim);
  positive("max_position_embeddings", c.max_position_embeddings);
  auto divides = [&](const char* key, int64_t heads) {
    if (c.d_model % heads != 0) {
      throw key_error(
          source, key,
          std::to_string(heads) + " heads do not divide d_model " + std::to_string(c.d_model));
    }
  };
  divides("encoder_attention_heads", c.encoder_attention_heads);
  divides("decoder_attention_heads", c.decoder_attention_heads);
  auto token = [&](const char* key, int64_t id) {
    if (id < 0 || id >= c.vocab_size) {
      throw key_error(source, key,
                      "token id " + std::to_string(id) + " outside the vocabulary of " +
                          std::to_string(c.vocab_size));
    }
  };
  token("pad_token_id", c.pad_token_id);
  token("bos_token_id", c.bos_token_id);
  token("eos_token_id", c.eos_token_id);
  token("decoder_start_token_id", c.decoder_start_token_id);
  if (c.activation_function != "gelu" && c.activation_function != "relu") {
    throw key_error(source, "activation_function",
                    "\"" + c.activation_function + "\" is not supported (\"gelu\" or \"relu\")");
  }
  auto probability = [&](const char* key, double p) {
    if (!(p >= 0.0 && p < 1.0)) {
      throw key_error(source, key, "must be in [0, 1), got " + std::to_string(p));
    }
  };
  probability("dropout", c.dropout);
  probability("attention_dropout", c.attention_dropout);
  probability("activation_dropout", c.activation_dropout);
  if (!(c.init_std > 0.0)) throw key_error(source, "init_std", "must be positive");
  if (!(c.layer_norm_eps > 0.0)) throw key_error(source, "layer_norm_eps", "must be positive");
}

BartConfig read_bart_config(const std::string& path) {
  std::string text = read_file(path);
  Json root;
  try {
    root = Json::parse(text);
  } catch (const Json::exception& e) {
    throw ConfigError(path + ": not valid JSON: " + e.what());
  }
  if (!root.is_object()) throw ConfigError(path + ": expected a JSON object");

  std::string model_type = "bart";
  read_string(root, path, "model_type", model_type);
  if (model_type != "bart") {
    throw key_error(path, "model_type",
                    "\"" + model_type + "\" is not a BART model (expected \"bart\")");
  }
  bool normalize_before = false;
  bool add_final_layer_norm = false;
  read_bool(root, path, "normalize_before", normalize_before);
  read_bool(root, path, "add_final_layer_norm", add_final_layer_norm);
  if (normalize_before) {
    throw key_error(path, "normalize_before",
                    "true is an mBART-style pre-LayerNorm model, which dgr's BART does not "
                    "implement");
  }
  if (add_final_layer_norm) {
    throw key_error(path, "add_final_layer_norm",
                    "true is an mBART-style model with final layer norms, which dgr's BART does "
                    "not implement");
  }

  bool tie_word_embeddings = true;
  read_bool(root, path, "tie_word_embeddings", tie_word_embeddings);
  if (!tie_word_embeddings) {
    throw key_error(path, "tie_word_embeddings",
                    "false (an LM head apart from model.shared) is not supported: dgr's BART "
                    "always ties them");
  }

  BartConfig c;
  read_int(root, path, "vocab_size", c.vocab_size, true);
  read_int(root, path, "d_model", c.d_model, true);
  read_int(root, path, "encoder_layers", c.encoder_layers, true);
  read_int(root, path, "decoder_layers", c.decoder_layers, true);
  read_int(root, path, "encoder_attention_heads", c.encoder_attention_heads, true);
  read_int(root, path, "decoder_attention_heads", c.decoder_attention_heads, true);
  read_int(root, path, "encoder_ffn_dim", c.encoder_ffn_dim, true);
  read_int(root, path, "decoder_ffn_dim", c.decoder_ffn_dim, true);
  read_int(root, path, "max_position_embeddings", c.max_position_embeddings, true);
  read_int(root, path, "pad_token_id", c.pad_token_id, false);
  read_int(root, path, "bos_token_id", c.bos_token_id, false);
  read_int(root, path, "eos_token_id", c.eos_token_id, false);
  // HF falls back to eos for the decoder start when the key is absent or null.
  c.decoder_start_token_id = c.eos_token_id;
  read_int(root, path, "decoder_start_token_id", c.decoder_start_token_id, false);
  read_string(root, path, "activation_function", c.activation_function);
  read_bool(root, path, "scale_embedding", c.scale_embedding);
  read_double(root, path, "dropout", c.dropout);
  read_double(root, path, "attention_dropout", c.attention_dropout);
  read_double(root, path, "activation_dropout", c.activation_dropout);
  read_double(root, path, "init_std", c.init_std);
  read_double(root, path, "layer_norm_eps", c.layer_norm_eps);
  validate(c, path);
  return c;
}

void write_bart_config(const BartConfig& c, const std::string& path) {
  validate(c, path);
  Json root = Json::object();
  root["model_type"] = "bart";
  root["architectures"] = Json::array({"BartForConditionalGeneration"});
  root["vocab_size"] = c.vocab_size;
  root["d_model"] = c.d_model;
  root["encoder_layers"] = c.encoder_layers;
  root["decoder_layers"] = c.decoder_layers;
  root["num_hidden_layers"] = c.encoder_layers;
  root["encoder_attention_heads"] = c.encoder_attention_heads;
  root["decoder_attention_heads"] = c.decoder_attention_heads;
  root["encoder_ffn_dim"] = c.encoder_ffn_dim;
  root["decoder_ffn_dim"] = c.decoder_ffn_dim;
  root["max_position_embeddings"] = c.max_position_embeddings;
  root["pad_token_id"] = c.pad_token_id;
  root["bos_token_id"] = c.bos_token_id;
  root["eos_token_id"] = c.eos_token_id;
  root["decoder_start_token_id"] = c.decoder_start_token_id;
  root["activation_function"] = c.activation_function;
  root["scale_embedding"] = c.scale_embedding;
  root["dropout"] = c.dropout;
  root["attention_dropout"] = c.attention_dropout;
  root["activation_dropout"] = c.activation_dropout;
  root["init_std"] = c.init_std;
  root["layer_norm_eps"] = c.layer_norm_eps;
  root["normalize_before"] = false;
  root["add_final_layer_norm"] = false;
  root["is_encoder_decoder"] = true;
  root["encoder_layerdrop"] = 0.0;
  root["decoder_layerdrop"] = 0.0;
  root["use_cache"] = true;
  write_file_atomic(path, root.dump(2) + "\n");
}

std::vector<int64_t> bart_encoder_input(const std::vector<int32_t>& query,
                                        const BartConfig& config) {
  size_t room = static_cast<size_t>(std::max<int64_t>(config.max_position_embeddings - 2, 0));
  size_t kept = std::min(query.size(), room);
  std::vector<int64_t> ids;
  ids.reserve(kept + 2);
  ids.push_back(config.bos_token_id);
  ids.insert(ids.end(), query.begin(), query.begin() + static_cast<std::ptrdiff_t>(kept));
  ids.push_back(config.eos_token_id);
  return ids;
}

}  // namespace dgr::model
