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
  } catch (const nlohmann::json::exception& e) {
    // Valid syntax that nlohmann cannot hold, such as a number beyond a double's range.
    std::string detail = e.what();
    const size_t bracket = detail.find("] ");
    if (bracket != std::string::npos) detail = detail.substr(bracket + 2);
    if (detail.size() > 300) detail = detail.substr(0, 300) + "...";
    throw reader.error("bad JSON (" + detail + "), expected one JSON object per line");
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

namespace {

// SAX events of one line until the top-level member `key` has a scalar value: it is kept and the
// scan stops. Anything else (an error, another shape) also stops the scan, without a value.
class IdScanner : public nlohmann::json_sax<nlohmann::json> {
 public:
  explicit IdScanner(const char* key) : key_(key) {}

  bool found() const { return found_; }
  const nlohmann::json& value() const { return value_; }

  bool null() override { return scalar(nullptr); }
  bool boolean(bool v) override { return scalar(v); }
  bool number_integer(number_integer_t v) override { return scalar(v); }
  bool number_unsigned(number_unsigned_t v) override { return scalar(v); }
  bool number_float(number_float_t v, const string_t& /*text*/) override { return scalar(v); }
  bool string(string_t& v) override { return scalar(v); }
  bool binary(binary_t& /*v*/) override { return false; }
  bool start_object(std::size_t /*elements*/) override { return open(); }
  bool start_array(std::size_t /*elements*/) override { return depth_ > 0 && open(); }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }
  bool key(string_t& k) override {
    wanted_ = depth_ == 1 && k == key_;
    return true;
  }
  bool parse_error(std::size_t /*position*/, const std::string& /*token*/,
                   const nlohmann::detail::exception& /*error*/) override {
    return false;
  }

 private:
  bool scalar(nlohmann::json v) {
    if (depth_ == 0) return false;  // the line is a scalar, not an object
    if (!wanted_ || depth_ != 1) return true;
    value_ = std::move(v);
    found_ = true;
    return false;  // done: the rest of the line is not read
  }
  bool open() {
    if (wanted_ && depth_ == 1) return false;  // the member is an object or an array
    ++depth_;
    return true;
  }
  bool close() {
    --depth_;
    return true;
  }

  std::string key_;
  int depth_ = 0;
  bool wanted_ = false;
  bool found_ = false;
  nlohmann::json value_;
};

}  // namespace

std::string scan_json_id(const LineReader& reader, const std::string& line, const char* key,
                         const char* what) {
  IdScanner scanner(key);
  nlohmann::json::sax_parse(line, &scanner);
  if (scanner.found() && (scanner.value().is_string() || scanner.value().is_number_integer())) {
    nlohmann::json object = nlohmann::json::object();
    object[key] = scanner.value();
    return json_id(reader, object, key, what);
  }
  // Whatever is wrong with the line, the full parse names it as every other reader does.
  return json_id(reader, parse_json_object(reader, line), key, what);
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
