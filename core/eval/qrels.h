// Relevance judgments and ranked runs, the two inputs of every evaluation. Plain value types:
// readers live in data/trec.h and data/beir.h, metrics in core/eval/metrics.h.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace dgr::eval {

// query id -> (passage id -> graded relevance). Ordered maps keep every output deterministic.
// Grades may be 0 (judged non-relevant) or negative (trec_eval treats them as non-relevant).
struct Qrels {
  std::map<std::string, std::map<std::string, int>> by_query;

  // Number of judgments over all queries.
  size_t size() const;
  // Grade of (query, passage), or `unjudged` when absent.
  int grade(const std::string& query_id, const std::string& passage_id, int unjudged = 0) const;
};

// One retrieved passage of one query.
struct RunEntry {
  std::string passage_id;
  double score = 0.0;
  int rank = 0;  // as written in the file (1-based); metrics order by score, see metrics.h
};

// query id -> retrieved passages, in file order. `tag` is the TREC run tag (last column).
struct Run {
  std::map<std::string, std::vector<RunEntry>> by_query;
  std::string tag = "dgr";

  size_t size() const;
};

}  // namespace dgr::eval
