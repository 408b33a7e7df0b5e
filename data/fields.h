// Splitting and strict parsing of the fields of one line, shared by the tsv, TREC and jsonl
// readers. Parsers return nullopt instead of throwing, so that each reader can say what it
// expected at which path:line.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "data/corpus.h"
#include "data/line_reader.h"

namespace dgr::data {

// Fields separated by single tabs (an empty field between two tabs is kept).
std::vector<std::string_view> split_tabs(std::string_view line);
// Fields separated by runs of spaces and tabs; leading and trailing whitespace is ignored.
std::vector<std::string_view> split_whitespace(std::string_view line);

// The whole of `field` as a decimal integer (optional leading '-' or '+'), or nullopt.
std::optional<int> parse_int(std::string_view field);
// The whole of `field` as a floating-point number, or nullopt. "nan" and "inf" parse (callers
// decide whether non-finite values are allowed); out-of-range values do not.
std::optional<double> parse_double(std::string_view field);

// A passage or query id must be non-empty and free of whitespace and NUL bytes: ids are written
// to whitespace-separated TREC run files, where an id with a space would break the columns.
// Throws DataError at the reader's current line naming `what` ("passage id", "query id").
void check_id(const LineReader& reader, std::string_view id, const char* what);

// Throws the DataError of a file without records: "path: empty file, expected <expected>" for a
// file of zero bytes, "path: no records (only blank lines|after the header), expected <expected>"
// otherwise.
// True when `want` rejects the record at position `records`; the record is then counted as
// seen, so the caller skips it without parsing. An empty filter wants every record.
inline bool skip_record(const RecordFilter& want, size_t& records) {
  if (!want || want(records)) return false;
  ++records;
  return true;
}

[[noreturn]] void throw_no_records(const LineReader& reader, const std::string& expected,
                                   bool after_header = false);

// `field` quoted for messages, shortened to about 60 bytes.
std::string quote_field(std::string_view field);

}  // namespace dgr::data
