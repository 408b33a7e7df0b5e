#include "distributed/checkpoint.h"

#include <fcntl.h>
#include <glog/logging.h>
#include <signal.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <utility>
#include <vector>

#include "core/model/pretrained.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "core/util/hash.h"

namespace dgr::distributed {
namespace {

namespace fs = std::filesystem;

constexpr int kFormatVersion = 1;
constexpr const char* kCheckpointsDir = "checkpoints";
constexpr const char* kLatestFile = "latest";
constexpr const char* kTempPrefix = ".tmp-";  // never matches "step-*"
constexpr const char* kOptimizerFile = "optimizer.safetensors";
constexpr const char* kTrainerStateFile = "trainer_state.yaml";
constexpr const char* kConfigYamlFile = "config.yaml";
constexpr const char* kChecksumsFile = "checksums.yaml";
// Files every checkpoint has (vocab.json / merges.txt only when a tokenizer was given).
const std::vector<std::string> kRequiredFiles = {"model.safetensors", "config.json", kOptimizerFile,
                                                 kTrainerStateFile, kConfigYamlFile};

std::string join(const std::string& dir, const std::string& name) {
  return (fs::path(dir) / name).string();
}

// Makes renames and new entries inside `dir` durable. IoError when the directory cannot be
// opened or synced: a checkpoint that might vanish at a power loss must not be reported saved.
void fsync_directory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) throw IoError(dir + ": cannot open directory to fsync: " + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (rc != 0 && error != EINVAL) {  // EINVAL: the file system cannot sync directories
    throw IoError(dir + ": fsync failed: " + std::strerror(error));
  }
}

// The step of a directory named "step-<digits>", or -1 for any other name.
int64_t step_of(const std::string& name) {
  const std::string prefix = "step-";
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) return -1;
  const std::string digits = name.substr(prefix.size());
  if (digits.size() > 18 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return -1;
  }
  return std::stoll(digits);
}

// The checkpoint directories under `root`, oldest (smallest step) first.
std::vector<std::pair<int64_t, std::string>> checkpoint_dirs(const std::string& root) {
  std::vector<std::pair<int64_t, std::string>> out;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return out;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    const int64_t step = step_of(name);
    if (step >= 0 && entry.is_directory(ec)) out.emplace_back(step, name);
  }
  if (ec) throw IoError(root + ": cannot list checkpoints: " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

void remove_tree(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) throw IoError(path + ": cannot remove: " + ec.message());
}

// Temporary directories of saves that crashed (only rank 0 saves, so none is in progress).
void remove_stale_temporaries(const std::string& root) {
  std::error_code ec;
  std::vector<std::string> stale;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kTempPrefix, 0) == 0) stale.push_back(entry.path().string());
  }
  for (const auto& path : stale) {
    LOG(WARNING) << "removing " << path << ", left by a checkpoint save that did not finish";
    remove_tree(path);
  }
}

// The test hook DGR_FAULT_KILL_DURING_SAVE (see checkpoint.h): SIGKILL this process when it
// saves step `step` and the variable names that step.
void maybe_kill_during_save(int64_t step) {
  const char* value = std::getenv("DGR_FAULT_KILL_DURING_SAVE");
  if (value == nullptr || std::to_string(step) != value) return;
  LOG(WARNING) << "DGR_FAULT_KILL_DURING_SAVE=" << value << ": killing this process mid-save";
  google::FlushLogFiles(google::GLOG_INFO);
  ::raise(SIGKILL);
}

}  // namespace

std::string trainer_state_yaml(const TrainerState& state) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "format_version" << YAML::Value << kFormatVersion;
  out << YAML::Key << "step" << YAML::Value << state.step;
  out << YAML::Key << "epoch" << YAML::Value << state.epoch;
  out << YAML::Key << "cursor" << YAML::Value << state.cursor;
  out << YAML::Key << "seed" << YAML::Value << state.seed;
  out << YAML::Key << "world_size" << YAML::Value << state.world_size;
  out << YAML::Key << "global_batch" << YAML::Value << state.global_batch;
  out << YAML::Key << "config_hash" << YAML::Value << YAML::DoubleQuoted << state.config_hash;
  out << YAML::Key << "torch_rng" << YAML::Value << YAML::DoubleQuoted << state.torch_rng;
  if (!state.cuda_rng.empty()) {
    out << YAML::Key << "cuda_rng" << YAML::Value << YAML::DoubleQuoted << state.cuda_rng;
  }
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

namespace {

YAML::Node load_yaml(const std::string& path) {
  try {
    return YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw DataError(path + ": missing or unreadable");
  } catch (const YAML::ParserException& e) {
    throw DataError(located(path, e.mark.line + 1, "malformed YAML: " + e.msg));
  }
}

template <class T>
T required(const YAML::Node& node, const char* key, const std::string& path) {
  // yaml-cpp throws its own exception for a subscript of a scalar or a sequence.
  if (!node.IsMap()) {
    throw DataError(located(path, node.Mark().line + 1,
                            "expected a map with the key '" + std::string(key) + "'"));
  }
  const YAML::Node value = node[key];
  if (!value.IsDefined() || value.IsNull()) {
    throw DataError(path + ": key '" + std::string(key) + "' is missing");
  }
  try {
    return value.as<T>();
  } catch (const YAML::Exception&) {
    throw DataError(
        located(path, value.Mark().line + 1, "key '" + std::string(key) + "' has the wrong type"));
  }
}

// An optional string key: "" when absent; a map or a sequence is a DataError, not a
// yaml-cpp exception.
std::string optional_string(const YAML::Node& root, const char* key, const std::string& path) {
  const YAML::Node value = root[key];
  if (!value.IsDefined() || value.IsNull()) return "";
  if (!value.IsScalar()) {
    throw DataError(
        located(path, value.Mark().line + 1, "key '" + std::string(key) + "' has the wrong type"));
  }
  return value.as<std::string>();
}

void check_format_version(const YAML::Node& root, const std::string& path) {
  if (!root.IsMap()) throw DataError(path + ": expected a YAML map");
  const int version = required<int>(root, "format_version", path);
  if (version != kFormatVersion) {
    throw DataError(path + ": checkpoint format version " + std::to_string(version) +
                    " is not supported (this build reads version " +
                    std::to_string(kFormatVersion) + ")");
  }
}

}  // namespace

TrainerState read_trainer_state(const std::string& path) {
  const YAML::Node root = load_yaml(path);
  check_format_version(root, path);
  TrainerState state;
  state.step = required<int64_t>(root, "step", path);
  state.epoch = required<int64_t>(root, "epoch", path);
  state.cursor = required<int64_t>(root, "cursor", path);
  state.seed = required<uint64_t>(root, "seed", path);
  state.world_size = required<int>(root, "world_size", path);
  state.global_batch = required<int64_t>(root, "global_batch", path);
  state.config_hash = optional_string(root, "config_hash", path);
  state.torch_rng = optional_string(root, "torch_rng", path);
  state.cuda_rng = optional_string(root, "cuda_rng", path);
  if (state.step < 0 || state.epoch < 0 || state.cursor < 0 || state.world_size < 1 ||
      state.global_batch < 0) {
    throw DataError(path +
                    ": step, epoch, cursor and global_batch must be >= 0 and world_size "
                    ">= 1");
  }
  return state;
}

namespace {

// SHA-256 and size of every regular file in `dir` but checksums.yaml, by name.
std::string checksums_yaml(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file(ec) && name != kChecksumsFile) names.push_back(name);
  }
  if (ec) throw IoError(dir + ": cannot list: " + ec.message());
  std::sort(names.begin(), names.end());
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "format_version" << YAML::Value << kFormatVersion;
  out << YAML::Key << "files" << YAML::Value << YAML::BeginMap;
  for (const auto& name : names) {
    const std::string path = join(dir, name);
    const uint64_t size = fs::file_size(path, ec);
    if (ec) throw IoError(path + ": cannot stat: " + ec.message());
    out << YAML::Key << name << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "size" << YAML::Value << size;
    out << YAML::Key << "sha256" << YAML::Value << sha256_file(path);
    out << YAML::EndMap;
  }
  out << YAML::EndMap << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

void verify_checksums(const std::string& dir) {
  const std::string path = join(dir, kChecksumsFile);
  if (!file_exists(path)) {
    throw DataError(path + ": missing, so " + dir + " is not a complete checkpoint");
  }
  const YAML::Node root = load_yaml(path);
  check_format_version(root, path);
  const YAML::Node files = root["files"];
  if (!files.IsMap()) throw DataError(path + ": key 'files' is missing or not a map");
  std::vector<std::string> listed;
  for (const auto& entry : files) {
    if (!entry.first.IsScalar()) {
      throw DataError(located(path, entry.first.Mark().line + 1, "a file name is not a string"));
    }
    const std::string name = entry.first.as<std::string>();
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
      throw DataError(path + ": file name \"" + name + "\" is not a plain name");
    }
    listed.push_back(name);
    const std::string file = join(dir, name);
    const auto expected_size = required<uint64_t>(entry.second, "size", path);
    const auto expected_hash = required<std::string>(entry.second, "sha256", path);
    if (!file_exists(file)) {
      throw DataError(file + ": missing from the checkpoint (listed in " + path + ")");
    }
    std::error_code ec;
    const uint64_t size = fs::file_size(file, ec);
    if (ec) throw IoError(file + ": cannot stat: " + ec.message());
    if (size != expected_size) {
      throw DataError(file + ": " + std::to_string(size) + " bytes, but " + path + " records " +
                      std::to_string(expected_size) + " (truncated or altered)");
    }
    if (sha256_file(file) != expected_hash) {
      throw DataError(file + ": SHA-256 differs from the one " + path +
                      " records (the file was altered or corrupted)");
    }
  }
  for (const auto& name : kRequiredFiles) {
    if (std::find(listed.begin(), listed.end(), name) == listed.end()) {
      throw DataError(join(dir, name) + ": not listed in " + path +
                      ", so the checkpoint is incomplete");
    }
  }
}

// The checkpoint in `dir`, whose checksums were verified.
LoadedCheckpoint load_verified_checkpoint(const std::string& dir, CheckpointModel& model) {
  LoadedCheckpoint out;
  out.dir = dir;
  out.state = read_trainer_state(join(dir, kTrainerStateFile));
  model.load_weights(join(dir, "model.safetensors"));
  out.optimizer_state = model::read_safetensors(join(dir, kOptimizerFile));
  return out;
}

}  // namespace

std::string checkpoint_name(int64_t step) {
  std::string digits = std::to_string(step);
  if (digits.size() < 7) digits.insert(0, 7 - digits.size(), '0');
  return "step-" + digits;
}

BartCheckpointModel::BartCheckpointModel(const model::BartModel& model,
                                         const model::BartConfig& config, std::string tokenizer_dir)
    : model_(model), config_(config), tokenizer_dir_(std::move(tokenizer_dir)) {}

void BartCheckpointModel::save_pretrained(const std::string& dir) const {
  model::save_pretrained(model_, config_, dir, tokenizer_dir_);
}

void BartCheckpointModel::load_weights(const std::string& safetensors_path) {
  model::load_bart_weights(model_, safetensors_path);
}

std::string save_checkpoint(const std::string& run_dir, const model::BartModel& model,
                            const model::BartConfig& config, const model::AdamW& optimizer,
                            const TrainerState& state, const std::string& config_yaml,
                            const std::string& tokenizer_dir, int keep_last) {
  return save_checkpoint(run_dir, BartCheckpointModel(model, config, tokenizer_dir),
                         optimizer.state(), state, config_yaml, keep_last);
}

std::string save_checkpoint(const std::string& run_dir, const model::BartModel& model,
                            const model::BartConfig& config,
                            const model::NamedTensors& optimizer_state, const TrainerState& state,
                            const std::string& config_yaml, const std::string& tokenizer_dir,
                            int keep_last) {
  return save_checkpoint(run_dir, BartCheckpointModel(model, config, tokenizer_dir),
                         optimizer_state, state, config_yaml, keep_last);
}

std::string save_checkpoint(const std::string& run_dir, const CheckpointModel& model,
                            const model::NamedTensors& optimizer_state, const TrainerState& state,
                            const std::string& config_yaml, int keep_last) {
  const std::string root = join(run_dir, kCheckpointsDir);
  ensure_directory(root);
  remove_stale_temporaries(root);

  const std::string name = checkpoint_name(state.step);
  const std::string final_dir = join(root, name);
  const std::string pid = std::to_string(::getpid());
  const std::string tmp = join(root, kTempPrefix + name + "." + pid);
  ensure_directory(tmp);
  try {
    // Every writer below goes through write_file_atomic, which fsyncs each file.
    model.save_pretrained(tmp);
    maybe_kill_during_save(state.step);
    model::write_safetensors(join(tmp, kOptimizerFile), optimizer_state, {{"format", "dgr-adamw"}});
    write_file_atomic(join(tmp, kTrainerStateFile), trainer_state_yaml(state));
    write_file_atomic(join(tmp, kConfigYamlFile), config_yaml);
    write_file_atomic(join(tmp, kChecksumsFile), checksums_yaml(tmp));
    fsync_directory(tmp);

    std::error_code ec;
    if (fs::exists(final_dir, ec)) {
      // Same step saved again (e.g. after a resume): move the old one aside first, since a
      // directory cannot be renamed over a non-empty one.
      const std::string old = join(root, std::string(kTempPrefix) + "old-" + name + "." + pid);
      fs::rename(final_dir, old, ec);
      if (ec) throw IoError(final_dir + ": cannot move aside: " + ec.message());
      fs::rename(tmp, final_dir, ec);
      if (ec) throw IoError(final_dir + ": cannot rename " + tmp + " into place: " + ec.message());
      remove_tree(old);
    } else {
      fs::rename(tmp, final_dir, ec);
      if (ec) throw IoError(final_dir + ": cannot rename " + tmp + " into place: " + ec.message());
    }
    fsync_directory(root);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }

  write_file_atomic(join(root, kLatestFile), name + "\n");
  fsync_directory(root);

  if (keep_last > 0) {
    auto dirs = checkpoint_dirs(root);
    dirs.erase(std::remove_if(dirs.begin(), dirs.end(),
                              [&](const auto& entry) { return entry.second == name; }),
               dirs.end());
    const size_t keep_others = static_cast<size_t>(keep_last - 1);
    for (size_t i = 0; i + keep_others < dirs.size(); ++i) {
      // A checkpoint that cannot be pruned costs disk, not correctness: warn and train on.
      const std::string old = join(root, dirs[i].second);
      std::error_code ec;
      fs::remove_all(old, ec);
      if (ec) LOG(WARNING) << old << ": cannot remove an old checkpoint: " << ec.message();
    }
  }
  return final_dir;
}

LoadedCheckpoint load_checkpoint(const std::string& dir, model::BartModel& model) {
  model::BartConfig unused;
  BartCheckpointModel bart(model, unused);
  return load_checkpoint(dir, bart);
}

std::optional<LoadedCheckpoint> load_latest_checkpoint(const std::string& run_dir,
                                                       model::BartModel& model) {
  model::BartConfig unused;
  BartCheckpointModel bart(model, unused);
  return load_latest_checkpoint(run_dir, bart);
}

LoadedCheckpoint load_checkpoint(const std::string& dir, CheckpointModel& model) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw DataError(dir + ": no checkpoint directory here");
  verify_checksums(dir);
  return load_verified_checkpoint(dir, model);
}

std::optional<LoadedCheckpoint> load_latest_checkpoint(const std::string& run_dir,
                                                       CheckpointModel& model) {
  const std::string root = join(run_dir, kCheckpointsDir);
  const std::string latest = join(root, kLatestFile);
  if (file_exists(latest)) {
    std::string name = read_file(latest);
    while (!name.empty() && std::isspace(static_cast<unsigned char>(name.back()))) {
      name.pop_back();
    }
    if (step_of(name) < 0) {
      throw DataError(latest + ": expected a checkpoint directory name like step-0000100, got \"" +
                      name + "\"");
    }
    const std::string dir = join(root, name);
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
      throw DataError(latest + ": names " + dir + ", which does not exist");
    }
    return load_checkpoint(dir, model);
  }
  // No pointer: a first save may have crashed between its rename and writing `latest` (its
  // directory is complete, renamed only when it was), or the directory was copied or pruned by
  // hand. Without `latest` vouching for one, the newest checkpoint that verifies is used; the
  // ones that do not are named, so nothing is skipped silently.
  const auto dirs = checkpoint_dirs(root);
  if (dirs.empty()) return std::nullopt;
  std::string newest_error;
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
    const std::string dir = join(root, it->second);
    try {
      verify_checksums(dir);
    } catch (const DataError& e) {
      if (newest_error.empty()) newest_error = e.what();
      LOG(WARNING) << latest << " is missing and " << dir
                   << " is not a complete checkpoint, so it is skipped: " << e.what();
      continue;
    }
    LOG(WARNING) << latest << " is missing; resuming from the newest complete checkpoint, " << dir;
    return load_verified_checkpoint(dir, model);
  }
  throw DataError(root + ": " + std::to_string(dirs.size()) + " checkpoint director" +
                  (dirs.size() == 1 ? "y" : "ies") +
                  " but none is complete and `latest` is missing (the newest: " + newest_error +
                  "); remove them to start afresh, or turn the training's resume option off");
}

std::string checkpoint_config_yaml(const std::string& dir) {
  return read_file(join(dir, kConfigYamlFile));
}

}  // namespace dgr::distributed
