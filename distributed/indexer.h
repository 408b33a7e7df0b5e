// The distributed indexer (`dgr index build`): ranks build FM-index shards over contiguous
// passage ranges in parallel; rank 0 writes the manifest after every shard exists.
//
// Shard s of S covers passages [s·P/S, (s+1)·P/S) and is built by rank s mod N, so the shards
// (and therefore every answer of the index) depend only on S, never on N: an index built with
// S shards on 1 rank is byte-identical to one built with S shards on 2 ranks.
#pragma once

#include <cstdint>
#include <string>

#include "distributed/index_options.h"
#include "distributed/mpi_context.h"

namespace dgr::distributed {

// What the index is built from.
struct IndexBuildInputs {
  std::string corpus;
  std::string corpus_format = "auto";
  std::string tokenizer_dir;
  std::string pseudo_queries;  // jsonl {"_id", "pseudo_queries": [...]}; needs the view
  std::string config_hash;
  double progress_interval_s = 30;
};

struct IndexBuildReport {
  uint32_t passages = 0;
  uint64_t tokens = 0;
  uint64_t bytes = 0;  // all shard files
  int shards = 0;
  double seconds = 0;           // wall time of the whole build
  double tokenize_seconds = 0;  // slowest rank
  double build_seconds = 0;     // slowest rank (suffix sorting + wavelet tree + writing)
  uint64_t peak_rss_bytes = 0;  // largest over ranks
};

// Builds the index `options` describe into options.dir. Collective: every rank of `mpi` must
// call it with the same arguments. Throws on bad input (the guard in main turns that into the
// end of the job).
IndexBuildReport build_index(MpiContext& mpi, const IndexOptions& options,
                             const IndexBuildInputs& inputs);

}  // namespace dgr::distributed
