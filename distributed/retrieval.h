// Distributed retrieval (`dgr retrieve`): queries are cut into contiguous slices, one per rank;
// each rank loads the index and the model once, retrieves its slice batch by batch, and rank 0
// gathers the results and writes the run file in query-file order. The output depends only on
// the queries, the model and the options, never on the number of ranks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/search/search_options.h"
#include "data/corpus.h"
#include "distributed/index_options.h"
#include "distributed/mpi_context.h"
#include "distributed/retrieve_options.h"

namespace dgr::distributed {

// The options a retrieval reads, each owned by its component.
struct RetrievalOptions {
  const IndexOptions& index;
  const search::SearchOptions& search;
  const search::ScoringOptions& scoring;
  const RetrieveOptions& retrieve;
};

// What a retrieval works on.
struct RetrievalInputs {
  std::string model_dir;
  std::string device = "cpu";
  std::vector<data::Query> queries;  // the same list on every rank
  std::string run_path;
  std::string keys_path;  // empty = no keys dump
  double progress_interval_s = 30;
};

struct RetrievalReport {
  size_t queries = 0;
  size_t keys = 0;              // generated keys, all queries
  size_t ranked = 0;            // run lines written
  size_t empty_queries = 0;     // queries with no passage retrieved
  double seconds = 0;           // whole job, wall
  double search_seconds = 0;    // slowest rank: beam search + rescoring + scoring
  double load_seconds = 0;      // slowest rank: index and model loading
  uint64_t peak_rss_bytes = 0;  // largest over ranks
};

// Collective over `mpi`; rank 0 writes `run_path` (and `keys_path`). Throws on bad input.
RetrievalReport retrieve(MpiContext& mpi, const RetrievalOptions& options,
                         const RetrievalInputs& inputs);

}  // namespace dgr::distributed
