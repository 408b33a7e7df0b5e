// Retrieval metrics of a run against relevance judgments, with trec_eval's conventions, so that
// our numbers agree with trec_eval / pytrec_eval on the same files:
//
// - The run's rank column is ignored. Each query's entries are ordered by score descending, ties
//   broken by passage id in DESCENDING strcmp (byte) order. This is trec_eval's comparator for
//   ranked lists (`comp_sim_docno` in form_res_rels.c returns strcmp(docno2, docno1) on equal
//   scores). Ties are frequent (BM25, quantised scores), so any other rule would move passages
//   across a cutoff and disagree with trec_eval. One difference: trec_eval stores scores as
//   float; we compare the doubles we are given.
// - Unjudged passages are non-relevant. A passage is relevant for the binary metrics (Recall, hits,
//   MRR, MAP) when its grade is >= `relevance_threshold` (trec_eval -l). nDCG uses the grade itself
//   as gain (grades <= 0 give 0) with a log2(rank + 1) discount; the ideal ranking sorts all
//   judged grades of the query, so relevant passages never retrieved lower nDCG.
// - A query is evaluated when the qrels give it at least one relevant passage. One with no run
//   entries scores 0 on every metric when `missing_queries_count_as_zero` (trec_eval -c) and is
//   skipped otherwise. Run queries absent from the qrels are ignored and counted.
// - With an AnswerMatcher (NQ / TriviaQA), `hits@k(answer)` is 1 when one of the top k passages
//   contains an answer string; it is computed for every query that has answers, with the same
//   missing-query policy, whether or not the qrels judge that query.
//
// Precondition: no passage id appears twice in one query's list (the run readers reject that).
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "core/eval/answer_match.h"
#include "core/eval/qrels.h"
#include "core/util/options.h"

namespace dgr::eval {

// What to compute. Defaults are the paper's table: R@5/20/100, hits@5/20/100, MRR@10, nDCG@10.
struct MetricOptions {
  std::vector<int> recall_at{5, 20, 100};
  std::vector<int> hits_at{5, 20, 100};  // also the cutoffs of hits@k(answer)
  std::vector<int> ndcg_at{10};
  int mrr_at = 10;  // 0 turns MRR off
  bool map = true;  // MAP over the whole ranking (trec_eval `map`)
  int relevance_threshold = 1;
  bool missing_queries_count_as_zero = true;

  // OptionError (a ConfigError) on a cutoff <= 0, a negative mrr_at or a threshold < 1.
  void validate() const;
};

template <class V>
void visit(V& v, MetricOptions& o) {
  v.field("recall_at", o.recall_at, "Cut-offs of Recall@k.");
  v.field("hits_at", o.hits_at, "Cut-offs of hits@k (any relevant passage in the top k).");
  v.field("ndcg_at", o.ndcg_at, "Cut-offs of nDCG@k (gain = grade, log2 discount).");
  v.field("mrr_at", o.mrr_at, "Cut-off of MRR.");
  v.field("map", o.map, "Report MAP over the whole ranking.");
  v.field("relevance_threshold", o.relevance_threshold,
          "Smallest grade that counts as relevant for binary metrics (TREC DL uses 2).");
  v.field("missing_queries_count_as_zero", o.missing_queries_count_as_zero,
          "Judged queries absent from the run score 0 (trec_eval -c); false skips them.");
}

// How many queries went where.
struct EvaluationCounts {
  size_t queries_in_qrels = 0;          // every query of the qrels
  size_t queries_in_run = 0;            // run queries with at least one entry
  size_t queries_evaluated = 0;         // == MetricReport::evaluated_queries.size()
  size_t queries_without_relevant = 0;  // qrels queries skipped: no grade >= threshold
  size_t queries_missing_from_run = 0;  // judged (or answered) queries with no run entry
  size_t run_queries_not_in_qrels = 0;  // ignored by the qrels metrics
  size_t queries_with_answers = 0;      // only with an AnswerMatcher
};

struct MetricReport {
  // query id -> metric name -> value. A query carries the metrics that apply to it: the qrels
  // metrics when judged, hits@k(answer) when it has answers.
  std::map<std::string, std::map<std::string, double>> per_query;
  // metric name -> mean over the queries carrying that metric (0 when there are none).
  std::map<std::string, double> mean;
  // metric name -> number of queries in that mean (same keys as `mean`).
  std::map<std::string, size_t> queries_per_metric;
  std::vector<std::string> evaluated_queries;  // sorted, the keys of per_query
  EvaluationCounts counts;
  MetricOptions options;      // the options used
  bool answer_match = false;  // whether an AnswerMatcher was given
};

// Metric names as they appear in reports: "Recall@5", "hits@5", "hits@5(answer)", "nDCG@10",
// "MRR@10", "MAP".
std::string recall_name(int k);
std::string hits_name(int k);
std::string answer_hits_name(int k);
std::string ndcg_name(int k);
std::string mrr_name(int k);
inline const char* map_name() {
  return "MAP";
}

// Sorts one query's entries into trec_eval's evaluation order (see above). O(n log n).
void sort_in_trec_order(std::vector<RunEntry>& entries);

// Evaluates `run` against `qrels` (and answers, when given). Throws ConfigError on invalid options
// and DataError on a NaN score or a retrieved passage the matcher has no text for.
MetricReport evaluate(const Qrels& qrels, const Run& run, const MetricOptions& options = {},
                      const AnswerMatcher* answers = nullptr);

}  // namespace dgr::eval
