// The bad-input catalogue's shared machinery: a scratch directory per test, files written byte
// for byte, and the one assertion every case makes. A reader fed a bad file must throw exactly
// the dgr error class the case names (not a base class, not another dgr class, not a
// std::exception from a library underneath, and no crash), with a message that names the file
// and whatever else the case lists (a line "path:12:", a key, what was expected). A case may
// also say that the reader accepts the input (kAccepted): then nothing may be thrown.
//
// Cases are rows of a table ({name, content, expected class, expected parts}); every failure
// reports the row's name, so adding a row is all a new bad input costs.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <typeinfo>
#include <vector>

#include "core/util/error.h"

namespace dgr::robustness {

namespace fs = std::filesystem;

// What a case expects: one exact dgr error class, or that the input is read without error.
enum class Expect { kDataError, kIoError, kConfigError, kAccepted };

inline const char* expect_name(Expect expect) {
  switch (expect) {
    case Expect::kDataError:
      return "dgr::DataError";
    case Expect::kIoError:
      return "dgr::IoError";
    case Expect::kConfigError:
      return "dgr::ConfigError";
    case Expect::kAccepted:
      return "no error";
  }
  return "?";
}

// The exact dynamic class: a DataError subclass (should one appear) must be named by its case.
inline bool is_exactly(const Error& error, Expect expect) {
  switch (expect) {
    case Expect::kDataError:
      return typeid(error) == typeid(DataError);
    case Expect::kIoError:
      return typeid(error) == typeid(IoError);
    case Expect::kConfigError:
      return typeid(error) == typeid(ConfigError);
    case Expect::kAccepted:
      return false;
  }
  return false;
}

// A fresh, empty directory per test (tests of one binary may run in parallel under ctest).
inline std::string scratch_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(info->test_suite_name()) + "." + info->name();
  for (char& c : name) {
    if (c == '/') c = '_';  // parameterised tests have '/' in their names
  }
  const fs::path dir = fs::path(DGR_TEST_TMP_DIR) / "robustness" / name;
  static thread_local std::string last;  // cleared once per test, not once per file
  if (last != dir.string()) {
    fs::remove_all(dir);
    last = dir.string();
  }
  fs::create_directories(dir);
  return dir.string();
}

// Writes `content` byte for byte to `name` under the scratch directory; returns the path.
inline std::string write_bytes(const std::string& name, const std::string& content) {
  const fs::path path = fs::path(scratch_dir()) / name;
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  out.close();
  EXPECT_TRUE(out.good()) << "cannot write " << path;
  return path.string();
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Copies `from` to `to` (overwriting) and keeps only the first `bytes` bytes.
inline void copy_truncated(const std::string& from, const std::string& to, uintmax_t bytes) {
  fs::copy_file(from, to, fs::copy_options::overwrite_existing);
  fs::resize_file(to, bytes);
}

// Overwrites `bytes` bytes of `path` at `offset` with `fill`.
inline void overwrite(const std::string& path, uintmax_t offset, uintmax_t bytes, char fill) {
  std::fstream out(path, std::ios::in | std::ios::out | std::ios::binary);
  out.seekp(static_cast<std::streamoff>(offset));
  const std::string garbage(bytes, fill);
  out.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
}

// Runs `read` and checks the outcome against `expect`; the message must contain every one of
// `parts` (for errors). Returns the message ("" when nothing was thrown).
inline std::string expect_outcome(const std::function<void()>& read, Expect expect,
                                  const std::vector<std::string>& parts) {
  try {
    read();
  } catch (const Error& e) {
    const std::string message = e.what();
    if (expect == Expect::kAccepted) {
      ADD_FAILURE() << "expected the input to be accepted, got " << typeid(e).name() << ": "
                    << message;
      return message;
    }
    EXPECT_TRUE(is_exactly(e, expect))
        << "expected " << expect_name(expect) << ", got " << e.kind() << ": " << message;
    for (const std::string& part : parts) {
      EXPECT_NE(message.find(part), std::string::npos)
          << "message: " << message << "\nexpected to contain: " << part;
    }
    return message;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected " << expect_name(expect) << ", got a " << typeid(e).name()
                  << " that is not a dgr::Error: " << e.what();
    return e.what();
  } catch (...) {
    ADD_FAILURE() << "expected " << expect_name(expect) << ", got a non-std exception";
    return "";
  }
  if (expect != Expect::kAccepted) {
    ADD_FAILURE() << "expected " << expect_name(expect) << ", nothing was thrown";
  }
  return "";
}

// One row of a catalogue: a file's bytes and what reading it must give. `parts` need not repeat
// the file's path: the runner checks it (for errors) in every case, as "path:line:" when `line`
// is not 0.
struct FileCase {
  std::string name;
  std::string content;
  Expect expect;
  int line;
  std::vector<std::string> parts;
};

// Writes each case to `file_name` (in a directory of its own) and reads it with `read(path)`.
// Every error message must name the path.
inline void run_file_cases(const std::string& file_name, const std::vector<FileCase>& cases,
                           const std::function<void(const std::string& path)>& read) {
  for (const FileCase& c : cases) {
    SCOPED_TRACE("case '" + c.name + "'");
    const std::string path = write_bytes(c.name + "/" + file_name, c.content);
    std::vector<std::string> parts = c.parts;
    if (c.expect != Expect::kAccepted) {
      parts.insert(parts.begin(), c.line > 0 ? path + ":" + std::to_string(c.line) + ":" : path);
    }
    expect_outcome([&] { read(path); }, c.expect, parts);
  }
}

// Bytes that are not UTF-8: a lone continuation byte, an overlong '/', a surrogate, a truncated
// 3-byte sequence.
inline const std::vector<std::string>& invalid_utf8_samples() {
  static const std::vector<std::string> samples = {"\x80", "\xC0\xAF", "\xED\xA0\x80", "\xE2\x82"};
  return samples;
}

}  // namespace dgr::robustness
