// What an options struct needs to live next to its component: `visit()` over its fields (see
// core/util/config.h for the visitors that read, write and document them), `Choice` for a string
// with a fixed set of values, and `OptionError`, which names a refused option by the struct's
// field, not by a config key: the component does not know where the assembled configuration
// puts its struct ("train" or "teacher.train"). `KeyScope` tells it: while one is alive over the
// assembled configuration, an OptionError names the option's full dotted key. No YAML here.
#pragma once

#include <initializer_list>
#include <string>
#include <vector>

#include "core/util/error.h"

namespace dgr::config {

// Marks a string field whose value must be one of a fixed set ("auto", "beir", ...).
struct Choice {
  std::string& value;
  std::vector<std::string> allowed;
};

// Finds the dotted name of the field at an address by visiting a struct (sections joined with
// '.'; a struct visited inline adds no name).
class KeyFinder {
 public:
  explicit KeyFinder(const void* target) : target_(target) {}
  template <class T>
  void field(const char* key, T& value, const char* /*help*/) {
    if (static_cast<const void*>(&value) == target_) found_ = join(key);
  }
  void field(const char* key, const Choice& choice, const char* /*help*/) {
    if (static_cast<const void*>(&choice.value) == target_) found_ = join(key);
  }
  template <class S>
  void section(const char* key, S& options, const char* /*help*/) {
    prefix_.emplace_back(key);
    visit(*this, options);
    prefix_.pop_back();
  }
  const std::string& found() const { return found_; }

 private:
  std::string join(const char* key) const;
  const void* target_;
  std::vector<std::string> prefix_;
  std::string found_;
};

// An option as an error names it: its address and its name in the struct that owns it.
struct OptionKey {
  const void* address = nullptr;
  std::string name;
};

// `field` (a member of `owner`, possibly nested) as an OptionKey.
template <class Options, class T>
OptionKey option_key(const Options& owner, const T& field) {
  KeyFinder finder(&field);
  visit(finder, const_cast<Options&>(owner));
  return {&field, finder.found()};
}

// The full dotted key of an option while a KeyScope over its configuration is alive, else its
// name in its struct.
std::string key_name(const OptionKey& key);

// A refused option value. `text` holds one "{}" per key, replaced by each key's name as
// key_name() gives it, e.g. OptionError("{} must be positive", {option_key(o, o.lr)}).
class OptionError : public ConfigError {
 public:
  OptionError(const std::string& text, std::initializer_list<OptionKey> keys);
};

// While alive, OptionErrors name the options of `root` by their dotted path in it, after
// `prefix` ("" for a whole configuration, "teacher.train" for a section's struct on its own).
// Scopes nest; the innermost that knows an option names it. Not thread-safe to construct
// concurrently with errors thrown on other threads of the same process.
class KeyScope {
 public:
  template <class Options>
  explicit KeyScope(const Options& root, const std::string& prefix = "") {
    Recorder recorder(prefix);
    visit(recorder, const_cast<Options&>(root));
    push(std::move(recorder.keys));
  }
  ~KeyScope();
  KeyScope(const KeyScope&) = delete;
  KeyScope& operator=(const KeyScope&) = delete;

 private:
  struct Recorder {
    explicit Recorder(const std::string& prefix) {
      if (!prefix.empty()) path.push_back(prefix);
    }
    template <class T>
    void field(const char* key, T& value, const char* /*help*/) {
      keys.push_back({&value, join(key)});
    }
    void field(const char* key, const Choice& choice, const char* /*help*/) {
      keys.push_back({&choice.value, join(key)});
    }
    template <class S>
    void section(const char* key, S& options, const char* /*help*/) {
      path.emplace_back(key);
      visit(*this, options);
      path.pop_back();
    }
    std::string join(const char* key) const;
    std::vector<std::string> path;
    std::vector<OptionKey> keys;
  };
  void push(std::vector<OptionKey> keys);
};

}  // namespace dgr::config
