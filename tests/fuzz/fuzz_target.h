// Shared pieces of the libFuzzer targets in tests/fuzz/: a per-process scratch directory where
// a target writes the fuzzer's bytes as the file a reader expects, and the one rule every target
// follows, that a dgr::Error is the only acceptable way for a reader to reject its input.
// Anything else (another exception, a crash, a sanitizer report, a hang, a leak or a failed
// FUZZ_CHECK) is a finding.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "core/util/error.h"

namespace dgr::fuzz {

// A directory under $TMPDIR (or /tmp) that lives as long as the process and is removed at exit.
// One per process, so parallel fuzzing jobs never share files.
inline const std::string& scratch_dir() {
  // Never destroyed: the exit handler below runs after static destructors would have.
  static const std::string& dir = *new std::string([] {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/dgr-fuzz-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      std::perror("dgr fuzz: mkdtemp");
      std::abort();
    }
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratch_dir(), ec);
    });
    return pattern;
  }());
  return dir;
}

// Writes `bytes` to scratch_dir()/name (replacing it) and returns the path.
inline std::string write_scratch(const std::string& name, std::string_view bytes) {
  const std::string path = scratch_dir() + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) {
    std::fprintf(stderr, "dgr fuzz: cannot write %s\n", path.c_str());
    std::abort();
  }
  return path;
}

// What every reader promises of an id it accepts: non-empty, without whitespace.
inline bool valid_id(const std::string& id) {
  return !id.empty() && id.find_first_of(" \t\n\r\v\f") == std::string::npos;
}

// Runs `read` and swallows a dgr::Error (the documented rejection of bad input); returns whether
// the input was accepted. Any other exception escapes and ends the run as a finding.
template <class Read>
bool accepts(Read&& read) {
  try {
    read();
    return true;
  } catch (const dgr::Error&) {
    return false;
  }
}

}  // namespace dgr::fuzz

// A property of accepted input; on failure prints the condition and aborts, which libFuzzer
// reports as a crash with the input that caused it.
#define FUZZ_CHECK(condition)                                                                 \
  do {                                                                                        \
    if (!(condition)) {                                                                       \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                           \
    }                                                                                         \
  } while (false)
