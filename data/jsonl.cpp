#include "data/jsonl.h"

#include "data/fields.h"

namespace dgr::data {

nlohmann::json parse_json_object(const LineReader& reader, const std::string& line) {
  nlohmann::json object;
  try {
    object = nlohmann::json::parse(line);
  } catch (const nlohmann::json::parse_error& e) {
    // nlohmann's message starts with "[json.exception.parse_error.101] parse error at line 1,
    // column N: "; keep only the part after it, the column is given separately.
    std::string detail = e.what();
    const size_t colon = detail.find(": ");
    if (colon != std::string::npos) detail = detail.substr(colon + 2);
    // nlohmann quotes the token it was reading ("last read: '...'"), which for an unterminated
    // string is the rest of the line: megabytes on one line of a corpus.
    if (detail.size() > 300) {
      size_t cut = 300;
      while (cut > 0 && (static_cast<unsigned char>(detail[cut]) & 0xC0) == 0x80)
        --cut;  // not inside a multi-byte character
      detail = detail.substr(0, cut) + "...";
    }
    throw reader.error("bad JSON at byte column " + std::to_string(e.byte) + " (" + detail +
                       "), expected one JSON object per line");
  }
  if (!object.is_object()) {
    throw reader.error(std::string("expected a JSON object, found ") + object.type_name());
  }
  return object;
}

std::string json_id(const LineReader& reader, const nlohmann::json& object, const char* key,
                    const char* what) {
  auto it = object.find(key);
  if (it == object.end()) throw reader.error(std::string("missing field '") + key + "'");
  std::string id;
  if (it->is_string()) {
    id = it->get<std::string>();
  } else if (it->is_number_unsigned()) {
    id = std::to_string(it->get<uint64_t>());
  } else if (it->is_number_integer()) {
    id = std::to_string(it->get<int64_t>());
  } else {
    throw reader.error(std::string("field '") + key + "' must be a string (or an integer), found " +
                       it->type_name());
  }
  check_id(reader, id, what);
  return id;
}

std::string json_string(const LineReader& reader, const nlohmann::json& object, const char* key,
                        bool required) {
  auto it = object.find(key);
  if (it == object.end()) {
    if (required) throw reader.error(std::string("missing field '") + key + "'");
    return "";
  }
  if (it->is_null() && !required) return "";
  if (!it->is_string()) {
    throw reader.error(std::string("field '") + key + "' must be a string, found " +
                       it->type_name());
  }
  return it->get<std::string>();
}

}  // namespace dgr::data
