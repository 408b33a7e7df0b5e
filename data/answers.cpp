#include "data/answers.h"

#include <cstdint>
#include <unordered_map>

#include "data/fields.h"
#include "data/jsonl.h"
#include "data/line_reader.h"

namespace dgr::data {

Answers read_answers(const std::string& path) {
  LineReader reader(path);
  Answers answers;
  std::unordered_map<std::string, int64_t> lines;  // query id -> line, for the duplicate message
  std::string line;
  while (reader.next(line)) {
    if (is_blank(line)) continue;
    const nlohmann::json object = parse_json_object(reader, line);
    std::string id = json_id(reader, object, "_id", "query id");
    auto list = object.find("answers");
    if (list == object.end()) throw reader.error("missing field 'answers'");
    if (!list->is_array()) {
      throw reader.error(std::string("field 'answers' must be an array of strings, found ") +
                         list->type_name());
    }
    std::vector<std::string> texts;
    texts.reserve(list->size());
    for (size_t i = 0; i < list->size(); ++i) {
      const nlohmann::json& answer = (*list)[i];
      if (!answer.is_string()) {
        throw reader.error("field 'answers' must be an array of strings, element " +
                           std::to_string(i) + " is " + answer.type_name());
      }
      texts.push_back(answer.get<std::string>());
    }
    auto [known, inserted] = lines.emplace(id, reader.line_number());
    if (!inserted) {
      throw reader.error("duplicate query id " + quote_field(id) + " (first defined at line " +
                         std::to_string(known->second) + ")");
    }
    answers.emplace(std::move(id), std::move(texts));
  }
  if (answers.empty()) {
    throw_no_records(reader, "one JSON object per line with \"_id\", \"answers\"");
  }
  return answers;
}

}  // namespace dgr::data
