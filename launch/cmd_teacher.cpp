// `dgr teacher`: the teacher rankers the student is distilled from.
//
// `dgr teacher bm25-run` ranks the corpus with BM25 (teacher/bm25.h) for every selected query and
// writes a TREC run of depth teacher.bm25.top_k, then evaluates it when qrels are set. Under
// mpirun every rank builds the same in-memory index from data.corpus (no index files: building is
// a matter of seconds to minutes, cheaper than writing and reading it back), ranks a contiguous
// slice of the queries, and rank 0 gathers the slices and writes the run in query-file order. A
// query's ranking depends only on the query and the corpus, so the run is byte-identical for any
// number of ranks and threads.
#include <glog/logging.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string_view>
#include <thread>

#include "core/eval/run_io.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "core/util/memory.h"
#include "data/dataset.h"
#include "distributed/mpi_context.h"
#include "launch/cli_common.h"
#include "launch/cli_eval.h"
#include "teacher/bm25.h"

namespace dgr::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const InputFlag kBm25RunFlag{"--run", "teacher.bm25.run",
                             "Run file to write (teacher.bm25.run; default <out>/bm25.trec)"};
const InputFlag kK1Flag{"--k1", "teacher.bm25.k1", "BM25 k1 (teacher.bm25.k1)"};
const InputFlag kBFlag{"--b", "teacher.bm25.b", "BM25 b (teacher.bm25.b)"};

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

teacher::Bm25Options bm25_options(const Bm25TeacherOptions& o) {
  teacher::Bm25Options options;
  options.k1 = o.k1;
  options.b = o.b;
  options.quantize_lengths = o.quantize_lengths;
  options.analyzer.stemmer = teacher::parse_stemmer(o.stemmer);
  options.analyzer.remove_stop_words = o.stop_words;
  try {
    teacher::validate(options);
  } catch (const ConfigError& e) {
    throw ConfigError(std::string("teacher.bm25: ") + e.what());
  }
  if (o.top_k < 1) {
    throw ConfigError("teacher.bm25.top_k must be at least 1, got " + std::to_string(o.top_k));
  }
  return options;
}

// The queries to rank for, in query-file order.
std::vector<data::Query> select_queries(const ExperimentConfig& o) {
  const data::Queries queries = data::load_queries(o.data.queries);
  std::vector<data::Query> selected;
  if (o.teacher.bm25.queries == "all" || o.data.qrels.empty()) {
    selected.assign(queries.begin(), queries.end());
    return selected;
  }
  const eval::Qrels qrels = data::read_qrels(o.data.qrels);
  for (const data::Query& query : queries) {
    if (qrels.by_query.count(query.id)) selected.push_back(query);
  }
  if (selected.empty()) {
    throw DataError("no query of " + o.data.queries + " is judged in " + o.data.qrels +
                    " (set teacher.bm25.queries: all to rank for every query)");
  }
  return selected;
}

// One rank's results as lines "query<TAB>passage<TAB>score", the score in its shortest
// round-trip form, so that rank 0 reads back the very same doubles.
std::string serialize_hits(const std::vector<data::Query>& queries, size_t first,
                           const std::vector<std::vector<teacher::Bm25Hit>>& hits,
                           const teacher::Bm25Index& index) {
  std::string out;
  char score[64];
  for (size_t q = 0; q < hits.size(); ++q) {
    for (const teacher::Bm25Hit& hit : hits[q]) {
      const auto end = std::to_chars(score, score + sizeof(score), hit.score).ptr;
      out += queries[first + q].id;
      out += '\t';
      out += index.passage_id(hit.passage);
      out += '\t';
      out.append(score, end);
      out += '\n';
    }
  }
  return out;
}

void parse_hits(const std::string& part, eval::Run& run) {
  size_t pos = 0;
  while (pos < part.size()) {
    const size_t end = part.find('\n', pos);
    const std::string_view line(part.data() + pos, end - pos);
    const size_t a = line.find('\t');
    const size_t b = line.find('\t', a + 1);
    CHECK(a != std::string_view::npos && b != std::string_view::npos) << "malformed rank part";
    eval::RunEntry entry;
    entry.passage_id = std::string(line.substr(a + 1, b - a - 1));
    const std::string_view score = line.substr(b + 1);
    std::from_chars(score.data(), score.data() + score.size(), entry.score);
    std::vector<eval::RunEntry>& entries = run.by_query[std::string(line.substr(0, a))];
    entry.rank = static_cast<int>(entries.size()) + 1;
    entries.push_back(std::move(entry));
    pos = end + 1;
  }
}

int bm25_run(distributed::MpiContext& mpi, const ResolvedConfig& config,
             const GlobalOptions& global) {
  const auto start = Clock::now();
  require_keys(config, {{"data.corpus", "--corpus or --dataset"},
                        {"data.queries", "--queries or --dataset"}});
  const ExperimentConfig& o = config.options;
  const Bm25TeacherOptions& b = o.teacher.bm25;
  const teacher::Bm25Options options = bm25_options(b);
  const bool evaluate = b.evaluate && !o.data.qrels.empty();
  if (evaluate) validate_eval_options(o.eval);
  const std::string out = o.run.out;
  const std::string run_path = b.run.empty() ? (fs::path(out) / "bm25.trec").string() : b.run;

  if (mpi.is_root()) {
    ensure_directory(out);
    if (auto parent = fs::path(run_path).parent_path(); !parent.empty()) {
      ensure_directory(parent.string());
    }
  }
  mpi.barrier();
  start_logging(config, mpi, global);
  const int threads =
      o.run.threads > 0
          ? o.run.threads
          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / ranks_on_node(mpi));
  const std::vector<data::Query> queries = select_queries(o);

  const auto build_start = Clock::now();
  const teacher::Bm25Index index =
      teacher::Bm25Index::build(o.data.corpus, o.data.corpus_format, options, threads);
  const double build_seconds = seconds_since(build_start);
  LOG_IF(INFO, mpi.is_root()) << "BM25 index of " << o.data.corpus << ": " << index.num_passages()
                              << " passages, " << index.num_terms() << " terms, average length "
                              << index.average_length() << ", built in " << build_seconds << " s";

  // Contiguous slices of the queries, in rank order: concatenated, they are the query file order.
  const size_t total = queries.size();
  const auto size = static_cast<size_t>(mpi.size());
  const auto rank = static_cast<size_t>(mpi.rank());
  const size_t lo = total * rank / size;
  const size_t hi = total * (rank + 1) / size;
  std::vector<std::string> texts;
  for (size_t q = lo; q < hi; ++q)
    texts.push_back(queries[q].text);
  const auto search_start = Clock::now();
  const std::vector<std::vector<teacher::Bm25Hit>> hits =
      teacher::search_batch(index, texts, static_cast<size_t>(b.top_k), threads);
  const double search_seconds = seconds_since(search_start);

  const nlohmann::json local = {{"build_seconds", build_seconds},
                                {"search_seconds", search_seconds},
                                {"rss", peak_rss_bytes()}};
  const std::vector<std::string> parts =
      mpi.gather_strings(serialize_hits(queries, lo, hits, index));
  const std::vector<std::string> stats = mpi.gather_strings(local.dump());

  if (mpi.is_root()) {
    eval::Run run;
    run.tag = b.tag;
    for (const std::string& part : parts)
      parse_hits(part, run);
    std::vector<std::string> order;
    order.reserve(queries.size());
    for (const data::Query& query : queries)
      order.push_back(query.id);
    eval::write_trec_run(run_path, run, order);

    double slowest_build = 0, slowest_search = 0;
    uint64_t rss = 0;
    for (const std::string& s : stats) {
      const nlohmann::json j = nlohmann::json::parse(s);
      slowest_build = std::max(slowest_build, j["build_seconds"].get<double>());
      slowest_search = std::max(slowest_search, j["search_seconds"].get<double>());
      rss = std::max(rss, j["rss"].get<uint64_t>());
    }
    const size_t lines = run.size();
    const size_t empty = queries.size() - run.by_query.size();
    write_resolved_config(config, out);
    std::cout << std::setprecision(4) << "BM25 index: " << index.num_passages() << " passages ("
              << index.passages_with_terms() << " with terms), " << index.num_terms()
              << " terms, average length " << index.average_length() << "; built in "
              << slowest_build << " s with " << threads << " thread(s) per rank\n"
              << "ranked " << total << " queries on " << mpi.size() << " rank(s) x " << threads
              << " thread(s) in " << slowest_search << " s ("
              << static_cast<double>(total) / std::max(1e-9, slowest_search) << " queries/s); "
              << lines << " run lines";
    if (empty) std::cout << ", " << empty << " queries without any match";
    std::cout << "; peak RSS " << format_bytes(rss) << " per rank\nwrote " << run_path << "\n";
    if (evaluate) {
      const nlohmann::json extra = {{"bm25",
                                     {{"k1", options.k1},
                                      {"b", options.b},
                                      {"quantize_lengths", options.quantize_lengths},
                                      {"top_k", b.top_k},
                                      {"passages", index.num_passages()},
                                      {"terms", index.num_terms()},
                                      {"queries", total},
                                      {"ranks", mpi.size()},
                                      {"threads_per_rank", threads},
                                      {"build_seconds", slowest_build},
                                      {"search_seconds", slowest_search},
                                      {"seconds", seconds_since(start)},
                                      {"peak_rss_bytes", rss}}}};
      evaluate_run(config, run_path, out, o.eval.system.empty() ? b.tag : o.eval.system, extra);
    }
  }
  mpi.barrier();
  return 0;
}

}  // namespace

void add_teacher_command(CLI::App& app, Command& selected, const GlobalOptions& global) {
  CLI::App* group =
      app.add_subcommand("teacher", "Teacher rankers the student is distilled from: bm25-run");
  group->require_subcommand(1);

  auto inputs = std::make_shared<ConfigInputs>();
  CLI::App* bm25 = group->add_subcommand(
      "bm25-run",
      "Rank the corpus with BM25 (Lucene/Anserini conventions) for every query and write a TREC "
      "run of depth teacher.bm25.top_k; evaluates when qrels are given. Run under mpirun to "
      "shard queries");
  inputs->attach(bm25, {kCorpusFlag, kQueriesFlag, kQrelsFlag, kDatasetFlag, kOutFlag, kBm25RunFlag,
                        kK1Flag, kBFlag});
  bm25->callback([inputs, &selected, &global] {
    selected.needs_mpi = true;
    selected.run = [inputs, &global](distributed::MpiContext* mpi) {
      return bm25_run(*mpi, inputs->resolve(), global);
    };
  });
}

}  // namespace dgr::cli
