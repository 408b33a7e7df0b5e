// dgr: distillation-enhanced generative retrieval. One executable, one subcommand per stage,
// each a function from files to files; launched directly or under `mpirun -np N`.
//
// main parses the command line before MPI starts (so `--help` and usage errors need no MPI),
// then creates the MPI context, sets up rank-aware logging and runs the subcommand under the
// guard that turns an error on any rank into one clear message and the end of the whole job.
#include <CLI/CLI.hpp>
#include <iostream>

#include "core/util/error.h"
#include "distributed/guard.h"
#include "distributed/mpi_context.h"
#include "launch/cli_common.h"

int main(int argc, char** argv) {
  CLI::App app{
      "dgr trains generative retrievers distilled from a ranking teacher and serves them with "
      "FM-index constrained decoding.\nRun `dgr <command> --help` for a command's options; "
      "launch with `mpirun -np N dgr ...` for data parallelism.",
      "dgr"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Print help of every subcommand");

  dgr::cli::GlobalOptions global;
  global.argv0 = argv[0];
  app.add_option("--log-dir", global.log_dir,
                 "Directory of per-rank log files (default: <out>/logs of the command)");
  app.add_flag("-v,--verbose", global.verbose, "Verbose logging (VLOG 1)");

  dgr::cli::Command selected;
  dgr::cli::add_version_command(app, selected);
  dgr::cli::add_config_command(app, selected);
  dgr::cli::add_index_command(app, selected, global);
  dgr::cli::add_eval_run_command(app, selected, global);
  dgr::cli::add_tokenizer_command(app, selected, global);
  dgr::cli::add_model_command(app, selected, global);
  dgr::cli::add_retrieve_command(app, selected, global);
  dgr::cli::add_examples_command(app, selected, global);
  dgr::cli::add_train_command(app, selected, global);
  dgr::cli::add_teacher_command(app, selected, global);
  dgr::cli::add_report_command(app, selected, global);
  dgr::cli::add_pipeline_command(app, selected, global);

  CLI11_PARSE(app, argc, argv);
  if (!selected.run) {
    std::cerr << "dgr: no command given; see dgr --help\n";
    return 1;
  }

  if (!selected.needs_mpi) {
    try {
      return selected.run(nullptr);
    } catch (const dgr::Error& e) {
      std::cerr << "dgr: " << e.kind() << ": " << e.what() << "\n";
      return dgr::distributed::kExitUserError;
    } catch (const std::exception& e) {
      std::cerr << "dgr: internal error: " << e.what() << "\n";
      return dgr::distributed::kExitInternalError;
    }
  }

  dgr::distributed::MpiContext mpi(&argc, &argv);
  return dgr::distributed::run_on_all_ranks(mpi, [&] { return selected.run(&mpi); });
}
