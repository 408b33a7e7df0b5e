// `dgr eval-run`: metrics of a TREC run against qrels (and answers), as a table on stdout and
// `metrics.json` + `per_query.tsv` + `config.resolved.yaml` in the output directory; with
// `--baseline RUN`, paired significance tests of the run against that baseline, per metric.
#include "core/util/error.h"
#include "core/util/files.h"
#include "distributed/mpi_context.h"
#include "launch/cli_common.h"
#include "launch/cli_eval.h"

namespace dgr::cli {
namespace {

const InputFlag kBaselineFlag{
    "--baseline", "eval.baseline",
    "TREC run to compare the run with: paired randomization test and t-test per metric "
    "(eval.baseline)"};

int eval_run(distributed::MpiContext& mpi, const ResolvedConfig& config,
             const GlobalOptions& global, bool print_per_query) {
  const config::KeyScope option_keys(config.options);  // components' errors name their keys
  require_keys(config, {{"eval.run", "--run"}, {"data.qrels", "--qrels or --dataset"}});
  const ExperimentConfig& o = config.options;
  if (!o.data.answers.empty()) require_keys(config, {{"data.corpus", "--corpus"}});
  validate_eval_options(o.eval);  // every rank checks the config before any work
  if (!o.eval.baseline.empty() && !file_exists(o.eval.baseline)) {
    throw IoError(o.eval.baseline + ": baseline run (eval.baseline, --baseline) not found");
  }
  start_logging(config, mpi, global);

  // One run file is small: rank 0 evaluates, the other ranks wait for it (an error on rank 0
  // aborts them through the guard instead of leaving them in the barrier).
  if (mpi.is_root()) {
    ensure_directory(o.run.out);
    RunComparison comparison;
    comparison.baseline = o.eval.baseline;
    comparison.print_per_query = print_per_query;
    evaluate_run(config, o.eval.run, o.run.out, o.eval.system, nlohmann::json::object(),
                 comparison);
    write_resolved_config(config, o.run.out);
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
      "writes metrics.json and per_query.tsv; --baseline adds paired significance tests");
  inputs->attach(command, {kRunFlag, kQrelsFlag, kOutFlag, kDatasetFlag, kAnswersFlag, kCorpusFlag,
                           kBaselineFlag});
  // Printing only: not a config key, so it leaves the config hash alone.
  auto print_per_query = std::make_shared<bool>(false);
  command->add_flag("-q,--per-query", *print_per_query,
                    "Also print every query's values (as in per_query.tsv; trec_eval -q)");
  command->callback([inputs, print_per_query, &selected, &global] {
    selected.needs_mpi = true;
    selected.run = [inputs, print_per_query, &global](distributed::MpiContext* mpi) {
      return eval_run(*mpi, inputs->resolve(), global, *print_per_query);
    };
  });
}

}  // namespace dgr::cli
