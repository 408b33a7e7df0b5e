// `dgr retrieve`: constrained beam search + SEAL intersective scoring for a set of queries,
// sharded over MPI ranks; writes a TREC run (query-file order, identical for any number of
// ranks), optionally the matched keys of every ranked passage, and evaluates when qrels are set.
#include <glog/logging.h>

#include <filesystem>
#include <iomanip>
#include <iostream>
#include <set>

#include "core/model/torch_runtime.h"
#include "core/util/files.h"
#include "core/util/memory.h"
#include "data/dataset.h"
#include "data/stage_outputs.h"
#include "data/trec.h"
#include "distributed/device_placement.h"
#include "distributed/mpi_context.h"
#include "distributed/retrieval.h"
#include "launch/cli_common.h"
#include "launch/cli_eval.h"

namespace dgr::cli {
namespace {

namespace fs = std::filesystem;

// The queries to retrieve for, in query-file order.
std::vector<data::Query> select_queries(const ExperimentConfig& o) {
  const data::Queries queries = data::load_queries(o.data.queries);
  std::vector<data::Query> selected;
  if (o.retrieve.queries == "all" || o.data.qrels.empty()) {
    selected.assign(queries.begin(), queries.end());
    return selected;
  }
  const eval::Qrels qrels = data::read_qrels(o.data.qrels);
  for (const data::Query& query : queries) {
    if (qrels.by_query.count(query.id)) selected.push_back(query);
  }
  if (selected.empty()) {
    throw DataError("no query of " + o.data.queries + " is judged in " + o.data.qrels +
                    " (set retrieve.queries: all to retrieve for every query)");
  }
  return selected;
}

int retrieve(distributed::MpiContext& mpi, const ResolvedConfig& config,
             const GlobalOptions& global) {
  const config::KeyScope option_keys(config.options);  // components' errors name their keys
  require_keys(config, {{"index.dir", "--index"},
                        {"model.init_from", "--init-from"},
                        {"data.queries", "--queries or --dataset"}});
  const ExperimentConfig& o = config.options;
  if (o.retrieve.evaluate && !o.data.qrels.empty()) validate_eval_options(o.eval);

  const distributed::RetrievalOptions options{o.index, o.search, o.scoring, o.retrieve};
  distributed::RetrievalInputs job;
  job.model_dir = o.model.init_from;
  job.device = distributed::place_rank_device(mpi, o.model.device, "model.device").device;
  const std::string out = o.run.out;
  job.run_path = o.retrieve.run.empty() ? (fs::path(out) / "run.trec").string() : o.retrieve.run;
  if (o.retrieve.dump_keys) job.keys_path = (fs::path(out) / "keys.jsonl").string();
  job.progress_interval_s = o.run.progress_interval_s;
  job.queries = select_queries(o);

  if (mpi.is_root()) {
    ensure_directory(out);
    if (auto parent = fs::path(job.run_path).parent_path(); !parent.empty()) {
      ensure_directory(parent.string());
    }
  }
  mpi.barrier();
  start_logging(config, mpi, global);
  const int threads = model::configure_threads(o.run.threads, mpi.ranks_on_node());
  LOG_IF(INFO, mpi.is_root()) << "retrieving " << job.queries.size() << " queries on " << mpi.size()
                              << " rank(s) x " << threads << " thread(s)";

  const distributed::RetrievalReport report = distributed::retrieve(mpi, options, job);
  if (mpi.is_root()) {
    write_resolved_config(config, out);
    data::RetrievalManifest manifest;
    manifest.run = job.run_path;
    manifest.keys = job.keys_path;
    manifest.index_dir = o.index.dir;
    manifest.model = job.model_dir;
    manifest.queries = o.data.queries;
    manifest.retrieved = static_cast<int64_t>(report.queries);
    data::write_retrieval_manifest(out, manifest);
    std::cout << "retrieved " << report.queries << " queries on " << mpi.size() << " rank(s) x "
              << threads << " thread(s) in " << std::setprecision(3) << report.seconds
              << " s (search " << report.search_seconds << " s, "
              << static_cast<double>(report.queries) / std::max(1e-9, report.search_seconds)
              << " queries/s; load " << report.load_seconds << " s); " << report.keys << " keys, "
              << report.ranked << " ranked passages";
    if (report.empty_queries) std::cout << ", " << report.empty_queries << " queries empty";
    std::cout << "; peak RSS " << format_bytes(report.peak_rss_bytes) << " per rank\nwrote "
              << job.run_path << "\n";
    if (!job.keys_path.empty()) std::cout << "wrote " << job.keys_path << "\n";
    if (o.retrieve.evaluate && !o.data.qrels.empty()) {
      const nlohmann::json extra = {{"retrieval",
                                     {{"queries", report.queries},
                                      {"ranks", mpi.size()},
                                      {"threads_per_rank", threads},
                                      {"seconds", report.seconds},
                                      {"search_seconds", report.search_seconds},
                                      {"keys", report.keys},
                                      {"peak_rss_bytes", report.peak_rss_bytes}}}};
      evaluate_run(config, job.run_path, out, o.eval.system.empty() ? o.name : o.eval.system,
                   extra);
    }
  }
  mpi.barrier();
  return 0;
}

}  // namespace

void add_retrieve_command(CLI::App& app, Command& selected, const GlobalOptions& global) {
  auto inputs = std::make_shared<ConfigInputs>();
  CLI::App* command = app.add_subcommand(
      "retrieve",
      "Constrained beam search over the FM-index + intersective scoring: writes a TREC run "
      "(and keys.jsonl), evaluates when qrels are given. Run under mpirun to shard queries");
  inputs->attach(command, {kIndexFlag, kInitFromFlag, kQueriesFlag, kQrelsFlag, kDatasetFlag,
                           kOutFlag, kRetrieveRunFlag});
  command->callback([inputs, &selected, &global] {
    selected.needs_mpi = true;
    selected.run = [inputs, &global](distributed::MpiContext* mpi) {
      return retrieve(*mpi, inputs->resolve(), global);
    };
  });
}

}  // namespace dgr::cli
