// Constrained vs unconstrained beam search of the same model, side by side in one run: the
// FM-index constraint should make decoding barely slower (target: >= 0.8x the queries/s of
// unconstrained decoding at beam 15). The model has bart-base dimensions (random weights, BART's
// 50,265-token vocabulary) and decodes the title and body views of TREC DL 2019 queries over the
// DL19 passage pool's index (10,852 passages, one shard); one thread.
//
// Counters: queries/s, and index_share = the part of the step time spent in the constraint's
// calls (next_tokens / extend for all beams of all queries of the step). Unconstrained runs use
// NoConstraint with the same keep_history, beams and lengths.
//
// --device=cuda decodes on the GPU (launch/gpu-check.sh); --data=DIR reads tokenizer/bart and
// msmarco-dl19 from DIR instead of the shared data beside the source tree.
//
//   beam_search_bench [--arch=tiny|bart-base|bart-large] [--device=cpu|cuda[:N]] [--data=DIR]
//                     [google benchmark flags]
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/index/fm_index.h"
#include "core/index/sharded_index.h"
#include "core/index/views.h"
#include "core/model/retrieval_model.h"
#include "core/model/torch_runtime.h"
#include "core/search/beam_search.h"
#include "core/search/fm_index_constraint.h"
#include "core/search/retriever.h"
#include "core/text/bpe_tokenizer.h"
#include "data/dataset.h"

namespace {

namespace fs = std::filesystem;
using dgr::index::TokenId;
using Clock = std::chrono::steady_clock;

std::string g_arch = "bart-base";          // NOLINT: set once from argv before the benchmarks run
std::string g_device = "cpu";              // NOLINT: likewise
std::string g_data = DGR_SHARED_DATA_DIR;  // NOLINT: likewise

// Times every call of the wrapped constraint.
class TimedConstraint final : public dgr::search::TokenConstraint {
 public:
  explicit TimedConstraint(dgr::search::TokenConstraint& inner) : inner_(inner) {}
  void start(size_t rows, const std::vector<TokenId>& prefix) override {
    const auto t = Clock::now();
    inner_.start(rows, prefix);
    seconds += std::chrono::duration<double>(Clock::now() - t).count();
  }
  bool allowed(std::vector<std::vector<TokenId>>& tokens) override {
    const auto t = Clock::now();
    const bool constrained = inner_.allowed(tokens);
    seconds += std::chrono::duration<double>(Clock::now() - t).count();
    return constrained;
  }
  void advance(const std::vector<int64_t>& parents, const std::vector<TokenId>& tokens) override {
    const auto t = Clock::now();
    inner_.advance(parents, tokens);
    seconds += std::chrono::duration<double>(Clock::now() - t).count();
  }
  double seconds = 0;

 private:
  dgr::search::TokenConstraint& inner_;
};

struct Fixture {
  dgr::index::ShardedIndex index;
  std::vector<dgr::search::ViewPrompt> views;
  std::vector<std::vector<TokenId>> queries;
  std::unique_ptr<dgr::model::RetrievalModel> model;
};

Fixture& fixture() {
  static Fixture f = [] {
    Fixture out;
    dgr::model::configure_threads(1, 1);
    const std::string data = g_data;
    const std::string tokenizer_dir = data + "/tokenizer/bart";
    auto tokenizer = dgr::text::BpeTokenizer::load(tokenizer_dir);
    dgr::index::ViewOptions view_options;
    const auto markers = dgr::index::encode_markers(tokenizer, view_options);
    std::vector<dgr::index::PassageSegments> passages;
    dgr::data::for_each_passage(
        data + "/msmarco-dl19/corpus.jsonl", "auto", [&](dgr::data::Passage&& p, int64_t) {
          passages.push_back(
              dgr::index::passage_segments(tokenizer, view_options, markers, p.title, p.text, {}));
        });
    auto shard = std::make_shared<const dgr::index::FmIndex>(dgr::index::FmIndex::build(passages));
    out.index = dgr::index::ShardedIndex({shard}, {0});
    out.views = dgr::search::view_prompts(view_options, markers, dgr::search::SearchOptions{});
    for (const auto& q : dgr::data::load_queries(data + "/msmarco-dl19/queries.jsonl")) {
      out.queries.push_back(tokenizer.encode(" " + q.text));
    }
    const std::string dir =
        (fs::temp_directory_path() / ("dgr-beam-bench-" + std::to_string(::getpid()))).string();
    auto config = dgr::model::BartConfig::preset(g_arch, tokenizer.vocab_size());
    dgr::model::create_checkpoint(config, 7, tokenizer_dir, dir);
    out.model = dgr::model::load_retrieval_model(dir, g_device);
    fs::remove_all(dir);
    return out;
  }();
  return f;
}

// Args: beam size, constrained (0/1). One iteration decodes a batch of 4 queries.
void BM_BeamSearch(benchmark::State& state) {
  Fixture& f = fixture();
  dgr::search::BeamSearchOptions options;
  options.beam_size = static_cast<int>(state.range(0));
  const bool constrained = state.range(1) != 0;
  dgr::search::FmIndexConstraint fm(f.index);
  dgr::search::NoConstraint none;
  TimedConstraint timed(constrained ? static_cast<dgr::search::TokenConstraint&>(fm) : none);
  constexpr size_t kBatch = 4;
  size_t next = 0;
  size_t queries = 0;
  double total = 0;
  for (auto _ : state) {
    std::vector<std::vector<TokenId>> batch;
    for (size_t i = 0; i < kBatch; ++i)
      batch.push_back(f.queries[(next++) % f.queries.size()]);
    const auto t = Clock::now();
    auto results = dgr::search::beam_search(f.model->step_model(), timed, batch, f.views, options);
    total += std::chrono::duration<double>(Clock::now() - t).count();
    benchmark::DoNotOptimize(results.data());
    queries += batch.size();
  }
  state.counters["queries_per_s"] = static_cast<double>(queries) / total;
  state.counters["index_share"] = timed.seconds / total;
  state.SetLabel(std::string(constrained ? "fm-index" : "unconstrained") + ", " + g_arch + ", " +
                 g_device);
}

BENCHMARK(BM_BeamSearch)
    ->ArgNames({"beam", "constrained"})
    ->ArgsProduct({{5, 15, 50}, {0, 1}})
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2.0)
    ->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--arch=", 7) == 0) g_arch = argv[i] + 7;
    if (std::strncmp(argv[i], "--device=", 9) == 0) g_device = argv[i] + 9;
    if (std::strncmp(argv[i], "--data=", 7) == 0) g_data = argv[i] + 7;
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
