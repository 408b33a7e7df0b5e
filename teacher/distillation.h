// The teacher job's parts (`dgr teacher rank`): which queries are training queries, the candidate
// passages of each (the stage-1 retrieval dumped by `dgr retrieve`, or BM25's top M), their qrels
// labels, the teacher's scores, and the checks a reader of the distillation set makes against
// the configured corpus and index. The command shards the training queries over MPI ranks and
// writes the set collectively (data/distill_set.h); everything here works on one rank's slice
// and needs neither MPI nor torch, so it is tested on its own.
//
// Passages are referred to by their internal index, i.e. their position in the corpus file: the
// index built from that corpus numbers them the same way (data/corpus.h), which is what the
// distillation set stores in `cand/passage`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/eval/answer_match.h"
#include "core/eval/qrels.h"
#include "data/corpus.h"
#include "data/distill_set.h"
#include "teacher/bm25.h"
#include "teacher/teacher_ranker.h"

namespace dgr::teacher {

// One training query before and after the teacher: the row as it is stored (teacher scores 0
// until score_candidates() fills them) and each candidate's external id, which teachers take.
struct CandidateList {
  data::DistillQuery record;
  std::vector<std::string> passage_ids;  // parallel to record.candidates
};

// Labels every candidate by answer match (the DPR/DGR has_answer labels of NQ and TriviaQA): 1
// when its passage's text contains one of its query's answers (eval::AnswerMatcher), else 0;
// every candidate counts as judged. A query without answers keeps no positive. Returns the
// number of positives.
size_t label_by_answers(std::vector<CandidateList>& lists, const eval::AnswerMatcher& matcher);

struct CandidateOptions {
  size_t num_candidates = 200;  // M: the candidate generator's top M are kept (DGR: 200)
  size_t max_keys = 40;         // keys kept per candidate, in the dump's (weight) order
};

// The external ids of a corpus's passages in file order, and the way back, without the texts
// (a streamed pass over the file). Duplicate ids are a DataError naming both lines.
struct CorpusIds {
  std::vector<std::string> ids;    // internal index -> external id
  data::IdIndex index{"passage"};  // external id -> internal index
  std::string path;                // the corpus file, for messages
  static CorpusIds read(const std::string& path, const std::string& format = "auto");
  static CorpusIds of(const data::Corpus& corpus, const std::string& path);
};

// The training queries: those of `queries` with at least one judgment in `qrels`, in query-file
// order. DataError naming both files when there is none.
std::vector<data::Query> training_queries(const data::Queries& queries,
                                          const std::string& queries_path, const eval::Qrels& qrels,
                                          const std::string& qrels_path);

// The label of a candidate: its qrels grade, −1 when unjudged. A negative grade (non-relevant for
// trec_eval) is stored as 0, since −1 means "unjudged"; a grade above 127 does not fit the int8
// label and is a DataError naming `qrels_path`, the query and the passage.
int8_t label_of(const eval::Qrels& qrels, const std::string& qrels_path,
                const std::string& query_id, const std::string& passage_id);

// Where `dgr retrieve` left its results.
struct RetrievalOutputs {
  std::string run_path;   // TREC run: the candidates and their student (stage-1) scores
  std::string keys_path;  // keys.jsonl (retrieve.dump_keys): each ranked passage's matched keys
};

// The candidates of `wanted` (training queries, e.g. one rank's slice; the rows come out in this
// order) from a retrieval: per query the run's first M passages in file order (by decreasing
// score, as `dgr retrieve` writes them), with the run's score as student score, up to max_keys
// keys each from keys.jsonl, and labels from `qrels`. Both files are streamed; only the lines of
// wanted queries are kept. DataError, naming the file and line, for: a query of either file that
// is not in `all_queries`, a passage that is not in the corpus, a wanted query without a
// keys.jsonl line, a query listed twice in keys.jsonl, a malformed keys.jsonl line (bad JSON, a
// missing or mistyped field, an unknown view, a key index out of range), and a run and keys dump
// that disagree (other passages, or another order): they come from different retrievals. Also a
// keys.jsonl passage whose internal index is not its position in the corpus (an index of another
// corpus). IoError for a missing file.
std::vector<CandidateList> retrieval_candidates(
    const RetrievalOutputs& outputs, const std::vector<data::Query>& wanted,
    const data::Queries& all_queries, const std::string& queries_path, const CorpusIds& corpus,
    const eval::Qrels& qrels, const std::string& qrels_path, const CandidateOptions& options);

// The candidates of `wanted` from BM25: the top M passages of `index` (built from the corpus, so
// hit numbers are internal indices), student score 0, no keys, labels from `qrels`. A query
// without any matching term has no candidates. `threads` search threads; the result does not
// depend on their number.
std::vector<CandidateList> bm25_candidates(const Bm25Index& index,
                                           const std::vector<data::Query>& wanted,
                                           const eval::Qrels& qrels, const std::string& qrels_path,
                                           const CandidateOptions& options, int threads = 1);

// Fills the teacher scores of lists [begin, end) with one score_batch() call (lists without
// candidates are not sent). DataError naming the teacher, the query and the passage when the
// teacher returns another number of scores or a score that is not finite.
void score_candidates(TeacherRanker& teacher, std::vector<CandidateList>& lists, size_t begin,
                      size_t end);
inline void score_candidates(TeacherRanker& teacher, std::vector<CandidateList>& lists) {
  score_candidates(teacher, lists, 0, lists.size());
}

// The records of `lists`, moved out (the order is kept).
std::vector<data::DistillQuery> take_records(std::vector<CandidateList>&& lists);

// The hash of the index directory `index_dir` as the set records it (index_content_hash() of its
// manifest). DataError / IoError naming the manifest when it cannot be read.
std::string index_hash_of(const std::string& index_dir);

// The creation time a set records: UTC, ISO 8601 ("2026-01-31T12:00:00Z"). When the environment
// sets SOURCE_DATE_EPOCH (seconds since 1970, the reproducible-builds convention) that time is
// used instead of the clock, so that two runs can produce the same bytes; ConfigError when it is
// not a non-negative integer.
std::string creation_time();

// What a reader of the set checks it against: the configured corpus file and index directory.
struct DistillSetSources {
  std::string corpus;     // corpus file (its SHA-256 is compared); empty: not checked
  std::string index_dir;  // index directory; empty: not checked
};

// Opens the distillation set at `path` (as DistillSetFile::open) and rejects it when it was made
// from another corpus or index than `sources` name: DataError "<path>: distillation set was made
// from another corpus|index (...)" with both hashes. A set whose candidates did not come from an
// index (BM25 candidates: no index hash recorded) depends on no index, so its index is not checked.
data::DistillSetFile open_distill_set(
    const std::string& path, const DistillSetSources& sources,
    size_t chunk_cache_bytes = data::DistillSetFile::kDefaultChunkCacheBytes);

}  // namespace dgr::teacher
