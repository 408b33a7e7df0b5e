// `dgr index build|stats|query`: build the sharded FM-index over the corpus's identifier views
// on N ranks, and inspect it.
#include <glog/logging.h>

#include <algorithm>
#include <filesystem>
#include <iomanip>
#include <iostream>

#include "core/index/manifest.h"
#include "core/index/views.h"
#include "core/text/bpe_tokenizer.h"
#include "core/util/memory.h"
#include "distributed/indexer.h"
#include "distributed/mpi_context.h"
#include "launch/cli_common.h"

namespace dgr::cli {
namespace {

namespace fs = std::filesystem;

int index_build(distributed::MpiContext& mpi, const ResolvedConfig& config,
                const GlobalOptions& global) {
  const config::KeyScope option_keys(config.options);  // components' errors name their keys
  require_keys(config, {{"data.corpus", "--corpus or --dataset"},
                        {"tokenizer.dir", "--tokenizer"},
                        {"index.dir", "--out"}});
  const ExperimentConfig& o = config.options;
  distributed::IndexBuildInputs inputs;
  inputs.corpus = o.data.corpus;
  inputs.corpus_format = o.data.corpus_format;
  inputs.tokenizer_dir = o.tokenizer.dir;
  inputs.pseudo_queries = o.data.pseudo_queries;
  inputs.config_hash = config.hash;
  inputs.progress_interval_s = o.run.progress_interval_s;

  GlobalOptions logging = global;
  if (logging.log_dir.empty() && o.run.log_dir.empty()) {
    logging.log_dir = (fs::path(o.index.dir) / "logs").string();
  }
  start_logging(config, mpi, logging);
  LOG_IF(INFO, mpi.is_root()) << "building index of " << inputs.corpus << " into " << o.index.dir
                              << " on " << mpi.size() << " rank(s)";

  distributed::IndexBuildReport report = distributed::build_index(mpi, o.index, inputs);
  if (mpi.is_root()) {
    write_resolved_config(config, o.index.dir);
    std::cout << "index " << o.index.dir << ": " << report.passages << " passages, "
              << report.tokens << " tokens, " << report.shards << " shard(s), "
              << format_bytes(report.bytes) << " (" << std::setprecision(3)
              << static_cast<double>(report.bytes) / std::max<uint64_t>(1, report.tokens)
              << " bytes/token)\n"
              << "built on " << mpi.size() << " rank(s) in " << report.seconds << " s (tokenize "
              << report.tokenize_seconds << " s, index " << report.build_seconds
              << " s on the slowest rank; "
              << static_cast<double>(report.tokens) / std::max(1e-9, report.seconds)
              << " tokens/s); peak RSS " << format_bytes(report.peak_rss_bytes) << " per rank\n";
  }
  return 0;
}

int index_stats(const std::string& dir) {
  index::Manifest m = index::Manifest::read((fs::path(dir) / "manifest.yaml").string());
  uint64_t bytes = 0;
  for (const auto& s : m.shards)
    bytes += s.bytes;
  std::cout << "index        " << dir << "\n"
            << "passages     " << m.num_passages << "\n"
            << "tokens       " << m.num_tokens << "\n"
            << "bytes        " << bytes << " (" << format_bytes(bytes) << ", "
            << std::setprecision(3)
            << static_cast<double>(bytes) / std::max<uint64_t>(1, m.num_tokens) << " bytes/token)\n"
            << "shards       " << m.shards.size() << "\n"
            << "views        ";
  for (const auto& v : index::view_names(m.views))
    std::cout << v << " ";
  std::cout << "\ntokenizer    " << m.tokenizer_hash.substr(0, 16) << "\n"
            << "corpus       " << m.corpus << " (" << m.corpus_hash.substr(0, 16) << ")\n"
            << "config_hash  " << m.config_hash.substr(0, 16) << "\n"
            << "created      " << m.created << "\n\n";
  std::cout << std::left << std::setw(18) << "shard" << std::right << std::setw(12) << "first"
            << std::setw(12) << "passages" << std::setw(14) << "tokens" << std::setw(14) << "bytes"
            << "\n";
  for (const auto& s : m.shards) {
    std::cout << std::left << std::setw(18) << s.file << std::right << std::setw(12)
              << s.first_passage << std::setw(12) << s.num_passages << std::setw(14) << s.num_tokens
              << std::setw(14) << s.bytes << "\n";
  }
  return 0;
}

struct QueryArgs {
  std::string dir;
  std::string text;
  bool title = false;
  int limit = 10;
  int successors = 20;
};

int index_query(const QueryArgs& args) {
  index::IndexDirectory loaded = index::load_index_directory(args.dir, /*verify=*/false);
  text::BpeTokenizer tokenizer = text::BpeTokenizer::load(loaded.tokenizer_dir());
  if (tokenizer.hash() != loaded.manifest.tokenizer_hash) {
    throw DataError(loaded.tokenizer_dir() +
                    ": tokenizer differs from the one the index was built with");
  }
  std::vector<index::TokenId> ngram;
  if (args.title) ngram = index::encode_markers(tokenizer, loaded.manifest.views).title_start;
  std::vector<text::TokenId> ids = tokenizer.encode(args.text.empty() ? "" : " " + args.text);
  ngram.insert(ngram.end(), ids.begin(), ids.end());

  std::cout << "tokens     ";
  for (auto id : ngram)
    std::cout << id << ":" << tokenizer.id_to_token(id) << " ";
  index::ShardedRange range = loaded.index.find(ngram);
  std::cout << "\ncount      " << range.count() << "\n";

  std::vector<index::TokenId> tokens;
  std::vector<uint64_t> counts;
  loaded.index.next_tokens(range, tokens, counts);
  std::vector<size_t> order(tokens.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return counts[a] != counts[b] ? counts[a] > counts[b] : tokens[a] < tokens[b];
  });
  std::cout << "successors " << tokens.size() << " distinct; most frequent:\n";
  for (size_t i = 0; i < order.size() && i < static_cast<size_t>(args.successors); ++i) {
    std::cout << "  " << std::setw(8) << counts[order[i]] << "  " << tokens[order[i]] << "  "
              << tokenizer.decode({tokens[order[i]]}) << "\n";
  }
  std::vector<uint32_t> passages = loaded.index.passages(range, static_cast<size_t>(args.limit));
  std::cout << "passages   first " << passages.size() << ":";
  for (uint32_t p : passages)
    std::cout << " " << loaded.passage_ids[p];
  std::cout << "\n";
  return 0;
}

}  // namespace

void add_index_command(CLI::App& app, Command& selected, const GlobalOptions& global) {
  CLI::App* command = app.add_subcommand("index", "Build and inspect the sharded FM-index");
  command->require_subcommand(1);

  auto inputs = std::make_shared<ConfigInputs>();
  CLI::App* build = command->add_subcommand(
      "build",
      "Tokenize the corpus's identifier views and build FM-index shards in parallel over MPI "
      "ranks (mpirun -np N dgr index build ...)");
  inputs->attach(build, {kCorpusFlag, kDatasetFlag, kTokenizerFlag, kPseudoQueriesFlag,
                         InputFlag{"--out", "index.dir", "Index directory to write (index.dir)"}});
  build->callback([inputs, &selected, &global] {
    selected.needs_mpi = true;
    selected.run = [inputs, &global](distributed::MpiContext* mpi) {
      return index_build(*mpi, inputs->resolve(), global);
    };
  });

  auto stats_dir = std::make_shared<std::string>();
  CLI::App* stats = command->add_subcommand(
      "stats", "Print an index's passages, tokens, bytes per token, views and shards");
  stats->add_option("dir", *stats_dir, "Index directory")->required();
  stats->callback([stats_dir, &selected] {
    selected.needs_mpi = false;
    selected.run = [stats_dir](distributed::MpiContext*) { return index_stats(*stats_dir); };
  });

  auto query = std::make_shared<QueryArgs>();
  CLI::App* query_cmd = command->add_subcommand(
      "query", "Count an n-gram, list the tokens that may follow it and the first passages");
  query_cmd->add_option("dir", query->dir, "Index directory")->required();
  query_cmd->add_option("text", query->text, "Text of the n-gram (encoded with a leading space)");
  query_cmd->add_flag("--title", query->title, "Prefix the title marker (query the title view)");
  query_cmd->add_option("--limit", query->limit, "Passages to list")->capture_default_str();
  query_cmd->add_option("--successors", query->successors, "Successor tokens to list")
      ->capture_default_str();
  query_cmd->callback([query, &selected] {
    selected.needs_mpi = false;
    selected.run = [query](distributed::MpiContext*) { return index_query(*query); };
  });
}

}  // namespace dgr::cli
