// `dgr eval-run`: metrics of a TREC run against qrels (and answers), as a table on stdout and
// `metrics.json` + `config.resolved.yaml` in the output directory.
#include "core/util/files.h"
#include "distributed/mpi_context.h"
#include "launch/cli_common.h"
#include "launch/cli_eval.h"

namespace dgr::cli {
namespace {

int eval_run(distributed::MpiContext& mpi, const ResolvedConfig& config,
             const GlobalOptions& global) {
  require_keys(config, {{"eval.run", "--run"}, {"data.qrels", "--qrels or --dataset"}});
  const ExperimentConfig& o = config.options;
  if (!o.data.answers.empty()) require_keys(config, {{"data.corpus", "--corpus"}});
  validate_eval_options(o.eval);  // every rank checks the config before any work
  start_logging(config, mpi, global);

  // One run file is small: rank 0 evaluates, the other ranks wait for it (an error on rank 0
  // aborts them through the guard instead of leaving them in the barrier).
  if (mpi.is_root()) {
    ensure_directory(o.run.out);
    evaluate_run(config, o.eval.run, o.run.out, o.eval.system);
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
