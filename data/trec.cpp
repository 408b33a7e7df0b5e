#include "data/trec.h"

#include <cmath>
#include <unordered_map>
#include <utility>

#include "data/fields.h"
#include "data/line_reader.h"
#include "data/qrels_builder.h"

namespace dgr::data {
namespace {

constexpr const char* kQrelsExpected = "TREC qrels lines 'qid 0 docid rel'";
constexpr const char* kRunExpected = "TREC run lines 'qid Q0 docid rank score tag'";

}  // namespace

eval::Qrels read_trec_qrels(const std::string& path) {
  LineReader reader(path);
  QrelsBuilder qrels;
  std::string line;
  while (reader.next(line)) {
    if (is_blank(line)) continue;
    const auto fields = split_whitespace(line);
    if (fields.size() != 4) {
      throw reader.error("expected 4 whitespace-separated columns 'qid 0 docid rel', found " +
                         std::to_string(fields.size()));
    }
    check_id(reader, fields[0], "query id");
    check_id(reader, fields[2], "passage id");
    const auto grade = parse_int(fields[3]);
    if (!grade) {
      throw reader.error("non-integer relevance " + quote_field(fields[3]) +
                         " in column 4, expected an integer grade");
    }
    qrels.add(reader, std::string(fields[0]), std::string(fields[2]), *grade);
  }
  if (qrels.size() == 0) throw_no_records(reader, kQrelsExpected);
  return qrels.take();
}

void for_each_trec_run_line(const std::string& path,
                            const std::function<void(TrecRunLine&&, int64_t)>& fn) {
  LineReader reader(path);
  std::string line;
  size_t records = 0;
  while (reader.next(line)) {
    if (is_blank(line)) continue;
    const auto fields = split_whitespace(line);
    if (fields.size() != 6) {
      throw reader.error(
          "expected 6 whitespace-separated columns 'qid Q0 docid rank score tag', found " +
          std::to_string(fields.size()));
    }
    check_id(reader, fields[0], "query id");
    check_id(reader, fields[2], "passage id");
    // The tag is written back by every tool that copies a run: the same rules as ids.
    check_id(reader, fields[5], "run tag");
    const auto rank = parse_int(fields[3]);
    if (!rank) {
      throw reader.error("non-integer rank " + quote_field(fields[3]) + " in column 4");
    }
    const auto score = parse_double(fields[4]);
    if (!score) {
      throw reader.error("non-numeric score " + quote_field(fields[4]) +
                         " in column 5, expected a number");
    }
    if (!std::isfinite(*score)) {
      throw reader.error("non-finite score " + quote_field(fields[4]) +
                         " in column 5, expected a finite number");
    }
    TrecRunLine entry;
    entry.query_id = std::string(fields[0]);
    entry.passage_id = std::string(fields[2]);
    entry.rank = *rank;
    entry.score = *score;
    entry.tag = std::string(fields[5]);
    fn(std::move(entry), reader.line_number());
    ++records;
  }
  if (records == 0) throw_no_records(reader, kRunExpected);
}

eval::Run read_trec_run(const std::string& path) {
  eval::Run run;
  bool first = true;
  // query id -> (passage id -> line), only for the duplicate message.
  std::unordered_map<std::string, std::unordered_map<std::string, int64_t>> lines;
  for_each_trec_run_line(path, [&](TrecRunLine&& entry, int64_t line) {
    if (first) {
      run.tag = entry.tag;
      first = false;
    }
    auto [known, inserted] = lines[entry.query_id].emplace(entry.passage_id, line);
    if (!inserted) {
      throw DataError(located(path, line,
                              "duplicate entry for query " + quote_field(entry.query_id) +
                                  " and passage " + quote_field(entry.passage_id) +
                                  " (first at line " + std::to_string(known->second) + ")"));
    }
    run.by_query[entry.query_id].push_back(
        eval::RunEntry{std::move(entry.passage_id), entry.score, entry.rank});
  });
  return run;
}

}  // namespace dgr::data
