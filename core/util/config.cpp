#include "core/util/config.h"

#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

namespace dgr::config {
namespace {

namespace fs = std::filesystem;

std::string node_kind(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Null:
      return "no value";
    case YAML::NodeType::Scalar:
      return "'" + node.Scalar() + "'";
    default:
      return "nothing";
  }
}

std::vector<std::string> split_path(const std::string& dotted, const std::string& origin) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t dot = dotted.find('.', start);
    std::string part = dotted.substr(start, dot == std::string::npos ? dot : dot - start);
    if (part.empty()) throw ConfigError(origin + ": malformed key path '" + dotted + "'");
    parts.push_back(part);
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

// Offset of the first byte of `text` that is not part of well-formed UTF-8 (no overlong forms,
// surrogates or code points above U+10FFFF), or npos. yaml-cpp passes such bytes through, so a
// config in Latin-1 would otherwise give keys and paths that silently match nothing.
size_t first_invalid_utf8(const std::string& text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    size_t length = 0;
    unsigned char low = 0x80, high = 0xBF;  // bounds of the second byte
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      if (c == 0xE0) low = 0xA0;
      if (c == 0xED) high = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      if (c == 0xF0) low = 0x90;
      if (c == 0xF4) high = 0x8F;
    } else {
      return i;
    }
    if (i + length > text.size()) return i;
    for (size_t k = 1; k < length; ++k) {
      const auto b = static_cast<unsigned char>(text[i + k]);
      if (b < (k == 1 ? low : 0x80) || b > (k == 1 ? high : 0xBF)) return i;
    }
    i += length;
  }
  return std::string::npos;
}

// Offset of the first control character a YAML stream may not hold (C0 but tab, line feed and
// carriage return; DEL; C1 but NEL) in well-formed UTF-8 `text`, or npos. yaml-cpp reads some of
// them (a NUL inside a plain scalar) into values it then writes back as invalid UTF-8.
size_t first_control_character(const std::string& text) {
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F) return i;
    if (c == 0xC2 && i + 1 < text.size()) {
      const auto next = static_cast<unsigned char>(text[i + 1]);
      if (next >= 0x80 && next <= 0x9F && next != 0x85) return i;
    }
  }
  return std::string::npos;
}

// "invalid UTF-8" or "control character U+XXXX" for the first byte of `text` a config may not
// hold, with its offset; empty when there is none.
std::string unreadable_text(const std::string& text, size_t* offset) {
  if (const size_t bad = first_invalid_utf8(text); bad != std::string::npos) {
    *offset = bad;
    return "invalid UTF-8";
  }
  if (const size_t bad = first_control_character(text); bad != std::string::npos) {
    *offset = bad;
    const auto c = static_cast<unsigned char>(text[bad]);
    const unsigned code = c == 0xC2 ? static_cast<unsigned char>(text[bad + 1]) : c;
    char name[16];
    std::snprintf(name, sizeof name, "U+%04X", code);
    return std::string("control character ") + name;
  }
  return "";
}

// The documents of a YAML stream, counted without building them. yaml-cpp 0.7's LoadAll never
// returns on some malformed streams (a lone ","): the parser reports an empty document again
// and again without consuming the token. Here a document that starts where the previous one
// did is that case, and is reported as `stuck` at its mark.
struct DocumentCount {
  int documents = 0;
  int second_line = 0;  // 0-based line of the second document's start
  bool stuck = false;
  YAML::Mark stuck_at;
};

DocumentCount count_documents(const std::string& text) {
  struct Starts : YAML::EventHandler {
    YAML::Mark start;
    void OnDocumentStart(const YAML::Mark& mark) override { start = mark; }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
    void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
    void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  const std::string&) override {}
    void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                         YAML::EmitterStyle::value) override {}
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                    YAML::EmitterStyle::value) override {}
    void OnMapEnd() override {}
  } starts;
  std::istringstream stream(text);
  YAML::Parser parser(stream);
  DocumentCount count;
  int previous = -1;
  while (parser.HandleNextDocument(starts)) {
    if (starts.start.pos == previous) {
      count.stuck = true;
      count.stuck_at = starts.start;
      return count;
    }
    previous = starts.start.pos;
    if (++count.documents == 2) count.second_line = starts.start.line;
  }
  return count;
}

// Bounds on a YAML value as merge() and Clone walk it, aliases expanded: an alias inside the
// value it names ("a: &x {b: *x}") makes it infinite, aliases of aliases make it grow
// exponentially, and either would end in a stack overflow or exhausted memory. Real configs
// stay far below both.
constexpr int kMaxYamlDepth = 32;
constexpr size_t kMaxYamlValues = 100000;
constexpr const char* kYamlLimits =
    "more than 100000 values or nesting deeper than 32 levels once YAML aliases are expanded "
    "(an alias inside the value it names?)";

// Whether `node` stays within the bounds above; `at` gets the mark where it does not.
bool within_yaml_limits(const YAML::Node& node, int depth, size_t& values, YAML::Mark& at) {
  if (++values > kMaxYamlValues || depth > kMaxYamlDepth) {
    at = node.Mark();
    return false;
  }
  if (node.IsMap()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (!within_yaml_limits(it->first, depth + 1, values, at) ||
          !within_yaml_limits(it->second, depth + 1, values, at)) {
        return false;
      }
    }
  } else if (node.IsSequence()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (!within_yaml_limits(*it, depth + 1, values, at)) return false;
    }
  }
  return true;
}

bool parse_int64(const std::string& text, int64_t& out) {
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  if (begin != end && *begin == '+') ++begin;
  auto [ptr, ec] = std::from_chars(begin, end, out);
  return ec == std::errc() && ptr == end && begin != end;
}

}  // namespace

std::string Origin::str() const {
  if (!override.empty()) return override;
  if (file.empty()) return "(default)";
  return line > 0 ? file + ":" + std::to_string(line) : file;
}

// ---------------------------------------------------------------------------------------------
// ConfigTree

ConfigTree::ConfigTree() : root_(YAML::NodeType::Map) {}

ConfigTree ConfigTree::load(const std::string& path) {
  ConfigTree tree;
  std::vector<std::string> stack;
  load_into(tree, path, stack);
  return tree;
}

void ConfigTree::load_into(ConfigTree& tree, const std::string& path,
                           std::vector<std::string>& stack) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    throw IoError(path + ": cannot open config file (no such file)");
  }
  std::string canonical = fs::weakly_canonical(path, ec).string();
  if (std::find(stack.begin(), stack.end(), canonical) != stack.end()) {
    std::string chain;
    for (const auto& p : stack)
      chain += p + " -> ";
    throw ConfigError(path + ": 'extends' cycle: " + chain + canonical);
  }
  std::string text;
  {
    std::ifstream in(path, std::ios::binary);
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (!in.is_open() || in.bad()) throw IoError(path + ": cannot read config file");
  }
  size_t bad = 0;
  if (const std::string what = unreadable_text(text, &bad); !what.empty()) {
    const size_t newline = text.rfind('\n', bad);  // text[bad] is not '\n'
    const size_t column = newline == std::string::npos ? bad + 1 : bad - newline;
    const auto line =
        1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(bad), '\n');
    throw ConfigError(located(path, line,
                              what + " at byte column " + std::to_string(column) +
                                  "; a config file must be UTF-8 text (of the control "
                                  "characters only tab, line feed and carriage return)"));
  }
  YAML::Node doc;
  try {
    const DocumentCount documents = count_documents(text);
    if (documents.stuck) {
      throw ConfigError(located(path, documents.stuck_at.line + 1,
                                "malformed YAML: no value can start at byte column " +
                                    std::to_string(documents.stuck_at.column + 1)));
    }
    // A second document would be dropped without a word by a single-document load.
    if (documents.documents > 1) {
      throw ConfigError(located(path, documents.second_line + 1,
                                "a config file holds one YAML document, this one holds " +
                                    std::to_string(documents.documents) + " ('---' separators)"));
    }
    doc = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw ConfigError(located(path, e.mark.line + 1, "malformed YAML: " + e.msg));
  }
  if (!doc.IsDefined() || doc.IsNull()) doc = YAML::Node(YAML::NodeType::Map);
  if (!doc.IsMap()) {
    throw ConfigError(located(path, doc.Mark().line + 1,
                              "a config file must be a map of sections, got " + node_kind(doc)));
  }
  size_t values = 0;
  if (YAML::Mark at; !within_yaml_limits(doc, 0, values, at)) {
    throw ConfigError(located(path, at.line + 1, kYamlLimits));
  }
  stack.push_back(canonical);
  const YAML::Node& cdoc = doc;
  if (YAML::Node extends = cdoc["extends"]; extends.IsDefined()) {
    std::vector<std::string> bases;
    if (extends.IsScalar()) {
      bases.push_back(extends.Scalar());
    } else if (extends.IsSequence()) {
      for (const auto& item : extends) {
        if (!item.IsScalar()) {
          throw ConfigError(located(path, item.Mark().line + 1, "'extends' entries must be paths"));
        }
        bases.push_back(item.Scalar());
      }
    } else {
      throw ConfigError(
          located(path, extends.Mark().line + 1, "'extends' must be a path or a list of paths"));
    }
    for (const auto& base : bases) {
      fs::path resolved =
          fs::path(base).is_absolute() ? fs::path(base) : fs::path(path).parent_path() / base;
      if (!fs::is_regular_file(resolved, ec)) {
        throw ConfigError(located(path, extends.Mark().line + 1,
                                  "'extends' names '" + base +
                                      "', which does not exist (looked at " + resolved.string() +
                                      ")"));
      }
      load_into(tree, resolved.string(), stack);
    }
  }
  // Keys keep the lines of this file; 'extends' itself is skipped by merge().
  tree.merge(tree.root_, cdoc, "", path);
  stack.pop_back();
  tree.files_.push_back(path);
}

void ConfigTree::merge(YAML::Node& into, const YAML::Node& from, const std::string& prefix,
                       const std::string& file) {
  std::map<std::string, int> lines;  // key -> its line in this map: YAML keeps duplicates
  for (auto it = from.begin(); it != from.end(); ++it) {
    if (!it->first.IsScalar()) {
      throw ConfigError(located(file, it->first.Mark().line + 1, "keys must be plain names"));
    }
    const std::string key = it->first.Scalar();
    const std::string path = prefix.empty() ? key : prefix + "." + key;
    const int line = it->first.Mark().line + 1;
    if (auto [first, inserted] = lines.emplace(key, line); !inserted) {
      throw ConfigError(located(
          file, line,
          "duplicate key '" + path + "' (first at line " + std::to_string(first->second) + ")"));
    }
    if (prefix.empty() && key == "extends") continue;
    origins_[path] = Origin{file, line, ""};
    if (it->second.IsMap()) {
      // A map merges key by key into what is there (a fresh map when there is none or a value),
      // which also records the origin of every nested key.
      YAML::Node target = into[key];
      if (!target.IsMap()) {
        into[key] = YAML::Node(YAML::NodeType::Map);
        target.reset(into[key]);
      }
      merge(target, it->second, path, file);
    } else {
      into[key] = YAML::Clone(it->second);
    }
  }
}

void ConfigTree::set(const std::string& dotted_path, const YAML::Node& value,
                     const std::string& origin) {
  std::vector<std::string> parts = split_path(dotted_path, origin);
  YAML::Node current = root_;
  std::string path;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    path += (i ? "." : "") + parts[i];
    YAML::Node next = current[parts[i]];
    if (!next.IsDefined() || next.IsNull()) {
      next = YAML::Node(YAML::NodeType::Map);
      current[parts[i]] = next;
      next.reset(current[parts[i]]);
      origins_[path] = Origin{"", 0, origin};
    } else if (!next.IsMap()) {
      throw ConfigError(origin + ": '" + path + "' is a value, not a section, so '" + dotted_path +
                        "' cannot be set");
    }
    current.reset(next);
  }
  current[parts.back()] = YAML::Clone(value);
  origins_[dotted_path] = Origin{"", 0, origin};
}

void ConfigTree::apply_override(const std::string& assignment) {
  const std::string origin = "--set " + assignment;
  size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw ConfigError(origin + ": expected KEY=VALUE with a dotted key, e.g. section.key=10");
  }
  size_t bad = 0;
  if (const std::string what = unreadable_text(assignment, &bad); !what.empty()) {
    throw ConfigError(origin + ": " + what + " at byte " + std::to_string(bad + 1) +
                      "; an override must be UTF-8 text");
  }
  std::string key = assignment.substr(0, eq);
  std::string text = assignment.substr(eq + 1);
  YAML::Node value;
  try {
    value = text.empty() ? YAML::Node(std::string()) : YAML::Load(text);
    if (value.IsNull() && !text.empty() && text != "~" && text != "null") value = YAML::Node(text);
  } catch (const YAML::Exception&) {
    value = YAML::Node(text);  // not YAML: take it as a plain string
  }
  size_t values = 0;
  if (YAML::Mark at; !within_yaml_limits(value, 0, values, at)) {
    throw ConfigError(origin + ": " + kYamlLimits);
  }
  set(key, value, origin);
}

Origin ConfigTree::origin(const std::string& dotted_path) const {
  auto it = origins_.find(dotted_path);
  if (it != origins_.end()) return it->second;
  // A key inside a list or a generated default: report its nearest known ancestor ("a.b[2]"
  // is in the list "a.b").
  std::string path = dotted_path;
  while (!path.empty() && path.back() == ']') {
    path = path.substr(0, path.rfind('['));
    it = origins_.find(path);
    if (it != origins_.end()) return it->second;
  }
  while (true) {
    size_t dot = path.rfind('.');
    if (dot == std::string::npos) break;
    path = path.substr(0, dot);
    it = origins_.find(path);
    if (it != origins_.end()) return it->second;
  }
  return Origin{files_.empty() ? "" : files_.back(), 0, ""};
}

// ---------------------------------------------------------------------------------------------
// Reader

Reader::Reader(const ConfigTree& tree) : tree_(tree) {
  stack_.push_back(Frame{"", tree.root(), {}});
}

YAML::Node Reader::child(const char* key) {
  Frame& frame = stack_.back();
  frame.known.insert(key);
  const YAML::Node& node = frame.node;
  if (!node.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  return node[key];
}

std::string Reader::join(const char* key) const {
  const std::string& prefix = stack_.back().prefix;
  return prefix.empty() ? std::string(key) : prefix + "." + key;
}

void Reader::enter(const char* key, const YAML::Node& node) {
  std::string path = join(key);
  if (!node.IsMap()) fail(path, "must be a section (a map of keys), got " + node_kind(node));
  stack_.push_back(Frame{path, node, {}});
}

void Reader::leave() {
  check_unknown(stack_.back());
  stack_.pop_back();
}

void Reader::finish() {
  while (!stack_.empty()) {
    check_unknown(stack_.back());
    stack_.pop_back();
  }
}

void Reader::check_unknown(const Frame& frame) const {
  std::vector<std::string> known(frame.known.begin(), frame.known.end());
  for (auto it = frame.node.begin(); it != frame.node.end(); ++it) {
    const std::string key = it->first.Scalar();
    if (frame.known.count(key)) continue;
    const std::string path = frame.prefix.empty() ? key : frame.prefix + "." + key;
    std::string message = "unknown key '" + path + "'";
    std::string guess = nearest(key, known);
    if (!guess.empty()) {
      message +=
          "; did you mean '" + (frame.prefix.empty() ? guess : frame.prefix + "." + guess) + "'?";
    } else {
      message += "; valid keys here:";
      for (const auto& k : known)
        message += " " + k;
    }
    throw ConfigError(tree_.origin(path).str() + ": " + message);
  }
}

void Reader::fail(const std::string& path, const std::string& message) const {
  throw ConfigError(tree_.origin(path).str() + ": key '" + path + "' " + message);
}

void Reader::parse(const YAML::Node& node, bool& out, const std::string& path) {
  if (node.IsScalar()) {
    std::string lower = node.Scalar();
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    if (lower == "true" || lower == "yes" || lower == "on") {
      out = true;
      return;
    }
    if (lower == "false" || lower == "no" || lower == "off") {
      out = false;
      return;
    }
  }
  fail(path, "expects a bool (true or false), got " + node_kind(node));
}

void Reader::parse(const YAML::Node& node, int64_t& out, const std::string& path) {
  if (!node.IsScalar() || !parse_int64(node.Scalar(), out)) {
    fail(path, "expects an int, got " + node_kind(node));
  }
}

void Reader::parse(const YAML::Node& node, int& out, const std::string& path) {
  int64_t wide = 0;
  parse(node, wide, path);
  if (wide < INT_MIN || wide > INT_MAX) fail(path, "is out of range for an int: " + node.Scalar());
  out = static_cast<int>(wide);
}

void Reader::parse(const YAML::Node& node, double& out, const std::string& path) {
  if (node.IsScalar()) {
    const std::string& s = node.Scalar();
    char* end = nullptr;
    errno = 0;
    double value = std::strtod(s.c_str(), &end);
    // ERANGE with a finite value is an underflow (1e-400 reads as 0, as in Python); overflow,
    // "nan" and "inf" are refused: no option has a meaning for them.
    if (!s.empty() && end == s.c_str() + s.size() && !std::isfinite(value)) {
      fail(path, "expects a finite float, got " + node_kind(node));
    }
    if (!s.empty() && end == s.c_str() + s.size() && (errno == 0 || errno == ERANGE)) {
      out = value;
      return;
    }
  }
  fail(path, "expects a float, got " + node_kind(node));
}

void Reader::parse(const YAML::Node& node, std::string& out, const std::string& path) {
  if (!node.IsScalar()) fail(path, "expects a string, got " + node_kind(node));
  out = expand_env(node.Scalar(), tree_.origin(path).str() + ": key '" + path + "'");
}

void Reader::parse(const YAML::Node& node, std::vector<int>& out, const std::string& path) {
  if (!node.IsSequence())
    fail(path, "expects a list of int such as [5, 20], got " + node_kind(node));
  out.clear();
  for (size_t i = 0; i < node.size(); ++i) {
    int v = 0;
    parse(node[i], v, path + "[" + std::to_string(i) + "]");
    out.push_back(v);
  }
}

void Reader::parse(const YAML::Node& node, std::vector<double>& out, const std::string& path) {
  if (!node.IsSequence()) fail(path, "expects a list of float, got " + node_kind(node));
  out.clear();
  for (size_t i = 0; i < node.size(); ++i) {
    double v = 0;
    parse(node[i], v, path + "[" + std::to_string(i) + "]");
    out.push_back(v);
  }
}

void Reader::parse(const YAML::Node& node, std::vector<std::string>& out, const std::string& path) {
  if (!node.IsSequence()) fail(path, "expects a list of string, got " + node_kind(node));
  out.clear();
  for (size_t i = 0; i < node.size(); ++i) {
    std::string v;
    parse(node[i], v, path + "[" + std::to_string(i) + "]");
    out.push_back(v);
  }
}

void Reader::field(const char* key, Choice choice, const char* /*help*/) {
  YAML::Node node = child(key);
  if (!node.IsDefined()) return;
  std::string path = join(key);
  std::string value;
  if (node.IsNull()) fail(path, "has no value; expected one of the allowed values");
  parse(node, value, path);
  if (std::find(choice.allowed.begin(), choice.allowed.end(), value) == choice.allowed.end()) {
    std::string message = "must be one of";
    for (const auto& a : choice.allowed)
      message += " '" + a + "'";
    message += ", got '" + value + "'";
    std::string guess = nearest(value, choice.allowed);
    if (!guess.empty()) message += "; did you mean '" + guess + "'?";
    fail(path, message);
  }
  choice.value = value;
}

// ---------------------------------------------------------------------------------------------
// Writer and Documenter

YAML::Node value_node(bool value) {
  return YAML::Node(value);
}
YAML::Node value_node(int value) {
  return YAML::Node(value);
}
YAML::Node value_node(int64_t value) {
  return YAML::Node(value);
}
YAML::Node value_node(double value) {
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  std::string text(buffer, end);
  // Keep it a float when read back by YAML tools: "3" -> "3.0".
  if (text.find_first_of(".eEn") == std::string::npos) text += ".0";
  return YAML::Node(text);
}
YAML::Node value_node(const std::string& value) {
  return YAML::Node(value);
}
YAML::Node value_node(const std::vector<int>& value) {
  YAML::Node node(YAML::NodeType::Sequence);
  for (int v : value)
    node.push_back(v);
  node.SetStyle(YAML::EmitterStyle::Flow);
  return node;
}
YAML::Node value_node(const std::vector<double>& value) {
  YAML::Node node(YAML::NodeType::Sequence);
  for (double v : value)
    node.push_back(value_node(v));
  node.SetStyle(YAML::EmitterStyle::Flow);
  return node;
}
YAML::Node value_node(const std::vector<std::string>& value) {
  YAML::Node node(YAML::NodeType::Sequence);
  for (const auto& v : value)
    node.push_back(v);
  node.SetStyle(YAML::EmitterStyle::Flow);
  return node;
}

Writer::Writer() {
  stack_.emplace_back(YAML::NodeType::Map);
}

std::string Documenter::join(const char* key) const {
  std::string path;
  for (const auto& p : prefix_)
    path += p + ".";
  return path + key;
}

void Documenter::field(const char* key, const Choice& choice, const char* help) {
  std::string type = "one of";
  for (size_t i = 0; i < choice.allowed.size(); ++i) {
    type += (i ? " \\| " : " ") + choice.allowed[i];
  }
  keys_.push_back({join(key), type, to_flow(value_node(choice.value)), help, false});
}

std::string to_yaml(const YAML::Node& node) {
  YAML::Emitter emitter;
  emitter << node;
  return std::string(emitter.c_str()) + "\n";
}

std::string to_flow(const YAML::Node& node) {
  YAML::Emitter emitter;
  emitter.SetMapFormat(YAML::Flow);
  emitter.SetSeqFormat(YAML::Flow);
  emitter << node;
  std::string text = emitter.c_str();
  return text.empty() ? "\"\"" : text;
}

// ---------------------------------------------------------------------------------------------
// Helpers

std::string nearest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = SIZE_MAX;
  for (const auto& candidate : candidates) {
    // Levenshtein distance, one row at a time.
    std::vector<size_t> row(candidate.size() + 1);
    for (size_t j = 0; j <= candidate.size(); ++j)
      row[j] = j;
    for (size_t i = 1; i <= word.size(); ++i) {
      size_t diagonal = row[0];
      row[0] = i;
      for (size_t j = 1; j <= candidate.size(); ++j) {
        size_t above = row[j];
        size_t cost = word[i - 1] == candidate[j - 1] ? 0 : 1;
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + cost});
        diagonal = above;
      }
    }
    size_t distance = row[candidate.size()];
    // A candidate that starts with the word (or the reverse) is a likely intent too.
    bool prefix = !word.empty() && (candidate.rfind(word, 0) == 0 || word.rfind(candidate, 0) == 0);
    if (prefix) distance = std::min(distance, size_t{1});
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  size_t limit = std::max<size_t>(2, word.size() / 3);
  return best_distance <= limit ? best : "";
}

std::string expand_env(const std::string& value, const std::string& where) {
  std::string out;
  size_t i = 0;
  while (i < value.size()) {
    if (value[i] == '$' && i + 1 < value.size() && value[i + 1] == '{') {
      size_t close = value.find('}', i + 2);
      if (close == std::string::npos) {
        throw ConfigError(where + ": unterminated '${' in '" + value + "'");
      }
      std::string inner = value.substr(i + 2, close - i - 2);
      std::string name = inner;
      std::string fallback;
      bool has_fallback = false;
      if (size_t sep = inner.find(":-"); sep != std::string::npos) {
        name = inner.substr(0, sep);
        fallback = inner.substr(sep + 2);
        has_fallback = true;
      }
      const char* env = std::getenv(name.c_str());
      if (env && *env) {
        out += env;
      } else if (has_fallback) {
        out += fallback;
      } else {
        throw ConfigError(where + ": environment variable " + name + " is not set (write ${" +
                          name + ":-default} for a fallback)");
      }
      i = close + 1;
    } else {
      out += value[i++];
    }
  }
  return out;
}

}  // namespace dgr::config
