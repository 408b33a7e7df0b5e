// The error types of dgr. Every failure a user can cause (bad config, bad data, a missing file)
// is reported as one of these, with the file, line or key that caused it, and caught once in
// `main`, which prints the message and aborts all MPI ranks. Programming errors use CHECK.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace dgr {

// Base of all user-facing errors. `what()` is the complete message, ready to print.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
  // Short name of the error class for messages ("config error", "data error", ...).
  virtual const char* kind() const noexcept { return "error"; }
};

// A configuration problem: unknown key, wrong type, missing required key, bad value.
class ConfigError : public Error {
 public:
  using Error::Error;
  const char* kind() const noexcept override { return "config error"; }
};

// Malformed input data: bad JSON, wrong column count, duplicate or unknown ids, invalid UTF-8.
class DataError : public Error {
 public:
  using Error::Error;
  const char* kind() const noexcept override { return "data error"; }
};

// A file that cannot be opened, read or written.
class IoError : public Error {
 public:
  using Error::Error;
  const char* kind() const noexcept override { return "I/O error"; }
};

// A failure of a collective or of the communication layer (MPI, NCCL).
class CommError : public Error {
 public:
  using Error::Error;
  const char* kind() const noexcept override { return "communication error"; }
};

// "path:line: message" (line omitted when 0), the prefix every located message uses.
std::string located(const std::string& path, int64_t line, const std::string& message);

}  // namespace dgr
