// FM-index micro-benchmarks: build throughput, bytes per token, next_tokens and extend latency,
// locate cost, and the same decoding calls on SEAL's configuration (csa_wt<wt_int<>>, ids + 2, no
// dense alphabet) built over the same text, so the two can be compared on one machine.
//
// Corpora are synthetic and deterministic: token ids Zipf(1.0)-distributed over a 50k vocabulary
// (ranks shuffled over the ids), passages of a 5-12 token title segment and a 40-60 token body
// segment (~58 tokens). 1M and 10M tokens always; 50M with --large or DGR_INDEX_BENCH_LARGE=1
// (slow: ~2 minutes of suffix sorting per build, ~1.5 GB peak memory).
//
//   index_bench [--large] [google benchmark flags]
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <sdsl/suffix_arrays.hpp>
#include <sdsl/wavelet_trees.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "core/index/fm_index.h"

namespace {

using dgr::index::FmIndex;
using dgr::index::PassageSegments;
using dgr::index::SaRange;
using dgr::index::TokenId;

constexpr uint32_t kVocabulary = 50000;
constexpr uint64_t kMillion = 1000000;

double uniform01(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

std::vector<PassageSegments> synthetic_corpus(uint64_t target_tokens, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<double> cdf(kVocabulary);
  double total = 0;
  for (uint32_t r = 0; r < kVocabulary; ++r)
    cdf[r] = (total += 1.0 / (r + 1.0));
  for (double& c : cdf)
    c /= total;
  std::vector<TokenId> id_of_rank(kVocabulary);
  for (uint32_t i = 0; i < kVocabulary; ++i)
    id_of_rank[i] = static_cast<TokenId>(i);
  for (uint32_t i = kVocabulary - 1; i > 0; --i)
    std::swap(id_of_rank[i], id_of_rank[rng() % (i + 1)]);
  auto draw = [&] {
    const size_t rank = std::upper_bound(cdf.begin(), cdf.end(), uniform01(rng)) - cdf.begin();
    return id_of_rank[std::min<size_t>(rank, kVocabulary - 1)];
  };
  std::vector<PassageSegments> corpus;
  uint64_t tokens = 0;
  while (tokens < target_tokens) {
    PassageSegments passage(2);
    passage[0].resize(5 + rng() % 8);
    passage[1].resize(40 + rng() % 21);
    for (auto& segment : passage) {
      for (TokenId& t : segment)
        t = draw();
      tokens += segment.size();
    }
    corpus.push_back(std::move(passage));
  }
  return corpus;
}

struct Fixture {
  std::vector<PassageSegments> corpus;
  std::unique_ptr<FmIndex> index;
};

// One corpus and index per size, built on first use and kept for the query benchmarks.
Fixture& fixture(uint64_t tokens) {
  static std::map<uint64_t, Fixture> cache;
  Fixture& f = cache[tokens];
  if (!f.index) {
    f.corpus = synthetic_corpus(tokens, 42);
    f.index = std::make_unique<FmIndex>(FmIndex::build(f.corpus));
  }
  return f;
}

// Prefixes of `length` tokens taken from the corpus, each with the token that follows it there.
struct Prefix {
  std::vector<TokenId> tokens;
  TokenId next = 0;
};
std::vector<Prefix> sample_prefixes(const std::vector<PassageSegments>& corpus, size_t length,
                                    size_t how_many, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Prefix> out;
  while (out.size() < how_many) {
    const auto& segment = corpus[rng() % corpus.size()][rng() % 2];
    if (segment.size() <= length) continue;
    const size_t start = rng() % (segment.size() - length);
    Prefix p;
    p.tokens.assign(segment.begin() + start, segment.begin() + start + length);
    p.next = segment[start + length];
    out.push_back(std::move(p));
  }
  return out;
}

void BM_Build(benchmark::State& state) {
  const uint64_t tokens = static_cast<uint64_t>(state.range(0)) * kMillion;
  const auto corpus = synthetic_corpus(tokens, 42);
  uint64_t indexed = 0, bytes = 0, file_bytes = 0;
  for (auto _ : state) {
    FmIndex index = FmIndex::build(corpus);
    indexed = index.num_tokens();
    bytes = index.size_in_bytes();
    state.PauseTiming();
    std::ostringstream out;
    index.save(out);
    file_bytes = out.str().size();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * indexed));
  state.counters["tokens"] = static_cast<double>(indexed);
  state.counters["bytes_per_token"] = static_cast<double>(bytes) / indexed;
  state.counters["file_bytes_per_token"] = static_cast<double>(file_bytes) / indexed;
}

void BM_Load(benchmark::State& state) {
  const Fixture& f = fixture(static_cast<uint64_t>(state.range(0)) * kMillion);
  std::ostringstream out;
  f.index->save(out);
  const std::string bytes = out.str();
  for (auto _ : state) {
    std::istringstream in(bytes);
    FmIndex back = FmIndex::load(in, "bench");
    benchmark::DoNotOptimize(back.num_tokens());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes.size()));
}

void BM_NextTokensEmptyPrefix(benchmark::State& state) {
  const Fixture& f = fixture(static_cast<uint64_t>(state.range(0)) * kMillion);
  std::vector<TokenId> tokens;
  std::vector<uint64_t> counts;
  for (auto _ : state) {
    f.index->next_tokens(f.index->full_range(), tokens, counts);
    benchmark::DoNotOptimize(tokens.data());
  }
  state.counters["successors"] = static_cast<double>(tokens.size());
}

// next_tokens from the ranges of corpus prefixes of range(1) tokens (ranges precomputed).
void BM_NextTokens(benchmark::State& state) {
  const Fixture& f = fixture(static_cast<uint64_t>(state.range(0)) * kMillion);
  std::vector<SaRange> ranges;
  for (const Prefix& p : sample_prefixes(f.corpus, static_cast<size_t>(state.range(1)), 4096, 7)) {
    ranges.push_back(f.index->find(p.tokens));
  }
  std::vector<TokenId> tokens;
  std::vector<uint64_t> counts;
  size_t i = 0, listed = 0;
  for (auto _ : state) {
    f.index->next_tokens(ranges[i++ % ranges.size()], tokens, counts);
    listed += tokens.size();
  }
  state.counters["successors"] = static_cast<double>(listed) / state.iterations();
}

// extend for a batch of range(1) beams: each beam's range (a 1-3 token corpus prefix) extended
// by the token that follows it in the corpus.
void BM_Extend(benchmark::State& state) {
  const Fixture& f = fixture(static_cast<uint64_t>(state.range(0)) * kMillion);
  const size_t batch = static_cast<size_t>(state.range(1));
  std::vector<std::pair<SaRange, TokenId>> beams;
  for (size_t length = 1; length <= 3; ++length) {
    for (const Prefix& p : sample_prefixes(f.corpus, length, 4096, 11 + length)) {
      beams.emplace_back(f.index->find(p.tokens), p.next);
    }
  }
  std::shuffle(beams.begin(), beams.end(), std::mt19937_64(3));
  std::vector<SaRange> out(batch);
  size_t at = 0;
  for (auto _ : state) {
    for (size_t b = 0; b < batch; ++b) {
      const auto& beam = beams[(at + b) % beams.size()];
      out[b] = f.index->extend(beam.first, beam.second);
    }
    benchmark::DoNotOptimize(out.data());
    at = (at + batch) % beams.size();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * batch));
}

// passages() of corpus n-grams (3 tokens) with at most 1500 occurrences: the cost per located
// occurrence is the figure to watch.
void BM_Passages(benchmark::State& state) {
  const Fixture& f = fixture(static_cast<uint64_t>(state.range(0)) * kMillion);
  std::vector<SaRange> ranges;
  for (const Prefix& p : sample_prefixes(f.corpus, 3, 512, 5)) {
    const SaRange r = f.index->find(p.tokens);
    if (r.count() <= 1500) ranges.push_back(r);
  }
  size_t i = 0;
  uint64_t located = 0;
  for (auto _ : state) {
    const SaRange& r = ranges[i++ % ranges.size()];
    benchmark::DoNotOptimize(f.index->passages(r, 1500).data());
    located += r.count();
  }
  state.SetItemsProcessed(static_cast<int64_t>(located));
}

// SEAL's configuration over the same text layout: ids + 2, segments reversed, separators.
struct SealBaseline {
  sdsl::csa_wt<sdsl::wt_int<>> csa;
  uint64_t tokens = 0;
};
SealBaseline& seal_baseline(uint64_t tokens) {
  static std::map<uint64_t, SealBaseline> cache;
  SealBaseline& s = cache[tokens];
  if (s.tokens == 0) {
    const Fixture& f = fixture(tokens);
    uint64_t length = 0;
    for (const auto& p : f.corpus) {
      for (const auto& seg : p)
        length += seg.size() + 1;
    }
    sdsl::int_vector<> text(length, 0, sdsl::bits::hi(kVocabulary + 1) + 1);
    uint64_t pos = 0;
    for (const auto& p : f.corpus) {
      for (const auto& seg : p) {
        for (auto it = seg.rbegin(); it != seg.rend(); ++it)
          text[pos++] = *it + 2;
        text[pos++] = 1;
        s.tokens += seg.size();
      }
    }
    sdsl::construct_im(s.csa, std::move(text), 0);
  }
  return s;
}
SaRange seal_extend(const SealBaseline& s, SaRange r, TokenId token) {
  const uint64_t symbol = static_cast<uint64_t>(token) + 2;
  const uint64_t cc = s.csa.char2comp[symbol];
  if (cc == 0 || r.empty()) return SaRange{};
  const uint64_t first = s.csa.C[cc];
  return SaRange{first + s.csa.wavelet_tree.rank(r.begin, symbol),
                 first + s.csa.wavelet_tree.rank(r.end, symbol)};
}
SaRange seal_find(const SealBaseline& s, const std::vector<TokenId>& ngram) {
  SaRange r{0, s.csa.size()};
  for (TokenId t : ngram)
    r = seal_extend(s, r, t);
  return r;
}

void BM_SealBaselineSize(benchmark::State& state) {
  SealBaseline& s = seal_baseline(static_cast<uint64_t>(state.range(0)) * kMillion);
  for (auto _ : state)
    benchmark::DoNotOptimize(s.csa.size());
  state.counters["bytes_per_token"] = static_cast<double>(sdsl::size_in_bytes(s.csa)) / s.tokens;
}

void BM_SealBaselineNextTokens(benchmark::State& state) {
  SealBaseline& s = seal_baseline(static_cast<uint64_t>(state.range(0)) * kMillion);
  const Fixture& f = fixture(static_cast<uint64_t>(state.range(0)) * kMillion);
  std::vector<SaRange> ranges;
  if (state.range(1) == 0) {
    ranges.push_back(SaRange{0, s.csa.size()});
  } else {
    for (const Prefix& p :
         sample_prefixes(f.corpus, static_cast<size_t>(state.range(1)), 4096, 7)) {
      ranges.push_back(seal_find(s, p.tokens));
    }
  }
  std::vector<uint64_t> symbols(s.csa.sigma), rank_begin(s.csa.sigma), rank_end(s.csa.sigma);
  std::vector<TokenId> tokens;
  std::vector<uint64_t> counts;
  size_t i = 0;
  for (auto _ : state) {
    const SaRange& r = ranges[i++ % ranges.size()];
    uint64_t k = 0;
    sdsl::interval_symbols(s.csa.wavelet_tree, r.begin, r.end, k, symbols, rank_begin, rank_end);
    tokens.clear();
    counts.clear();
    for (uint64_t j = 0; j < k; ++j) {
      if (symbols[j] < 2) continue;
      tokens.push_back(static_cast<TokenId>(symbols[j] - 2));
      counts.push_back(rank_end[j] - rank_begin[j]);
    }
    benchmark::DoNotOptimize(tokens.data());
  }
}

void BM_SealBaselineExtend(benchmark::State& state) {
  SealBaseline& s = seal_baseline(static_cast<uint64_t>(state.range(0)) * kMillion);
  const Fixture& f = fixture(static_cast<uint64_t>(state.range(0)) * kMillion);
  const size_t batch = static_cast<size_t>(state.range(1));
  std::vector<std::pair<SaRange, TokenId>> beams;
  for (size_t length = 1; length <= 3; ++length) {
    for (const Prefix& p : sample_prefixes(f.corpus, length, 4096, 11 + length)) {
      beams.emplace_back(seal_find(s, p.tokens), p.next);
    }
  }
  std::shuffle(beams.begin(), beams.end(), std::mt19937_64(3));
  std::vector<SaRange> out(batch);
  size_t at = 0;
  for (auto _ : state) {
    for (size_t b = 0; b < batch; ++b) {
      const auto& beam = beams[(at + b) % beams.size()];
      out[b] = seal_extend(s, beam.first, beam.second);
    }
    benchmark::DoNotOptimize(out.data());
    at = (at + batch) % beams.size();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * batch));
}

void register_all(bool large) {
  std::vector<int64_t> sizes = {1, 10};
  if (large) sizes.push_back(50);
  for (int64_t m : sizes) {
    benchmark::RegisterBenchmark("BM_Build", BM_Build)
        ->Arg(m)
        ->Iterations(1)
        ->Unit(benchmark::kMillisecond);
  }
  std::vector<int64_t> query_sizes = {10};
  if (large) query_sizes.push_back(50);
  for (int64_t m : query_sizes) {
    benchmark::RegisterBenchmark("BM_Load", BM_Load)->Arg(m)->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("BM_NextTokensEmptyPrefix", BM_NextTokensEmptyPrefix)
        ->Arg(m)
        ->Unit(benchmark::kMicrosecond);
    for (int64_t length : {1, 2, 3}) {
      benchmark::RegisterBenchmark("BM_NextTokens", BM_NextTokens)
          ->Args({m, length})
          ->Unit(benchmark::kMicrosecond);
    }
    for (int64_t batch : {1, 10, 100}) {
      benchmark::RegisterBenchmark("BM_Extend", BM_Extend)
          ->Args({m, batch})
          ->Unit(benchmark::kMicrosecond);
    }
    benchmark::RegisterBenchmark("BM_Passages", BM_Passages)->Arg(m)->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark("BM_SealBaselineSize", BM_SealBaselineSize)->Arg(m)->Iterations(1);
    for (int64_t length : {0, 1, 2, 3}) {
      benchmark::RegisterBenchmark("BM_SealBaselineNextTokens", BM_SealBaselineNextTokens)
          ->Args({m, length})
          ->Unit(benchmark::kMicrosecond);
    }
    for (int64_t batch : {1, 10, 100}) {
      benchmark::RegisterBenchmark("BM_SealBaselineExtend", BM_SealBaselineExtend)
          ->Args({m, batch})
          ->Unit(benchmark::kMicrosecond);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool large = false;
  if (const char* env = std::getenv("DGR_INDEX_BENCH_LARGE")) large = std::strcmp(env, "0") != 0;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--large") == 0) {
      large = true;
    } else {
      args.push_back(argv[i]);
    }
  }
  int count = static_cast<int>(args.size());
  benchmark::Initialize(&count, args.data());
  if (benchmark::ReportUnrecognizedArguments(count, args.data())) return 1;
  register_all(large);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
