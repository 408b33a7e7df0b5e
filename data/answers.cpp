#include "data/answers.h"

#include <cstdint>
#include <unordered_map>

#include "data/fields.h"
#include "data/jsonl.h"
#include "data/line_reader.h"

namespace dgr::data {

std::map<std::string, std::vector<std::string>> read_string_lists(const std::string& path,
                                                                  const char* field) {
  LineReader reader(path);
  std::map<std::string, std::vector<std::string>> lists;
  std::unordered_map<std::string, int64_t> lines;  // id -> line, for the duplicate message
  const std::string name(field);
  std::string line;
  while (reader.next(line)) {
    if (is_blank(line)) continue;
    const nlohmann::json object = parse_json_object(reader, line);
    std::string id = json_id(reader, object, "_id", "id");
    auto list = object.find(name);
    if (list == object.end()) throw reader.error("missing field '" + name + "'");
    if (!list->is_array()) {
      throw reader.error("field '" + name + "' must be an array of strings, found " +
                         list->type_name());
    }
    std::vector<std::string> texts;
    texts.reserve(list->size());
    for (size_t i = 0; i < list->size(); ++i) {
      const nlohmann::json& item = (*list)[i];
      if (!item.is_string()) {
        throw reader.error("field '" + name + "' must be an array of strings, element " +
                           std::to_string(i) + " is " + item.type_name());
      }
      texts.push_back(item.get<std::string>());
    }
    auto [known, inserted] = lines.emplace(id, reader.line_number());
    if (!inserted) {
      throw reader.error("duplicate id " + quote_field(id) + " (first defined at line " +
                         std::to_string(known->second) + ")");
    }
    lists.emplace(std::move(id), std::move(texts));
  }
  if (lists.empty()) {
    throw_no_records(reader, "one JSON object per line with \"_id\", \"" + name + "\"");
  }
  return lists;
}

Answers read_answers(const std::string& path) {
  return read_string_lists(path, "answers");
}

PseudoQueries read_pseudo_queries(const std::string& path) {
  return read_string_lists(path, "pseudo_queries");
}

}  // namespace dgr::data
