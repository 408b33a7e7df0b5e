#include "core/eval/report.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <tuple>

#include "core/util/error.h"
#include "core/util/files.h"

namespace dgr::eval {
namespace {

// (family, k) of a metric name; family 6 for names of no known family.
std::pair<int, long> metric_key(const std::string& name) {
  struct Family {
    const char* prefix;
    const char* suffix;
  };
  static const Family kFamilies[] = {
      {"Recall@", ""}, {"hits@", ""}, {"hits@", "(answer)"}, {"MRR@", ""}, {"nDCG@", ""}};
  for (int family = 0; family < 5; ++family) {
    const std::string prefix = kFamilies[family].prefix;
    const std::string suffix = kFamilies[family].suffix;
    if (name.size() <= prefix.size() + suffix.size()) continue;
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    if (name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
    const std::string digits =
        name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
    if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      continue;
    }
    if (digits.size() > 9) continue;
    return {family, std::stol(digits)};
  }
  if (name == map_name()) return {5, 0};
  return {6, 0};
}

std::string format_value(double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.4f", value);
  return buffer;
}

std::string pad(const std::string& s, size_t width, bool left_align) {
  const std::string fill(width > s.size() ? width - s.size() : 0, ' ');
  return left_align ? s + fill : fill + s;
}

// Aligns cells[row][column] (row 0 the header) under a rule: column 0 left, the others right.
std::string align_table(const std::vector<std::vector<std::string>>& cells) {
  size_t columns = 0;
  for (const auto& row : cells)
    columns = std::max(columns, row.size());
  std::vector<size_t> width(columns, 0);
  for (const auto& row : cells) {
    for (size_t c = 0; c < row.size(); ++c)
      width[c] = std::max(width[c], row[c].size());
  }
  auto line = [&](const std::vector<std::string>& row) {
    std::string out;
    for (size_t c = 0; c < row.size(); ++c) {
      if (c > 0) out += "  ";
      out += pad(row[c], width[c], /*left_align=*/c == 0);  // names left, numbers right
    }
    out.erase(out.find_last_not_of(' ') + 1);  // no trailing spaces when column 0 is last
    return out + "\n";
  };
  std::string table = cells.empty() ? std::string() : line(cells[0]);
  std::vector<std::string> rule;
  rule.reserve(width.size());
  for (size_t w : width)
    rule.emplace_back(w, '-');
  table += line(rule);
  for (size_t r = 1; r < cells.size(); ++r)
    table += line(cells[r]);
  return table;
}

std::string shortest(double value) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return {buffer, result.ptr};
}

std::string format_signed(double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%+.4f", value);
  return buffer;
}

template <typename T>
T get(const nlohmann::json& object, const char* key) {
  return object.at(key).get<T>();
}

}  // namespace

std::vector<std::string> ordered_metric_names(std::vector<std::string> names) {
  std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
    const auto ka = metric_key(a);
    const auto kb = metric_key(b);
    return std::tie(ka.first, ka.second, a) < std::tie(kb.first, kb.second, b);
  });
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

std::string format_metrics_table(const std::vector<std::pair<std::string, MetricReport>>& systems) {
  std::vector<std::string> names;
  for (const auto& [system, report] : systems) {
    for (const auto& [name, mean] : report.mean)
      names.push_back(name);
  }
  return format_metrics_table(systems, ordered_metric_names(std::move(names)));
}

std::string format_metrics_table(const std::vector<std::pair<std::string, MetricReport>>& systems,
                                 const std::vector<std::string>& metric_order) {
  // cells[row][column]; row 0 is the header, column 0 the system name.
  std::vector<std::vector<std::string>> cells;
  cells.emplace_back();
  cells[0].push_back("system");
  for (const std::string& name : metric_order)
    cells[0].push_back(name);
  for (const auto& [system, report] : systems) {
    std::vector<std::string> row{system};
    for (const std::string& name : metric_order) {
      auto it = report.mean.find(name);
      row.push_back(it == report.mean.end() ? "-" : format_value(it->second));
    }
    cells.push_back(std::move(row));
  }
  return align_table(cells);
}

std::string format_per_query_tsv(const MetricReport& report) {
  std::vector<std::string> names;
  for (const auto& [query_id, values] : report.per_query) {
    for (const auto& [name, value] : values)
      names.push_back(name);
  }
  names = ordered_metric_names(std::move(names));
  std::string tsv = "query_id\tmeasure\tvalue\n";
  for (const auto& [query_id, values] : report.per_query) {
    for (const std::string& name : names) {
      auto it = values.find(name);
      if (it == values.end()) continue;
      tsv += query_id + "\t" + name + "\t" + shortest(it->second) + "\n";
    }
  }
  return tsv;
}

std::string format_p_value(double p) {
  if (p < 0.0001) return "<0.0001";
  return format_value(p);
}

std::string format_comparison_table(const std::string& system, const std::string& baseline,
                                    const std::vector<MetricComparison>& comparisons) {
  std::vector<std::vector<std::string>> cells;
  cells.push_back(
      {"metric", system, baseline, "difference", "queries", "p (randomization)", "p (t-test)"});
  for (const MetricComparison& c : comparisons) {
    cells.push_back({c.metric, format_value(c.system_mean), format_value(c.baseline_mean),
                     format_signed(c.system_mean - c.baseline_mean), std::to_string(c.queries),
                     format_p_value(c.randomization.p_value), format_p_value(c.t_test.p_value)});
  }
  return align_table(cells);
}

nlohmann::json comparison_to_json(const std::string& baseline,
                                  const std::vector<MetricComparison>& comparisons,
                                  const RandomizationOptions& options) {
  nlohmann::json metrics = nlohmann::json::object();
  for (const MetricComparison& c : comparisons) {
    metrics[c.metric] = {
        {"queries", c.queries},
        {"system_mean", c.system_mean},
        {"baseline_mean", c.baseline_mean},
        {"mean_difference", c.randomization.mean_difference},
        {"p_randomization", c.randomization.p_value},
        {"randomization_exact", c.randomization.exact},
        {"t", std::isfinite(c.t_test.t) ? nlohmann::json(c.t_test.t) : nlohmann::json()},
        {"degrees_of_freedom", c.t_test.degrees_of_freedom},
        {"p_t_test", c.t_test.p_value},
    };
  }
  return {{"baseline", baseline},
          {"randomization_trials", options.trials},
          {"randomization_seed", options.seed},
          {"metrics", metrics}};
}

std::string p_value_cell(const std::vector<MetricComparison>& comparisons,
                         const std::string& metric) {
  auto it = std::find_if(comparisons.begin(), comparisons.end(),
                         [&metric](const MetricComparison& c) { return c.metric == metric; });
  return it == comparisons.end() ? "-" : format_p_value(it->randomization.p_value);
}

std::string format_p_value_table(
    const std::vector<std::pair<std::string, std::vector<MetricComparison>>>& rows,
    const std::vector<std::string>& metric_order) {
  std::vector<std::vector<std::string>> cells;
  cells.emplace_back();
  cells[0].push_back("comparison");
  for (const std::string& name : metric_order)
    cells[0].push_back(name);
  for (const auto& [label, comparisons] : rows) {
    std::vector<std::string> row{label};
    for (const std::string& name : metric_order)
      row.push_back(p_value_cell(comparisons, name));
    cells.push_back(std::move(row));
  }
  return align_table(cells);
}

nlohmann::json metrics_to_json(const MetricReport& report) {
  nlohmann::json json;
  json["aggregate"] = report.mean;
  json["queries_per_metric"] = report.queries_per_metric;
  json["per_query"] = nlohmann::json::object();
  for (const auto& [query_id, values] : report.per_query)
    json["per_query"][query_id] = values;
  const EvaluationCounts& c = report.counts;
  json["counts"] = {
      {"queries_in_qrels", c.queries_in_qrels},
      {"queries_in_run", c.queries_in_run},
      {"queries_evaluated", c.queries_evaluated},
      {"queries_without_relevant", c.queries_without_relevant},
      {"queries_missing_from_run", c.queries_missing_from_run},
      {"run_queries_not_in_qrels", c.run_queries_not_in_qrels},
      {"queries_with_answers", c.queries_with_answers},
  };
  const MetricOptions& o = report.options;
  json["options"] = {
      {"recall_at", o.recall_at},
      {"hits_at", o.hits_at},
      {"ndcg_at", o.ndcg_at},
      {"mrr_at", o.mrr_at},
      {"map", o.map},
      {"relevance_threshold", o.relevance_threshold},
      {"missing_queries_count_as_zero", o.missing_queries_count_as_zero},
      {"answer_match", report.answer_match},
  };
  return json;
}

MetricReport metrics_from_json(const nlohmann::json& json) {
  MetricReport report;
  try {
    report.mean = get<std::map<std::string, double>>(json, "aggregate");
    report.queries_per_metric = get<std::map<std::string, size_t>>(json, "queries_per_metric");
    report.per_query = get<std::map<std::string, std::map<std::string, double>>>(json, "per_query");
    for (const auto& [query_id, values] : report.per_query) {
      report.evaluated_queries.push_back(query_id);
    }
    const nlohmann::json& c = json.at("counts");
    EvaluationCounts& counts = report.counts;
    counts.queries_in_qrels = get<size_t>(c, "queries_in_qrels");
    counts.queries_in_run = get<size_t>(c, "queries_in_run");
    counts.queries_evaluated = get<size_t>(c, "queries_evaluated");
    counts.queries_without_relevant = get<size_t>(c, "queries_without_relevant");
    counts.queries_missing_from_run = get<size_t>(c, "queries_missing_from_run");
    counts.run_queries_not_in_qrels = get<size_t>(c, "run_queries_not_in_qrels");
    counts.queries_with_answers = get<size_t>(c, "queries_with_answers");
    const nlohmann::json& o = json.at("options");
    MetricOptions& options = report.options;
    options.recall_at = get<std::vector<int>>(o, "recall_at");
    options.hits_at = get<std::vector<int>>(o, "hits_at");
    options.ndcg_at = get<std::vector<int>>(o, "ndcg_at");
    options.mrr_at = get<int>(o, "mrr_at");
    options.map = get<bool>(o, "map");
    options.relevance_threshold = get<int>(o, "relevance_threshold");
    options.missing_queries_count_as_zero = get<bool>(o, "missing_queries_count_as_zero");
    report.answer_match = get<bool>(o, "answer_match");
  } catch (const nlohmann::json::exception& e) {
    throw DataError(std::string("metrics json: ") + e.what());
  }
  return report;
}

void write_metrics_json(const std::string& path, const nlohmann::json& json) {
  write_file_atomic(path, json.dump(2) + "\n");
}

nlohmann::json read_metrics_json(const std::string& path) {
  const std::string text = read_file(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw DataError(located(path, 0, e.what()));
  }
}

}  // namespace dgr::eval
