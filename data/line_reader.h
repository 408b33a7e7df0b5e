// Streaming, line-by-line reading of a text file with 1-based line numbers, the base of every
// reader in data/. Lines are returned without the '\n' and without a trailing '\r' (files written
// on Windows read the same); a UTF-8 byte order mark at the start of the file is dropped. Memory
// use is one line, so corpora of any size stream.
#pragma once

#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>

#include "core/util/error.h"

namespace dgr::data {

class LineReader {
 public:
  // Opens `path`; throws IoError naming the path when it does not exist, is a directory or cannot
  // be read.
  explicit LineReader(std::string path);

  // Reads the next line into `line`; false at the end of the file. Throws IoError on a read
  // failure. When `validate_utf8` (the default) is set, a line that is not valid UTF-8 throws
  // DataError "path:line: invalid UTF-8 at byte column C" (1-based column).
  bool next(std::string& line);

  // 1-based number of the line last returned by next(); 0 before the first call.
  int64_t line_number() const { return line_number_; }
  const std::string& path() const { return path_; }
  // Whether the file holds no bytes at all (known right after opening).
  bool empty_file() const { return empty_file_; }

  void set_validate_utf8(bool validate) { validate_utf8_ = validate; }

  // A DataError located at the current line: "path:line: message".
  DataError error(const std::string& message) const;

 private:
  std::string path_;
  std::unique_ptr<char[]> buffer_;  // outlives in_, which reads through it
  std::ifstream in_;
  int64_t line_number_ = 0;
  bool empty_file_ = false;
  bool validate_utf8_ = true;
};

// Whether `line` is empty or holds only spaces and tabs. Every reader skips such lines.
bool is_blank(std::string_view line);

}  // namespace dgr::data
