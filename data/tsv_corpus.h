// Readers of tab-separated corpora and query files:
// - DPR passages (`psgs_w100.tsv`): header "id<TAB>text<TAB>title", then 3 columns per row. The
//   file is written by Python's csv module, so a field may be double-quoted with "" for a quote
//   inside (and may then hold tabs); such fields are unquoted. Fields span one line only.
// - MS MARCO collection (`collection.tsv`): "pid<TAB>text", no header, no quoting; title "".
// - MS MARCO-style queries (`queries.*.tsv`): "qid<TAB>text", no header, no quoting.
// Blank lines are skipped, every line must be valid UTF-8, ids must be non-empty and free of
// whitespace. Errors are DataError "path:line: ..."; a missing file is an IoError.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "data/corpus.h"

namespace dgr::data {

enum class TsvCorpusFormat { kDpr, kMsMarco };

// Calls `fn(passage, line)` for every passage, in file order, holding one line in memory.
void for_each_tsv_passage(const std::string& path, TsvCorpusFormat format,
                          const std::function<void(Passage&& passage, int64_t line)>& fn,
                          const RecordFilter& want = nullptr);
// The whole corpus; duplicate ids are a DataError naming both lines.
Corpus read_tsv_corpus(const std::string& path, TsvCorpusFormat format);

Queries read_tsv_queries(const std::string& path);

// Whether `line` is the DPR header "id<TAB>text<TAB>title".
bool is_dpr_header(const std::string& line);

}  // namespace dgr::data
