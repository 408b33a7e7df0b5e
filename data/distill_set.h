// The distillation set (DGR stage 2): for every training query, its top-M candidate passages
// with the teacher's and the student's scores, the qrels label, and the keys (generated
// identifiers) that matched each candidate, as `dgr retrieve` dumps them. `dgr teacher rank`
// writes it once; the distillation trainer reads it, every rank its own rows.
//
// The store is one HDF5 file (format_version 1; the layout is in docs/formats.md, "Distillation
// set (HDF5)"): one row per query, candidates as [Q, M] arrays padded with passage −1, keys as
// ragged arrays addressed per candidate. Queries may be written by several MPI ranks at once,
// each its contiguous slice of rows in rank order, through parallel HDF5 (collective hyperslab
// writes); the file is then the same, byte for byte, whatever the number of ranks and however
// the rows are cut, and the same as a single process writes. Reading needs no MPI: each rank opens
// the file on its own and reads a hyperslab of rows. No torch here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/index/manifest.h"
#include "core/search/identifiers.h"
#include "data/hdf5_file.h"
#include "data/stage1_examples.h"

namespace dgr::data {

// One key that matched a candidate, as `dgr retrieve` dumps it (keys.jsonl).
struct DistillKey {
  search::View view = search::View::kBody;  // stored as 0 title, 1 body, 2 pseudo-query
  std::vector<int32_t> tokens;              // generated tokens after the view's prefix
  int64_t count = 0;                        // corpus occurrences of prefix + tokens (F)
  float log_prob = 0;                       // the key's log-probability at retrieval (sr)
};

struct DistillCandidate {
  int64_t passage = -1;  // internal passage index (index and corpus order), >= 0
  float teacher_score = 0;
  float student_score = 0;       // the candidate generator's score (stage-1 model, or BM25)
  int8_t label = -1;             // qrels grade, −1 when unjudged
  std::vector<DistillKey> keys;  // at most max_keys_per_candidate, in the dump's (weight) order
};

struct DistillQuery {
  std::string query_id;
  std::string query;                         // the query text (UTF-8)
  std::vector<DistillCandidate> candidates;  // at most M, in the candidate generator's order
};

// What the root attributes of a set record. Every rank passes the same values (the writer
// checks): `created` in particular is taken once, on rank 0, and broadcast by the caller.
struct DistillSetMeta {
  std::string teacher;      // the teacher's name (TeacherRanker::name(), e.g. "run:<file>")
  std::string corpus_hash;  // SHA-256 of the corpus file (as the index manifest's corpus_hash)
  std::string index_hash;   // index_content_hash() of the index the candidates came from; ""
                            // when they did not come from an index (BM25 candidates)
  std::string config_hash;  // SHA-256 of the resolved configuration
  std::string created;      // UTC time, ISO 8601
  int64_t candidates_per_query = 200;        // M: the width of the cand/* arrays
  int64_t max_keys_per_candidate = 40;       // keys kept per candidate
  std::map<std::string, std::string> extra;  // more string attributes (provenance); the
                                             // set's own names are refused
};

// How the file is laid out. Datasets are chunked along their first dimension, about
// `chunk_bytes` of uncompressed data per chunk, and compressed with shuffle + deflate (0: not
// compressed). Parallel HDF5 writes compressed datasets only collectively, which the writer does.
// Reading a row inflates every chunk it touches, so small chunks suit the random rows a trainer
// reads: with Q = 1000, M = 200 and 40 keys of ~6 tokens per candidate (~400 KiB of data per
// row), 64 KiB chunks read about twice the random rows/s of 256 KiB ones, at the same size.
struct DistillStoreOptions {
  uint64_t chunk_bytes = uint64_t{64} << 10;
  int deflate_level = 4;
};

// Writes rows [first_row, first_row + local.size()) of a set of `total_rows` queries to `path`.
// Collective over `group` (h5::WriterGroup::serial() for one process): every process calls it
// with the same path, meta, total and options, and the processes' slices tile [0, total_rows)
// in rank order (rank r's rows before rank r + 1's, as an exclusive scan of the row counts gives
// them; a slice may be empty, its first_row is then ignored). The file is written under a
// temporary name next to `path` and renamed into place once complete. Checked before anything is
// written, with the same error thrown on every process: ConfigError for an invalid meta (M < 1,
// empty teacher or created, a reserved extra name), metas or totals that differ between processes,
// or slices that do not tile the rows; DataError naming the query for a record the format cannot
// hold (an empty id, a NUL byte in an id or text, more than M candidates or max_keys keys, a
// passage < 0, a label < −1, a non-finite score, a NaN log-probability, an unknown view, a key
// without tokens or with a negative token or count). IoError naming the file when it cannot be
// written.
void write_distill_set(const std::string& path, const DistillSetMeta& meta,
                       const std::vector<DistillQuery>& local, uint64_t first_row,
                       uint64_t total_rows, const h5::WriterGroup& group = {},
                       const DistillStoreOptions& options = {});

// A whole set written by one process.
inline void write_distill_set(const std::string& path, const DistillSetMeta& meta,
                              const std::vector<DistillQuery>& queries,
                              const DistillStoreOptions& options = {}) {
  write_distill_set(path, meta, queries, 0, queries.size(), h5::WriterGroup::serial(), options);
}

// Read-only access to a set: each rank opens it on its own (no MPI) and reads its rows.
// Movable; calls are serialised by the HDF5 helpers' lock.
class DistillSetFile {
 public:
  // Decompressed chunks kept per dataset (HDF5's default is 1 MiB).
  static constexpr size_t kDefaultChunkCacheBytes = size_t{4} << 20;

  DistillSetFile();  // no file: size() 0, until one is moved in
  ~DistillSetFile();
  DistillSetFile(DistillSetFile&&) noexcept;
  DistillSetFile& operator=(DistillSetFile&&) noexcept;

  // IoError when `path` is missing or unreadable. DataError naming the file for a file that is
  // not HDF5 or is truncated, and naming the attribute or dataset for: a missing one, another
  // format_version, a dataset of the wrong type or shape, offsets that do not start at 0 or end
  // at the length of the data they index.
  static DistillSetFile open(const std::string& path,
                             size_t chunk_cache_bytes = kDefaultChunkCacheBytes);

  const std::string& path() const;
  uint64_t size() const;  // queries (rows)
  const DistillSetMeta& meta() const;

  // Rows [first, first + count): a hyperslab of every dataset. Padding candidates are dropped.
  // DataError naming the file and the dataset for rows out of range or content the writer never
  // produces (offsets out of order, padding before a candidate, a padding slot with keys or a
  // label, more candidates or keys than the attributes allow, key lengths that do not add up to
  // the candidate's tokens, unknown views, non-finite scores, negative tokens or counts).
  std::vector<DistillQuery> read(uint64_t first, uint64_t count) const;
  // The rows `rows` (any order, repeats allowed), in that order: the distinct rows are read with
  // one union of hyperslabs per dataset, so scattered rows (a shuffled step) cost one read each,
  // not one per row. The same checks and errors as above.
  std::vector<DistillQuery> read(const std::vector<uint64_t>& rows) const;

  // Per row, how many candidates it holds and how many of them have a label >= threshold
  // (positives), from the passage and label arrays only (Q·M·9 bytes: what a trainer needs to
  // choose its rows without reading every key). DataError as read() for labels < −1 or
  // candidates after padding.
  struct RowSummary {
    int32_t candidates = 0;
    int32_t positives = 0;
  };
  std::vector<RowSummary> summaries(int relevance_threshold) const;

  // The row of `query_id`, or nullopt. The ids are read (and indexed) at the first call;
  // DataError naming 'query_id' when an id repeats.
  std::optional<uint64_t> row(const std::string& query_id) const;
  // The record of `query_id`, or nullopt.
  std::optional<DistillQuery> find(const std::string& query_id) const;

  // check_hashes() with this file's path and meta.
  void check_hashes(const std::string& expected_corpus_hash,
                    const std::string& expected_index_hash) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Throws DataError "<path>: distillation set was made from another <corpus|index> (...)",
// showing the file's hash and the expected one, for each of the two that differ. An empty
// expected hash is not checked (e.g. no index configured); an empty recorded hash differs from
// any non-empty expected one.
void check_hashes(const std::string& path, const DistillSetMeta& meta,
                  const std::string& expected_corpus_hash, const std::string& expected_index_hash);

// SHA-256 identifying an index's content: format version, tokenizer, corpus and pseudo-query
// hashes, views and markers, totals, and every shard's passage range, size and SHA-256. Unlike
// the manifest file's bytes it ignores the build time, the corpus path and the build's config
// hash, so rebuilding the same index (byte-identical shards) gives the same hash. The corpus
// hash to compare with is the manifest's `corpus_hash`, i.e. sha256_file() of the corpus file.
std::string index_content_hash(const index::Manifest& manifest);

// How describe_query() shows passages and keys.
struct DescribeOptions {
  // The external id of an internal passage index; empty: the index itself is shown.
  std::function<std::string(int64_t passage)> passage_id;
  // The text of a key's tokens; empty: the token ids are shown.
  std::function<std::string(const std::vector<int32_t>& tokens)> detokenize;
  size_t max_candidates = 0;  // 0: all
  bool keys = true;           // one line per key under its candidate
};

// A query's candidates as text, in teacher order (teacher score descending; ties keep the
// stored order): a header line with the query id, text and counts, then one line per candidate
// with its teacher rank, passage, teacher score, student score and rank, and label ("-" when
// unjudged), and under it its keys (view, quoted text or token ids, corpus count, log-prob).
// This is what `dgr teacher inspect` prints.
std::string describe_query(const DistillQuery& query, const DescribeOptions& options = {});

}  // namespace dgr::data
