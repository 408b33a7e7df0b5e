// The teacher interface: a ranker whose scores of (query, passage) pairs the student is distilled
// from. Implementations: RunFileTeacher (scores of an existing TREC run), and the BM25 and
// cross-encoder rankers. The teacher job calls score() once per training query with that
// query's candidate passages and stores the result as `cand/teacher_score`.
#pragma once

#include <string>
#include <vector>

namespace dgr::teacher {

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
};

}  // namespace dgr::teacher
