// Format-independent entry points: load a corpus, queries or qrels from a path and a format name
// as written in the YAML config. "auto" picks the format from the file:
// - corpus: `.jsonl` -> BEIR; `.tsv` -> DPR when the first line is "id<TAB>text<TAB>title",
//   MS MARCO ("pid<TAB>text", no header) otherwise;
// - queries: `.jsonl` -> BEIR queries, `.tsv` -> "qid<TAB>text";
// - qrels: BEIR when the first line is the header "query-id<TAB>corpus-id<TAB>score", TREC when
//   it has 4 whitespace-separated columns.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "core/eval/qrels.h"
#include "data/corpus.h"

namespace dgr::data {

enum class CorpusFormat { kBeir, kDpr, kMsMarco };

// Resolves `format` ("auto", "beir", "dpr" or "msmarco") for the corpus at `path`. Throws
// ConfigError for another name or when "auto" cannot decide from the extension, IoError when
// `path` must be opened to sniff the header and cannot be, DataError when it is empty.
CorpusFormat resolve_corpus_format(const std::string& path, const std::string& format = "auto");

// Streams the passages of the corpus at `path` in file order (one line in memory).
void for_each_passage(const std::string& path, const std::string& format,
                      const std::function<void(Passage&& passage, int64_t line)>& fn,
                      const RecordFilter& want = nullptr);
Corpus load_corpus(const std::string& path, const std::string& format = "auto");

// Queries by extension (.jsonl or .tsv); ConfigError for another extension.
Queries load_queries(const std::string& path);

// BEIR or TREC qrels, detected from the first non-blank line.
eval::Qrels read_qrels(const std::string& path);

}  // namespace dgr::data
