// Strict YAML configuration mapped onto typed option structs.
//
// An options struct lists its fields once, in a free function `visit(V& v, Options& o)`:
//
//   template <class V> void visit(V& v, MetricOptions& o) {
//     v.field("mrr_at", o.mrr_at, "Cut-off of MRR.");
//     v.section("optim", o.optim, "Optimizer settings.");
//   }
//
// and three visitors walk it: `Reader` fills the struct from a `ConfigTree` (unknown keys are
// errors with "did you mean", wrong types name the expected type, every message names the file
// and line or the --set override the value came from), `Writer` emits the resolved YAML that is
// written next to every output and hashed, and `Documenter` lists every key with its type,
// default and meaning for docs/configuration.md. Defaults live in the struct initialisers.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/util/error.h"
#include "core/util/options.h"

namespace dgr::config {

// Where a configuration value came from: a file and line, or a command-line override.
struct Origin {
  std::string file;      // empty for overrides and defaults
  int line = 0;          // 1-based; 0 when unknown
  std::string override;  // "--set a.b=1" or "--run" when the value came from the command line

  std::string str() const;  // "file:line", "--set a.b=1" or "(default)"
};

// A YAML document after `extends` and overrides have been applied, remembering the origin of
// every key so that errors found while binding can point back at the right file and line.
class ConfigTree {
 public:
  ConfigTree();

  // Loads `path`, following `extends: other.yaml` (a string or a list, resolved relative to the
  // including file; bases first, later ones override earlier ones, the file itself last).
  // Maps merge key by key; scalars and sequences replace. Cycles are errors.
  static ConfigTree load(const std::string& path);

  // Applies "dotted.path=value" (value parsed as YAML: numbers, booleans, [lists]).
  // `origin` names the flag for messages, e.g. "--set eval.mrr_at=10" or "--run".
  void set(const std::string& dotted_path, const YAML::Node& value, const std::string& origin);
  void apply_override(const std::string& assignment);  // "a.b=value" from --set

  const YAML::Node& root() const { return root_; }
  Origin origin(const std::string& dotted_path) const;
  // Files read, in load order (the config and all it extends).
  const std::vector<std::string>& files() const { return files_; }

 private:
  void merge(YAML::Node& into, const YAML::Node& from, const std::string& prefix,
             const std::string& file);
  static void load_into(ConfigTree& tree, const std::string& path, std::vector<std::string>& stack);

  YAML::Node root_;
  std::map<std::string, Origin> origins_;
  std::vector<std::string> files_;
};

// The YAML value and the documented type name of each supported field type.
YAML::Node value_node(bool value);
YAML::Node value_node(int value);
YAML::Node value_node(int64_t value);
YAML::Node value_node(double value);
YAML::Node value_node(const std::string& value);
YAML::Node value_node(const std::vector<int>& value);
YAML::Node value_node(const std::vector<double>& value);
YAML::Node value_node(const std::vector<std::string>& value);
inline std::string type_label(bool) {
  return "bool";
}
inline std::string type_label(int) {
  return "int";
}
inline std::string type_label(int64_t) {
  return "int";
}
inline std::string type_label(double) {
  return "float";
}
inline std::string type_label(const std::string&) {
  return "string";
}
inline std::string type_label(const std::vector<int>&) {
  return "list of int";
}
inline std::string type_label(const std::vector<double>&) {
  return "list of float";
}
inline std::string type_label(const std::vector<std::string>&) {
  return "list of string";
}

// Canonical text of a YAML node (block style, keys in visit order), the input of the hash.
std::string to_yaml(const YAML::Node& node);
// One-line flow text of a value ("[5, 20, 100]", "1e-05", "\"\"").
std::string to_flow(const YAML::Node& node);

// Fills option structs from a ConfigTree. Usage: `Reader r(tree); visit(r, options); r.finish();`
class Reader {
 public:
  explicit Reader(const ConfigTree& tree);

  template <class T>
  void field(const char* key, T& value, const char* /*help*/) {
    YAML::Node node = child(key);
    if (node.IsDefined() && !node.IsNull()) {
      parse(node, value, join(key));
    } else if (node.IsDefined() && node.IsNull()) {
      parse_null(value, join(key));
    }
  }
  void field(const char* key, Choice choice, const char* help);

  template <class S>
  void section(const char* key, S& options, const char* /*help*/) {
    YAML::Node node = child(key);
    if (!node.IsDefined() || node.IsNull()) return;  // section absent: defaults
    enter(key, node);
    visit(*this, options);
    leave();
  }

  // Checks the top level for unknown keys; call after visiting the root struct.
  void finish();

 private:
  struct Frame {
    std::string prefix;
    YAML::Node node;
    std::set<std::string> known;
  };
  YAML::Node child(const char* key);
  std::string join(const char* key) const;
  void enter(const char* key, const YAML::Node& node);
  void leave();
  void check_unknown(const Frame& frame) const;
  [[noreturn]] void fail(const std::string& path, const std::string& message) const;

  void parse(const YAML::Node& node, bool& out, const std::string& path);
  void parse(const YAML::Node& node, int& out, const std::string& path);
  void parse(const YAML::Node& node, int64_t& out, const std::string& path);
  void parse(const YAML::Node& node, double& out, const std::string& path);
  void parse(const YAML::Node& node, std::string& out, const std::string& path);
  void parse(const YAML::Node& node, std::vector<int>& out, const std::string& path);
  void parse(const YAML::Node& node, std::vector<double>& out, const std::string& path);
  void parse(const YAML::Node& node, std::vector<std::string>& out, const std::string& path);
  void parse_null(std::string& out, const std::string& path) { out.clear(); }
  template <class T>
  void parse_null(T& value, const std::string& path) {
    fail(path, "has no value; expected " + type_label(value));
  }

  const ConfigTree& tree_;
  std::vector<Frame> stack_;
};

// Emits the resolved configuration (every key, defaults included) as a YAML node.
class Writer {
 public:
  Writer();
  template <class T>
  void field(const char* key, const T& value, const char* /*help*/) {
    stack_.back()[key] = value_node(value);
  }
  void field(const char* key, const Choice& choice, const char* help) {
    stack_.back()[key] = choice.value;
  }
  template <class S>
  void section(const char* key, const S& options, const char* /*help*/) {
    stack_.emplace_back(YAML::NodeType::Map);
    visit(*this, const_cast<S&>(options));
    YAML::Node done = stack_.back();
    stack_.pop_back();
    stack_.back()[key] = done;
  }
  const YAML::Node& root() const { return stack_.front(); }

 private:
  std::vector<YAML::Node> stack_;
};

// One documented key: dotted path, type, default (as YAML), meaning.
struct KeyDoc {
  std::string path;
  std::string type;
  std::string default_value;
  std::string help;
  bool is_section = false;
};

// Lists every key of an options struct in visit order (sections before their keys).
class Documenter {
 public:
  template <class T>
  void field(const char* key, const T& value, const char* help) {
    keys_.push_back({join(key), type_label(value), to_flow(value_node(value)), help, false});
  }
  void field(const char* key, const Choice& choice, const char* help);
  template <class S>
  void section(const char* key, const S& options, const char* help) {
    keys_.push_back({join(key), "section", "", help, true});
    prefix_.emplace_back(key);
    visit(*this, const_cast<S&>(options));
    prefix_.pop_back();
  }
  const std::vector<KeyDoc>& keys() const { return keys_; }

 private:
  std::string join(const char* key) const;

  std::vector<std::string> prefix_;
  std::vector<KeyDoc> keys_;
};

// The closest candidate by edit distance, or "" when none is reasonably close.
std::string nearest(const std::string& word, const std::vector<std::string>& candidates);

// Expands ${VAR} and ${VAR:-default} from the environment in a string value.
std::string expand_env(const std::string& value, const std::string& where);

template <class Options>
Options bind(const ConfigTree& tree) {
  Options options;
  Reader reader(tree);
  visit(reader, options);
  reader.finish();
  return options;
}

template <class Options>
YAML::Node resolved(const Options& options) {
  Writer writer;
  visit(writer, const_cast<Options&>(options));
  return writer.root();
}

template <class Options>
std::vector<KeyDoc> document(const Options& options) {
  Documenter documenter;
  visit(documenter, const_cast<Options&>(options));
  return documenter.keys();
}

}  // namespace dgr::config
