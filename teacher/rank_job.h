// `dgr teacher rank`: the distillation set (data/distill_set.h). The training queries (those
// judged in the training split) are cut into contiguous slices, one per rank; each rank assembles
// its queries' candidates (teacher/distillation.h: the stage-1 retrieval that `dgr retrieve`
// handed over in its outputs.json, or BM25's top M), has the teacher score them, and all ranks
// write the set together with parallel HDF5 (distributed/hdf5_group.h). Hashes and the creation
// time are taken on rank 0 and broadcast, so the file is the same byte for byte on any number of
// ranks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "distributed/mpi_context.h"
#include "teacher/teacher_options.h"

namespace dgr::teacher {

// What the job reads and writes besides its options.
struct RankJobInputs {
  std::string corpus;
  std::string corpus_format = "auto";
  std::string queries;
  std::string qrels_path;    // the training judgments
  std::string answers_path;  // the answers file, for labels by answer match
  std::string index_dir;     // the configured index, if any: must be the candidates' (by content)
  std::string set_path;      // the set to write
  std::string config_hash;
  int threads = 1;  // BM25 and scoring threads of this rank
  // The cross-encoder's device as placed for this rank (distributed/device_placement.h), e.g.
  // "cuda:1" for a configured "cuda"; empty: as configured.
  std::string cross_encoder_device;
};

struct RankJobReport {
  std::string teacher;  // the ranker's name
  size_t queries = 0;   // training queries, all ranks
  // Totals over the ranks, on rank 0.
  size_t candidates = 0;
  size_t judged = 0;
  size_t positive = 0;
  size_t keys = 0;
  double load_seconds = 0;
  double score_seconds = 0;  // slowest rank
  double write_seconds = 0;
  uint64_t peak_rss_bytes = 0;  // largest over ranks
};

// Collective over `mpi` (check_rank_options first). Rank 0 gets the totals (the others:
// the ranker's name, the queries and the timings of loading and writing). Throws
// ConfigError / DataError / IoError.
RankJobReport rank_distill_set(distributed::MpiContext& mpi, const TeacherOptions& options,
                               const RankJobInputs& inputs);

}  // namespace dgr::teacher
