#include "data/fields.h"

#include <charconv>
#include <system_error>

#include "core/util/error.h"

namespace dgr::data {

std::vector<std::string_view> split_tabs(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t start = 0;
  while (true) {
    const size_t tab = line.find('\t', start);
    if (tab == std::string_view::npos) {
      fields.push_back(line.substr(start));
      return fields;
    }
    fields.push_back(line.substr(start, tab - start));
    start = tab + 1;
  }
}

std::vector<std::string_view> split_whitespace(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t start = line.find_first_not_of(" \t");
  while (start != std::string_view::npos) {
    const size_t end = line.find_first_of(" \t", start);
    fields.push_back(line.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) break;
    start = line.find_first_not_of(" \t", end);
  }
  return fields;
}

std::optional<int> parse_int(std::string_view field) {
  const bool plus = !field.empty() && field.front() == '+';
  if (plus) field.remove_prefix(1);
  // from_chars takes a '-' of its own: "+-1" must not read as -1.
  if (field.empty() || field.front() == '+' || field.front() == ' ' ||
      (plus && field.front() == '-')) {
    return std::nullopt;
  }
  int value = 0;
  const auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), value);
  if (ec != std::errc() || end != field.data() + field.size()) return std::nullopt;
  return value;
}

std::optional<double> parse_double(std::string_view field) {
  const bool plus = !field.empty() && field.front() == '+';
  if (plus) field.remove_prefix(1);
  if (field.empty() || field.front() == '+' || (plus && field.front() == '-')) return std::nullopt;
  double value = 0;
  const auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), value);
  if (ec != std::errc() || end != field.data() + field.size()) return std::nullopt;
  return value;
}

void check_id(const LineReader& reader, std::string_view id, const char* what) {
  if (id.empty()) throw reader.error(std::string("empty ") + what);
  if (id.find_first_of(" \t\n\r\v\f") != std::string_view::npos) {
    throw reader.error(std::string(what) + " " + quote_field(id) +
                       " contains whitespace, which TREC run files cannot hold");
  }
  // A JSON "\u0000" in an id: C strings, HDF5 string datasets and run files would cut it short.
  if (id.find('\0') != std::string_view::npos) {
    throw reader.error(std::string(what) + " contains a NUL byte");
  }
}

void throw_no_records(const LineReader& reader, const std::string& expected, bool after_header) {
  std::string what =
      after_header ? ": no records after the header" : ": no records (only blank lines)";
  if (reader.empty_file()) what = ": empty file";
  throw DataError(reader.path() + what + ", expected " + expected);
}

std::string quote_field(std::string_view field) {
  constexpr size_t kMaxBytes = 60;
  if (field.size() <= kMaxBytes) return "'" + std::string(field) + "'";
  size_t cut = kMaxBytes;
  // Do not cut inside a multi-byte UTF-8 sequence.
  while (cut > 0 && (static_cast<unsigned char>(field[cut]) & 0xC0) == 0x80)
    --cut;
  return "'" + std::string(field.substr(0, cut)) + "...'";
}

}  // namespace dgr::data
