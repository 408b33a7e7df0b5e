#include "launch/cli_eval.h"

#include <glog/logging.h>

#include <filesystem>
#include <iostream>
#include <memory>

#include "core/eval/metrics.h"
#include "core/eval/report.h"
#include "core/util/hash.h"
#include "data/answers.h"
#include "data/dataset.h"
#include "data/trec.h"

namespace dgr::cli {
namespace {

eval::MetricOptions metric_options(const EvalOptions& o) {
  eval::MetricOptions m;
  m.recall_at = o.recall_at;
  m.hits_at = o.hits_at;
  m.ndcg_at = o.ndcg_at;
  m.mrr_at = o.mrr_at;
  m.map = o.map;
  m.relevance_threshold = o.relevance_threshold;
  m.missing_queries_count_as_zero = o.missing_queries_count_as_zero;
  return m;
}

nlohmann::json input_record(const std::string& path) {
  return {{"path", path}, {"sha256", sha256_file(path)}};
}

}  // namespace

void validate_eval_options(const EvalOptions& options) {
  metric_options(options).validate();
}

nlohmann::json evaluate_run(const ResolvedConfig& config, const std::string& run_path,
                            const std::string& out_dir, const std::string& system_name,
                            const nlohmann::json& extra) {
  const ExperimentConfig& o = config.options;
  const eval::MetricOptions options = metric_options(o.eval);
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
        answers, [&corpus](const std::string& id) -> const std::string* {
          auto index = corpus.find(id);
          return index ? &corpus[*index].text : nullptr;
        });
  }
  eval::MetricReport report = eval::evaluate(qrels, run, options, matcher.get());
  const std::string system = system_name.empty() ? run.tag : system_name;

  nlohmann::json json = eval::metrics_to_json(report);
  json["system"] = system;
  json["config_hash"] = config.hash;
  json["inputs"] = {{"run", input_record(run_path)}, {"qrels", input_record(o.data.qrels)}};
  if (!o.data.answers.empty()) json["inputs"]["answers"] = input_record(o.data.answers);
  json.update(extra);
  const std::string metrics_path = (std::filesystem::path(out_dir) / "metrics.json").string();
  eval::write_metrics_json(metrics_path, json);

  const auto& c = report.counts;
  std::cout << eval::format_metrics_table({{system, report}});
  std::cout << c.queries_evaluated << " queries evaluated (" << c.queries_missing_from_run
            << " missing from the run, " << c.queries_without_relevant
            << " without a relevant judgment skipped, " << c.run_queries_not_in_qrels
            << " run queries not judged); relevance threshold " << options.relevance_threshold
            << "\nwrote " << metrics_path << "\n";
  return json;
}

}  // namespace dgr::cli
