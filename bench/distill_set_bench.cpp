// Distillation-set reads as a distillation step makes them: a random batch of rows of a shuffled
// epoch. DistillSetFile::read(rows) (every dataset read once, as a union of the rows' hyperslabs)
// against one read(row, 1) per row (what the trainer did before). The set holds 4,000 queries of
// 100 candidates with up to 8 keys of 1-10 tokens each (a TREC DL-sized set), written once with
// the default store options to $TMPDIR (or /tmp) and removed at exit. Rates are rows per
// wall-clock second, for the default deflate level 4 and for an uncompressed set.
//
//   distill_set_bench [google benchmark flags]
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "data/distill_set.h"

namespace {

using dgr::data::DistillCandidate;
using dgr::data::DistillKey;
using dgr::data::DistillQuery;
using dgr::data::DistillSetFile;
using dgr::data::DistillSetMeta;

constexpr size_t kQueries = 4000;
constexpr int64_t kCandidates = 100;
constexpr int64_t kMaxKeys = 8;

struct Store {
  std::string path;
  explicit Store(int deflate_level) {
    const char* tmp = std::getenv("TMPDIR");
    path = std::string(tmp && *tmp ? tmp : "/tmp") + "/dgr-distill-bench-" +
           std::to_string(::getpid()) + "-" + std::to_string(deflate_level) + ".h5";
    DistillSetMeta meta;
    meta.teacher = "bench";
    meta.corpus_hash = std::string(64, 'c');
    meta.index_hash = std::string(64, 'i');
    meta.config_hash = std::string(64, 'f');
    meta.created = "2026-01-01T00:00:00Z";
    meta.candidates_per_query = kCandidates;
    meta.max_keys_per_candidate = kMaxKeys;
    std::mt19937_64 rng(7);
    std::vector<DistillQuery> queries(kQueries);
    for (size_t i = 0; i < kQueries; ++i) {
      DistillQuery& q = queries[i];
      q.query_id = "q" + std::to_string(i);
      q.query = "query text number " + std::to_string(i);
      for (int64_t j = 0; j < kCandidates; ++j) {
        DistillCandidate c;
        c.passage = static_cast<int64_t>(rng() % 1000000);
        c.teacher_score = static_cast<float>(rng() % 1000) / 100.0f;
        c.student_score = static_cast<float>(rng() % 1000);
        c.label = j == 0 ? 1 : -1;
        const size_t keys = 1 + rng() % kMaxKeys;
        for (size_t k = 0; k < keys; ++k) {
          DistillKey key;
          key.view = static_cast<dgr::search::View>(rng() % 2);
          key.tokens.resize(1 + rng() % 10);
          for (int32_t& t : key.tokens)
            t = static_cast<int32_t>(rng() % 50265);
          key.count = static_cast<int64_t>(rng() % 5000);
          key.log_prob = -static_cast<float>(rng() % 1000) / 100.0f;
          c.keys.push_back(std::move(key));
        }
        q.candidates.push_back(std::move(c));
      }
    }
    dgr::data::DistillStoreOptions options;
    options.deflate_level = deflate_level;
    dgr::data::write_distill_set(path, meta, queries, options);
  }
  ~Store() { std::filesystem::remove(path); }
};

// The set written with deflate level 4 (the default) or 0 (uncompressed).
const DistillSetFile& set(int deflate_level) {
  static Store compressed(4), raw(0);
  static const DistillSetFile compressed_file = DistillSetFile::open(compressed.path);
  static const DistillSetFile raw_file = DistillSetFile::open(raw.path);
  return deflate_level == 0 ? raw_file : compressed_file;
}

std::vector<std::vector<uint64_t>> random_batches(size_t batch, size_t count) {
  std::mt19937_64 rng(11);
  std::vector<std::vector<uint64_t>> out(count);
  for (auto& rows : out) {
    for (size_t i = 0; i < batch; ++i)
      rows.push_back(rng() % kQueries);
  }
  return out;
}

void BM_ReadBatch(benchmark::State& state) {
  const DistillSetFile& file = set(static_cast<int>(state.range(1)));
  const auto batches = random_batches(static_cast<size_t>(state.range(0)), 64);
  size_t b = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(file.read(batches[b++ % batches.size()]));
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

void BM_ReadRowByRow(benchmark::State& state) {
  const DistillSetFile& file = set(static_cast<int>(state.range(1)));
  const auto batches = random_batches(static_cast<size_t>(state.range(0)), 64);
  size_t b = 0;
  for (auto _ : state) {
    for (uint64_t row : batches[b++ % batches.size()])
      benchmark::DoNotOptimize(file.read(row, 1));
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

}  // namespace

// {rows per batch, deflate level}
BENCHMARK(BM_ReadRowByRow)
    ->ArgsProduct({{4, 16, 64}, {4, 0}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ReadBatch)
    ->ArgsProduct({{4, 16, 64}, {4, 0}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
