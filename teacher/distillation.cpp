#include "teacher/distillation.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <limits>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <utility>

#include "core/index/manifest.h"
#include "core/util/error.h"
#include "core/util/hash.h"
#include "data/dataset.h"
#include "data/jsonl.h"
#include "data/line_reader.h"
#include "data/trec.h"

namespace dgr::teacher {
namespace {

using nlohmann::json;

std::string in_quotes(const std::string& s) {
  return "'" + s + "'";
}

// A member of a keys.jsonl object, or a DataError at the reader's line naming it.
const json& member(const data::LineReader& reader, const json& object, const char* key,
                   const std::string& where) {
  const auto it = object.find(key);
  if (it == object.end()) throw reader.error(where + "missing field '" + key + "'");
  return *it;
}

int64_t integer(const data::LineReader& reader, const json& value, const std::string& what,
                int64_t min, int64_t max) {
  if (!value.is_number_integer()) {
    throw reader.error(what + " must be an integer, found " + value.type_name());
  }
  bool in_range = false;
  int64_t v = 0;
  if (value.is_number_unsigned()) {
    const uint64_t u = value.get<uint64_t>();
    in_range = max >= 0 && u <= static_cast<uint64_t>(max);
    v = in_range ? static_cast<int64_t>(u) : 0;
    in_range = in_range && v >= min;
  } else {
    v = value.get<int64_t>();
    in_range = v >= min && v <= max;
  }
  if (!in_range) {
    throw reader.error(what + " " + value.dump() + " is out of range [" + std::to_string(min) +
                       ", " + std::to_string(max) + "]");
  }
  return v;
}

double number(const data::LineReader& reader, const json& value, const std::string& what) {
  if (!value.is_number()) {
    throw reader.error(what + " must be a number, found " + value.type_name() +
                       (value.is_null() ? " (NaN or infinite when it was written)" : ""));
  }
  return value.get<double>();
}

search::View parse_view(const data::LineReader& reader, const json& value,
                        const std::string& what) {
  if (value.is_string()) {
    const std::string name = value.get<std::string>();
    if (name == "title") return search::View::kTitle;
    if (name == "body") return search::View::kBody;
    if (name == "pseudo_queries") return search::View::kPseudoQuery;
  }
  throw reader.error(what + ": unknown view " + value.dump() +
                     " (expected \"title\", \"body\" or \"pseudo_queries\")");
}

// One passage of a keys.jsonl line.
struct DumpedPassage {
  std::string id;
  int64_t passage = -1;
  std::vector<uint32_t> keys;  // indices into DumpedQuery::keys
};

// One line of keys.jsonl.
struct DumpedQuery {
  int64_t line = 0;
  std::vector<data::DistillKey> keys;
  std::vector<DumpedPassage> passages;
};

DumpedQuery parse_dump_line(const data::LineReader& reader, const json& object,
                            const std::string& query_id) {
  DumpedQuery q;
  q.line = reader.line_number();
  const std::string where = "query " + in_quotes(query_id) + ": ";
  const json& keys = member(reader, object, "keys", where);
  if (!keys.is_array()) throw reader.error(where + "'keys' must be an array");
  q.keys.reserve(keys.size());
  for (size_t k = 0; k < keys.size(); ++k) {
    const std::string at = where + "key " + std::to_string(k);
    // Named, not a temporary: member() returns a reference into its object argument.
    const std::string in = at + ": ";
    const json& key = keys[k];
    if (!key.is_object()) throw reader.error(at + " must be an object");
    data::DistillKey out;
    out.view = parse_view(reader, member(reader, key, "view", in), at);
    const json& tokens = member(reader, key, "tokens", in);
    if (!tokens.is_array() || tokens.empty()) {
      throw reader.error(at + ": 'tokens' must be a non-empty array of token ids");
    }
    out.tokens.reserve(tokens.size());
    for (const json& t : tokens) {
      out.tokens.push_back(static_cast<int32_t>(
          integer(reader, t, at + ": token id", 0, std::numeric_limits<int32_t>::max())));
    }
    out.count = integer(reader, member(reader, key, "count", in), at + ": count", 0,
                        std::numeric_limits<int64_t>::max());
    const double log_prob = number(reader, member(reader, key, "log_prob", in), at + ": log_prob");
    out.log_prob = static_cast<float>(log_prob);
    q.keys.push_back(std::move(out));
  }
  const json& passages = member(reader, object, "passages", where);
  if (!passages.is_array()) throw reader.error(where + "'passages' must be an array");
  q.passages.reserve(passages.size());
  for (size_t j = 0; j < passages.size(); ++j) {
    const std::string at = where + "passage " + std::to_string(j);
    const std::string in = at + ": ";
    const json& p = passages[j];
    if (!p.is_object()) throw reader.error(at + " must be an object");
    DumpedPassage out;
    const json& id = member(reader, p, "id", in);
    if (!id.is_string()) throw reader.error(at + ": 'id' must be a string");
    out.id = id.get<std::string>();
    out.passage = integer(reader, member(reader, p, "passage", in), at + ": passage", 0,
                          std::numeric_limits<int64_t>::max());
    const json& matched = member(reader, p, "keys", in);
    if (!matched.is_array()) throw reader.error(at + ": 'keys' must be an array of key indices");
    out.keys.reserve(matched.size());
    for (const json& k : matched) {
      const int64_t index =
          integer(reader, k, at + ": key index", 0, static_cast<int64_t>(q.keys.size()) - 1);
      out.keys.push_back(static_cast<uint32_t>(index));
    }
    q.passages.push_back(std::move(out));
  }
  return q;
}

// The run's lines of one query.
struct RunLines {
  std::vector<data::TrecRunLine> entries;
  std::vector<int64_t> lines;
};

}  // namespace

CorpusIds CorpusIds::read(const std::string& path, const std::string& format) {
  CorpusIds corpus;
  corpus.path = path;
  data::for_each_passage(path, format, [&](data::Passage&& passage, int64_t line) {
    corpus.index.add(passage.id, corpus.ids.size(), path, line);
    corpus.ids.push_back(std::move(passage.id));
  });
  return corpus;
}

CorpusIds CorpusIds::of(const data::Corpus& source, const std::string& path) {
  CorpusIds corpus;
  corpus.path = path;
  corpus.ids.reserve(source.size());
  corpus.index.reserve(source.size());
  for (const data::Passage& passage : source) {
    corpus.index.add(passage.id, corpus.ids.size(), path, 0);
    corpus.ids.push_back(passage.id);
  }
  return corpus;
}

std::vector<data::Query> training_queries(const data::Queries& queries,
                                          const std::string& queries_path, const eval::Qrels& qrels,
                                          const std::string& qrels_path) {
  std::vector<data::Query> selected;
  for (const data::Query& query : queries) {
    const auto it = qrels.by_query.find(query.id);
    if (it != qrels.by_query.end() && !it->second.empty()) selected.push_back(query);
  }
  if (selected.empty()) {
    throw DataError("no query of " + queries_path + " is judged in " + qrels_path +
                    ": there are no training queries");
  }
  return selected;
}

size_t label_by_answers(std::vector<CandidateList>& lists, const eval::AnswerMatcher& matcher) {
  size_t positives = 0;
  for (CandidateList& list : lists) {
    const std::string& query = list.record.query_id;
    for (size_t j = 0; j < list.record.candidates.size(); ++j) {
      const bool hit = matcher.has_answer(query, list.passage_ids[j]);
      list.record.candidates[j].label = hit ? 1 : 0;
      positives += hit ? 1 : 0;
    }
  }
  return positives;
}

int8_t label_of(const eval::Qrels& qrels, const std::string& qrels_path,
                const std::string& query_id, const std::string& passage_id) {
  const auto q = qrels.by_query.find(query_id);
  if (q == qrels.by_query.end()) return -1;
  const auto p = q->second.find(passage_id);
  if (p == q->second.end()) return -1;
  if (p->second > std::numeric_limits<int8_t>::max()) {
    throw DataError(qrels_path + ": grade " + std::to_string(p->second) + " of query " +
                    in_quotes(query_id) + ", passage " + in_quotes(passage_id) +
                    " does not fit a distillation-set label (at most 127)");
  }
  return static_cast<int8_t>(std::max(0, p->second));
}

std::vector<CandidateList> retrieval_candidates(
    const RetrievalOutputs& outputs, const std::vector<data::Query>& wanted,
    const data::Queries& all_queries, const std::string& queries_path, const CorpusIds& corpus,
    const eval::Qrels& qrels, const std::string& qrels_path, const CandidateOptions& options) {
  std::unordered_map<std::string, size_t> slot;  // wanted query id -> position in `wanted`
  for (size_t i = 0; i < wanted.size(); ++i)
    slot.emplace(wanted[i].id, i);

  // The run: every query must be one of the query file; the wanted ones' lines are kept.
  std::vector<RunLines> run(wanted.size());
  data::for_each_trec_run_line(outputs.run_path, [&](data::TrecRunLine&& entry, int64_t line) {
    if (!all_queries.find(entry.query_id)) {
      throw DataError(located(outputs.run_path, line,
                              "query " + in_quotes(entry.query_id) + " is not in " + queries_path));
    }
    const auto it = slot.find(entry.query_id);
    if (it == slot.end()) return;
    run[it->second].entries.push_back(std::move(entry));
    run[it->second].lines.push_back(line);
  });

  // keys.jsonl: one line per retrieved query.
  std::vector<DumpedQuery> dumped(wanted.size());
  std::vector<bool> seen(wanted.size(), false);
  {
    data::LineReader reader(outputs.keys_path);
    std::unordered_map<std::string, int64_t> first_line;  // every query id met, for duplicates
    std::string line;
    while (reader.next(line)) {
      if (data::is_blank(line)) continue;
      // Only the id is read from other ranks' lines: every rank streams the whole file.
      const std::string query_id = data::scan_json_id(reader, line, "query_id", "query id");
      if (!all_queries.find(query_id)) {
        throw reader.error("query " + in_quotes(query_id) + " is not in " + queries_path);
      }
      const auto [previous, inserted] = first_line.emplace(query_id, reader.line_number());
      if (!inserted) {
        throw reader.error("query " + in_quotes(query_id) + " is listed twice (first at line " +
                           std::to_string(previous->second) + ")");
      }
      const auto it = slot.find(query_id);
      if (it == slot.end()) continue;
      const json object = data::parse_json_object(reader, line);
      if (data::json_id(reader, object, "query_id", "query id") != query_id) {
        throw reader.error("'query_id' is given more than once");
      }
      dumped[it->second] = parse_dump_line(reader, object, query_id);
      seen[it->second] = true;
    }
  }

  std::vector<CandidateList> lists(wanted.size());
  for (size_t i = 0; i < wanted.size(); ++i) {
    const data::Query& query = wanted[i];
    if (!seen[i]) {
      throw DataError(outputs.keys_path + ": no line for training query " + in_quotes(query.id) +
                      " (judged in " + qrels_path +
                      "); retrieve the training queries (their split's judgments) with their "
                      "keys dumped (`dgr retrieve` with dump_keys on)");
    }
    const DumpedQuery& dump = dumped[i];
    const RunLines& lines = run[i];
    const std::string keys_at = outputs.keys_path + ":" + std::to_string(dump.line);
    // The run and the dump list the same passages in the same order when they come from one
    // retrieval; anything else means they were mixed up.
    const size_t n = std::max(lines.entries.size(), dump.passages.size());
    for (size_t j = 0; j < n; ++j) {
      const bool in_run = j < lines.entries.size();
      const bool in_dump = j < dump.passages.size();
      if (in_run && in_dump && lines.entries[j].passage_id == dump.passages[j].id) continue;
      const std::string run_side = in_run
                                       ? "the run lists " + in_quotes(lines.entries[j].passage_id)
                                       : "the run has no more passages";
      const std::string dump_side = in_dump ? keys_at + " lists " + in_quotes(dump.passages[j].id)
                                            : keys_at + " has no more passages";
      const int64_t at = in_run ? lines.lines[j] : (lines.lines.empty() ? 0 : lines.lines.back());
      throw DataError(located(outputs.run_path, at,
                              "query " + in_quotes(query.id) + ", candidate " +
                                  std::to_string(j + 1) + ": " + run_side + " but " + dump_side +
                                  "; the run and keys.jsonl come from different retrievals"));
    }

    CandidateList& list = lists[i];
    list.record.query_id = query.id;
    list.record.query = query.text;
    const size_t m = std::min(options.num_candidates, lines.entries.size());
    list.record.candidates.reserve(m);
    list.passage_ids.reserve(m);
    for (size_t j = 0; j < m; ++j) {
      const data::TrecRunLine& entry = lines.entries[j];
      const DumpedPassage& passage = dump.passages[j];
      const auto index = corpus.index.find(entry.passage_id);
      if (!index) {
        throw DataError(located(outputs.run_path, lines.lines[j],
                                "passage " + in_quotes(entry.passage_id) + " of query " +
                                    in_quotes(query.id) + " is not in the corpus " + corpus.path));
      }
      if (static_cast<int64_t>(*index) != passage.passage) {
        throw DataError(located(outputs.keys_path, dump.line,
                                "query " + in_quotes(query.id) + ": passage " +
                                    in_quotes(passage.id) + " has internal index " +
                                    std::to_string(passage.passage) + " but is passage " +
                                    std::to_string(*index) + " of " + corpus.path +
                                    ": the retrieval used an index of another corpus"));
      }
      data::DistillCandidate candidate;
      candidate.passage = passage.passage;
      candidate.student_score = static_cast<float>(entry.score);
      candidate.label = label_of(qrels, qrels_path, query.id, entry.passage_id);
      const size_t k = std::min(options.max_keys, passage.keys.size());
      candidate.keys.reserve(k);
      for (size_t c = 0; c < k; ++c)
        candidate.keys.push_back(dump.keys[passage.keys[c]]);
      list.record.candidates.push_back(std::move(candidate));
      list.passage_ids.push_back(entry.passage_id);
    }
  }
  return lists;
}

std::vector<CandidateList> bm25_candidates(const Bm25Index& index,
                                           const std::vector<data::Query>& wanted,
                                           const eval::Qrels& qrels, const std::string& qrels_path,
                                           const CandidateOptions& options, int threads) {
  std::vector<std::string> texts;
  texts.reserve(wanted.size());
  for (const data::Query& query : wanted)
    texts.push_back(query.text);
  const std::vector<std::vector<Bm25Hit>> hits =
      search_batch(index, texts, options.num_candidates, threads);
  std::vector<CandidateList> lists(wanted.size());
  for (size_t i = 0; i < wanted.size(); ++i) {
    CandidateList& list = lists[i];
    list.record.query_id = wanted[i].id;
    list.record.query = wanted[i].text;
    for (const Bm25Hit& hit : hits[i]) {
      data::DistillCandidate candidate;
      candidate.passage = hit.passage;
      candidate.student_score = 0.0f;
      candidate.label = label_of(qrels, qrels_path, wanted[i].id, index.passage_id(hit.passage));
      list.record.candidates.push_back(std::move(candidate));
      list.passage_ids.push_back(index.passage_id(hit.passage));
    }
  }
  return lists;
}

void score_candidates(TeacherRanker& teacher, std::vector<CandidateList>& lists, size_t begin,
                      size_t end) {
  std::vector<TeacherQuery> batch;
  std::vector<size_t> sent;
  for (size_t i = begin; i < end && i < lists.size(); ++i) {
    if (lists[i].passage_ids.empty()) continue;
    batch.push_back({lists[i].record.query_id, lists[i].record.query, lists[i].passage_ids});
    sent.push_back(i);
  }
  if (batch.empty()) return;
  const std::vector<std::vector<float>> scores = teacher.score_batch(batch);
  if (scores.size() != batch.size()) {
    throw DataError("teacher " + teacher.name() + " returned scores for " +
                    std::to_string(scores.size()) + " queries, not " +
                    std::to_string(batch.size()));
  }
  for (size_t b = 0; b < sent.size(); ++b) {
    CandidateList& list = lists[sent[b]];
    if (scores[b].size() != list.passage_ids.size()) {
      throw DataError("teacher " + teacher.name() + " returned " +
                      std::to_string(scores[b].size()) + " scores for the " +
                      std::to_string(list.passage_ids.size()) + " candidates of query " +
                      in_quotes(list.record.query_id));
    }
    for (size_t j = 0; j < scores[b].size(); ++j) {
      if (!std::isfinite(scores[b][j])) {
        throw DataError("teacher " + teacher.name() + " gave query " +
                        in_quotes(list.record.query_id) + ", passage " +
                        in_quotes(list.passage_ids[j]) + " the score " +
                        std::to_string(scores[b][j]) + " (not finite)");
      }
      list.record.candidates[j].teacher_score = scores[b][j];
    }
  }
}

std::vector<data::DistillQuery> take_records(std::vector<CandidateList>&& lists) {
  std::vector<data::DistillQuery> records;
  records.reserve(lists.size());
  for (CandidateList& list : lists)
    records.push_back(std::move(list.record));
  lists.clear();
  return records;
}

std::string index_hash_of(const std::string& index_dir) {
  return data::index_content_hash(index::Manifest::read(index_dir + "/manifest.yaml"));
}

std::string creation_time() {
  std::time_t when = std::time(nullptr);
  if (const char* epoch = std::getenv("SOURCE_DATE_EPOCH"); epoch && *epoch) {
    const std::string text = epoch;
    uint64_t seconds = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), seconds);
    if (error != std::errc() || end != text.data() + text.size() ||
        seconds > static_cast<uint64_t>(std::numeric_limits<int32_t>::max()) * 4) {
      throw ConfigError(
          "SOURCE_DATE_EPOCH must be seconds since 1970 (a non-negative integer), "
          "not '" +
          text + "'");
    }
    when = static_cast<std::time_t>(seconds);
  }
  std::tm tm{};
  gmtime_r(&when, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

data::DistillSetFile open_distill_set(const std::string& path, const DistillSetSources& sources,
                                      size_t chunk_cache_bytes) {
  data::DistillSetFile file = data::DistillSetFile::open(path, chunk_cache_bytes);
  const std::string corpus_hash = sources.corpus.empty() ? "" : sha256_file(sources.corpus);
  const std::string index_hash = sources.index_dir.empty() || file.meta().index_hash.empty()
                                     ? ""
                                     : index_hash_of(sources.index_dir);
  file.check_hashes(corpus_hash, index_hash);
  return file;
}

}  // namespace dgr::teacher
