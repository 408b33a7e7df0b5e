// Presenting MetricReports: an aligned plain-text table (one row per system, for logs and
// docs/), and metrics.json (the aggregate, every query's values, the counts and the options used),
// which reads back into the same MetricReport.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "core/eval/metrics.h"
#include "core/eval/significance.h"

namespace dgr::eval {

// `names` in the order of every table: Recall@k, hits@k, hits@k(answer), MRR@k, nDCG@k, MAP, each
// family by ascending k; names of no family come last, alphabetically.
std::vector<std::string> ordered_metric_names(std::vector<std::string> names);

// One row per (system name, report) in the given order, one column per metric that any report
// has a mean for (ordered_metric_names), values with 4 decimals, "-" where a report lacks the
// metric. Ends with a newline.
std::string format_metrics_table(const std::vector<std::pair<std::string, MetricReport>>& systems);
// The same with the columns given explicitly.
std::string format_metrics_table(const std::vector<std::pair<std::string, MetricReport>>& systems,
                                 const std::vector<std::string>& metric_order);

// Every query's values, like `trec_eval -q`: a header line "query_id<TAB>measure<TAB>value", then
// one line per (query, metric) of report.per_query, queries sorted, metrics in
// ordered_metric_names order, values in the shortest form that reads back as the same double.
std::string format_per_query_tsv(const MetricReport& report);

// A p-value as tables show it: 4 decimals, "<0.0001" below that.
std::string format_p_value(double p);

// The comparison of `system` with `baseline`: one row per metric with both means, their
// difference, the paired queries and the p-values of the randomization test and the t-test.
// Ends with a newline.
std::string format_comparison_table(const std::string& system, const std::string& baseline,
                                    const std::vector<MetricComparison>& comparisons);

// {"baseline": name, "randomization_trials": n, "randomization_seed": s, "metrics": {metric:
// {"queries", "system_mean", "baseline_mean", "mean_difference", "p_randomization",
// "randomization_exact", "t", "degrees_of_freedom", "p_t_test"}}}. An infinite t is written as
// null (JSON has no infinity).
nlohmann::json comparison_to_json(const std::string& baseline,
                                  const std::vector<MetricComparison>& comparisons,
                                  const RandomizationOptions& options);

// The randomization-test p-value of `metric` among `comparisons` as tables show it, "-" when
// none compares it.
std::string p_value_cell(const std::vector<MetricComparison>& comparisons,
                         const std::string& metric);

// Rows of randomization-test p-values (e.g. "DGR vs BM25") by metric column: the row label left,
// "-" where a row has no comparison for the column. Ends with a newline.
std::string format_p_value_table(
    const std::vector<std::pair<std::string, std::vector<MetricComparison>>>& rows,
    const std::vector<std::string>& metric_order);

// {"aggregate": {metric: mean}, "queries_per_metric": {metric: n}, "per_query": {query: {metric:
// value}}, "counts": {...}, "options": {..., "answer_match": bool}}. Doubles keep every digit.
nlohmann::json metrics_to_json(const MetricReport& report);
// The inverse of metrics_to_json. Throws DataError when a key is missing or has the wrong type.
MetricReport metrics_from_json(const nlohmann::json& json);

// Writes `json` indented, atomically (write_file_atomic: parent directories are created);
// IoError naming `path` on failure.
void write_metrics_json(const std::string& path, const nlohmann::json& json);
// Reads a JSON file; IoError when it cannot be opened, DataError naming `path` when it does not
// parse.
nlohmann::json read_metrics_json(const std::string& path);

}  // namespace dgr::eval
