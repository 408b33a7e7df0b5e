// Bad tab-separated corpora and query files (data/tsv_corpus): DPR psgs_w100.tsv (header, three
// csv-quoted columns), the MS MARCO collection and queries (two unquoted columns). Wrong column
// counts, a missing or misspelt header, bad quoting, empty or whitespace ids, duplicates,
// invalid UTF-8 and truncated last lines must be DataErrors naming "path:line:".
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/tsv_corpus.h"
#include "tests/robustness/bad_files.h"

namespace dgr::robustness {
namespace {

const Expect kData = Expect::kDataError;
const Expect kOk = Expect::kAccepted;
const std::string kHeader = "id\ttext\ttitle\n";

TEST(DprCorpusFiles, Catalogue) {
  std::vector<FileCase> cases = {
      {"empty", "", kData, 0, {"empty file", "id<TAB>text<TAB>title"}},
      {"header-only", kHeader, kData, 0, {"no records after the header"}},
      {"missing-header", "1\tsome text\tTitle\n", kData, 1, {"expected the DPR header"}},
      {"header-in-other-order",
       "id\ttitle\ttext\n1\tT\tx\n",
       kData,
       1,
       {"expected the DPR header"}},
      {"header-with-spaces", "id text title\n", kData, 1, {"expected the DPR header"}},
      {"two-columns",
       kHeader + "1\tsome text\tTitle\n2\tno title\n",
       kData,
       3,
       {"expected 3 tab-separated columns", "found 2"}},
      {"four-columns", kHeader + "1\ttext\tTitle\textra\n", kData, 2, {"found 4"}},
      {"one-column", kHeader + "just-an-id\n", kData, 2, {"found 1"}},
      {"truncated-last-line", kHeader + "1\ttext\tTitle\n2\tte", kData, 3, {"found 2"}},
      {"unterminated-quote",
       kHeader + "1\t\"quoted text\tTitle\n",
       kData,
       2,
       {"unterminated quoted field starting at byte column 3"}},
      {"text-after-closing-quote",
       kHeader + "1\t\"quoted\" more\tTitle\n",
       kData,
       2,
       {"unexpected text after the closing quote at byte column 11"}},
      {"empty-id", kHeader + "\ttext\tTitle\n", kData, 2, {"empty passage id"}},
      {"id-with-space",
       kHeader + "a b\ttext\tTitle\n",
       kData,
       2,
       {"passage id 'a b' contains whitespace"}},
      {"quoted-id-with-tab", kHeader + "\"a\tb\"\ttext\tTitle\n", kData, 2, {"whitespace"}},
      {"duplicate-id",
       kHeader + "1\tx\tA\n2\ty\tB\n1\tz\tC\n",
       kData,
       4,
       {"duplicate passage id '1'", "first defined at line 2"}},
      {"invalid-utf8-in-text",
       kHeader + "1\tcaf\xE9\tTitle\n",
       kData,
       2,
       {"invalid UTF-8 at byte column 6"}},
      {"invalid-utf8-in-header", "id\ttext\ttit\xFF\n", kData, 1, {"invalid UTF-8"}},
      {"quoted-fields-with-tabs", kHeader + "1\t\"a \"\"quoted\"\"\ttext\"\t\"T\"\n", kOk, 0, {}},
      {"empty-text-and-title", kHeader + "1\t\t\n", kOk, 0, {}},
      {"crlf", "id\ttext\ttitle\r\n1\tx\tT\r\n", kOk, 0, {}},
  };
  run_file_cases("psgs.tsv", cases, [](const std::string& path) {
    data::read_tsv_corpus(path, data::TsvCorpusFormat::kDpr);
  });
  // Through the format-detecting loader with format "dpr", the same errors.
  run_file_cases("psgs.tsv", cases,
                 [](const std::string& path) { data::load_corpus(path, "dpr"); });
}

TEST(MsMarcoFiles, Collection) {
  run_file_cases(
      "collection.tsv",
      {
          {"empty", "", kData, 0, {"empty file", "'pid<TAB>text'"}},
          {"one-column", "0\ttext\n1\n", kData, 2, {"expected 2 tab-separated columns, found 1"}},
          {"three-columns", "0\ttext\textra\n", kData, 1, {"found 3"}},
          {"dpr-header", kHeader + "1\tx\tT\n", kData, 1, {"this is a DPR header: use format dpr"}},
          {"space-separated", "0 some text\n", kData, 1, {"found 1"}},
          {"empty-id", "\ttext\n", kData, 1, {"empty passage id"}},
          {"duplicate-id", "0\ta\n1\tb\n0\tc\n", kData, 3, {"duplicate passage id '0'"}},
          {"invalid-utf8", "0\t\xC0\xAF\n", kData, 1, {"invalid UTF-8 at byte column 3"}},
          {"truncated-last-line", "0\ta\n1", kData, 2, {"found 1"}},
          {"quotes-are-text", "0\t\"quoted\n", kOk, 0, {}},
      },
      [](const std::string& path) {
        data::read_tsv_corpus(path, data::TsvCorpusFormat::kMsMarco);
      });
}

TEST(MsMarcoFiles, Queries) {
  run_file_cases(
      "queries.tsv",
      {
          {"empty", "", kData, 0, {"empty file", "'qid<TAB>text'"}},
          {"one-column", "q1\n", kData, 1, {"found 1"}},
          {"three-columns", "q1\twhat\tnow\n", kData, 1, {"found 3"}},
          {"empty-id", "\twhat\n", kData, 1, {"empty query id"}},
          {"id-with-space", "q 1\twhat\n", kData, 1, {"query id 'q 1' contains whitespace"}},
          {"duplicate-id", "q1\ta\nq1\tb\n", kData, 2, {"duplicate query id 'q1'"}},
          {"invalid-utf8", "q1\t\xED\xA0\x80\n", kData, 1, {"invalid UTF-8 at byte column 4"}},
          {"beir-jsonl-in-a-tsv", R"({"_id": "q1", "text": "what"})", kData, 1, {"found 1"}},
      },
      [](const std::string& path) { data::load_queries(path); });
}

}  // namespace
}  // namespace dgr::robustness
