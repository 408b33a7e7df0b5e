#include "launch/cli_eval.h"

#include <glog/logging.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>

#include "core/eval/metrics.h"
#include "core/eval/report.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "core/util/hash.h"
#include "data/answers.h"
#include "data/dataset.h"
#include "data/trec.h"

namespace dgr::cli {
namespace {

nlohmann::json input_record(const std::string& path) {
  return {{"path", path}, {"sha256", sha256_file(path)}};
}

}  // namespace

void validate_eval_options(const EvalOptions& options) {
  options.validate();
  if (options.randomization_trials < 1) {
    throw ConfigError("eval.randomization_trials is " +
                      std::to_string(options.randomization_trials) + "; it must be >= 1");
  }
}

eval::RandomizationOptions randomization_options(const EvalOptions& options) {
  eval::RandomizationOptions r;
  r.trials = static_cast<size_t>(std::max(1, options.randomization_trials));
  return r;
}

nlohmann::json evaluate_run(const ResolvedConfig& config, const std::string& run_path,
                            const std::string& out_dir, const std::string& system_name,
                            const nlohmann::json& extra, const RunComparison& comparison) {
  const ExperimentConfig& o = config.options;
  const eval::MetricOptions& options = o.eval;
  eval::Qrels qrels = data::read_qrels(o.data.qrels);
  eval::Run run = data::read_trec_run(run_path);
  LOG(INFO) << "qrels " << o.data.qrels << ": " << qrels.size() << " judgments, "
            << qrels.by_query.size() << " queries; run " << run_path << ": " << run.size()
            << " entries, " << run.by_query.size() << " queries";

  std::unique_ptr<eval::AnswerMatcher> matcher;
  data::Corpus corpus;
  if (!o.data.answers.empty()) {
    data::Answers answers = data::read_answers(o.data.answers);
    corpus = data::load_corpus(o.data.corpus, o.data.corpus_format);
    matcher = std::make_unique<eval::AnswerMatcher>(
        answers, [&corpus](const std::string& id) { return corpus.text_of(id); });
  }
  eval::MetricReport report = eval::evaluate(qrels, run, options, matcher.get());
  const std::string system = system_name.empty() ? run.tag : system_name;

  // The baseline, evaluated with the very same qrels, answers and options.
  std::optional<eval::MetricReport> baseline;
  std::string baseline_name;
  std::vector<eval::MetricComparison> comparisons;
  const eval::RandomizationOptions randomization = randomization_options(o.eval);
  if (!comparison.baseline.empty()) {
    // `dgr eval-run` has checked that it exists, on every rank; a reader error names it too.
    const eval::Run baseline_run = data::read_trec_run(comparison.baseline);
    LOG(INFO) << "baseline run " << comparison.baseline << ": " << baseline_run.size()
              << " entries, " << baseline_run.by_query.size() << " queries";
    baseline = eval::evaluate(qrels, baseline_run, options, matcher.get());
    baseline_name =
        baseline_run.tag == system ? baseline_run.tag + " (baseline)" : baseline_run.tag;
    comparisons = eval::compare_reports(report, *baseline, randomization);
  }

  nlohmann::json json = eval::metrics_to_json(report);
  json["system"] = system;
  json["config_hash"] = config.hash;
  json["inputs"] = {{"run", input_record(run_path)}, {"qrels", input_record(o.data.qrels)}};
  if (!o.data.answers.empty()) json["inputs"]["answers"] = input_record(o.data.answers);
  if (baseline) {
    json["inputs"]["baseline"] = input_record(comparison.baseline);
    json["comparison"] = eval::comparison_to_json(baseline_name, comparisons, randomization);
    json["comparison"]["baseline_aggregate"] = baseline->mean;
  }
  json.update(extra);
  const std::filesystem::path out(out_dir);
  const std::string metrics_path = (out / "metrics.json").string();
  eval::write_metrics_json(metrics_path, json);
  const std::string per_query = eval::format_per_query_tsv(report);
  const std::string per_query_path = (out / "per_query.tsv").string();
  write_file_atomic(per_query_path, per_query);

  if (comparison.print_per_query) std::cout << per_query << "\n";
  const auto& c = report.counts;
  std::vector<std::pair<std::string, eval::MetricReport>> rows = {{system, report}};
  if (baseline) rows.emplace_back(baseline_name, *baseline);
  std::cout << eval::format_metrics_table(rows);
  std::cout << c.queries_evaluated << " queries evaluated (" << c.queries_missing_from_run
            << " missing from the run, " << c.queries_without_relevant
            << " without a relevant judgment skipped, " << c.run_queries_not_in_qrels
            << " run queries not judged); relevance threshold " << options.relevance_threshold
            << "\n";
  if (baseline) {
    std::cout << "\n"
              << system << " vs " << baseline_name
              << ": paired two-sided tests over the judged queries (missing queries score 0); "
              << "randomization test with " << randomization.trials << " sign flips\n"
              << eval::format_comparison_table(system, baseline_name, comparisons);
  }
  std::cout << "wrote " << metrics_path << " and " << per_query_path << "\n";
  return json;
}

}  // namespace dgr::cli
