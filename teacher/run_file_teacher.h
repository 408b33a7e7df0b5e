// A teacher that replays the scores of an existing TREC run file (for instance a cross-encoder
// re-ranking computed elsewhere), so that distillation needs no model of its own. score() is a
// lookup: O(1) per pair, no state changes, safe to call from several threads.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "core/eval/qrels.h"
#include "teacher/teacher_ranker.h"

namespace dgr::teacher {

// What score() does for a (query, passage) pair the run does not contain.
enum class MissingPairPolicy {
  // Throw DataError naming the run file, the query and the passage. The default: a candidate the
  // teacher never scored usually means the run and the candidate generator disagree.
  kError,
  // Give the pair the lowest score of that query in the run minus 1, i.e. rank it below every
  // passage the teacher did score, without inventing an order among the missing ones.
  kFillBelowMinimum,
};

// Parses "error" or "fill" (the YAML spelling); throws ConfigError otherwise.
MissingPairPolicy parse_missing_pair_policy(const std::string& name);

struct RunFileTeacherOptions {
  MissingPairPolicy missing_pair = MissingPairPolicy::kError;
};

class RunFileTeacher : public TeacherRanker {
 public:
  // Reads the run at `run_path` (data/trec.h: malformed lines, duplicate pairs and NaN/Inf
  // scores are DataErrors with path:line; a missing file is an IoError).
  explicit RunFileTeacher(const std::string& run_path, RunFileTeacherOptions options = {});
  // From a run already in memory; `source` names it in messages (e.g. its path).
  RunFileTeacher(const eval::Run& run, std::string source, RunFileTeacherOptions options = {});

  // "run:<source>".
  std::string name() const override;

  // The run's score of each pair, as float. A query absent from the run is a DataError under
  // both policies (there is no minimum to fill below, and it points to mismatched query sets);
  // an absent pair follows `options.missing_pair`. `query_text` is not used.
  std::vector<float> score(const std::string& query_id, const std::string& query_text,
                           const std::vector<std::string>& passage_ids) override;

  size_t num_queries() const { return queries_.size(); }

 private:
  struct QueryScores {
    std::unordered_map<std::string, double> by_passage;
    float fill = 0.0f;  // minimum - 1, strictly below every score of the query as float
  };
  void index(const eval::Run& run);

  std::string source_;
  RunFileTeacherOptions options_;
  std::unordered_map<std::string, QueryScores> queries_;
};

}  // namespace dgr::teacher
