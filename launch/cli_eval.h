// Evaluation of a run file as every subcommand reports it: a metrics table on stdout and
// `metrics.json` in the output directory (with input checksums and the config hash). Shared by
// `dgr eval-run` and the stages that end with an evaluation (`dgr retrieve`).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "launch/experiment_config.h"

namespace dgr::cli {

// Evaluates `run_path` against config.data.qrels (and data.answers when set) with the options of
// config.eval; prints the table, writes `<out_dir>/metrics.json` with `extra` merged in, and
// returns the JSON written. Call on one rank.
nlohmann::json evaluate_run(const ResolvedConfig& config, const std::string& run_path,
                            const std::string& out_dir, const std::string& system,
                            const nlohmann::json& extra = nlohmann::json::object());

// Checks the eval options before any work (every rank).
void validate_eval_options(const EvalOptions& options);

}  // namespace dgr::cli
