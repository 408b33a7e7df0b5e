#include "data/stage1_examples.h"

#include <fcntl.h>
#include <glog/logging.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <set>
#include <sstream>
#include <tuple>
#include <unordered_map>

#include "core/text/token_words.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "core/util/hash.h"
#include "data/hdf5_file.h"

namespace dgr::data {
namespace {

using text::TokenId;

constexpr const char* kFormatVersion = "1";

// ---------------------------------------------------------------------------------------------
// Deterministic randomness: one SplitMix64 stream per (kind, query, passage), so an example
// depends only on the seed and its own query and passage (not on what was generated before).

using Rng = SplitMixStream;

enum StreamKind : uint64_t { kSupervisedStream = 1, kUnsupervisedStream = 2 };

// ---------------------------------------------------------------------------------------------
// A passage's identifier views, cut from index::passage_segments so that they are exactly what
// the index holds.

struct PassageViews {
  std::vector<TokenId> title;  // ` title` + title_end (after title_start); empty: no title view
  std::vector<TokenId> body;   // `title @@ text` (the body view's segment); empty: no body view
  std::vector<TokenId> text;   // ` text`: where unsupervised sources come from
  std::vector<std::vector<TokenId>> pseudo_queries;  // ` pq` + pq_end (after pq_start)
};

bool starts_with_at(const std::vector<TokenId>& sequence, size_t at,
                    const std::vector<TokenId>& part) {
  return at + part.size() <= sequence.size() &&
         std::equal(part.begin(), part.end(), sequence.begin() + static_cast<ptrdiff_t>(at));
}

class ViewCutter {
 public:
  explicit ViewCutter(const Stage1Inputs& inputs)
      : inputs_(inputs), markers_(index::encode_markers(*inputs.tokenizer, inputs.views)) {}

  const index::ViewMarkers& markers() const { return markers_; }

  // `with_text`: also fill `text` (unsupervised sources; supervised examples need none).
  PassageViews cut(const Passage& passage, bool with_text) const {
    static const std::vector<std::string> kNone;
    const std::vector<std::string>* pseudo_queries = &kNone;
    if (inputs_.views.pseudo_queries && inputs_.pseudo_queries != nullptr) {
      if (auto it = inputs_.pseudo_queries->find(passage.id); it != inputs_.pseudo_queries->end()) {
        pseudo_queries = &it->second;
      }
    }
    const index::PassageSegments segments = index::passage_segments(
        *inputs_.tokenizer, inputs_.views, markers_, passage.title, passage.text, *pseudo_queries);
    size_t num_pq = 0;
    if (inputs_.views.pseudo_queries) {
      for (const std::string& pq : *pseudo_queries)
        num_pq += pq.empty() ? 0 : 1;
    }
    CHECK_GE(segments.size(), num_pq) << "passage '" << passage.id << "'";
    PassageViews views;
    const bool has_title = !passage.title.empty();
    const std::vector<TokenId> title_tokens =
        has_title ? inputs_.tokenizer->encode(" " + passage.title) : std::vector<TokenId>{};
    const size_t title_part = has_title ? title_tokens.size() + markers_.title_end.size() : 0;
    if (segments.size() > num_pq) {
      const std::vector<TokenId>& first = segments.front();
      size_t body_start = 0;
      if (inputs_.views.title && has_title) {
        // The title view is title_start + ` title` + title_end at the start of the segment.
        CHECK(starts_with_at(first, 0, markers_.title_start)) << "passage '" << passage.id << "'";
        body_start = markers_.title_start.size();
        views.title = title_tokens;
        views.title.insert(views.title.end(), markers_.title_end.begin(), markers_.title_end.end());
        CHECK(starts_with_at(first, body_start, views.title))
            << "passage '" << passage.id << "': title view not where the index has it";
      }
      if (inputs_.views.body) {
        views.body.assign(first.begin() + static_cast<ptrdiff_t>(body_start), first.end());
        CHECK_LE(title_part, views.body.size()) << "passage '" << passage.id << "'";
        if (with_text) {
          views.text.assign(views.body.begin() + static_cast<ptrdiff_t>(title_part),
                            views.body.end());
        }
      }
    }
    if (with_text && !inputs_.views.body && !passage.text.empty()) {
      views.text = inputs_.tokenizer->encode(" " + passage.text);
    }
    for (size_t s = segments.size() - num_pq; s < segments.size(); ++s) {
      const std::vector<TokenId>& segment = segments[s];
      const size_t begin = markers_.pq_start.size();
      CHECK(starts_with_at(segment, 0, markers_.pq_start) && segment.size() >= begin)
          << "passage '" << passage.id << "': pseudo-query segment without its start marker";
      views.pseudo_queries.emplace_back(segment.begin() + static_cast<ptrdiff_t>(begin),
                                        segment.end());
    }
    return views;
  }

 private:
  const Stage1Inputs& inputs_;
  index::ViewMarkers markers_;
};

// ---------------------------------------------------------------------------------------------
// Choosing spans and pseudo-queries.

// Where body spans may start (MINDER, SEAL: at a passage word that is not a stop word): the
// tokens that begin content words; failing any, the tokens that begin any word; failing any
// (no word at all), the first token. Empty for an empty body.
std::vector<size_t> span_candidates(const std::vector<text::TokenWord>& words, size_t size) {
  std::vector<size_t> candidates;
  for (const text::TokenWord& w : words)
    if (w.content) candidates.push_back(w.position);
  if (candidates.empty()) {
    for (const text::TokenWord& w : words)
      candidates.push_back(w.position);
  }
  if (candidates.empty() && size > 0) candidates.push_back(0);
  return candidates;
}

// Starts of `count` supervised body spans of `length` tokens. Candidates (span_candidates) that
// begin a query content word come first, then the others; within each group more distinct query
// content words among the words beginning inside the span first, ties in seeded random order.
// `query_words`: sorted, distinct. `*at_query_word` counts the chosen starts at a query word.
std::vector<size_t> supervised_span_starts(const std::vector<text::TokenWord>& words, size_t size,
                                           size_t length, size_t count,
                                           const std::vector<std::string>& query_words, Rng& rng,
                                           size_t* at_query_word) {
  if (size == 0 || count == 0) return {};
  auto in_query = [&](const text::TokenWord& w) {
    return w.content && std::binary_search(query_words.begin(), query_words.end(), w.text);
  };
  const std::vector<size_t> candidates = span_candidates(words, size);
  // (not at a query word, -overlap, random, start)
  std::vector<std::tuple<bool, int64_t, uint64_t, size_t>> order;
  order.reserve(candidates.size());
  std::vector<const std::string*> seen;
  size_t w = 0;  // first word at or after the candidate
  for (size_t start : candidates) {
    while (w < words.size() && words[w].position < start)
      ++w;
    seen.clear();
    for (size_t k = w; k < words.size() && words[k].position < start + length; ++k) {
      if (!in_query(words[k])) continue;
      const bool repeated = std::any_of(seen.begin(), seen.end(),
                                        [&](const std::string* s) { return *s == words[k].text; });
      if (!repeated) seen.push_back(&words[k].text);
    }
    const bool at_query = w < words.size() && words[w].position == start && in_query(words[w]);
    order.emplace_back(!at_query, -static_cast<int64_t>(seen.size()), rng.next(), start);
  }
  const size_t needed = std::min(count, order.size());
  std::partial_sort(order.begin(), order.begin() + static_cast<ptrdiff_t>(needed), order.end());
  std::vector<size_t> starts(count);
  for (size_t i = 0; i < count; ++i) {
    const auto& chosen = order[i % needed];
    starts[i] = std::get<3>(chosen);
    *at_query_word += std::get<0>(chosen) ? 0 : 1;
  }
  return starts;
}

// `count` indices into `n` items: a random permutation, repeated as needed.
std::vector<size_t> choose_items(size_t n, size_t count, Rng& rng) {
  if (n == 0 || count == 0) return {};
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  for (size_t i = n - 1; i > 0; --i)
    std::swap(order[i], order[rng.below(i + 1)]);
  std::vector<size_t> chosen(count);
  for (size_t i = 0; i < count; ++i)
    chosen[i] = order[i % n];
  return chosen;
}

// Starts of `count` unsupervised body spans: span_candidates in seeded random order, every one
// before any repeats. Independent of the source segment (a span may overlap it, as SEAL's do).
std::vector<size_t> unsupervised_span_starts(const std::vector<text::TokenWord>& words, size_t size,
                                             size_t count, Rng& rng) {
  const std::vector<size_t> candidates = span_candidates(words, size);
  std::vector<size_t> starts;
  for (size_t k : choose_items(candidates.size(), count, rng))
    starts.push_back(candidates[k]);
  return starts;
}

void check_options(const Stage1Options& o, const Stage1Inputs& inputs) {
  using config::option_key;
  for (const int* count : {&o.titles_per_query, &o.spans_per_query, &o.pseudo_queries_per_query,
                           &o.unsup_spans, &o.unsup_titles, &o.unsup_pseudo_queries}) {
    if (*count < 0) {
      throw config::OptionError("{} must be >= 0 (got " + std::to_string(*count) + ")",
                                {option_key(o, *count)});
    }
  }
  for (const int* length : {&o.span_length, &o.source_length}) {
    if (*length < 1) {
      throw config::OptionError("{} must be >= 1 (got " + std::to_string(*length) + ")",
                                {option_key(o, *length)});
    }
  }
  if (inputs.max_query_length < 1) {
    throw ConfigError("stage-1 examples: the query length limit must be >= 1 (got " +
                      std::to_string(inputs.max_query_length) + ")");
  }
}

std::vector<TokenId> slice(const std::vector<TokenId>& tokens, size_t begin, size_t length) {
  const size_t end = std::min(tokens.size(), begin + length);
  return std::vector<TokenId>(tokens.begin() + static_cast<ptrdiff_t>(begin),
                              tokens.begin() + static_cast<ptrdiff_t>(end));
}

// Appends the examples of one source and one passage.
struct ExampleSink {
  std::vector<Stage1Example>& out;
  const index::ViewMarkers& markers;
  Stage1Stats& stats;

  void add(const std::string& source_id, bool supervised, const std::vector<TokenId>& source,
           search::View view, std::vector<TokenId> target) {
    Stage1Example example;
    example.source_id = source_id;
    example.view = view;
    example.supervised = supervised;
    example.source = source;
    example.prompt = view == search::View::kTitle         ? markers.title_start
                     : view == search::View::kPseudoQuery ? markers.pq_start
                                                          : std::vector<TokenId>{};
    example.target = std::move(target);
    out.push_back(std::move(example));
    ++(supervised ? stats.supervised : stats.unsupervised);
    ++stats.per_view[search::view_name(view)];
  }

  // Titles, spans at `starts`, then the pseudo-queries `pq_chosen` of `views`.
  void add_all(const std::string& source_id, bool supervised, const std::vector<TokenId>& source,
               const PassageViews& views, int titles, const std::vector<size_t>& starts,
               size_t span_length, const std::vector<size_t>& pq_chosen) {
    if (!views.title.empty()) {
      for (int i = 0; i < titles; ++i)
        add(source_id, supervised, source, search::View::kTitle, views.title);
    }
    for (size_t start : starts)
      add(source_id, supervised, source, search::View::kBody,
          slice(views.body, start, span_length));
    for (size_t k : pq_chosen)
      add(source_id, supervised, source, search::View::kPseudoQuery, views.pseudo_queries[k]);
  }
};

std::string utc_now() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

void fsync_path(const std::string& path, const std::string& name) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0 || ::fsync(fd) != 0) {
    const int error = errno;
    if (fd >= 0) ::close(fd);
    throw IoError(name + ": cannot sync to disk: " + std::strerror(error));
  }
  ::close(fd);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Generation

std::vector<Stage1Example> make_stage1_examples(const Stage1Inputs& inputs,
                                                const Stage1Options& options,
                                                Stage1Stats* stats_out) {
  CHECK(inputs.corpus != nullptr && inputs.queries != nullptr && inputs.qrels != nullptr &&
        inputs.tokenizer != nullptr)
      << "make_stage1_examples: corpus, queries, qrels and tokenizer are required";
  check_options(options, inputs);
  const Corpus& corpus = *inputs.corpus;
  const Queries& queries = *inputs.queries;
  const ViewCutter cutter(inputs);
  const text::TokenWords token_words(*inputs.tokenizer);
  const size_t span_length = static_cast<size_t>(options.span_length);

  Stage1Stats stats;
  for (search::View view : {search::View::kTitle, search::View::kBody, search::View::kPseudoQuery})
    stats.per_view[search::view_name(view)] = 0;
  std::vector<Stage1Example> examples;
  ExampleSink sink{examples, cutter.markers(), stats};

  for (const auto& [query_id, judged] : inputs.qrels->by_query) {
    if (!queries.find(query_id)) ++stats.unknown_queries;
  }

  // Supervised: queries in file order, positives in passage-index order.
  std::unordered_map<size_t, PassageViews> cut;  // positives' views, cut once
  std::string first_unknown;
  for (size_t q = 0; q < queries.size(); ++q) {
    const Query& query = queries[q];
    const auto judged = inputs.qrels->by_query.find(query.id);
    if (judged == inputs.qrels->by_query.end()) {
      ++stats.queries_not_in_qrels;
      continue;
    }
    std::vector<size_t> positives;
    for (const auto& [passage_id, grade] : judged->second) {
      const std::optional<size_t> p = corpus.find(passage_id);
      if (!p) {
        if (stats.unknown_passages++ == 0) {
          first_unknown = "'" + passage_id + "' (query '" + query.id + "')";
        }
        continue;
      }
      if (grade >= options.relevance_threshold) positives.push_back(*p);
    }
    if (positives.empty()) {
      ++stats.queries_without_positive;
      continue;
    }
    ++stats.queries_used;
    std::sort(positives.begin(), positives.end());

    std::vector<TokenId> source = inputs.tokenizer->encode(" " + query.text);
    if (source.size() > static_cast<size_t>(inputs.max_query_length)) {
      source.resize(static_cast<size_t>(inputs.max_query_length));
    }
    std::vector<std::string> query_words;
    for (text::TokenWord& w : token_words.words(source))
      if (w.content) query_words.push_back(std::move(w.text));
    std::sort(query_words.begin(), query_words.end());
    query_words.erase(std::unique(query_words.begin(), query_words.end()), query_words.end());
    for (size_t p : positives) {
      auto it = cut.find(p);
      if (it == cut.end()) it = cut.emplace(p, cutter.cut(corpus[p], false)).first;
      const PassageViews& views = it->second;
      Rng rng(inputs.seed, kSupervisedStream, q, p);
      const std::vector<size_t> starts =
          supervised_span_starts(token_words.words(views.body), views.body.size(), span_length,
                                 static_cast<size_t>(options.spans_per_query), query_words, rng,
                                 &stats.supervised_spans_at_query_words);
      const std::vector<size_t> pq = choose_items(
          views.pseudo_queries.size(), static_cast<size_t>(options.pseudo_queries_per_query), rng);
      sink.add_all(query.id, true, source, views, options.titles_per_query, starts, span_length,
                   pq);
    }
  }
  cut.clear();
  if (stats.unknown_passages > 0) {
    LOG(WARNING) << "stage-1 examples: " << stats.unknown_passages
                 << " qrels judgments name passages not in the corpus (first: " << first_unknown
                 << "); they are skipped";
  }
  if (stats.unknown_queries > 0) {
    LOG(WARNING) << "stage-1 examples: " << stats.unknown_queries
                 << " qrels queries are not in the query file; they are skipped";
  }

  // Unsupervised: a passage segment -> its title, other spans, its pseudo-queries.
  if (options.unsupervised) {
    const size_t source_length = static_cast<size_t>(options.source_length);
    for (size_t p = 0; p < corpus.size(); ++p) {
      const PassageViews views = cutter.cut(corpus[p], true);
      if (views.text.empty()) {
        ++stats.passages_without_source;
        continue;
      }
      Rng rng(inputs.seed, kUnsupervisedStream, p, 0);
      const size_t begin =
          views.text.size() > source_length ? rng.below(views.text.size() - source_length + 1) : 0;
      const std::vector<TokenId> source = slice(views.text, begin, source_length);
      const std::vector<size_t> starts =
          unsupervised_span_starts(token_words.words(views.body), views.body.size(),
                                   static_cast<size_t>(options.unsup_spans), rng);
      const std::vector<size_t> pq = choose_items(
          views.pseudo_queries.size(), static_cast<size_t>(options.unsup_pseudo_queries), rng);
      sink.add_all(corpus[p].id, false, source, views, options.unsup_titles, starts, span_length,
                   pq);
    }
  }
  if (stats_out != nullptr) *stats_out = std::move(stats);
  return examples;
}

std::map<std::string, std::string> stage1_provenance(const Stage1Inputs& inputs,
                                                     const Stage1Options& options) {
  CHECK(inputs.tokenizer != nullptr) << "stage1_provenance: tokenizer required";
  std::ostringstream text;
  text << "titles_per_query=" << options.titles_per_query
       << " spans_per_query=" << options.spans_per_query
       << " pseudo_queries_per_query=" << options.pseudo_queries_per_query
       << " span_length=" << options.span_length
       << " unsupervised=" << (options.unsupervised ? "true" : "false")
       << " unsup_spans=" << options.unsup_spans << " unsup_titles=" << options.unsup_titles
       << " unsup_pseudo_queries=" << options.unsup_pseudo_queries
       << " source_length=" << options.source_length
       << " max_query_length=" << inputs.max_query_length
       << " relevance_threshold=" << options.relevance_threshold << " seed="
       << inputs.seed
       // How spans are chosen: stores of the earlier (any-token, disjoint) spans hash apart.
       << " span_starts=content_words";
  std::string views;
  for (const std::string& name : index::view_names(inputs.views))
    views += (views.empty() ? "" : ",") + name;
  const std::string markers = nlohmann::json{
      {"title_start", inputs.views.title_start},
      {"title_end", inputs.views.title_end},
      {"pq_start", inputs.views.pq_start},
      {"pq_end",
       inputs.views.pq_end}}.dump();
  return {{"tokenizer_hash", inputs.tokenizer->hash()},
          {"views", views},
          {"markers", markers},
          {"stage1_options", text.str()},
          {"stage1_options_hash", sha256_hex(text.str() + "\n" + views + "\n" + markers)}};
}

// ---------------------------------------------------------------------------------------------
// The HDF5 store

namespace {

const std::set<std::string>& reserved_attributes() {
  static const std::set<std::string> names = {"format_version", "created",           "num_examples",
                                              "num_supervised", "num_unsupervised",  "num_title",
                                              "num_body",       "num_pseudo_queries"};
  return names;
}

}  // namespace

void write_stage1_examples(const std::string& path, const std::vector<Stage1Example>& examples,
                           const std::map<std::string, std::string>& attributes,
                           const Stage1StoreOptions& store) {
  const h5::WriteOptions layout{store.chunk_elements, store.deflate_level};
  for (const auto& [name, value] : attributes) {
    CHECK(reserved_attributes().count(name) == 0)
        << "write_stage1_examples: attribute '" << name << "' is written by the store itself";
  }
  const std::filesystem::path target(path);
  if (target.has_parent_path()) ensure_directory(target.parent_path().string());
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  try {
    h5::File file = h5::File::create(tmp);
    for (const auto& [name, value] : attributes)
      file.set_attribute(name, value);
    const size_t n = examples.size();
    size_t supervised = 0, per_view[3] = {0, 0, 0};
    std::vector<std::string> ids(n);
    std::vector<uint8_t> views(n), flags(n);
    for (size_t r = 0; r < n; ++r) {
      ids[r] = examples[r].source_id;
      views[r] = static_cast<uint8_t>(examples[r].view);
      flags[r] = examples[r].supervised ? 1 : 0;
      supervised += flags[r];
      CHECK_LT(views[r], 3) << "example " << r << ": unknown view";
      ++per_view[views[r]];
    }
    file.set_attribute("format_version", kFormatVersion);
    file.set_attribute("created", utc_now());
    file.set_attribute("num_examples", std::to_string(n));
    file.set_attribute("num_supervised", std::to_string(supervised));
    file.set_attribute("num_unsupervised", std::to_string(n - supervised));
    file.set_attribute("num_title", std::to_string(per_view[0]));
    file.set_attribute("num_body", std::to_string(per_view[1]));
    file.set_attribute("num_pseudo_queries", std::to_string(per_view[2]));
    file.write_strings("source_id", ids, layout);
    ids = {};
    file.write("view", views, {}, layout);
    file.write("supervised", flags, {}, layout);
    h5::write_ragged(
        file, "source", n,
        [&](size_t r) -> const std::vector<int32_t>& { return examples[r].source; }, layout);
    h5::write_ragged(
        file, "prompt", n,
        [&](size_t r) -> const std::vector<int32_t>& { return examples[r].prompt; }, layout);
    h5::write_ragged(
        file, "target", n,
        [&](size_t r) -> const std::vector<int32_t>& { return examples[r].target; }, layout);
    file.close();
    fsync_path(tmp, path);
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
      throw IoError(path + ": cannot rename into place: " + std::strerror(errno));
    }
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
}

struct Stage1ExampleFile::Impl {
  h5::File file;
  h5::Dataset source_id;
  h5::Dataset view;
  h5::Dataset supervised;
  h5::RaggedDataset source;
  h5::RaggedDataset prompt;
  h5::RaggedDataset target;
  uint64_t size = 0;
  std::map<std::string, std::string> attributes;
};

Stage1ExampleFile::Stage1ExampleFile() = default;
Stage1ExampleFile::~Stage1ExampleFile() = default;
Stage1ExampleFile::Stage1ExampleFile(Stage1ExampleFile&&) noexcept = default;
Stage1ExampleFile& Stage1ExampleFile::operator=(Stage1ExampleFile&&) noexcept = default;

Stage1ExampleFile Stage1ExampleFile::open(const std::string& path, size_t chunk_cache_bytes) {
  auto impl = std::make_unique<Impl>();
  impl->file = h5::File::open(path);
  const h5::File& file = impl->file;
  impl->attributes = file.attributes();
  const auto version = impl->attributes.find("format_version");
  if (version == impl->attributes.end()) {
    throw DataError(path + ": missing attribute 'format_version' (not a stage-1 example store?)");
  }
  if (version->second != kFormatVersion) {
    throw DataError(path + ": stage-1 example store format_version '" + version->second +
                    "' is not supported (this build reads '" + kFormatVersion + "')");
  }
  impl->view = file.dataset("view", chunk_cache_bytes);
  impl->supervised = file.dataset("supervised", chunk_cache_bytes);
  impl->source_id = file.dataset("source_id", chunk_cache_bytes);
  impl->source = h5::RaggedDataset::open(file, "source", chunk_cache_bytes);
  impl->prompt = h5::RaggedDataset::open(file, "prompt", chunk_cache_bytes);
  impl->target = h5::RaggedDataset::open(file, "target", chunk_cache_bytes);

  if (impl->view.dims().size() != 1 || !impl->view.is_integer()) {
    impl->view.fail("must be a 1-D integer array");
  }
  const uint64_t n = impl->size = impl->view.dims()[0];
  auto check_rows = [&](const std::string& name, bool ok, uint64_t rows) {
    if (!ok || rows != n) {
      throw DataError(path + ": dataset '" + name + "' has " + std::to_string(rows) +
                      " rows (or the wrong type) but 'view' has " + std::to_string(n));
    }
  };
  check_rows("supervised", impl->supervised.dims().size() == 1 && impl->supervised.is_integer(),
             impl->supervised.rows());
  check_rows("source_id", impl->source_id.dims().size() == 1 && impl->source_id.is_string(),
             impl->source_id.rows());
  check_rows("source/offset", true, impl->source.rows());
  check_rows("prompt/offset", true, impl->prompt.rows());
  check_rows("target/offset", true, impl->target.rows());
  if (auto it = impl->attributes.find("num_examples");
      it != impl->attributes.end() && it->second != std::to_string(n)) {
    throw DataError(path + ": attribute num_examples is " + it->second + " but the datasets have " +
                    std::to_string(n) + " rows");
  }
  Stage1ExampleFile out;
  out.impl_ = std::move(impl);
  return out;
}

uint64_t Stage1ExampleFile::size() const {
  return impl_ ? impl_->size : 0;
}

const std::string& Stage1ExampleFile::path() const {
  static const std::string kNone;
  return impl_ ? impl_->file.path() : kNone;
}

const std::map<std::string, std::string>& Stage1ExampleFile::attributes() const {
  static const std::map<std::string, std::string> kNone;
  return impl_ ? impl_->attributes : kNone;
}

std::map<std::string, Stage1ExampleFile::SourceRows> Stage1ExampleFile::supervised_rows() const {
  std::map<std::string, SourceRows> out;
  if (!impl_ || size() == 0) return out;
  const Impl& f = *impl_;
  const std::vector<std::string> ids = f.source_id.read_strings();
  const std::vector<uint8_t> views = f.view.read_all<uint8_t>();
  const std::vector<uint8_t> flags = f.supervised.read_all<uint8_t>();
  for (uint64_t r = 0; r < ids.size(); ++r) {
    if (!flags[r]) continue;
    SourceRows& rows = out[ids[r]];
    switch (views[r]) {
      case static_cast<uint8_t>(search::View::kTitle):
        rows.title.push_back(r);
        break;
      case static_cast<uint8_t>(search::View::kBody):
        rows.body.push_back(r);
        break;
      case static_cast<uint8_t>(search::View::kPseudoQuery):
        rows.pseudo_query.push_back(r);
        break;
      default:
        f.view.fail("holds " + std::to_string(views[r]) + " at row " + std::to_string(r) +
                    " (0 title, 1 body, 2 pseudo_queries)");
    }
  }
  return out;
}

std::vector<Stage1Example> Stage1ExampleFile::read(const std::vector<uint64_t>& rows) const {
  for (uint64_t r : rows) {
    if (r >= size()) {
      throw DataError((impl_ ? path() : std::string("(no stage-1 store open)")) + ": row " +
                      std::to_string(r) + " out of range (" + std::to_string(size()) +
                      " examples)");
    }
  }
  if (rows.empty()) return {};
  std::vector<uint64_t> sorted = rows;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());

  const Impl& f = *impl_;
  std::vector<std::string> ids = f.source_id.read_strings(sorted);
  const std::vector<uint8_t> views = f.view.read_points<uint8_t>(sorted);
  const std::vector<uint8_t> flags = f.supervised.read_points<uint8_t>(sorted);
  std::vector<std::vector<int32_t>> sources = f.source.read(sorted);
  std::vector<std::vector<int32_t>> prompts = f.prompt.read(sorted);
  std::vector<std::vector<int32_t>> targets = f.target.read(sorted);

  // Uncompressed data carry no checksum: catch at least the values no store holds.
  auto check_tokens = [&](const std::vector<std::vector<int32_t>>& rows, const char* name) {
    for (size_t i = 0; i < rows.size(); ++i) {
      for (int32_t t : rows[i]) {
        if (t < 0) {
          throw DataError(path() + ": dataset '" + name + "' holds token id " + std::to_string(t) +
                          " at row " + std::to_string(sorted[i]) + " (corrupt file?)");
        }
      }
    }
  };
  check_tokens(sources, "source/tokens");
  check_tokens(prompts, "prompt/tokens");
  check_tokens(targets, "target/tokens");
  std::vector<Stage1Example> unique(sorted.size());
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (views[i] > static_cast<uint8_t>(search::View::kPseudoQuery)) {
      f.view.fail("holds " + std::to_string(views[i]) + " at row " + std::to_string(sorted[i]) +
                  " (0 title, 1 body, 2 pseudo_queries)");
    }
    if (flags[i] > 1) {
      f.supervised.fail("holds " + std::to_string(flags[i]) + " at row " +
                        std::to_string(sorted[i]) + " (0 or 1)");
    }
    Stage1Example& e = unique[i];
    e.source_id = std::move(ids[i]);
    e.view = static_cast<search::View>(views[i]);
    e.supervised = flags[i] != 0;
    e.source = std::move(sources[i]);
    e.prompt = std::move(prompts[i]);
    e.target = std::move(targets[i]);
  }
  if (sorted == rows) return unique;
  std::vector<Stage1Example> out(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    out[i] = unique[std::lower_bound(sorted.begin(), sorted.end(), rows[i]) - sorted.begin()];
  }
  return out;
}

}  // namespace dgr::data
