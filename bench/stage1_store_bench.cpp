// Stage-1 example store: rows/s of Stage1ExampleFile::read on random batches (what a shuffled
// training loader asks for), against the rate training consumes them. The store holds 100k
// synthetic examples shaped like real ones (source 8-64 tokens, title/pseudo-query prompt of one
// token, target 10-15 tokens), written once to $TMPDIR (or /tmp) and removed at exit.
//
// Random batches: {batch rows, chunk elements, chunk cache KiB per dataset, deflate level}. The
// default store (64Ki-element chunks, uncompressed) against deflate-compressed ones. Cache 0
// makes every batch decompress what it touches, as on a store far larger than any cache (NQ:
// ~100M examples); 8 MiB (the reader's default) holds part of this store's chunks. Contiguous
// batches (a loader shuffling blocks of rows) for comparison. Rates are per wall-clock second.
//
//   stage1_store_bench [google benchmark flags]
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "data/stage1_examples.h"

namespace {

using dgr::data::Stage1Example;
using dgr::data::Stage1ExampleFile;
using dgr::search::View;

constexpr size_t kExamples = 100000;

std::vector<Stage1Example> synthetic_examples(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto tokens = [&](size_t lo, size_t hi) {
    std::vector<int32_t> out(lo + rng() % (hi - lo + 1));
    for (int32_t& t : out)
      t = static_cast<int32_t>(rng() % 50265);
    return out;
  };
  std::vector<Stage1Example> examples(n);
  for (size_t i = 0; i < n; ++i) {
    Stage1Example& e = examples[i];
    e.supervised = rng() % 2 == 0;
    e.source_id = (e.supervised ? "q" : "p") + std::to_string(rng() % 10000000);
    e.view = static_cast<View>(rng() % 3);
    e.source = tokens(8, 64);
    if (e.view != View::kBody) e.prompt = {e.view == View::kTitle ? 2 : 45056};
    e.target = tokens(10, 15);
  }
  return examples;
}

// A store per chunk size, written on first use and removed at exit.
struct Store {
  std::string path;
  double write_seconds = 0;
  uintmax_t bytes = 0;

  Store(uint64_t chunk_elements, int deflate) {
    const char* tmp = std::getenv("TMPDIR");
    path = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/dgr-stage1-bench-" +
           std::to_string(::getpid()) + "-" + std::to_string(chunk_elements) + "-" +
           std::to_string(deflate) + ".h5";
    const auto examples = synthetic_examples(kExamples, 42);
    const auto start = std::chrono::steady_clock::now();
    dgr::data::write_stage1_examples(path, examples, {{"bench", "stage1_store_bench"}},
                                     {chunk_elements, deflate});
    write_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    bytes = std::filesystem::file_size(path);
  }
  ~Store() { std::remove(path.c_str()); }
};

const Store& store(uint64_t chunk_elements, int deflate) {
  static std::map<std::pair<uint64_t, int>, std::unique_ptr<Store>> stores;
  auto& slot = stores[{chunk_elements, deflate}];
  if (!slot) slot = std::make_unique<Store>(chunk_elements, deflate);
  return *slot;
}

// Arguments: batch rows, chunk elements of the store, chunk cache KiB per dataset (0: none, so
// every batch decompresses what it touches, as on a store far larger than the cache).
void BM_RandomBatch(benchmark::State& state) {
  const size_t batch = static_cast<size_t>(state.range(0));
  const Store& s = store(static_cast<uint64_t>(state.range(1)), static_cast<int>(state.range(3)));
  const size_t cache = static_cast<size_t>(state.range(2)) << 10;
  const Stage1ExampleFile file = Stage1ExampleFile::open(s.path, cache);
  std::mt19937_64 rng(1);
  std::vector<uint64_t> rows(batch);
  size_t tokens = 0;
  for (auto _ : state) {
    for (uint64_t& r : rows)
      r = rng() % file.size();
    const std::vector<Stage1Example> examples = file.read(rows);
    for (const Stage1Example& e : examples)
      tokens += e.source.size() + e.target.size();
    benchmark::DoNotOptimize(examples.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * batch));
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(tokens), benchmark::Counter::kIsRate);
  state.counters["store_MiB"] = static_cast<double>(s.bytes) / (1 << 20);
  state.counters["write_s"] = s.write_seconds;
}
BENCHMARK(BM_RandomBatch)
    ->ArgNames({"batch", "chunk", "cache_KiB", "deflate"})
    ->ArgsProduct({{8, 64, 1024}, {65536}, {0, 8192}, {0, 4}})
    ->Args({8, 4096, 0, 4})
    ->Args({64, 4096, 0, 4})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// Contiguous rows (a loader that shuffles blocks rather than rows), for comparison.
void BM_ContiguousBatch(benchmark::State& state) {
  const size_t batch = static_cast<size_t>(state.range(0));
  const Stage1ExampleFile file =
      Stage1ExampleFile::open(store(static_cast<uint64_t>(state.range(1)), 4).path, 0);
  std::mt19937_64 rng(2);
  std::vector<uint64_t> rows(batch);
  for (auto _ : state) {
    const uint64_t first = rng() % (file.size() - batch);
    for (size_t i = 0; i < batch; ++i)
      rows[i] = first + i;
    benchmark::DoNotOptimize(file.read(rows).data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * batch));
}
BENCHMARK(BM_ContiguousBatch)
    ->ArgNames({"batch", "chunk"})  // deflate-compressed
    ->ArgsProduct({{64}, {65536, 4096}})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
