#include "data/dataset.h"

#include "core/util/error.h"
#include "data/beir.h"
#include "data/fields.h"
#include "data/line_reader.h"
#include "data/trec.h"
#include "data/tsv_corpus.h"

namespace dgr::data {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The first non-blank line of `path`; throws the empty-file DataError naming `expected`.
std::string first_record_line(const std::string& path, const std::string& expected,
                              int64_t* line_number) {
  LineReader reader(path);
  std::string line;
  while (reader.next(line)) {
    if (!is_blank(line)) {
      *line_number = reader.line_number();
      return line;
    }
  }
  throw_no_records(reader, expected);
}

}  // namespace

CorpusFormat resolve_corpus_format(const std::string& path, const std::string& format) {
  if (format == "beir") return CorpusFormat::kBeir;
  if (format == "dpr") return CorpusFormat::kDpr;
  if (format == "msmarco") return CorpusFormat::kMsMarco;
  if (format != "auto") {
    throw ConfigError("unknown corpus format '" + format +
                      "', expected one of auto, beir, dpr, msmarco");
  }
  if (ends_with(path, ".jsonl")) return CorpusFormat::kBeir;
  if (ends_with(path, ".tsv")) {
    int64_t line = 0;
    const std::string first = first_record_line(
        path, "a DPR ('id<TAB>text<TAB>title' header) or MS MARCO ('pid<TAB>text') corpus", &line);
    return is_dpr_header(first) ? CorpusFormat::kDpr : CorpusFormat::kMsMarco;
  }
  throw ConfigError(path +
                    ": cannot detect the corpus format from the extension (expected .jsonl or "
                    ".tsv); set the format to beir, dpr or msmarco");
}

void for_each_passage(const std::string& path, const std::string& format,
                      const std::function<void(Passage&&, int64_t)>& fn, const RecordFilter& want) {
  switch (resolve_corpus_format(path, format)) {
    case CorpusFormat::kBeir:
      for_each_beir_passage(path, fn, want);
      return;
    case CorpusFormat::kDpr:
      for_each_tsv_passage(path, TsvCorpusFormat::kDpr, fn, want);
      return;
    case CorpusFormat::kMsMarco:
      for_each_tsv_passage(path, TsvCorpusFormat::kMsMarco, fn, want);
      return;
  }
}

Corpus load_corpus(const std::string& path, const std::string& format) {
  switch (resolve_corpus_format(path, format)) {
    case CorpusFormat::kBeir:
      return read_beir_corpus(path);
    case CorpusFormat::kDpr:
      return read_tsv_corpus(path, TsvCorpusFormat::kDpr);
    case CorpusFormat::kMsMarco:
      return read_tsv_corpus(path, TsvCorpusFormat::kMsMarco);
  }
  return Corpus();  // unreachable: every enumerator returns above
}

Queries load_queries(const std::string& path) {
  if (ends_with(path, ".jsonl")) return read_beir_queries(path);
  if (ends_with(path, ".tsv")) return read_tsv_queries(path);
  throw ConfigError(path +
                    ": cannot detect the query file format from the extension, expected .jsonl "
                    "(BEIR) or .tsv (qid<TAB>text)");
}

eval::Qrels read_qrels(const std::string& path) {
  int64_t line = 0;
  const std::string first = first_record_line(
      path,
      "BEIR qrels ('query-id<TAB>corpus-id<TAB>score' header) or TREC qrels ('qid 0 docid rel')",
      &line);
  if (is_beir_qrels_header(first)) return read_beir_qrels(path);
  if (split_whitespace(first).size() == 4) return read_trec_qrels(path);
  throw DataError(located(path, line,
                          "expected the BEIR qrels header 'query-id<TAB>corpus-id<TAB>score' or a "
                          "TREC qrels line 'qid 0 docid rel', found " +
                              quote_field(first)));
}

}  // namespace dgr::data
