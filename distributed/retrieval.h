// Distributed retrieval (`dgr retrieve`): queries are cut into contiguous slices, one per rank;
// each rank loads the index and the model once, retrieves its slice batch by batch, and rank 0
// gathers the results and writes the run file in query-file order. The output depends only on
// the queries, the model and the options, never on the number of ranks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/search/retriever.h"
#include "data/corpus.h"
#include "distributed/mpi_context.h"

namespace dgr::distributed {

struct RetrievalJob {
  std::string index_dir;
  bool verify_checksums = true;
  std::string model_dir;
  std::string device = "cpu";
  std::vector<data::Query> queries;  // the same list on every rank
  std::vector<std::string> views;    // empty = every indexed view
  search::ViewLengths lengths;
  int max_query_length = 64;
  int batch_size = 8;
  bool rescore = true;
  search::RetrieverOptions options;
  std::string run_path;
  std::string run_tag = "dgr";
  std::string keys_path;  // empty = no keys dump
  int max_keys_per_passage = 40;
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
RetrievalReport retrieve(MpiContext& mpi, const RetrievalJob& job);

}  // namespace dgr::distributed
