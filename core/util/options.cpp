#include "core/util/options.h"

#include <mutex>
#include <utility>

namespace dgr::config {
namespace {

std::string dotted(const std::vector<std::string>& path, const char* key) {
  std::string out;
  for (const auto& part : path)
    out += part + ".";
  return out + key;
}

// The live scopes' keys, innermost last.
std::mutex scopes_mutex;
std::vector<std::vector<OptionKey>>& scopes() {
  static std::vector<std::vector<OptionKey>> stack;
  return stack;
}

}  // namespace

std::string KeyFinder::join(const char* key) const {
  return dotted(prefix_, key);
}

std::string KeyScope::Recorder::join(const char* key) const {
  return dotted(path, key);
}

void KeyScope::push(std::vector<OptionKey> keys) {
  std::lock_guard<std::mutex> lock(scopes_mutex);
  scopes().push_back(std::move(keys));
}

KeyScope::~KeyScope() {
  std::lock_guard<std::mutex> lock(scopes_mutex);
  scopes().pop_back();
}

std::string key_name(const OptionKey& key) {
  std::lock_guard<std::mutex> lock(scopes_mutex);
  const auto& stack = scopes();
  for (auto scope = stack.rbegin(); scope != stack.rend(); ++scope) {
    for (const auto& known : *scope) {
      if (known.address == key.address) return known.name;
    }
  }
  return key.name;
}

namespace {

std::string render(const std::string& text, std::initializer_list<OptionKey> keys) {
  std::string out;
  auto key = keys.begin();
  size_t at = 0;
  while (true) {
    const size_t slot = text.find("{}", at);
    if (slot == std::string::npos || key == keys.end()) break;
    out += text.substr(at, slot - at) + key_name(*key);
    ++key;
    at = slot + 2;
  }
  return out + text.substr(at);
}

}  // namespace

OptionError::OptionError(const std::string& text, std::initializer_list<OptionKey> keys)
    : ConfigError(render(text, keys)) {}

}  // namespace dgr::config
