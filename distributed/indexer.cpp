#include "distributed/indexer.h"

#include <glog/logging.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "core/index/manifest.h"
#include "core/text/bpe_tokenizer.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "core/util/hash.h"
#include "core/util/memory.h"
#include "core/util/progress.h"
#include "core/util/timing.h"
#include "data/answers.h"
#include "data/dataset.h"

namespace dgr::distributed {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string shard_name(int shard) {
  char name[32];
  std::snprintf(name, sizeof(name), "shard-%05d.fmi", shard);
  return name;
}

// Copies the tokenizer next to the shards so the index directory is self-contained.
void copy_tokenizer(const std::string& from, const std::string& to_dir) {
  ensure_directory(to_dir);
  for (const char* file : {"vocab.json", "merges.txt"}) {
    write_file_atomic((fs::path(to_dir) / file).string(),
                      read_file((fs::path(from) / file).string()));
  }
}

}  // namespace

index::ViewOptions view_options(const IndexOptions& o) {
  index::ViewOptions views;
  index::set_views(views, o.views, config::key_name(config::option_key(o, o.views)));
  views.title_start = o.title_start;
  views.title_end = o.title_end;
  views.pq_start = o.pq_start;
  views.pq_end = o.pq_end;
  return views;
}

IndexBuildReport build_index(MpiContext& mpi, const IndexOptions& options,
                             const IndexBuildInputs& in) {
  const auto start = Clock::now();
  const index::ViewOptions views = view_options(options);
  if (views.pseudo_queries != !in.pseudo_queries.empty()) {
    throw config::OptionError(views.pseudo_queries
                                  ? "{} lists pseudo_queries but no pseudo-queries file is given"
                                  : "a pseudo-queries file is given but {} lacks pseudo_queries",
                              {config::option_key(options, options.views)});
  }
  if (options.shards < 0) {
    throw config::OptionError("{} must be >= 0, got " + std::to_string(options.shards),
                              {config::option_key(options, options.shards)});
  }
  const std::string& out_dir = options.dir;
  text::BpeTokenizer tokenizer = text::BpeTokenizer::load(in.tokenizer_dir);
  const index::ViewMarkers markers = index::encode_markers(tokenizer, views);
  const int num_shards = options.shards > 0 ? options.shards : mpi.size();

  // The output directory exists and holds no manifest while shards are being (re)written, so
  // a half-built directory is never taken for an index.
  if (mpi.is_root()) {
    ensure_directory(out_dir);
    std::error_code ec;
    fs::remove(fs::path(out_dir) / "manifest.yaml", ec);
  }
  mpi.barrier();

  // Pass 1: every rank counts the passages (the same file, the same answer). Rank 0 also
  // parses every record, so malformed lines and duplicate ids anywhere are reported, since
  // shards only see their own range; the other ranks skip parsing.
  data::PseudoQueries pseudo_queries;
  if (!in.pseudo_queries.empty()) pseudo_queries = data::read_pseudo_queries(in.pseudo_queries);
  uint32_t num_passages = 0;
  {
    std::unordered_set<std::string> seen;
    data::RecordFilter count_only;
    if (!mpi.is_root()) {
      count_only = [&](size_t) {
        ++num_passages;
        return false;
      };
    }
    data::for_each_passage(
        in.corpus, in.corpus_format,
        [&](data::Passage&& p, int64_t line) {
          if (!seen.insert(p.id).second) {
            throw DataError(located(in.corpus, line, "duplicate passage id '" + p.id + "'"));
          }
          ++num_passages;
        },
        count_only);
    for (const auto& [id, queries] : pseudo_queries) {
      if (mpi.is_root() && !seen.count(id)) {
        throw DataError(in.pseudo_queries + ": pseudo-queries for passage '" + id +
                        "', which is not in the corpus " + in.corpus);
      }
    }
  }
  if (num_passages == 0) throw DataError(in.corpus + ": no passages to index");
  if (static_cast<uint32_t>(num_shards) > num_passages) {
    throw config::OptionError("{} = " + std::to_string(num_shards) + " but the corpus has only " +
                                  std::to_string(num_passages) + " passages",
                              {config::option_key(options, options.shards)});
  }
  static const std::vector<std::string> kNoQueries;

  // Pass 2: tokenize the passages of this rank's shards, build and write each shard.
  auto first_of = [&](int s) {
    return static_cast<uint32_t>(uint64_t{num_passages} * static_cast<uint64_t>(s) /
                                 static_cast<uint64_t>(num_shards));
  };
  std::vector<int> my_shards;
  for (int s = mpi.rank(); s < num_shards; s += mpi.size())
    my_shards.push_back(s);

  double tokenize_seconds = 0, build_seconds = 0;
  nlohmann::json shard_infos = nlohmann::json::array();
  for (int s : my_shards) {
    const uint32_t lo = first_of(s), hi = first_of(s + 1);
    auto t0 = Clock::now();
    std::vector<index::PassageSegments> passages;
    std::vector<std::string> ids;
    passages.reserve(hi - lo);
    ids.reserve(hi - lo);
    ProgressOptions progress_options;
    progress_options.log_interval_s = in.progress_interval_s;
    Progress progress("tokenize shard " + std::to_string(s), hi - lo, mpi.is_root(),
                      progress_options);
    data::for_each_passage(
        in.corpus, in.corpus_format,
        [&](data::Passage&& p, int64_t) {
          auto pq = pseudo_queries.find(p.id);
          passages.push_back(
              index::passage_segments(tokenizer, views, markers, p.title, p.text,
                                      pq == pseudo_queries.end() ? kNoQueries : pq->second));
          ids.push_back(std::move(p.id));
          progress.add(1);
        },
        [lo, hi](size_t record) { return record >= lo && record < hi; });
    progress.finish();
    tokenize_seconds += seconds_since(t0);

    auto t1 = Clock::now();
    index::FmIndex shard = index::FmIndex::build(passages);
    passages.clear();
    passages.shrink_to_fit();
    const std::string file = shard_name(s);
    const std::string path = (fs::path(out_dir) / file).string();
    index::write_shard(path, shard, ids);
    build_seconds += seconds_since(t1);
    const uint64_t bytes = fs::file_size(path);
    const index::ViewStarts starts = index::count_view_starts(shard, views, markers);
    LOG(INFO) << "shard " << s << ": passages [" << lo << ", " << hi << "), " << shard.num_tokens()
              << " tokens, " << format_bytes(bytes) << " ("
              << static_cast<double>(bytes) / std::max<uint64_t>(1, shard.num_tokens())
              << " bytes/token), built in " << seconds_since(t1) << " s";
    shard_infos.push_back({{"shard", s},
                           {"file", file},
                           {"first_passage", lo},
                           {"num_passages", hi - lo},
                           {"num_tokens", shard.num_tokens()},
                           {"title_starts", starts.title},
                           {"pq_starts", starts.pq},
                           {"bytes", bytes},
                           {"sha256", sha256_file(path)}});
  }

  // Rank 0 collects every rank's shards and timings, then writes the manifest last.
  nlohmann::json mine = {{"shards", shard_infos},
                         {"tokenize_seconds", tokenize_seconds},
                         {"build_seconds", build_seconds},
                         {"peak_rss", peak_rss_bytes()}};
  std::vector<std::string> all = mpi.gather_strings(mine.dump());
  IndexBuildReport report;
  if (mpi.is_root()) {
    index::Manifest manifest;
    manifest.tokenizer_hash = tokenizer.hash();
    manifest.corpus = in.corpus;
    manifest.corpus_hash = sha256_file(in.corpus);
    manifest.pseudo_queries_hash = in.pseudo_queries.empty() ? "" : sha256_file(in.pseudo_queries);
    manifest.config_hash = in.config_hash;
    manifest.views = views;
    manifest.num_passages = num_passages;
    manifest.shards.resize(num_shards);
    for (const auto& text : all) {
      nlohmann::json rank = nlohmann::json::parse(text);
      report.tokenize_seconds =
          std::max(report.tokenize_seconds, rank["tokenize_seconds"].get<double>());
      report.build_seconds = std::max(report.build_seconds, rank["build_seconds"].get<double>());
      report.peak_rss_bytes = std::max(report.peak_rss_bytes, rank["peak_rss"].get<uint64_t>());
      for (const auto& s : rank["shards"]) {
        index::ShardInfo& info = manifest.shards[s["shard"].get<int>()];
        info.file = s["file"];
        info.first_passage = s["first_passage"];
        info.num_passages = s["num_passages"];
        info.num_tokens = s["num_tokens"];
        info.bytes = s["bytes"];
        info.sha256 = s["sha256"];
        manifest.num_tokens += info.num_tokens;
        manifest.title_starts += s["title_starts"].get<uint64_t>();
        manifest.pq_starts += s["pq_starts"].get<uint64_t>();
        report.bytes += info.bytes;
      }
    }
    copy_tokenizer(in.tokenizer_dir, (fs::path(out_dir) / "tokenizer").string());
    // Shards of an earlier build with more shards would otherwise linger.
    for (const auto& entry : fs::directory_iterator(out_dir)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("shard-", 0) != 0 || name.size() != shard_name(0).size()) continue;
      const std::string digits = name.substr(6, 5);
      if (digits.find_first_not_of("0123456789") == std::string::npos &&
          std::stoi(digits) >= num_shards) {
        fs::remove(entry.path());
      }
    }
    manifest.write((fs::path(out_dir) / "manifest.yaml").string());
    report.passages = num_passages;
    report.tokens = manifest.num_tokens;
  }
  report.shards = num_shards;
  report.seconds = seconds_since(start);
  mpi.barrier();
  return report;
}

}  // namespace dgr::distributed
