// `dgr teacher`: the teacher rankers the student is distilled from, and the distillation set.
//
// `dgr teacher bm25-run` ranks the corpus with BM25 (teacher/bm25.h) for every selected query and
// writes a TREC run of depth teacher.bm25.top_k, then evaluates it when qrels are set. Under
// mpirun every rank builds the same in-memory index from data.corpus (no index files: building is
// a matter of seconds to minutes, cheaper than writing and reading it back), ranks a contiguous
// slice of the queries, and rank 0 gathers the slices and writes the run in query-file order. A
// query's ranking depends only on the query and the corpus, so the run is byte-identical for any
// number of ranks and threads.
//
// `dgr teacher rank` writes the distillation set: the job is teacher/rank_job.h's. `dgr teacher
// inspect` prints a set's attributes and a query's candidates in teacher order; it needs no MPI.
#include <glog/logging.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <functional>
#include <iomanip>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <thread>

#include "core/eval/run_io.h"
#include "core/index/manifest.h"
#include "core/model/torch_runtime.h"
#include "core/text/bpe_tokenizer.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "core/util/memory.h"
#include "core/util/timing.h"
#include "data/dataset.h"
#include "data/distill_set.h"
#include "distributed/device_placement.h"
#include "distributed/mpi_context.h"
#include "launch/cli_common.h"
#include "launch/cli_eval.h"
#include "teacher/bm25.h"
#include "teacher/distillation.h"
#include "teacher/rank_job.h"

namespace dgr::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const InputFlag kBm25RunFlag{"--run", "teacher.bm25.run",
                             "Run file to write (teacher.bm25.run; default <out>/bm25.trec)"};
const InputFlag kK1Flag{"--k1", "teacher.bm25.k1", "BM25 k1 (teacher.bm25.k1)"};
const InputFlag kBFlag{"--b", "teacher.bm25.b", "BM25 b (teacher.bm25.b)"};

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
  const config::KeyScope option_keys(config.options);  // components' errors name their keys
  const auto start = Clock::now();
  require_keys(config, {{"data.corpus", "--corpus or --dataset"},
                        {"data.queries", "--queries or --dataset"}});
  const ExperimentConfig& o = config.options;
  const Bm25TeacherOptions& b = o.teacher.bm25;
  const teacher::Bm25Options& options = b;
  teacher::validate(options);
  if (b.top_k < 1) {
    throw ConfigError("teacher.bm25.top_k must be at least 1, got " + std::to_string(b.top_k));
  }
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
  const int threads = o.run.threads > 0
                          ? o.run.threads
                          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()) /
                                            mpi.ranks_on_node());
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

// ---- dgr teacher rank ----------------------------------------------------------------------

const InputFlag kCandidatesFlag{
    "--candidates", "teacher.candidates_dir",
    "Output directory of `dgr retrieve` with run.trec and keys.jsonl (teacher.candidates_dir)"};
const InputFlag kSetOutFlag{
    "--out", "teacher.out",
    "Distillation set to write (teacher.out; default <run.out>/distill.h5)"};
const InputFlag kTeacherQrelsFlag{
    "--train-qrels", "teacher.qrels",
    "Judgments of the training queries (teacher.qrels; default the dataset's training split)"};
const InputFlag kTeacherRunFlag{"--teacher-run", "teacher.run",
                                "TREC run the run-file teacher replays (teacher.run)"};
const InputFlag kCheckpointFlag{"--checkpoint", "teacher.cross_encoder.checkpoint",
                                "Cross-encoder checkpoint directory "
                                "(teacher.cross_encoder.checkpoint)"};

int rank_set(distributed::MpiContext& mpi, const ResolvedConfig& config,
             const GlobalOptions& global) {
  const config::KeyScope option_keys(config.options);  // components' errors name their keys
  const auto start = Clock::now();
  require_keys(config, {{"data.corpus", "--corpus or --dataset"},
                        {"data.queries", "--queries or --dataset"}});
  const ExperimentConfig& o = config.options;
  const TeacherOptions& t = o.teacher;
  teacher::check_rank_options(t);
  teacher::RankJobInputs inputs;
  inputs.corpus = o.data.corpus;
  inputs.corpus_format = o.data.corpus_format;
  inputs.queries = o.data.queries;
  inputs.qrels_path = training_qrels_path(o.data, "teacher rank", t.qrels);
  if (t.labels == "answers" && o.data.answers.empty()) {
    throw ConfigError(
        "teacher.labels is answers but data.answers is not set: name the answers file "
        "({\"_id\", \"answers\": [...]} per line) or use teacher.labels: qrels");
  }
  inputs.answers_path = o.data.answers;
  inputs.index_dir = o.index.dir;
  const std::string out = o.run.out;
  inputs.set_path = t.out.empty() ? (fs::path(out) / "distill.h5").string() : t.out;
  inputs.config_hash = config.hash;
  if (t.kind == "cross-encoder") {
    inputs.cross_encoder_device =
        distributed::place_rank_device(
            mpi, t.cross_encoder.device,
            config::key_name(config::option_key(t.cross_encoder, t.cross_encoder.device)))
            .device;
  }

  if (mpi.is_root()) {
    ensure_directory(out);
    if (auto parent = fs::path(inputs.set_path).parent_path(); !parent.empty()) {
      ensure_directory(parent.string());
    }
  }
  mpi.barrier();
  start_logging(config, mpi, global);
  inputs.threads =
      t.kind == "cross-encoder"
          ? model::configure_threads(o.run.threads, mpi.ranks_on_node())
          : (o.run.threads > 0 ? o.run.threads
                               : std::max(1, static_cast<int>(std::thread::hardware_concurrency()) /
                                                 mpi.ranks_on_node()));
  const teacher::RankJobReport r = teacher::rank_distill_set(mpi, t, inputs);
  if (mpi.is_root()) {
    write_resolved_config(config, out);
    std::cout << std::setprecision(4) << "teacher " << r.teacher << " scored " << r.candidates
              << " candidates of " << r.queries << " training queries (" << r.judged << " judged, "
              << r.positive << " positive; " << r.keys << " keys) on " << mpi.size()
              << " rank(s) in " << r.score_seconds << " s ("
              << static_cast<double>(r.candidates) / std::max(1e-9, r.score_seconds)
              << " pairs/s); written in " << r.write_seconds << " s, " << seconds_since(start)
              << " s in all; peak RSS " << format_bytes(r.peak_rss_bytes) << " per rank\nwrote "
              << inputs.set_path << "\n";
  }
  mpi.barrier();
  return 0;
}

// ---- dgr teacher inspect -------------------------------------------------------------------

struct InspectOptions {
  std::string file;
  std::string query;  // empty: the first row
  bool all = false;
  bool json = false;
  std::string index_dir;
  std::string corpus;
  std::string tokenizer_dir;
  size_t max_candidates = 0;
  bool no_keys = false;
};

nlohmann::json record_json(const data::DistillQuery& q,
                           const std::function<std::string(int64_t)>& passage_id,
                           const text::BpeTokenizer* tokenizer, bool with_keys) {
  nlohmann::json candidates = nlohmann::json::array();
  for (const data::DistillCandidate& c : q.candidates) {
    nlohmann::json j = {{"passage", c.passage},
                        {"teacher_score", c.teacher_score},
                        {"student_score", c.student_score},
                        {"label", static_cast<int>(c.label)},
                        {"num_keys", c.keys.size()}};
    if (passage_id) j["id"] = passage_id(c.passage);
    if (with_keys) {
      nlohmann::json keys = nlohmann::json::array();
      for (const data::DistillKey& k : c.keys) {
        nlohmann::json key = {{"view", search::view_name(k.view)},
                              {"tokens", k.tokens},
                              {"count", k.count},
                              {"log_prob", k.log_prob}};
        if (tokenizer) key["text"] = tokenizer->decode(k.tokens);
        keys.push_back(std::move(key));
      }
      j["keys"] = std::move(keys);
    }
    candidates.push_back(std::move(j));
  }
  return {{"query_id", q.query_id}, {"query", q.query}, {"candidates", std::move(candidates)}};
}

int inspect_set(const InspectOptions& options) {
  const data::DistillSetFile set = teacher::open_distill_set(
      options.file, teacher::DistillSetSources{options.corpus, options.index_dir});
  const data::DistillSetMeta& meta = set.meta();

  // External passage ids: from the index (its shards list them) or the corpus file.
  std::vector<std::string> ids;
  std::string tokenizer_dir = options.tokenizer_dir;
  if (!options.index_dir.empty()) {
    index::IndexDirectory index = index::load_index_directory(options.index_dir, false);
    ids = std::move(index.passage_ids);
    if (tokenizer_dir.empty()) tokenizer_dir = index.tokenizer_dir();
  } else if (!options.corpus.empty()) {
    ids = teacher::CorpusIds::read(options.corpus).ids;
  }
  std::function<std::string(int64_t)> passage_id;
  if (!ids.empty()) {
    passage_id = [&ids, &options](int64_t p) -> std::string {
      if (p < 0 || static_cast<size_t>(p) >= ids.size()) {
        throw DataError(options.file + ": passage index " + std::to_string(p) + " is beyond the " +
                        std::to_string(ids.size()) + " passages of the given index or corpus");
      }
      return ids[static_cast<size_t>(p)];
    };
  }
  std::unique_ptr<text::BpeTokenizer> tokenizer;
  if (!tokenizer_dir.empty()) {
    tokenizer = std::make_unique<text::BpeTokenizer>(text::BpeTokenizer::load(tokenizer_dir));
  }

  std::vector<data::DistillQuery> records;
  if (options.all) {
    records = set.read(0, set.size());
  } else if (!options.query.empty()) {
    std::optional<data::DistillQuery> found = set.find(options.query);
    if (!found) {
      throw DataError(options.file + ": no query '" + options.query + "' in the set (" +
                      std::to_string(set.size()) + " queries)");
    }
    records.push_back(std::move(*found));
  } else if (set.size() > 0) {
    records = set.read(0, 1);
  }

  if (options.json) {
    nlohmann::json extra = nlohmann::json::object();
    for (const auto& [name, value] : meta.extra)
      extra[name] = value;
    nlohmann::json out = {{"file", options.file},
                          {"teacher", meta.teacher},
                          {"corpus_hash", meta.corpus_hash},
                          {"index_hash", meta.index_hash},
                          {"config_hash", meta.config_hash},
                          {"created", meta.created},
                          {"num_queries", set.size()},
                          {"candidates_per_query", meta.candidates_per_query},
                          {"max_keys_per_candidate", meta.max_keys_per_candidate},
                          {"extra", std::move(extra)},
                          {"queries", nlohmann::json::array()}};
    for (const data::DistillQuery& q : records)
      out["queries"].push_back(record_json(q, passage_id, tokenizer.get(), !options.no_keys));
    std::cout << out.dump(1) << "\n";
    return 0;
  }

  std::cout << options.file << "\n"
            << "  teacher        " << meta.teacher << "\n"
            << "  queries        " << set.size() << " (M = " << meta.candidates_per_query
            << " candidates, at most " << meta.max_keys_per_candidate << " keys each)\n"
            << "  corpus_hash    " << meta.corpus_hash << "\n"
            << "  index_hash     " << (meta.index_hash.empty() ? "(none)" : meta.index_hash) << "\n"
            << "  config_hash    " << meta.config_hash << "\n"
            << "  created        " << meta.created << "\n";
  for (const auto& [name, value] : meta.extra)
    std::cout << "  " << std::left << std::setw(14) << name << " " << value << "\n";
  data::DescribeOptions describe;
  describe.passage_id = passage_id;
  if (tokenizer) {
    const text::BpeTokenizer* tok = tokenizer.get();
    describe.detokenize = [tok](const std::vector<int32_t>& tokens) { return tok->decode(tokens); };
  }
  describe.max_candidates = options.max_candidates;
  describe.keys = !options.no_keys;
  for (const data::DistillQuery& q : records)
    std::cout << "\n" << data::describe_query(q, describe);
  return 0;
}

}  // namespace

void add_teacher_command(CLI::App& app, Command& selected, const GlobalOptions& global) {
  CLI::App* group = app.add_subcommand(
      "teacher",
      "Teacher rankers the student is distilled from, and the distillation set: bm25-run, rank, "
      "inspect, init, train");
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

  auto rank_inputs = std::make_shared<ConfigInputs>();
  CLI::App* rank = group->add_subcommand(
      "rank",
      "Write the distillation set: each training query's candidates (teacher.candidates: the "
      "stage-1 retrieval in --candidates DIR, or BM25's top teacher.num_candidates) scored by the "
      "teacher (teacher.kind), with qrels labels and matched keys, as HDF5. Run under mpirun to "
      "shard queries; the file is the same for any number of ranks");
  rank_inputs->attach(
      rank, {kCorpusFlag, kQueriesFlag, kQrelsFlag, kDatasetFlag, kIndexFlag, kCandidatesFlag,
             kTeacherQrelsFlag, kTeacherRunFlag, kCheckpointFlag, kSetOutFlag});
  rank->callback([rank_inputs, &selected, &global] {
    selected.needs_mpi = true;
    selected.run = [rank_inputs, &global](distributed::MpiContext* mpi) {
      return rank_set(*mpi, rank_inputs->resolve(), global);
    };
  });

  auto options = std::make_shared<InspectOptions>();
  CLI::App* inspect = group->add_subcommand(
      "inspect",
      "Print a distillation set's attributes and one query's candidates in teacher order, with "
      "labels and keys (the first query unless --query or --all)");
  inspect->add_option("FILE", options->file, "Distillation set (HDF5)")->required();
  inspect->add_option("--query", options->query, "Query id to show");
  inspect->add_flag("--all", options->all, "Show every query");
  inspect->add_flag("--json", options->json,
                    "Print JSON: the attributes and the shown queries' candidates in stored order");
  inspect->add_option("--index", options->index_dir,
                      "Index the candidates came from: external passage ids, its tokenizer for "
                      "keys; the set's index hash must match");
  inspect->add_option("--corpus", options->corpus,
                      "Corpus file: external passage ids; the set's corpus hash must match");
  inspect->add_option("--tokenizer", options->tokenizer_dir,
                      "BART tokenizer directory (vocab.json + merges.txt) to show keys as text");
  inspect->add_option("--max-candidates", options->max_candidates,
                      "Candidates shown per query (0: all)");
  inspect->add_flag("--no-keys", options->no_keys, "Leave out the keys");
  inspect->callback([options, &selected] {
    selected.needs_mpi = false;
    selected.run = [options](distributed::MpiContext*) { return inspect_set(*options); };
  });

  // `dgr teacher init` and `dgr teacher train` (launch/cmd_teacher_train.cpp).
  add_teacher_train_commands(*group, selected, global);
}

}  // namespace dgr::cli
