// Field access for JSON-lines files (one JSON object per line), with errors that say
// "path:line: what was expected". Shared by the BEIR corpus/queries and the answers readers.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "data/line_reader.h"

namespace dgr::data {

// Parses `line` as one JSON object; throws DataError "path:line: bad JSON at byte column C
// (...)" or "path:line: expected a JSON object, found <type>".
nlohmann::json parse_json_object(const LineReader& reader, const std::string& line);

// The id under `key` (normally "_id"). A JSON string is taken as is; a JSON integer is accepted
// too and converted to its decimal text, because some exports write numeric ids unquoted
// ({"_id": 12}) and the id is used as text everywhere else. Any other type, a missing key, an
// empty id or one with whitespace throws DataError naming the key. `what` is used in messages
// ("passage id", "query id").
std::string json_id(const LineReader& reader, const nlohmann::json& object, const char* key,
                    const char* what);

// json_id of the object on `line`, found by scanning the line only as far as the member `key`
// of the top-level object, without building the object: for a reader that wants the whole
// object of a few lines only. A line it cannot take the id from (bad JSON before the member, not
// an object, the member missing or of another type) gets exactly the error that
// parse_json_object + json_id would give. A line is not checked past the member.
std::string scan_json_id(const LineReader& reader, const std::string& line, const char* key,
                         const char* what);

// The string under `key`. An optional key (`required` false) that is missing or null gives "";
// a missing required key, or a value of another type, throws DataError naming the key.
std::string json_string(const LineReader& reader, const nlohmann::json& object, const char* key,
                        bool required);

}  // namespace dgr::data
