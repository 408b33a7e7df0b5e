// The teacher interface: a ranker whose scores of (query, passage) pairs the student is distilled
// from. Implementations: RunFileTeacher (scores of an existing TREC run), Bm25Ranker and the
// cross-encoder ranker. The teacher job calls score() once per training query with that query's
// candidate passages (or score_batch() with many queries at once) and stores the result as
// `cand/teacher_score`.
#pragma once

#include <string>
#include <vector>

namespace dgr::teacher {

// One query and the passages to score for it.
struct TeacherQuery {
  std::string query_id;
  std::string query_text;
  std::vector<std::string> passage_ids;  // external ids
};

class TeacherRanker {
 public:
  virtual ~TeacherRanker() = default;

  // Identifies the teacher in the distillation set's attributes and in logs.
  virtual std::string name() const = 0;

  // Scores of `passage_ids` (external ids) for one query, in the same order; higher is more
  // relevant. Scores are comparable within one call only (a listwise loss normalises them per
  // query), not across queries or teachers.
  virtual std::vector<float> score(const std::string& query_id, const std::string& query_text,
                                   const std::vector<std::string>& passage_ids) = 0;

  // score() of every query, in order. Rankers that can work on many queries at once (threads,
  // batches across queries) override it; the results must equal one score() call per query.
  virtual std::vector<std::vector<float>> score_batch(const std::vector<TeacherQuery>& queries) {
    std::vector<std::vector<float>> scores;
    scores.reserve(queries.size());
    for (const TeacherQuery& query : queries) {
      scores.push_back(score(query.query_id, query.query_text, query.passage_ids));
    }
    return scores;
  }
};

}  // namespace dgr::teacher
