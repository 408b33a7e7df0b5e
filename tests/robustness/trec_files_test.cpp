// Bad TREC files (data/trec): qrels "qid iter docid rel" and runs "qid Q0 docid rank score tag".
// Wrong column counts, non-numeric or non-integer ranks and grades, NaN and infinite scores,
// numbers out of range, duplicate (query, passage) pairs, empty ids, invalid UTF-8, truncated
// last lines and empty files must be DataErrors naming "path:line:"; what the readers accept on
// purpose (any second column, negative grades, exponents, unsorted ranks) is pinned down too.
// Also: the run writer (core/eval/run_io) refuses what the reader could not read back.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/eval/run_io.h"
#include "data/dataset.h"
#include "data/trec.h"
#include "tests/robustness/bad_files.h"

namespace dgr::robustness {
namespace {

const Expect kData = Expect::kDataError;
const Expect kOk = Expect::kAccepted;

TEST(TrecQrelsFiles, Catalogue) {
  std::vector<FileCase> cases = {
      {"empty", "", kData, 0, {"empty file", "TREC qrels lines"}},
      {"only-blank-lines", "\n \n", kData, 0, {"no records"}},
      {"three-columns",
       "q1 0 d1 1\nq1 0 d2\n",
       kData,
       2,
       {"expected 4 whitespace-separated columns", "found 3"}},
      {"five-columns", "q1 0 d1 1 extra\n", kData, 1, {"found 5"}},
      {"run-line-in-qrels", "q1 0 d1 1\nq1 Q0 d2 1 3.5 tag\n", kData, 2, {"found 6"}},
      {"truncated-last-line", "q1 0 d1 1\nq1 0 d", kData, 2, {"found 3"}},
      {"float-grade", "q1 0 d1 0.5\n", kData, 1, {"non-integer relevance '0.5' in column 4"}},
      {"word-grade", "q1 0 d1 yes\n", kData, 1, {"non-integer relevance 'yes'"}},
      {"nan-grade", "q1 0 d1 nan\n", kData, 1, {"non-integer relevance 'nan'"}},
      {"inf-grade", "q1 0 d1 -inf\n", kData, 1, {"non-integer relevance '-inf'"}},
      {"grade-beyond-int",
       "q1 0 d1 2147483648\n",
       kData,
       1,
       {"non-integer relevance '2147483648'"}},
      {"hex-grade", "q1 0 d1 0x1\n", kData, 1, {"non-integer relevance '0x1'"}},
      {"double-sign-grade", "q1 0 d1 +-1\n", kData, 1, {"non-integer relevance '+-1'"}},
      {"double-plus-grade", "q1 0 d1 ++1\n", kData, 1, {"non-integer relevance '++1'"}},
      {"duplicate-pair",
       "q1 0 d1 1\nq2 0 d1 1\nq1 0 d1 0\n",
       kData,
       3,
       {"duplicate judgment", "'q1'", "'d1'", "first at line 1"}},
      {"invalid-utf8", "q1 0 d\xE2\x82 1\n", kData, 1, {"invalid UTF-8 at byte column 7"}},
      {"nul-in-id", std::string("q1 0 d\0 1\n", 10), kData, 1, {"passage id", "NUL"}},
      {"any-second-column-and-tabs", "q1\t0\td1\t1\nq1 Q0 d2 -2\nq2 iter d1 +3\n", kOk, 0, {}},
      {"crlf-and-trailing-spaces", "q1 0 d1 1  \r\n", kOk, 0, {}},
  };
  run_file_cases("qrels.trec", cases, [](const std::string& path) { data::read_trec_qrels(path); });
  // The format-detecting reader sends 4-column first lines here, with the same errors.
  // Not there: the empty files (the detector's message is its own) and a first line of 5
  // columns (not detected as TREC).
  cases.erase(std::remove_if(cases.begin(), cases.end(),
                             [](const FileCase& c) {
                               return c.name == "empty" || c.name == "only-blank-lines" ||
                                      c.name == "five-columns";
                             }),
              cases.end());
  run_file_cases("qrels.txt", cases, [](const std::string& path) { data::read_qrels(path); });
}

TEST(TrecRunFiles, Catalogue) {
  const std::string l1 = "q1 Q0 d1 1 12.5 dgr\n";
  run_file_cases(
      "run.trec",
      {
          {"empty", "", kData, 0, {"empty file", "TREC run lines"}},
          {"only-blank-lines", "\n\t\n", kData, 0, {"no records"}},
          {"five-columns",
           l1 + "q1 Q0 d2 2 11.0\n",
           kData,
           2,
           {"expected 6 whitespace-separated columns", "found 5"}},
          {"seven-columns", "q1 Q0 d1 1 12.5 dgr extra\n", kData, 1, {"found 7"}},
          {"qrels-line-in-run", l1 + "q1 0 d2 1\n", kData, 2, {"found 4"}},
          {"truncated-last-line", l1 + "q1 Q0 d2 2 11", kData, 2, {"found 5"}},
          {"word-rank",
           "q1 Q0 d1 first 12.5 dgr\n",
           kData,
           1,
           {"non-integer rank 'first' in column 4"}},
          {"float-rank", "q1 Q0 d1 1.0 12.5 dgr\n", kData, 1, {"non-integer rank '1.0'"}},
          {"rank-beyond-int", "q1 Q0 d1 99999999999 12.5 dgr\n", kData, 1, {"non-integer rank"}},
          {"word-score",
           "q1 Q0 d1 1 high dgr\n",
           kData,
           1,
           {"non-numeric score 'high' in column 5, expected a number"}},
          {"comma-decimal-score", "q1 Q0 d1 1 12,5 dgr\n", kData, 1, {"non-numeric score '12,5'"}},
          {"double-sign-score", "q1 Q0 d1 1 +-2.5 dgr\n", kData, 1, {"non-numeric score '+-2.5'"}},
          {"empty-exponent-score", "q1 Q0 d1 1 1e dgr\n", kData, 1, {"non-numeric score '1e'"}},
          {"overflowing-score", "q1 Q0 d1 1 1e999 dgr\n", kData, 1, {"non-numeric score '1e999'"}},
          {"nan-score",
           l1 + "q1 Q0 d2 2 nan dgr\n",
           kData,
           2,
           {"non-finite score 'nan' in column 5, expected a finite number"}},
          {"upper-nan-score", "q1 Q0 d1 1 NaN dgr\n", kData, 1, {"non-finite score 'NaN'"}},
          {"inf-score", "q1 Q0 d1 1 inf dgr\n", kData, 1, {"non-finite score 'inf'"}},
          {"negative-infinity-score",
           "q1 Q0 d1 1 -infinity dgr\n",
           kData,
           1,
           {"non-finite score '-infinity'"}},
          {"duplicate-pair",
           l1 + "q1 Q0 d2 2 11 dgr\nq1 Q0 d1 3 10 dgr\n",
           kData,
           3,
           {"duplicate entry for query 'q1' and passage 'd1' (first at line 1)"}},
          {"invalid-utf8",
           l1 + "q1 Q0 d\xF5 2 11 dgr\n",
           kData,
           2,
           {"invalid UTF-8 at byte column 8"}},
          {"invalid-utf8-in-tag", "q1 Q0 d1 1 12.5 dg\x80\n", kData, 1, {"invalid UTF-8"}},
          {"nul-in-query-id",
           std::string("q\0 Q0 d1 1 12.5 dgr\n", 20),
           kData,
           1,
           {"query id", "NUL"}},
          {"ranks-and-scores-out-of-order",
           "q1 Q0 d1 3 1.5 a\nq1 Q0 d2 1 -7e-3 a\nq1 q0 d3 -2 "
           "+4E2 a\n",
           kOk,
           0,
           {}},
          {"same-passage-for-two-queries", "q1 Q0 d1 1 1 a\nq2 Q0 d1 1 1 a\n", kOk, 0, {}},
      },
      [](const std::string& path) { data::read_trec_run(path); });
}

TEST(TrecRunFiles, WriterRefusesWhatCannotBeReadBack) {
  struct WriteCase {
    std::string name;
    eval::Run run;
    std::vector<std::string> parts;
  };
  auto run_of = [](const std::string& query, const std::string& passage, double score) {
    eval::Run run;
    run.by_query[query].push_back(eval::RunEntry{passage, score, 1});
    return run;
  };
  eval::Run bad_tag = run_of("q1", "d1", 1.0);
  bad_tag.tag = "my tag";
  const std::vector<WriteCase> cases = {
      {"nan-score", run_of("q1", "d1", std::nan("")), {"NaN"}},
      {"passage-id-with-space", run_of("q1", "d 1", 1.0), {"d 1"}},
      {"empty-query-id", run_of("", "d1", 1.0), {}},
      {"tag-with-space", bad_tag, {"my tag"}},
  };
  for (const WriteCase& c : cases) {
    SCOPED_TRACE("case '" + c.name + "'");
    const std::string path = scratch_dir() + "/" + c.name + ".trec";
    std::vector<std::string> parts = c.parts;
    parts.push_back(path);
    expect_outcome([&] { eval::write_trec_run(path, c.run); }, kData, parts);
    EXPECT_FALSE(fs::exists(path)) << "a refused run left a file behind";
  }
}

}  // namespace
}  // namespace dgr::robustness
