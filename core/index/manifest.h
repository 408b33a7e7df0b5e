// The index directory: `manifest.yaml` plus one file per shard and a copy of the tokenizer.
//
//   index/
//     manifest.yaml          format version, tokenizer and corpus hashes, views, markers, counts
//                            of the view start markers, shards
//     tokenizer/             vocab.json + merges.txt the ids were made with (self-contained)
//     shard-00000.fmi ...    one FM-index over a contiguous passage range + its passage ids
//
// A shard file is written under a temporary name and renamed when complete; the manifest is
// written last (after every shard exists), so a directory with a manifest is a complete index.
// Loading checks every shard's size and checksum against the manifest and names the file that
// is missing, truncated or corrupt. See docs/formats.md.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/index/fm_index.h"
#include "core/index/sharded_index.h"
#include "core/index/views.h"

namespace dgr::index {

constexpr int kIndexFormatVersion = 2;  // 2: FM-index shards keep inverse-SA samples

struct ShardInfo {
  std::string file;  // relative to the index directory
  uint32_t first_passage = 0;
  uint32_t num_passages = 0;
  uint64_t num_tokens = 0;
  uint64_t bytes = 0;  // size of the shard file
  std::string sha256;  // of the shard file
};

struct Manifest {
  int format_version = kIndexFormatVersion;
  std::string tokenizer_hash;
  std::string corpus;       // path as given at build time (informative)
  std::string corpus_hash;  // SHA-256 of the corpus file
  std::string pseudo_queries_hash;
  std::string config_hash;
  ViewOptions views;
  uint32_t num_passages = 0;
  uint64_t num_tokens = 0;
  // Occurrences of the title / pseudo-query start marker over all shards (count_view_starts):
  // the N of title and pseudo-query keys in SEAL's key weight (core/search/intersective_scoring.h),
  // which can only start where their marker is. A manifest written before these were recorded
  // reads with view_starts_known = false and both 0; fill_view_starts counts them then.
  uint64_t title_starts = 0;
  uint64_t pq_starts = 0;
  bool view_starts_known = true;
  std::vector<ShardInfo> shards;
  std::string created;  // UTC time, informative (not part of any hash)

  // Throws DataError naming `path` (and the key) on a missing or malformed field, or a format
  // version this build cannot read. title_starts / pq_starts are optional (both or neither).
  static Manifest read(const std::string& path);
  void write(const std::string& path) const;  // atomic
};

// Occurrences of the view start markers in one shard: `markers` (the manifest's markers encoded
// with the index's tokenizer) counted where `views` indexes that view; 0 for a view the index
// lacks or an empty marker (an empty n-gram would count every position). O(|marker| log σ).
struct ViewStarts {
  uint64_t title = 0;
  uint64_t pq = 0;
};
ViewStarts count_view_starts(const FmIndex& shard, const ViewOptions& views,
                             const ViewMarkers& markers);

// Sets title_starts / pq_starts of a manifest read without them (an index directory built before
// they were recorded) by reading the shard files of `dir` one at a time and counting `markers`;
// nothing to do when view_starts_known. Costs one read of every shard (peak memory one shard).
// Throws IoError / DataError as read_shard does, and DataError when a shard's passage count
// differs from the manifest's.
void fill_view_starts(const std::string& dir, Manifest& manifest, const ViewMarkers& markers);

// One shard file: a header, the serialised FmIndex and its passages' external ids.
void write_shard(const std::string& path, const FmIndex& index,
                 const std::vector<std::string>& passage_ids);
struct Shard {
  std::shared_ptr<const FmIndex> index;
  std::vector<std::string> passage_ids;
};
// Throws DataError naming `path` when the file is truncated or corrupt.
Shard read_shard(const std::string& path);

// A loaded index directory: the sharded index, global passage ids and the manifest.
struct IndexDirectory {
  std::string dir;
  Manifest manifest;
  ShardedIndex index;
  std::vector<std::string> passage_ids;  // global passage index -> external id

  std::string tokenizer_dir() const { return dir + "/tokenizer"; }
};

// Loads `dir`. `verify_checksums` re-hashes every shard file against the manifest (slower;
// sizes are always checked). Throws IoError / DataError naming the file at fault. The manifest's
// view start counts stay as read (see fill_view_starts for an older index).
IndexDirectory load_index_directory(const std::string& dir, bool verify_checksums = true);

}  // namespace dgr::index
