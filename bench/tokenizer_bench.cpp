// Byte-level BPE throughput on one core: encoding MS MARCO passages (the msmarco-dl19 corpus,
// first 4000 passages) with the BART vocabulary, with the word cache (steady state and starting
// empty) and without it; the pre-tokenizer alone; decoding; and training a vocabulary on the
// 1,400 Cranfield documents. Rates: tokens/s ("tokens") and input bytes/s.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "core/text/bpe_tokenizer.h"
#include "core/text/bpe_trainer.h"
#include "core/text/pretokenizer.h"
#include "data/dataset.h"

namespace {

const std::string kData = DGR_SHARED_DATA_DIR;

// "title text" of the first `limit` passages of a corpus (all when limit is 0).
std::vector<std::string> passages(const std::string& path, size_t limit) {
  std::vector<std::string> texts;
  dgr::data::for_each_passage(path, "auto", [&](dgr::data::Passage&& p, int64_t) {
    if (limit != 0 && texts.size() >= limit) return;
    texts.push_back(p.title.empty() ? p.text : p.title + " " + p.text);
  });
  return texts;
}

const std::vector<std::string>& msmarco() {
  static const auto texts = passages(kData + "/msmarco-dl19/corpus.jsonl", 4000);
  return texts;
}

const std::vector<std::string>& cranfield() {
  static const auto texts = passages(kData + "/cranfield/corpus.jsonl", 0);
  return texts;
}

const dgr::text::BpeTokenizer& bart() {
  static const auto tokenizer = dgr::text::BpeTokenizer::load(kData + "/tokenizer/bart");
  return tokenizer;
}

size_t total_bytes(const std::vector<std::string>& texts) {
  size_t bytes = 0;
  for (const auto& t : texts)
    bytes += t.size();
  return bytes;
}

void report(benchmark::State& state, int64_t tokens, size_t bytes) {
  state.counters["tokens"] = benchmark::Counter(static_cast<double>(tokens) * state.iterations(),
                                                benchmark::Counter::kIsRate);
  state.SetBytesProcessed(static_cast<int64_t>(bytes) * state.iterations());
}

int64_t encode_all(const dgr::text::BpeTokenizer& tokenizer,
                   const std::vector<std::string>& texts) {
  int64_t tokens = 0;
  for (const auto& text : texts) {
    auto ids = tokenizer.encode(text);
    tokens += static_cast<int64_t>(ids.size());
    benchmark::DoNotOptimize(ids.data());
  }
  return tokens;
}

// Steady state: the cache holds the corpus' words after the first pass.
void BM_EncodeCached(benchmark::State& state) {
  const auto& texts = msmarco();
  const auto& tokenizer = bart();
  int64_t tokens = encode_all(tokenizer, texts);  // warm the cache
  for (auto _ : state)
    tokens = encode_all(tokenizer, texts);
  report(state, tokens, total_bytes(texts));
}
BENCHMARK(BM_EncodeCached)->Unit(benchmark::kMillisecond);

// One pass over the corpus starting from an empty cache (what encoding a corpus once costs).
void BM_EncodeColdCache(benchmark::State& state) {
  const auto& texts = msmarco();
  auto tokenizer = dgr::text::BpeTokenizer::load(kData + "/tokenizer/bart");
  int64_t tokens = 0;
  for (auto _ : state) {
    state.PauseTiming();
    tokenizer.set_cache_capacity(dgr::text::BpeTokenizer::kDefaultCacheWords);  // empties it
    state.ResumeTiming();
    tokens = encode_all(tokenizer, texts);
  }
  report(state, tokens, total_bytes(texts));
}
BENCHMARK(BM_EncodeColdCache)->Unit(benchmark::kMillisecond);

void BM_EncodeUncached(benchmark::State& state) {
  const auto& texts = msmarco();
  auto tokenizer = dgr::text::BpeTokenizer::load(kData + "/tokenizer/bart");
  tokenizer.set_cache_capacity(0);
  int64_t tokens = 0;
  for (auto _ : state)
    tokens = encode_all(tokenizer, texts);
  report(state, tokens, total_bytes(texts));
}
BENCHMARK(BM_EncodeUncached)->Unit(benchmark::kMillisecond);

void BM_PreTokenize(benchmark::State& state) {
  const auto& texts = msmarco();
  std::vector<std::string_view> pieces;
  int64_t count = 0;
  for (auto _ : state) {
    count = 0;
    for (const auto& text : texts) {
      pieces.clear();
      dgr::text::split_gpt2(text, &pieces);
      count += static_cast<int64_t>(pieces.size());
    }
    benchmark::DoNotOptimize(pieces.data());
  }
  state.counters["pieces"] = benchmark::Counter(static_cast<double>(count) * state.iterations(),
                                                benchmark::Counter::kIsRate);
  state.SetBytesProcessed(static_cast<int64_t>(total_bytes(texts)) * state.iterations());
}
BENCHMARK(BM_PreTokenize)->Unit(benchmark::kMillisecond);

void BM_Decode(benchmark::State& state) {
  const auto& tokenizer = bart();
  std::vector<std::vector<dgr::text::TokenId>> encoded;
  int64_t tokens = 0;
  for (const auto& text : msmarco()) {
    encoded.push_back(tokenizer.encode(text));
    tokens += static_cast<int64_t>(encoded.back().size());
  }
  for (auto _ : state) {
    for (const auto& ids : encoded)
      benchmark::DoNotOptimize(tokenizer.decode(ids));
  }
  report(state, tokens, total_bytes(msmarco()));
}
BENCHMARK(BM_Decode)->Unit(benchmark::kMillisecond);

// Counting the words of the corpus and learning the merges, for vocabulary size range(0).
void BM_TrainCranfield(benchmark::State& state) {
  const auto& texts = cranfield();
  dgr::text::BpeTrainerOptions options;
  options.vocab_size = static_cast<int32_t>(state.range(0));
  size_t merges = 0;
  for (auto _ : state) {
    dgr::text::BpeTrainer trainer(options);
    for (const auto& text : texts)
      trainer.add_text(text);
    merges = trainer.train().merges.size();
  }
  state.counters["merges"] = static_cast<double>(merges);
  state.SetBytesProcessed(static_cast<int64_t>(total_bytes(texts)) * state.iterations());
}
BENCHMARK(BM_TrainCranfield)->Arg(8000)->Arg(16000)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
