// Writing TREC run files (`qid Q0 docid rank score tag`, one line per retrieved passage). Reading
// them lives in data/trec.h. The file is written atomically (see core/util/files.h).
#pragma once

#include <string>
#include <vector>

#include "core/eval/qrels.h"

namespace dgr::eval {

// Writes `run`: queries in map order, each query's entries in their stored order with ranks
// 1..n, scores in the shortest form that reads back as the same double, tag `run.tag`.
// Empty lists write nothing. Throws DataError on an empty id or one containing whitespace (it
// would shift the columns) or a NUL byte (it would cut the line), on a tag like that, or a NaN
// score; IoError naming `path` when the file cannot be written. O(total entries).
void write_trec_run(const std::string& path, const Run& run);
// The same, with queries in `query_order` (queries of the run not listed are written after, in
// map order): retrieval writes queries in the order of the query file.
void write_trec_run(const std::string& path, const Run& run,
                    const std::vector<std::string>& query_order);

}  // namespace dgr::eval
