// Readers of TREC qrels ("qid iter docid rel", 4 whitespace-separated columns) and TREC runs
// ("qid Q0 docid rank score tag", 6 columns). Columns are separated by runs of spaces or tabs;
// blank lines are skipped; the second column of both formats is not checked (tools write "0",
// "Q0" or "q0"). Errors are DataError "path:line: ..." saying what was expected; a missing file
// is an IoError naming the path.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "core/eval/qrels.h"

namespace dgr::data {

// Qrels with an integer grade in column 4 (negative grades are kept). A second judgment of the
// same (query, passage) pair is a DataError naming both lines.
eval::Qrels read_trec_qrels(const std::string& path);

// One line of a run file.
struct TrecRunLine {
  std::string query_id;
  std::string passage_id;
  int rank = 0;
  double score = 0.0;  // always finite
  std::string tag;
};

// Calls `fn(entry, line)` for every line of a run, in file order, holding one line in memory.
// Checks each line (6 columns, ids and tag without whitespace or NUL bytes, integer rank, finite
// numeric score: "nan"/"inf" are DataErrors, since metrics and teachers order by score) but not
// duplicates across lines.
void for_each_trec_run_line(const std::string& path,
                            const std::function<void(TrecRunLine&& entry, int64_t line)>& fn);

// The whole run, each query's entries in file order (never re-sorted). `tag` is the tag of the
// first line. A second entry for the same (query, passage) pair is a DataError naming both lines.
eval::Run read_trec_run(const std::string& path);

}  // namespace dgr::data
