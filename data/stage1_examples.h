// Stage-1 training examples (MINDER): what the seq2seq model learns to generate before
// distillation. Each example is a source (query or passage segment tokens, no special tokens)
// and a target identifier of one view, decoded from that view's prompt:
//
//   decoder input = [decoder start] + prompt + target[:-1] ... ; loss on every target token
//
// with the prompts of core/search/identifiers.h (title: title_start marker, body: none,
// pseudo_queries: pq_start marker), so training teaches exactly what beam search asks.
//
// Supervised examples (per training query with a positive passage): the positive's title,
// body spans of `span_length` tokens that start at a passage word matching the query's content
// words (MINDER, SEAL), pseudo-queries. Unsupervised corpus examples (per passage): a segment of
// the passage -> its title / a span starting at a content word / a pseudo-query. Generation is
// deterministic (seeded); the same inputs and options give the same examples in the same order. The
// store is HDF5 (one row per example), read by each rank as hyperslabs of its own rows. No torch
// here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/eval/qrels.h"
#include "core/index/views.h"
#include "core/search/identifiers.h"
#include "core/search/search_options.h"
#include "core/text/bpe_tokenizer.h"
#include "data/answers.h"
#include "data/corpus.h"
#include "data/stage1_options.h"

namespace dgr::data {

struct Stage1Example {
  std::string source_id;  // query id (supervised) or passage id (unsupervised)
  search::View view = search::View::kBody;
  bool supervised = true;
  std::vector<int32_t> source;  // encoder tokens, no special tokens
  std::vector<int32_t> prompt;  // the view's forced prefix
  std::vector<int32_t> target;  // identifier tokens (a title / pseudo-query ends with its marker)
};

struct Stage1Inputs {
  const Corpus* corpus = nullptr;
  const Queries* queries = nullptr;
  const eval::Qrels* qrels = nullptr;             // the training split
  const PseudoQueries* pseudo_queries = nullptr;  // may be null
  const text::BpeTokenizer* tokenizer = nullptr;
  index::ViewOptions views;  // which views the index holds, and their marker strings
  // Supervised sources are truncated to the encoder's query length (search's option; its default).
  int max_query_length = search::SearchOptions{}.max_query_length;
  uint64_t seed = 13;  // the run's seed: every choice of spans and sources
};

struct Stage1Stats {
  size_t queries_used = 0;              // queries with >= 1 positive: supervised sources
  size_t queries_without_positive = 0;  // judged in qrels, but no known passage >= threshold
  size_t queries_not_in_qrels = 0;      // in the query file, absent from qrels (other splits)
  size_t unknown_queries = 0;           // qrels query ids absent from the query file
  size_t unknown_passages = 0;          // judgments (of queries in the file) naming no passage
  size_t passages_without_source = 0;   // no text: no unsupervised examples
  size_t supervised = 0;                // examples
  size_t supervised_spans_at_query_words = 0;  // supervised body spans starting at a query word
  size_t unsupervised = 0;
  std::map<std::string, size_t> per_view;  // search::view_name -> examples
};

// The examples, in this order:
//  supervised, for each query in query-file order with >= 1 positive (qrels grade >=
//  relevance_threshold, passage in the corpus), for each positive in passage-index order:
//   - title (views.title, passage has a title): titles_per_query copies; prompt = title_start,
//     target = ` title` + title_end, the tokens that follow title_start in the index;
//   - body (views.body): spans_per_query spans of (up to) span_length tokens of the body
//     segment (`title @@ text` as the index encodes it), each starting at a token that begins a
//     content word (core/text/token_words.h: a word, not inside one, starting with a letter, not
//     a stop word). Starts whose word is one of the query's content words (lowercased, exact)
//     come first, then the other content-word starts; within each group, more distinct query
//     content words among the words beginning inside the span first, ties broken by the seeded
//     RNG; distinct starts before any repeats. A segment without a content word starts spans at
//     its words, one without words at its first token. Prompt empty;
//   - pseudo-queries (views.pseudo_queries, the passage has some): pseudo_queries_per_query,
//     distinct ones in seeded random order before any repeats; prompt = pq_start, target =
//     ` pq` + pq_end;
//   source = ` query` tokens, truncated to max_query_length.
//  unsupervised (options.unsupervised), for each passage with text, in passage order: source =
//  source_length tokens of ` text` at a seeded random start; unsup_titles title examples,
//  unsup_spans body spans starting at content-word starts in seeded random order (distinct
//  before repeats; chosen independently of the source, which they may overlap, as SEAL's),
//  unsup_pseudo_queries pseudo-queries, chosen as above.
// Every prompt + target occurs in the FM-index built from index::passage_segments with the same
// views. Randomness comes from `seed` mixed with the query and passage indices, so each example
// depends only on its own query and passage. Qrels naming unknown passages or queries are counted
// in `stats` and logged, not fatal. ConfigError for a negative count or a length < 1.
std::vector<Stage1Example> make_stage1_examples(const Stage1Inputs& inputs,
                                                const Stage1Options& options,
                                                Stage1Stats* stats = nullptr);

// Provenance attributes for the store: tokenizer_hash, views, markers (JSON), stage1_options
// (canonical text) and stage1_options_hash (SHA-256 of options, views and markers). The caller
// adds its own (e.g. config_hash of the resolved config) before writing.
std::map<std::string, std::string> stage1_provenance(const Stage1Inputs& inputs,
                                                     const Stage1Options& options);

// ---------------------------------------------------------------------------------------------
// The HDF5 store, one row per example (format_version "1"):
//
//   /                   string attributes: format_version, created (UTC, ISO 8601),
//                       num_examples, num_supervised, num_unsupervised, num_title, num_body,
//                       num_pseudo_queries, and the caller's (tokenizer_hash, config_hash, ...)
//   source_id           fixed-length NUL-padded UTF-8 strings [N]
//   view                uint8 [N]   (search::View: 0 title, 1 body, 2 pseudo_queries)
//   supervised          uint8 [N]   (1 supervised, 0 unsupervised)
//   source/offset       int64 [N+1] row r's tokens are source/tokens[offset[r], offset[r+1])
//   source/tokens       int32 [total]
//   prompt/offset, prompt/tokens, target/offset, target/tokens   the same for prompt and target
//
// Every dataset is chunked (64Ki elements along the first dimension, at most 4 MiB), with an
// unlimited first dimension, and by default NOT compressed: a training loader reads random rows,
// and a random row of a deflate-compressed store costs a whole chunk's inflation per dataset.
// bench/stage1_store_bench, 100k examples, one core, random batches of 8 / 64 rows: ~47k / 71k
// rows/s uncompressed (23.5 MiB) against ~0.3k / 1.1k rows/s with deflate (9.8 MiB). The price
// is size: real examples repeat their source (a query per target), and Cranfield's store is
// 4.1 MiB uncompressed against 0.38 MiB compressed. deflate_level > 0 compresses (shuffle +
// deflate) for archiving or loaders that read contiguous blocks; readers handle both.

// How the store is laid out (see above).
struct Stage1StoreOptions {
  uint64_t chunk_elements = 65536;
  int deflate_level = 0;  // 1-9: shuffle + deflate at that level
};

// Writes `examples` to `path` through a temporary file in the same directory (fsynced, then
// renamed into place). `attributes` are written first; the writer's own (listed above) must
// not be among them (CHECK). IoError naming the file when it cannot be written.
void write_stage1_examples(const std::string& path, const std::vector<Stage1Example>& examples,
                           const std::map<std::string, std::string>& attributes,
                           const Stage1StoreOptions& store = {});

// Read-only access to a store: each rank opens it on its own (no MPI) and reads the rows it
// needs. Movable; calls are serialised by the HDF5 helpers' lock.
class Stage1ExampleFile {
 public:
  // Decompressed chunks kept per compressed dataset (HDF5's default is 1 MiB; 0: none).
  // Uncompressed stores (the default) need no cache.
  static constexpr size_t kDefaultChunkCacheBytes = size_t{8} << 20;

  Stage1ExampleFile();  // an empty store (size() 0), until one is moved in
  ~Stage1ExampleFile();
  Stage1ExampleFile(Stage1ExampleFile&&) noexcept;
  Stage1ExampleFile& operator=(Stage1ExampleFile&&) noexcept;

  // IoError when `path` is missing or unreadable; DataError naming the file for a file that is
  // not HDF5 or is truncated, a missing dataset or attribute, another format_version, datasets
  // of inconsistent lengths or offsets that do not span their tokens.
  static Stage1ExampleFile open(const std::string& path,
                                size_t chunk_cache_bytes = kDefaultChunkCacheBytes);

  uint64_t size() const;
  const std::string& path() const;
  // The examples at `rows`, in the order given (rows may repeat). Only those rows' bytes are read:
  // a point selection on the offsets, then a union of hyperslabs of the tokens. DataError naming
  // the file for a row >= size() or content no store holds (offsets out of order, negative token
  // ids, unknown views); uncompressed data carry no checksum, other flipped bytes go unnoticed.
  std::vector<Stage1Example> read(const std::vector<uint64_t>& rows) const;
  const std::map<std::string, std::string>& attributes() const;

  // The rows of the supervised examples of each source (query) id, by view: what the
  // distillation trainer draws its generation targets from. Reads the id, view and supervised
  // columns only. DataError for a view no store holds.
  struct SourceRows {
    std::vector<uint64_t> title, body, pseudo_query;
  };
  std::map<std::string, SourceRows> supervised_rows() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dgr::data
