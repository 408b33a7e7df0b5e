#include "data/line_reader.h"

#include <filesystem>
#include <system_error>

#include "core/text/utf8.h"

namespace dgr::data {
namespace {

// A large stream buffer: the default (a few KiB) makes line reading of multi-GB corpora
// noticeably slower.
constexpr size_t kBufferBytes = 1 << 20;

}  // namespace

// The buffer is left uninitialised (no make_unique, which zeroes it): the stream writes before
// it reads, and zeroing 1 MiB on every open made small files cost page faults, not reading.
LineReader::LineReader(std::string path) : path_(std::move(path)), buffer_(new char[kBufferBytes]) {
  std::error_code ec;
  if (std::filesystem::is_directory(path_, ec)) {
    throw IoError(path_ + ": is a directory, expected a file");
  }
  in_.rdbuf()->pubsetbuf(buffer_.get(), kBufferBytes);
  in_.open(path_, std::ios::in | std::ios::binary);
  if (!in_.is_open()) {
    throw IoError(path_ + ": cannot open file for reading" +
                  (std::filesystem::exists(path_, ec) ? "" : " (no such file)"));
  }
  empty_file_ = in_.peek() == std::ifstream::traits_type::eof();
  if (in_.bad()) throw IoError(path_ + ": read error");
  in_.clear();
}

bool LineReader::next(std::string& line) {
  if (!std::getline(in_, line)) {
    if (in_.bad()) throw IoError(located(path_, line_number_ + 1, "read error"));
    return false;
  }
  ++line_number_;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  size_t dropped = 0;  // bytes of a byte order mark, so that columns count from the file
  if (line_number_ == 1 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) {
    line.erase(0, 3);
    dropped = 3;
  }
  if (validate_utf8_) {
    const size_t bad = text::first_invalid_utf8(line);
    if (bad != std::string::npos) {
      throw error("invalid UTF-8 at byte column " + std::to_string(bad + dropped + 1));
    }
  }
  return true;
}

DataError LineReader::error(const std::string& message) const {
  return DataError(located(path_, line_number_, message));
}

bool is_blank(std::string_view line) {
  return line.find_first_not_of(" \t") == std::string_view::npos;
}

}  // namespace dgr::data
