#include "distributed/retrieval.h"

#include <glog/logging.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <nlohmann/json.hpp>

#include "core/index/manifest.h"
#include "core/model/retrieval_model.h"
#include "core/search/fm_index_constraint.h"
#include "core/search/retriever.h"
#include "core/text/bpe_tokenizer.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "core/util/memory.h"
#include "core/util/progress.h"
#include "core/util/timing.h"

namespace dgr::distributed {
namespace {

using Clock = std::chrono::steady_clock;

// Shortest form that reads back as the same double (ties stay ties in the run file).
std::string format_score(double value) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

void check_job(const RetrievalOptions& options, const RetrievalInputs& in) {
  if (in.queries.empty()) throw ConfigError("retrieve: there are no queries to retrieve for");
  search::check_search_options(options.search);
  search::check_scoring_options(options.scoring);
  if (in.run_path.empty()) throw ConfigError("retrieve: no run file to write");
}

// The model's vocabulary must be the index's: ids mean the same tokens on both sides.
void check_vocabulary(const std::string& model_dir, const std::string& index_dir,
                      const text::BpeTokenizer& tokenizer, const model::RetrievalModel& model) {
  const std::string vocab = model_dir + "/vocab.json";
  if (file_exists(vocab) && file_exists(model_dir + "/merges.txt")) {
    const text::BpeTokenizer model_tokenizer = text::BpeTokenizer::load(model_dir);
    if (model_tokenizer.hash() != tokenizer.hash()) {
      throw ConfigError(
          "the model in " + model_dir + " uses a different vocabulary than the index in " +
          index_dir + " (tokenizer " + model_tokenizer.hash().substr(0, 12) + " vs " +
          tokenizer.hash().substr(0, 12) + "); rebuild the index with the model's tokenizer");
    }
  }
  if (model.config().vocab_size < tokenizer.vocab_size()) {
    throw ConfigError("the model in " + model_dir + " has " +
                      std::to_string(model.config().vocab_size) +
                      " token embeddings but the index's tokenizer has " +
                      std::to_string(tokenizer.vocab_size()) + " tokens");
  }
}

// One query's lines of the run file and of keys.jsonl.
void append_results(const data::Query& query, const search::QueryRetrieval& result,
                    const index::IndexDirectory& index, const text::BpeTokenizer& tokenizer,
                    const std::vector<search::ViewPrompt>& prompts, const RetrieveOptions& options,
                    std::string& run, std::string* keys_out) {
  size_t rank = 0;
  for (const search::ScoredPassage& passage : result.passages) {
    run += query.id;
    run += " Q0 ";
    run += index.passage_ids[passage.passage];
    run += ' ';
    run += std::to_string(++rank);
    run += ' ';
    run += format_score(passage.score);
    run += ' ';
    run += options.tag;
    run += '\n';
  }
  if (!keys_out) return;
  // Keys referenced by a ranked passage, renumbered in order of first use.
  std::vector<int64_t> renumbered(result.keys.size(), -1);
  nlohmann::json keys = nlohmann::json::array();
  nlohmann::json passages = nlohmann::json::array();
  for (const search::ScoredPassage& passage : result.passages) {
    nlohmann::json matched = nlohmann::json::array();
    const size_t limit = std::min(passage.keys.size(),
                                  static_cast<size_t>(std::max(0, options.max_keys_per_passage)));
    for (size_t i = 0; i < limit; ++i) {
      const uint32_t k = passage.keys[i];
      if (renumbered[k] < 0) {
        renumbered[k] = static_cast<int64_t>(keys.size());
        const search::ScoredKey& key = result.keys[k];
        // The generated tokens (a finished title keeps its end marker): prompt + tokens is what
        // occurs in the index and what teacher forcing rescores.
        size_t prefix = 0;
        for (const search::ViewPrompt& prompt : prompts) {
          if (prompt.view == key.view) prefix = prompt.prefix.size();
        }
        const std::vector<search::TokenId> generated(
            key.indexed.begin() + static_cast<std::ptrdiff_t>(prefix), key.indexed.end());
        keys.push_back({{"view", search::view_name(key.view)},
                        {"tokens", generated},
                        {"text", tokenizer.decode(generated)},
                        {"log_prob", key.log_prob},
                        {"count", key.count},
                        {"weight", key.weight}});
      }
      matched.push_back(renumbered[k]);
    }
    passages.push_back({{"id", index.passage_ids[passage.passage]},
                        {"passage", passage.passage},
                        {"score", passage.score},
                        {"keys", std::move(matched)}});
  }
  // query_id first (the other members in nlohmann's sorted order), so that a reader that wants
  // only some queries' lines finds the id at the start of each (data::scan_json_id).
  const nlohmann::json rest = {{"generated_keys", result.keys.size()},
                               {"keys", std::move(keys)},
                               {"passages", std::move(passages)}};
  *keys_out += "{\"query_id\":" + nlohmann::json(query.id).dump() + "," + rest.dump().substr(1);
  *keys_out += '\n';
}

// Per-rank figures travel to rank 0 as one JSON string each.
struct RankFigures {
  size_t keys = 0;
  size_t ranked = 0;
  size_t empty = 0;
  double search_seconds = 0;
  double load_seconds = 0;
  uint64_t rss = 0;
};

}  // namespace

RetrievalReport retrieve(MpiContext& mpi, const RetrievalOptions& options,
                         const RetrievalInputs& job) {
  const auto start = Clock::now();
  check_job(options, job);
  const search::SearchOptions& search_options = options.search;
  search::RetrieverOptions retriever;
  retriever.beam.beam_size = search_options.beam_size;
  retriever.beam.keep_history = search_options.keep_history;
  retriever.beam.unigram_top = options.scoring.unigram_evidence ? options.scoring.unigram_top : 0;
  retriever.scoring = options.scoring;
  retriever.scoring.max_keys_per_passage = options.retrieve.max_keys_per_passage;

  // Every rank loads the index and the model once; both stay for all its batches.
  const std::string& index_dir = options.index.dir;
  const index::IndexDirectory index =
      index::load_index_directory(index_dir, options.index.verify_checksums);
  const text::BpeTokenizer tokenizer = text::BpeTokenizer::load(index.tokenizer_dir());
  std::unique_ptr<model::RetrievalModel> model =
      model::load_retrieval_model(job.model_dir, job.device);
  check_vocabulary(job.model_dir, index_dir, tokenizer, *model);
  const index::ViewMarkers markers = index::encode_markers(tokenizer, index.manifest.views);
  const std::vector<search::ViewPrompt> prompts =
      search::view_prompts(index.manifest.views, markers, search_options);
  RankFigures figures;
  figures.load_seconds = seconds_since(start);
  LOG_IF(INFO, mpi.is_root()) << "loaded index " << index_dir << " (" << index.index.num_passages()
                              << " passages, " << index.index.num_shards() << " shards) and model "
                              << job.model_dir << " (" << model->num_parameters()
                              << " parameters) in " << figures.load_seconds << " s";

  // Batches are cut from the whole query list, then dealt to ranks as contiguous runs of
  // batches: every batch holds the same queries (so the same padding and the same floating-point
  // sums) whatever the number of ranks, and concatenating the ranks' outputs in rank order gives
  // query-file order.
  const size_t total = job.queries.size();
  const size_t size = static_cast<size_t>(mpi.size());
  const size_t rank = static_cast<size_t>(mpi.rank());
  const size_t batch = static_cast<size_t>(search_options.batch_size);
  const size_t batches = (total + batch - 1) / batch;
  const size_t lo = std::min(total, batches * rank / size * batch);
  const size_t hi = std::min(total, batches * (rank + 1) / size * batch);

  search::FmIndexConstraint constraint(index.index);
  search::KeyRescorer rescorer;
  if (search_options.rescore) {
    rescorer = [&model](const std::vector<search::TokenId>& query,
                        const std::vector<search::ViewPrompt>& views,
                        std::vector<search::GeneratedKey>& keys) {
      model->rescore(query, views, keys);
    };
  }

  std::string run_part;
  std::string keys_part;
  std::string* keys_out = job.keys_path.empty() ? nullptr : &keys_part;
  const auto search_start = Clock::now();
  {
    // Rank 0 reports its own slice (the slices differ by at most one batch).
    ProgressOptions progress_options;
    progress_options.log_interval_s = job.progress_interval_s;
    Progress progress(size > 1 ? "retrieve (rank 0's queries)" : "retrieve",
                      static_cast<int64_t>(hi - lo), mpi.is_root(), progress_options);
    for (size_t b = lo; b < hi; b += static_cast<size_t>(search_options.batch_size)) {
      const size_t e = std::min(hi, b + static_cast<size_t>(search_options.batch_size));
      std::vector<std::vector<search::TokenId>> batch;
      for (size_t q = b; q < e; ++q) {
        std::vector<search::TokenId> ids = tokenizer.encode(" " + job.queries[q].text);
        if (ids.size() > static_cast<size_t>(search_options.max_query_length)) {
          ids.resize(static_cast<size_t>(search_options.max_query_length));
        }
        batch.push_back(std::move(ids));
      }
      const std::vector<search::QueryRetrieval> results = search::retrieve(
          model->step_model(), constraint, index.index, batch, prompts, retriever, rescorer);
      for (size_t q = b; q < e; ++q) {
        const search::QueryRetrieval& result = results[q - b];
        figures.keys += result.keys.size();
        figures.ranked += result.passages.size();
        if (result.passages.empty()) ++figures.empty;
        append_results(job.queries[q], result, index, tokenizer, prompts, options.retrieve,
                       run_part, keys_out);
      }
      progress.add(static_cast<int64_t>(e - b));
    }
    progress.finish();
  }
  figures.search_seconds = seconds_since(search_start);
  figures.rss = peak_rss_bytes();

  const nlohmann::json local = {{"keys", figures.keys},
                                {"ranked", figures.ranked},
                                {"empty", figures.empty},
                                {"search_seconds", figures.search_seconds},
                                {"load_seconds", figures.load_seconds},
                                {"rss", figures.rss}};
  const std::vector<std::string> runs = mpi.gather_strings(run_part);
  const std::vector<std::string> keys =
      keys_out ? mpi.gather_strings(keys_part) : std::vector<std::string>{};
  const std::vector<std::string> stats = mpi.gather_strings(local.dump());

  RetrievalReport report;
  report.queries = total;
  if (mpi.is_root()) {
    write_file_atomic(job.run_path, [&](std::FILE* file) {
      for (const std::string& part : runs)
        std::fwrite(part.data(), 1, part.size(), file);
    });
    if (keys_out) {
      write_file_atomic(job.keys_path, [&](std::FILE* file) {
        for (const std::string& part : keys)
          std::fwrite(part.data(), 1, part.size(), file);
      });
    }
    for (const std::string& s : stats) {
      const nlohmann::json j = nlohmann::json::parse(s);
      report.keys += j["keys"].get<size_t>();
      report.ranked += j["ranked"].get<size_t>();
      report.empty_queries += j["empty"].get<size_t>();
      report.search_seconds = std::max(report.search_seconds, j["search_seconds"].get<double>());
      report.load_seconds = std::max(report.load_seconds, j["load_seconds"].get<double>());
      report.peak_rss_bytes = std::max(report.peak_rss_bytes, j["rss"].get<uint64_t>());
    }
  }
  mpi.barrier();
  report.seconds = seconds_since(start);
  return report;
}

}  // namespace dgr::distributed
