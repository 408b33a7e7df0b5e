#include "data/beir.h"

#include <utility>

#include "data/fields.h"
#include "data/jsonl.h"
#include "data/line_reader.h"
#include "data/qrels_builder.h"

namespace dgr::data {
namespace {

constexpr const char* kCorpusExpected =
    "one JSON object per line with \"_id\", \"title\", \"text\"";
constexpr const char* kQueriesExpected = "one JSON object per line with \"_id\", \"text\"";
constexpr const char* kQrelsExpected =
    "the header 'query-id<TAB>corpus-id<TAB>score' then one judgment per line";

}  // namespace

void for_each_beir_passage(const std::string& path,
                           const std::function<void(Passage&&, int64_t)>& fn,
                           const RecordFilter& want) {
  LineReader reader(path);
  std::string line;
  size_t records = 0;
  while (reader.next(line)) {
    if (is_blank(line)) continue;
    if (skip_record(want, records)) continue;
    const nlohmann::json object = parse_json_object(reader, line);
    Passage passage;
    passage.id = json_id(reader, object, "_id", "passage id");
    passage.title = json_string(reader, object, "title", /*required=*/false);
    passage.text = json_string(reader, object, "text", /*required=*/true);
    fn(std::move(passage), reader.line_number());
    ++records;
  }
  if (records == 0) throw_no_records(reader, kCorpusExpected);
}

Corpus read_beir_corpus(const std::string& path) {
  Corpus corpus;
  for_each_beir_passage(
      path, [&](Passage&& passage, int64_t line) { corpus.add(std::move(passage), path, line); });
  return corpus;
}

void for_each_beir_query(const std::string& path, const std::function<void(Query&&, int64_t)>& fn) {
  LineReader reader(path);
  std::string line;
  size_t records = 0;
  while (reader.next(line)) {
    if (is_blank(line)) continue;
    const nlohmann::json object = parse_json_object(reader, line);
    Query query;
    query.id = json_id(reader, object, "_id", "query id");
    query.text = json_string(reader, object, "text", /*required=*/true);
    fn(std::move(query), reader.line_number());
    ++records;
  }
  if (records == 0) throw_no_records(reader, kQueriesExpected);
}

Queries read_beir_queries(const std::string& path) {
  Queries queries;
  for_each_beir_query(
      path, [&](Query&& query, int64_t line) { queries.add(std::move(query), path, line); });
  return queries;
}

bool is_beir_qrels_header(const std::string& line) {
  const auto fields = split_tabs(line);
  return fields.size() == 3 && fields[0] == "query-id" && fields[1] == "corpus-id" &&
         fields[2] == "score";
}

eval::Qrels read_beir_qrels(const std::string& path) {
  LineReader reader(path);
  QrelsBuilder qrels;
  std::string line;
  bool header_seen = false;
  while (reader.next(line)) {
    if (is_blank(line)) continue;
    if (!header_seen) {
      if (!is_beir_qrels_header(line)) {
        throw reader.error(
            "expected the BEIR qrels header 'query-id<TAB>corpus-id<TAB>score', found " +
            quote_field(line));
      }
      header_seen = true;
      continue;
    }
    const auto fields = split_tabs(line);
    if (fields.size() != 3) {
      throw reader.error(
          "expected 3 tab-separated columns 'query-id<TAB>corpus-id<TAB>score', found " +
          std::to_string(fields.size()));
    }
    check_id(reader, fields[0], "query id");
    check_id(reader, fields[1], "passage id");
    const auto grade = parse_int(fields[2]);
    if (!grade) {
      throw reader.error("non-integer score " + quote_field(fields[2]) +
                         " in column 3, expected an integer relevance grade");
    }
    qrels.add(reader, std::string(fields[0]), std::string(fields[1]), *grade);
  }
  if (qrels.size() == 0) throw_no_records(reader, kQrelsExpected, header_seen);
  return qrels.take();
}

}  // namespace dgr::data
