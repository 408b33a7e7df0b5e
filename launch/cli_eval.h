// Evaluation of a run file as every subcommand reports it: a metrics table on stdout and
// `metrics.json` in the output directory (with input checksums and the config hash). Shared by
// `dgr eval-run` and the stages that end with an evaluation (`dgr retrieve`).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "core/eval/significance.h"
#include "launch/experiment_config.h"

namespace dgr::cli {

// What `dgr eval-run` adds to an evaluation.
struct RunComparison {
  std::string baseline;          // TREC run compared with (paired tests per metric); "" = none
  bool print_per_query = false;  // also print per_query.tsv on stdout (trec_eval -q)
};

// Evaluates `run_path` against config.data.qrels (and data.answers when set) with the options of
// config.eval; prints the table, writes `<out_dir>/metrics.json` with `extra` merged in and
// `<out_dir>/per_query.tsv`, and returns the JSON written. With a baseline run, evaluates it the
// same way, prints both tests' p-values per metric and adds them to metrics.json under
// "comparison". Call on one rank.
nlohmann::json evaluate_run(const ResolvedConfig& config, const std::string& run_path,
                            const std::string& out_dir, const std::string& system,
                            const nlohmann::json& extra = nlohmann::json::object(),
                            const RunComparison& comparison = {});

// Checks the eval options before any work (every rank).
void validate_eval_options(const EvalOptions& options);

// The randomization test's settings from eval.* (trials; the seed is fixed).
eval::RandomizationOptions randomization_options(const EvalOptions& options);

}  // namespace dgr::cli
