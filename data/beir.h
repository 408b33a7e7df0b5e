// Readers of the BEIR layout: `corpus.jsonl` ({"_id", "title", "text"}), `queries.jsonl`
// ({"_id", "text"}) and `qrels/<split>.tsv` (header "query-id<TAB>corpus-id<TAB>score").
//
// Rules shared by all BEIR readers:
// - `_id` is a JSON string; a JSON integer is accepted and converted to its decimal text. Ids must
//   be non-empty and free of whitespace (they are written to TREC run files).
// - A missing or null `title` reads as ""; `text` is required (it may be ""). Other fields (e.g.
//   `metadata`) are ignored.
// - Blank lines (empty or only spaces/tabs) are skipped anywhere, since some exports end with one.
// - Every line must be valid UTF-8; errors are DataError "path:line: ..." and a missing file is an
//   IoError naming the path. A file without records is a DataError "path: empty file, ...".
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "core/eval/qrels.h"
#include "data/corpus.h"

namespace dgr::data {

// Calls `fn(passage, line)` for every passage of a BEIR corpus.jsonl, in file order, holding one
// line in memory. Does not check for duplicate ids (Corpus::add does).
void for_each_beir_passage(const std::string& path,
                           const std::function<void(Passage&& passage, int64_t line)>& fn,
                           const RecordFilter& want = nullptr);
// The whole corpus; duplicate ids are a DataError naming both lines.
Corpus read_beir_corpus(const std::string& path);

// Calls `fn(query, line)` for every query of a BEIR queries.jsonl, in file order.
void for_each_beir_query(const std::string& path,
                         const std::function<void(Query&& query, int64_t line)>& fn);
Queries read_beir_queries(const std::string& path);

// A BEIR qrels tsv: the header line, then rows "query-id<TAB>corpus-id<TAB>score" with an integer
// score. A second judgment of the same (query, passage) pair is a DataError naming both lines.
eval::Qrels read_beir_qrels(const std::string& path);

// Whether `line` is the BEIR qrels header.
bool is_beir_qrels_header(const std::string& line);

}  // namespace dgr::data
