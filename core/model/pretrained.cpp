#include "core/model/pretrained.h"

#include <fcntl.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <vector>

#include "core/model/safetensors.h"
#include "core/model/state_dict.h"
#include "core/util/error.h"
#include "core/util/files.h"

namespace dgr::model {
namespace {

namespace fs = std::filesystem;

constexpr const char* kConfigFile = "config.json";
constexpr const char* kWeightsFile = "model.safetensors";
const std::vector<std::string> kTokenizerFiles = {"vocab.json", "merges.txt"};

std::string join(const std::string& dir, const std::string& name) {
  return (fs::path(dir) / name).string();
}

// Best effort: makes a rename inside `dir` durable.
void fsync_directory(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

void check_config_matches(const BartModel& model, const BartConfig& config,
                          const std::string& dir) {
  const BartConfig& m = model->config();
  auto same = [&](const char* key, int64_t a, int64_t b) {
    if (a != b) {
      throw ConfigError(dir + ": save_pretrained: config key \"" + std::string(key) + "\" is " +
                        std::to_string(b) + " but the model has " + std::to_string(a));
    }
  };
  same("vocab_size", m.vocab_size, config.vocab_size);
  same("d_model", m.d_model, config.d_model);
  same("encoder_layers", m.encoder_layers, config.encoder_layers);
  same("decoder_layers", m.decoder_layers, config.decoder_layers);
  same("encoder_attention_heads", m.encoder_attention_heads, config.encoder_attention_heads);
  same("decoder_attention_heads", m.decoder_attention_heads, config.decoder_attention_heads);
  same("encoder_ffn_dim", m.encoder_ffn_dim, config.encoder_ffn_dim);
  same("decoder_ffn_dim", m.decoder_ffn_dim, config.decoder_ffn_dim);
  same("max_position_embeddings", m.max_position_embeddings, config.max_position_embeddings);
  same("pad_token_id", m.pad_token_id, config.pad_token_id);
  if (m.activation_function != config.activation_function ||
      m.scale_embedding != config.scale_embedding) {
    throw ConfigError(dir +
                      ": save_pretrained: config's activation_function / scale_embedding "
                      "differ from the model's");
  }
}

// Every file of the checkpoint, written into `dir` (which exists).
void write_checkpoint_files(const BartModel& model, const BartConfig& config,
                            const std::string& dir, const std::string& tokenizer_dir) {
  write_bart_config(config, join(dir, kConfigFile));
  write_safetensors(join(dir, kWeightsFile), module_state(*model), {{"format", "pt"}});
  if (!tokenizer_dir.empty()) {
    for (const auto& name : kTokenizerFiles) {
      write_file_atomic(join(dir, name), read_file(join(tokenizer_dir, name)));
    }
  }
}

}  // namespace

torch::Device parse_device(const std::string& name) {
  torch::Device device(torch::kCPU);
  try {
    device = torch::Device(name);
  } catch (const c10::Error&) {
    throw ConfigError("device \"" + name + "\": expected \"cpu\", \"cuda\" or \"cuda:N\"");
  }
  if (device.is_cpu()) return device;
  if (!device.is_cuda()) {
    throw ConfigError("device \"" + name +
                      "\": only \"cpu\", \"cuda\" and \"cuda:N\" are supported");
  }
  if (!torch::cuda::is_available()) {
    throw ConfigError("device \"" + name +
                      "\": no CUDA device is available to this process (a CPU-only libtorch, "
                      "no GPU, or CUDA_VISIBLE_DEVICES hides it); use \"cpu\"");
  }
  const auto count = static_cast<int64_t>(torch::cuda::device_count());
  if (device.has_index() && device.index() >= count) {
    throw ConfigError("device \"" + name + "\": only " + std::to_string(count) +
                      " CUDA device(s) are visible (cuda:0 .. cuda:" + std::to_string(count - 1) +
                      ")");
  }
  return device;
}

void load_bart_weights(BartModel& model, const std::string& safetensors_path) {
  NamedTensors tensors = read_safetensors(safetensors_path, torch::kFloat32);
  // HF initialises final_logits_bias to zeros when a checkpoint (e.g. a bare BartModel) lacks it.
  const bool has_bias = std::any_of(tensors.begin(), tensors.end(), [](const auto& entry) {
    return entry.first == "final_logits_bias";
  });
  if (!has_bias) {
    tensors.emplace_back("final_logits_bias", torch::zeros({1, model->config().vocab_size}));
  }
  StateLoadOptions options;
  options.aliases = bart_tied_weights();
  // The same ties in checkpoints of the bare BartModel (names without "model.").
  options.aliases["encoder.embed_tokens.weight"] = "model.shared.weight";
  options.aliases["decoder.embed_tokens.weight"] = "model.shared.weight";
  options.name_prefixes = {"model."};
  load_state(*model, tensors, safetensors_path, options);
}

PretrainedBart load_pretrained(const std::string& dir, const std::string& device_name) {
  const torch::Device device = parse_device(device_name);
  const std::string config_path = join(dir, kConfigFile);
  const std::string weights_path = join(dir, kWeightsFile);
  std::vector<std::string> missing;
  for (const auto& path : {config_path, weights_path}) {
    if (!file_exists(path)) missing.push_back(path);
  }
  if (!missing.empty()) {
    std::string message = "BART checkpoint directory " + dir + ": missing " + missing[0];
    if (missing.size() > 1) message += " and " + missing[1];
    if (file_exists(join(dir, "pytorch_model.bin"))) {
      message += " (pytorch_model.bin is not read: convert it to model.safetensors)";
    } else if (file_exists(join(dir, "model.safetensors.index.json"))) {
      message += " (sharded safetensors checkpoints are not supported)";
    }
    throw IoError(message);
  }

  PretrainedBart out;
  out.config = read_bart_config(config_path);
  out.model = BartModel(out.config);
  load_bart_weights(out.model, weights_path);
  out.model->to(device);
  out.model->eval();
  return out;
}

void save_pretrained(const BartModel& model, const BartConfig& config, const std::string& dir,
                     const std::string& tokenizer_dir) {
  check_config_matches(model, config, dir);
  for (const auto& name : kTokenizerFiles) {
    if (!tokenizer_dir.empty() && !file_exists(join(tokenizer_dir, name))) {
      throw IoError(join(tokenizer_dir, name) + ": tokenizer file not found (save_pretrained " +
                    dir + ")");
    }
  }

  std::error_code ec;
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec)) throw IoError(dir + ": exists and is not a directory");
    write_checkpoint_files(model, config, dir, tokenizer_dir);
    return;
  }

  fs::path target = fs::path(dir);
  if (!target.has_filename()) target = target.parent_path();  // "a/b/" -> "a/b"
  const std::string tmp = target.string() + ".tmp." + std::to_string(::getpid());
  fs::remove_all(tmp, ec);
  ensure_directory(tmp);
  try {
    write_checkpoint_files(model, config, tmp, tokenizer_dir);
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
