// Reader of answer files for open-domain QA (NQ, TriviaQA): JSON lines {"_id": qid, "answers":
// ["..", ...]}, used by hits@k with answer matching. Same rules as the BEIR readers: a JSON
// integer `_id` is converted to text, extra fields are ignored, blank lines are skipped.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace dgr::data {

// query id -> its answer strings, in file order. Ordered by id so that output is deterministic.
using Answers = std::map<std::string, std::vector<std::string>>;

// Throws DataError "path:line: ..." when `answers` is missing or not an array of strings, or a
// query id appears twice (naming both lines); an empty list is kept (that query can never hit).
Answers read_answers(const std::string& path);

// Pseudo-queries attached to passages (an identifier view): JSON lines {"_id": passage id,
// "pseudo_queries": ["..", ...]}, same rules as answers.
using PseudoQueries = std::map<std::string, std::vector<std::string>>;
PseudoQueries read_pseudo_queries(const std::string& path);

// The shared reader: id -> the array of strings under `field`.
std::map<std::string, std::vector<std::string>> read_string_lists(const std::string& path,
                                                                  const char* field);

}  // namespace dgr::data
