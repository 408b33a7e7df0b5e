#include "core/eval/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <set>

#include "core/util/error.h"

namespace dgr::eval {
namespace {

// Cutoffs in ascending order without repeats, so names are unique and reports stable.
std::vector<int> sorted_unique(const std::vector<int>& ks) {
  std::set<int> unique(ks.begin(), ks.end());
  return {unique.begin(), unique.end()};
}

void check_cutoffs(const MetricOptions& o, const std::vector<int>& ks) {
  for (int k : ks) {
    if (k <= 0) {
      throw config::OptionError("{} has cutoff " + std::to_string(k) + "; cutoffs must be >= 1",
                                {config::option_key(o, ks)});
    }
  }
}

// Grades of one query, prepared once: the relevant count and the ideal gains, sorted descending.
struct QueryJudgments {
  const std::map<std::string, int>* grades = nullptr;
  size_t num_relevant = 0;
  std::vector<double> ideal_gains;
};

QueryJudgments prepare_judgments(const std::map<std::string, int>& grades, int threshold) {
  QueryJudgments judgments;
  judgments.grades = &grades;
  for (const auto& [passage, grade] : grades) {
    if (grade >= threshold) ++judgments.num_relevant;
    if (grade > 0) judgments.ideal_gains.push_back(grade);
  }
  std::sort(judgments.ideal_gains.begin(), judgments.ideal_gains.end(), std::greater<double>());
  return judgments;
}

double discount(size_t rank) {
  return 1.0 / std::log2(static_cast<double>(rank) + 1.0);
}

// The qrels metrics of one judged query over its list in trec order (empty list: all zero).
void add_qrels_metrics(const QueryJudgments& judgments, const std::vector<RunEntry>& ranked,
                       const MetricOptions& options, std::map<std::string, double>& out) {
  // grade[i] of the passage at rank i + 1, 0 when unjudged.
  std::vector<int> grade(ranked.size(), 0);
  for (size_t i = 0; i < ranked.size(); ++i) {
    auto it = judgments.grades->find(ranked[i].passage_id);
    if (it != judgments.grades->end()) grade[i] = it->second;
  }
  auto relevant = [&](size_t i) { return grade[i] >= options.relevance_threshold; };
  const auto num_relevant = static_cast<double>(judgments.num_relevant);

  for (int k : sorted_unique(options.recall_at)) {
    const size_t depth = std::min<size_t>(k, ranked.size());
    size_t found = 0;
    for (size_t i = 0; i < depth; ++i)
      found += relevant(i) ? 1 : 0;
    out[recall_name(k)] = static_cast<double>(found) / num_relevant;
  }
  for (int k : sorted_unique(options.hits_at)) {
    const size_t depth = std::min<size_t>(k, ranked.size());
    double hit = 0.0;
    for (size_t i = 0; i < depth && hit == 0.0; ++i)
      hit = relevant(i) ? 1.0 : 0.0;
    out[hits_name(k)] = hit;
  }
  if (options.mrr_at > 0) {
    const size_t depth = std::min<size_t>(options.mrr_at, ranked.size());
    double reciprocal_rank = 0.0;
    for (size_t i = 0; i < depth; ++i) {
      if (relevant(i)) {
        reciprocal_rank = 1.0 / static_cast<double>(i + 1);
        break;
      }
    }
    out[mrr_name(options.mrr_at)] = reciprocal_rank;
  }
  for (int k : sorted_unique(options.ndcg_at)) {
    const size_t depth = std::min<size_t>(k, ranked.size());
    double dcg = 0.0;
    for (size_t i = 0; i < depth; ++i) {
      if (grade[i] > 0) dcg += grade[i] * discount(i + 1);
    }
    double ideal = 0.0;
    const size_t ideal_depth = std::min<size_t>(k, judgments.ideal_gains.size());
    for (size_t i = 0; i < ideal_depth; ++i)
      ideal += judgments.ideal_gains[i] * discount(i + 1);
    out[ndcg_name(k)] = ideal > 0.0 ? dcg / ideal : 0.0;
  }
  if (options.map) {
    double sum_precision = 0.0;
    size_t found = 0;
    for (size_t i = 0; i < ranked.size(); ++i) {
      if (relevant(i)) {
        ++found;
        sum_precision += static_cast<double>(found) / static_cast<double>(i + 1);
      }
    }
    out[map_name()] = sum_precision / num_relevant;
  }
}

// hits@k(answer) of one answered query over its list in trec order (empty list: all zero).
void add_answer_metrics(const std::string& query_id, const std::vector<RunEntry>& ranked,
                        const MetricOptions& options, const AnswerMatcher& answers,
                        std::map<std::string, double>& out) {
  const std::vector<int> ks = sorted_unique(options.hits_at);
  if (ks.empty()) return;
  // Rank (1-based) of the first passage with an answer, looking no deeper than the largest k.
  const size_t depth = std::min<size_t>(ks.back(), ranked.size());
  size_t first = 0;
  for (size_t i = 0; i < depth; ++i) {
    if (answers.has_answer(query_id, ranked[i].passage_id)) {
      first = i + 1;
      break;
    }
  }
  for (int k : ks) {
    out[answer_hits_name(k)] = first != 0 && first <= static_cast<size_t>(k) ? 1.0 : 0.0;
  }
}

}  // namespace

void MetricOptions::validate() const {
  check_cutoffs(*this, recall_at);
  check_cutoffs(*this, hits_at);
  check_cutoffs(*this, ndcg_at);
  if (mrr_at < 0) {
    throw config::OptionError("{} is " + std::to_string(mrr_at) + "; use 0 to turn MRR off",
                              {config::option_key(*this, mrr_at)});
  }
  if (relevance_threshold < 1) {
    throw config::OptionError("{} is " + std::to_string(relevance_threshold) +
                                  "; it must be >= 1 (grade 0 means judged non-relevant)",
                              {config::option_key(*this, relevance_threshold)});
  }
}

std::string recall_name(int k) {
  return "Recall@" + std::to_string(k);
}
std::string hits_name(int k) {
  return "hits@" + std::to_string(k);
}
std::string answer_hits_name(int k) {
  return "hits@" + std::to_string(k) + "(answer)";
}
std::string ndcg_name(int k) {
  return "nDCG@" + std::to_string(k);
}
std::string mrr_name(int k) {
  return "MRR@" + std::to_string(k);
}

void sort_in_trec_order(std::vector<RunEntry>& entries) {
  std::sort(entries.begin(), entries.end(), [](const RunEntry& a, const RunEntry& b) {
    if (a.score != b.score) return a.score > b.score;
    // trec_eval: strcmp(b, a) < 0, i.e. the larger id first.
    return std::strcmp(a.passage_id.c_str(), b.passage_id.c_str()) > 0;
  });
}

MetricReport evaluate(const Qrels& qrels, const Run& run, const MetricOptions& options,
                      const AnswerMatcher* answers) {
  options.validate();
  MetricReport report;
  report.options = options;
  report.answer_match = answers != nullptr;
  EvaluationCounts& counts = report.counts;
  counts.queries_in_qrels = qrels.by_query.size();

  // Every ranked list in trec order, checked for NaN scores (they would break the sort).
  std::map<std::string, std::vector<RunEntry>> ranked;
  for (const auto& [query_id, entries] : run.by_query) {
    if (entries.empty()) continue;
    ++counts.queries_in_run;
    if (qrels.by_query.count(query_id) == 0) ++counts.run_queries_not_in_qrels;
    for (const RunEntry& entry : entries) {
      if (std::isnan(entry.score)) {
        throw DataError("run: query '" + query_id + "', passage '" + entry.passage_id +
                        "' has a NaN score");
      }
    }
    std::vector<RunEntry>& list = ranked[query_id];
    list = entries;
    sort_in_trec_order(list);
  }
  const std::vector<RunEntry> no_entries;
  auto list_of = [&](const std::string& query_id) -> const std::vector<RunEntry>* {
    auto it = ranked.find(query_id);
    return it == ranked.end() ? nullptr : &it->second;
  };

  std::set<std::string> missing;  // evaluable queries without run entries
  for (const auto& [query_id, grades] : qrels.by_query) {
    const QueryJudgments judgments = prepare_judgments(grades, options.relevance_threshold);
    if (judgments.num_relevant == 0) {
      ++counts.queries_without_relevant;
      continue;
    }
    const std::vector<RunEntry>* list = list_of(query_id);
    if (list == nullptr) {
      missing.insert(query_id);
      if (!options.missing_queries_count_as_zero) continue;
    }
    add_qrels_metrics(judgments, list ? *list : no_entries, options, report.per_query[query_id]);
  }

  if (answers != nullptr) {
    for (const std::string& query_id : answers->queries()) {
      ++counts.queries_with_answers;
      const std::vector<RunEntry>* list = list_of(query_id);
      if (list == nullptr) {
        missing.insert(query_id);
        if (!options.missing_queries_count_as_zero) continue;
      }
      add_answer_metrics(query_id, list ? *list : no_entries, options, *answers,
                         report.per_query[query_id]);
    }
  }
  counts.queries_missing_from_run = missing.size();

  // Means, summed in query order so that the result does not depend on anything else.
  std::map<std::string, double> sums;
  for (const auto& [query_id, values] : report.per_query) {
    report.evaluated_queries.push_back(query_id);
    for (const auto& [name, value] : values) {
      sums[name] += value;
      ++report.queries_per_metric[name];
    }
  }
  counts.queries_evaluated = report.evaluated_queries.size();

  // Every requested metric gets a mean, 0 over no query, so that reports have the same columns.
  std::vector<std::string> names;
  for (int k : sorted_unique(options.recall_at))
    names.push_back(recall_name(k));
  for (int k : sorted_unique(options.hits_at)) {
    names.push_back(hits_name(k));
    if (answers != nullptr) names.push_back(answer_hits_name(k));
  }
  if (options.mrr_at > 0) names.push_back(mrr_name(options.mrr_at));
  for (int k : sorted_unique(options.ndcg_at))
    names.push_back(ndcg_name(k));
  if (options.map) names.emplace_back(map_name());
  for (const std::string& name : names) {
    const size_t n = report.queries_per_metric[name];  // inserts 0 for a metric of no query
    report.mean[name] = n == 0 ? 0.0 : sums[name] / static_cast<double>(n);
  }
  return report;
}

}  // namespace dgr::eval
