#include "launch/experiment_config.h"

#include <filesystem>
#include <sstream>

#include "core/util/files.h"
#include "core/util/hash.h"

namespace dgr {
namespace fs = std::filesystem;

void derive_dataset_paths(DataOptions& data) {
  if (data.dataset.empty()) return;
  fs::path root(data.dataset);
  if (data.corpus.empty()) data.corpus = (root / "corpus.jsonl").string();
  if (data.queries.empty()) data.queries = (root / "queries.jsonl").string();
  if (data.qrels.empty()) data.qrels = (root / "qrels" / (data.test_split + ".tsv")).string();
}

std::string training_qrels_path(const DataOptions& data, const std::string& command,
                                const std::string& override_path) {
  if (!override_path.empty()) return override_path;
  if (!data.dataset.empty()) {
    return (fs::path(data.dataset) / "qrels" / (data.train_split + ".tsv")).string();
  }
  if (!data.qrels.empty()) return data.qrels;
  throw ConfigError(command +
                    ": no training judgments (set data.dataset with data.train_split, or "
                    "data.qrels)");
}

ResolvedConfig resolve_config(const std::string& config_path, const std::vector<std::string>& sets,
                              const std::vector<std::pair<std::string, std::string>>& flags) {
  ResolvedConfig out;
  out.source = config_path;
  if (!config_path.empty()) out.tree = config::ConfigTree::load(config_path);
  for (const auto& assignment : sets)
    out.tree.apply_override(assignment);
  for (const auto& [key, value] : flags) {
    // Flags set a key to a literal string, whatever it looks like.
    out.tree.set(key, YAML::Node(value), "--" + key.substr(key.rfind('.') + 1) + " " + value);
  }
  out.options = config::bind<ExperimentConfig>(out.tree);
  derive_dataset_paths(out.options.data);
  out.resolved = config::resolved(out.options);
  out.yaml = config::to_yaml(out.resolved);
  out.hash = sha256_hex(out.yaml);
  return out;
}

YAML::Node find_key(const YAML::Node& root, const std::string& dotted) {
  YAML::Node node = root;
  std::stringstream parts(dotted);
  std::string part;
  while (std::getline(parts, part, '.')) {
    YAML::Node next = node[part];
    if (!next.IsDefined()) return YAML::Node(YAML::NodeType::Undefined);
    node.reset(next);
  }
  return node;
}

void require_keys(const ResolvedConfig& config,
                  const std::vector<std::pair<std::string, std::string>>& keys) {
  std::string missing;
  for (const auto& [key, flag] : keys) {
    const YAML::Node node = find_key(config.resolved, key);
    if (node.IsDefined() && node.IsScalar() && !node.Scalar().empty()) continue;
    if (!missing.empty()) missing += "; ";
    missing += "missing required key '" + key + "' (set it in the config";
    if (!flag.empty()) missing += " or pass " + flag;
    missing += ")";
  }
  if (!missing.empty()) {
    std::string where = config.source.empty() ? "command line" : config.source;
    throw ConfigError(where + ": " + missing);
  }
}

std::string write_resolved_config(const ResolvedConfig& config, const std::string& dir) {
  std::string path = (fs::path(dir) / "config.resolved.yaml").string();
  std::string text = "# dgr resolved configuration; config_hash: " + config.hash + "\n";
  if (!config.source.empty()) text += "# from: " + config.source + "\n";
  write_file_atomic(path, text + config.yaml);
  return path;
}

std::string configuration_reference() {
  const ExperimentConfig defaults;
  const std::vector<config::KeyDoc> keys = config::document(defaults);
  auto escape = [](const std::string& s) {
    std::string out;
    for (char c : s) {
      if (c == '|') {
        out += "\\|";
      } else {
        out += c;
      }
    }
    return out;
  };
  std::ostringstream md;
  bool table_open = false;
  auto open_table = [&] {
    md << "| key | type | default | meaning |\n|---|---|---|---|\n";
    table_open = true;
  };
  for (const auto& key : keys) {
    if (key.is_section) {
      md << (table_open ? "\n" : "") << "### `" << key.path << "`\n\n" << key.help << "\n\n";
      open_table();
      continue;
    }
    if (!table_open) open_table();
    // Choice types are already escaped by the documenter.
    md << "| `" << key.path << "` | " << key.type << " | `" << key.default_value << "` | "
       << escape(key.help) << " |\n";
  }
  return md.str();
}

}  // namespace dgr
