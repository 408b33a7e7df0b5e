// The plan of `dgr pipeline`: the stages of the DGR chain, the subcommands each runs with the
// config overrides that wire one stage's outputs to the next one's inputs, and a hash per stage
// that decides whether a finished stage can be skipped.
//
// A stage's hash covers the dgr build (version and build type: an upgraded binary reruns what its
// code may have changed), the resolved config keys that change its outputs (e.g. the index hashes
// data.corpus and index.*, not eval.*) and the hashes of the stages it reads from, so editing a key
// reruns the first stage that uses it and everything downstream, and nothing upstream. Run
// directory layout (R = run.out): R/stages/<stage>.json (markers), R/<stage>/... (outputs),
// R/results.json and R/results.md (the final table). Torch-free: it only resolves configs.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "launch/experiment_config.h"

namespace dgr::pipeline {

// One action of a stage.
struct Step {
  enum class Kind {
    kCommand,           // a dgr subcommand, run in-process on every rank
    kSyntheticQueries,  // write R/queries from the corpus (rank 0)
    kCollectResults,    // read the systems' metrics.json, write R/results.{json,md} (rank 0)
  };
  Kind kind = Kind::kCommand;
  std::vector<std::string> command;  // e.g. {"teacher", "rank"}
  std::vector<std::string> sets;     // every override, in the order they apply ("key=value")
  std::string label;                 // what the step does, for progress lines
};

// A system of the final table.
struct System {
  std::string key;      // bm25, stage1, ltrgr, dgr
  std::string name;     // as printed in the table
  std::string run;      // run file, relative to R
  std::string metrics;  // metrics.json, relative to R
};

struct Stage {
  std::string name;
  std::vector<std::string> inputs;  // names of the stages whose outputs it reads
  std::vector<std::string> dirs;    // what it writes (absolute or relative to the working dir);
                                    // removed before it reruns under a new hash
  std::vector<Step> steps;
  std::string hash;  // hex, from the build, the stage's keys and its inputs' hashes
};

struct Plan {
  std::string config_path;
  std::vector<std::string> user_sets;
  std::string run_dir;  // R
  std::string name;     // the experiment's name
  std::string build;    // the dgr build the hashes were made for (dgr_build())
  std::vector<Stage> stages;
  std::vector<System> systems;
  ResolvedConfig evaluation;  // the config the systems are evaluated with (test split)

  const Stage* find(const std::string& name) const;
  std::string marker_path(const std::string& stage) const;  // R/stages/<stage>.json
};

// Every stage name in pipeline order.
const std::vector<std::string>& stage_names();

// This binary: "<version> <build type>", e.g. "0.1.0 Release".
std::string dgr_build();

// Resolves the config (file + user overrides) once per step and builds the plan, hashing for
// `build`. Throws ConfigError for a bad key or value, naming it.
Plan make_plan(const std::string& config_path, const std::vector<std::string>& user_sets,
               const std::string& build = dgr_build());

// The progress marker of a stage.
struct Marker {
  std::string stage;
  std::string hash;
  std::string state;  // "running" or "done"
  std::string started;
  std::string finished;
  double seconds = 0;
  std::string build;  // the dgr build that ran it; "" in markers written before builds were kept
};

// Why a stage whose marker is `marker` does not match its planned hash, in words: the dgr build
// changed, an input stage reruns, or the stage's own configuration changed. "" when it matches.
// Reads the input stages' markers.
std::string rerun_reason(const Plan& plan, const Stage& stage, const Marker& marker);

// Reads R/stages/<stage>.json; nullopt when it does not exist, DataError naming the file when it
// is not a marker.
std::optional<Marker> read_marker(const std::string& path);
void write_marker(const std::string& path, const Marker& marker);

// Splits "a,b,c" into stage names, checking each; ConfigError naming the unknown one.
std::vector<std::string> parse_stage_list(const std::string& list, const Plan& plan);

}  // namespace dgr::pipeline
