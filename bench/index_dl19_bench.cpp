// FM-index calls on a real corpus: the TREC DL 2019 passage pool (10,852 MS MARCO passages,
// title + body views, BART's vocabulary), one shard, one core. Prefixes are cut from the
// indexed passages themselves, as constrained decoding would extend them.
#include <benchmark/benchmark.h>

#include <random>

#include "core/index/views.h"
#include "core/text/bpe_tokenizer.h"
#include "data/dataset.h"

namespace {

using dgr::index::FmIndex;
using dgr::index::PassageSegments;
using dgr::index::SaRange;
using dgr::index::TokenId;

struct Fixture {
  FmIndex index;
  std::vector<std::vector<TokenId>> prefixes;  // 2,000 n-grams of 3 tokens from the corpus
  uint64_t tokens = 0;
};

const Fixture& fixture() {
  static const Fixture f = [] {
    Fixture out;
    const std::string data = DGR_SHARED_DATA_DIR;
    auto tokenizer = dgr::text::BpeTokenizer::load(data + "/tokenizer/bart");
    dgr::index::ViewOptions views;
    auto markers = dgr::index::encode_markers(tokenizer, views);
    std::vector<PassageSegments> passages;
    dgr::data::for_each_passage(
        data + "/msmarco-dl19/corpus.jsonl", "auto", [&](dgr::data::Passage&& p, int64_t) {
          passages.push_back(
              dgr::index::passage_segments(tokenizer, views, markers, p.title, p.text, {}));
        });
    std::mt19937 rng(3);
    while (out.prefixes.size() < 2000) {
      const auto& segments = passages[rng() % passages.size()];
      if (segments.empty() || segments[0].size() < 4) continue;
      size_t at = rng() % (segments[0].size() - 3);
      out.prefixes.emplace_back(segments[0].begin() + at, segments[0].begin() + at + 3);
    }
    out.index = FmIndex::build(passages);
    out.tokens = out.index.num_tokens();
    return out;
  }();
  return f;
}

void BM_Dl19Build(benchmark::State& state) {
  const Fixture& f = fixture();
  state.counters["tokens"] = static_cast<double>(f.tokens);
  state.counters["bytes_per_token"] =
      static_cast<double>(f.index.size_in_bytes()) / static_cast<double>(f.tokens);
  for (auto _ : state)
    benchmark::DoNotOptimize(f.index.num_passages());
}

// next_tokens after a prefix of `length` tokens (0 = the empty prefix).
void BM_Dl19NextTokens(benchmark::State& state) {
  const Fixture& f = fixture();
  const size_t length = static_cast<size_t>(state.range(0));
  std::vector<SaRange> ranges;
  for (const auto& p : f.prefixes) {
    ranges.push_back(f.index.find(std::vector<TokenId>(p.begin(), p.begin() + length)));
  }
  std::vector<TokenId> tokens;
  std::vector<uint64_t> counts;
  size_t i = 0, successors = 0, calls = 0;
  for (auto _ : state) {
    f.index.next_tokens(ranges[i++ % ranges.size()], tokens, counts);
    successors += tokens.size();
    ++calls;
  }
  state.counters["successors"] = static_cast<double>(successors) / static_cast<double>(calls);
}

// One decoding step of a beam: extend `batch` prefixes of 2 tokens by their next token.
void BM_Dl19Extend(benchmark::State& state) {
  const Fixture& f = fixture();
  const size_t batch = static_cast<size_t>(state.range(0));
  std::vector<SaRange> ranges;
  for (const auto& p : f.prefixes)
    ranges.push_back(f.index.find({p[0], p[1]}));
  size_t start = 0;
  for (auto _ : state) {
    for (size_t b = 0; b < batch; ++b) {
      size_t k = (start + b) % ranges.size();
      benchmark::DoNotOptimize(f.index.extend(ranges[k], f.prefixes[k][2]));
    }
    start += batch;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * batch));
}

BENCHMARK(BM_Dl19Build)->Iterations(1);
BENCHMARK(BM_Dl19NextTokens)->Arg(0)->Arg(1)->Arg(2)->Arg(3)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Dl19Extend)->Arg(1)->Arg(10)->Arg(100)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
