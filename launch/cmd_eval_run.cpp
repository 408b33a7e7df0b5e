// `dgr eval-run`: metrics of a TREC run against qrels (and answers), as a table on stdout and
// `metrics.json` + `config.resolved.yaml` in the output directory.
#include <glog/logging.h>

#include <filesystem>
#include <iostream>

#include "core/eval/metrics.h"
#include "core/eval/report.h"
#include "core/util/files.h"
#include "core/util/hash.h"
#include "data/answers.h"
#include "data/dataset.h"
#include "data/trec.h"
#include "distributed/mpi_context.h"
#include "launch/cli_common.h"

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

int eval_run(distributed::MpiContext& mpi, const ResolvedConfig& config,
             const GlobalOptions& global) {
  require_keys(config, {{"eval.run", "--run"}, {"data.qrels", "--qrels or --dataset"}});
  const ExperimentConfig& o = config.options;
  if (!o.data.answers.empty()) require_keys(config, {{"data.corpus", "--corpus"}});
  eval::MetricOptions options = metric_options(o.eval);
  options.validate();  // every rank checks the config before any work
  start_logging(config, mpi, global);

  // One run file is small: rank 0 evaluates, the other ranks wait for it (an error on rank 0
  // aborts them through the guard instead of leaving them in the barrier).
  if (mpi.is_root()) {
    const std::string& out = o.run.out;
    ensure_directory(out);
    eval::Qrels qrels = data::read_qrels(o.data.qrels);
    eval::Run run = data::read_trec_run(o.eval.run);
    LOG(INFO) << "qrels " << o.data.qrels << ": " << qrels.size() << " judgments, "
              << qrels.by_query.size() << " queries; run " << o.eval.run << ": " << run.size()
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
    std::string system = o.eval.system.empty() ? run.tag : o.eval.system;

    nlohmann::json json = eval::metrics_to_json(report);
    json["system"] = system;
    json["config_hash"] = config.hash;
    json["inputs"] = {{"run", input_record(o.eval.run)}, {"qrels", input_record(o.data.qrels)}};
    if (!o.data.answers.empty()) json["inputs"]["answers"] = input_record(o.data.answers);
    std::string metrics_path = (std::filesystem::path(out) / "metrics.json").string();
    eval::write_metrics_json(metrics_path, json);
    write_resolved_config(config, out);

    const auto& c = report.counts;
    std::cout << eval::format_metrics_table({{system, report}});
    std::cout << c.queries_evaluated << " queries evaluated (" << c.queries_missing_from_run
              << " missing from the run, " << c.queries_without_relevant
              << " without a relevant judgment skipped, " << c.run_queries_not_in_qrels
              << " run queries not judged); relevance threshold " << options.relevance_threshold
              << "\nwrote " << metrics_path << "\n";
  }
  mpi.barrier();
  return 0;
}

}  // namespace

void add_eval_run_command(CLI::App& app, Command& selected, const GlobalOptions& global) {
  auto inputs = std::make_shared<ConfigInputs>();
  CLI::App* command = app.add_subcommand(
      "eval-run",
      "Evaluate a TREC run against qrels (Recall@k, hits@k, MRR@10, nDCG@k, MAP): prints a table, "
      "writes metrics.json");
  inputs->attach(command,
                 {kRunFlag, kQrelsFlag, kOutFlag, kDatasetFlag, kAnswersFlag, kCorpusFlag});
  command->callback([inputs, &selected, &global] {
    selected.needs_mpi = true;
    selected.run = [inputs, &global](distributed::MpiContext* mpi) {
      return eval_run(*mpi, inputs->resolve(), global);
    };
  });
}

}  // namespace dgr::cli
