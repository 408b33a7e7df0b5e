// Bad BEIR files: corpus.jsonl, queries.jsonl and qrels/*.tsv (data/beir, data/jsonl,
// data/line_reader), the format detection of data/dataset, and the other JSON-lines inputs
// (answers, pseudo-queries: data/answers). Truncated and empty files, lines that are not JSON or
// not objects, ids of every wrong type, missing fields, duplicates, invalid UTF-8 (raw and as
// JSON escapes), deep nesting and huge lines must be DataErrors naming "path:line:" and the
// field; a file that cannot be opened is an IoError; a format that cannot be detected is a
// ConfigError. What the readers accept on purpose (integer ids, null titles, a byte order mark,
// CRLF, a 50 MB line) is pinned down too.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "data/answers.h"
#include "data/beir.h"
#include "data/dataset.h"
#include "tests/robustness/bad_files.h"

namespace dgr::robustness {
namespace {

const Expect kData = Expect::kDataError;
const Expect kOk = Expect::kAccepted;

const std::string kGood = R"({"_id": "d1", "title": "T", "text": "one"})"
                          "\n";

void read_corpus(const std::string& path) {
  data::read_beir_corpus(path);
}

TEST(BeirCorpusFiles, StructureOfTheFile) {
  run_file_cases(
      "corpus.jsonl",
      {
          {"empty", "", kData, 0, {"empty file", "expected one JSON object per line"}},
          {"only-blank-lines", "\n  \n\t\n", kData, 0, {"no records (only blank lines)"}},
          {"truncated-last-line", kGood + R"({"_id": "d2", "te)", kData, 2, {"bad JSON"}},
          {"truncated-after-key", kGood + R"({"_id": "d2", "text":)", kData, 2, {"bad JSON"}},
          {"not-json", "hello world\n", kData, 1, {"bad JSON", "expected one JSON object"}},
          {"csv-line", "d1,Title,text\n", kData, 1, {"bad JSON"}},
          {"array-line", kGood + "[1, 2]\n", kData, 2, {"expected a JSON object, found array"}},
          {"string-line", "\"d1\"\n", kData, 1, {"expected a JSON object, found string"}},
          {"number-line", "12\n", kData, 1, {"expected a JSON object, found number"}},
          {"null-line", "null\n", kData, 1, {"expected a JSON object, found null"}},
          {"two-objects-on-a-line",
           R"({"_id": "a", "text": ""} {"_id": "b", "text": ""})",
           kData,
           1,
           {"bad JSON"}},
          {"trailing-comma", R"({"_id": "a", "text": "x",})", kData, 1, {"bad JSON"}},
          {"single-quotes", "{'_id': 'a', 'text': 'x'}\n", kData, 1, {"bad JSON"}},
          {"pretty-printed",
           "{\n  \"_id\": \"a\",\n  \"text\": \"x\"\n}\n",
           kData,
           1,
           {"bad JSON"}},
          {"json-array-file", "[" + kGood + "]\n", kData, 1, {"bad JSON"}},
          {"nul-byte-in-line",
           std::string("{\"_id\": \"a\", \"text\": \"x\0y\"}\n", 28),
           kData,
           1,
           {"bad JSON"}},
          {"byte-order-mark", "\xEF\xBB\xBF" + kGood, kOk, 0, {}},
          {"crlf-and-blank-lines", "\r\n" + kGood + "\r\n\r\n", kOk, 0, {}},
          {"no-final-newline", R"({"_id": "a", "text": "x"})", kOk, 0, {}},
      },
      read_corpus);
}

TEST(BeirCorpusFiles, Ids) {
  run_file_cases(
      "corpus.jsonl",
      {
          {"missing-id", kGood + R"({"text": "x"})", kData, 2, {"missing field '_id'"}},
          {"id-is-float",
           R"({"_id": 1.5, "text": "x"})",
           kData,
           1,
           {"field '_id' must be a string (or an integer), found number"}},
          {"id-is-bool",
           R"({"_id": true, "text": "x"})",
           kData,
           1,
           {"field '_id' must be a string (or an integer), found boolean"}},
          {"id-is-null", R"({"_id": null, "text": "x"})", kData, 1, {"found null"}},
          {"id-is-object", R"({"_id": {"a": 1}, "text": "x"})", kData, 1, {"found object"}},
          {"id-is-array", R"({"_id": ["a"], "text": "x"})", kData, 1, {"found array"}},
          {"id-beyond-uint64",
           R"({"_id": 100000000000000000000000, "text": "x"})",
           kData,
           1,
           {"field '_id' must be a string (or an integer), found number"}},
          {"id-empty", R"({"_id": "", "text": "x"})", kData, 1, {"empty passage id"}},
          {"id-with-space",
           R"({"_id": "a b", "text": "x"})",
           kData,
           1,
           {"passage id 'a b' contains whitespace"}},
          {"id-with-tab-escape", R"({"_id": "a\tb", "text": "x"})", kData, 1, {"whitespace"}},
          {"id-with-newline-escape", R"({"_id": "a\nb", "text": "x"})", kData, 1, {"whitespace"}},
          {"id-with-nul-escape",
           R"({"_id": "a\u0000b", "text": "x"})",
           kData,
           1,
           {"passage id", "NUL"}},
          {"duplicate-id",
           kGood +
               R"({"_id": "d2", "text": "x"})"
               "\n" +
               kGood,
           kData,
           3,
           {"duplicate passage id 'd1'", "first defined at line 1"}},
          {"duplicate-int-and-string-id",
           R"({"_id": 7, "text": "x"})"
           "\n"
           R"({"_id": "7", "text": "y"})",
           kData,
           2,
           {"duplicate passage id '7'"}},
          {"integer-id", R"({"_id": 12, "text": "x"})", kOk, 0, {}},
          {"negative-integer-id", R"({"_id": -12, "text": "x"})", kOk, 0, {}},
          {"non-ascii-id", R"({"_id": "doc-ü-日本", "text": "x"})", kOk, 0, {}},
      },
      read_corpus);
}

TEST(BeirCorpusFiles, TitleAndText) {
  run_file_cases(
      "corpus.jsonl",
      {
          {"missing-text", R"({"_id": "a", "title": "t"})", kData, 1, {"missing field 'text'"}},
          {"text-is-null",
           R"({"_id": "a", "text": null})",
           kData,
           1,
           {"field 'text' must be a string, found null"}},
          {"text-is-number",
           R"({"_id": "a", "text": 3})",
           kData,
           1,
           {"field 'text' must be a string, found number"}},
          {"text-is-array",
           R"({"_id": "a", "text": ["x"]})",
           kData,
           1,
           {"field 'text' must be a string, found array"}},
          {"title-is-number",
           R"({"_id": "a", "title": 1, "text": "x"})",
           kData,
           1,
           {"field 'title' must be a string, found number"}},
          {"title-is-object",
           R"({"_id": "a", "title": {}, "text": "x"})",
           kData,
           1,
           {"field 'title' must be a string, found object"}},
          {"lone-surrogate-escape", R"({"_id": "a", "text": "\ud800"})", kData, 1, {"bad JSON"}},
          {"bad-escape", R"({"_id": "a", "text": "\q"})", kData, 1, {"bad JSON"}},
          {"raw-control-character",
           "{\"_id\": \"a\", \"text\": \"x\x01y\"}",
           kData,
           1,
           {"bad JSON"}},
          {"null-title", R"({"_id": "a", "title": null, "text": "x"})", kOk, 0, {}},
          {"empty-text", R"({"_id": "a", "text": ""})", kOk, 0, {}},
          {"extra-fields", R"({"_id": "a", "text": "x", "metadata": {"url": [1, 2]}})", kOk, 0, {}},
          {"nul-escape-in-text", R"({"_id": "a", "text": "x\u0000y"})", kOk, 0, {}},
      },
      read_corpus);
}

TEST(BeirCorpusFiles, InvalidUtf8) {
  std::vector<FileCase> cases;
  int i = 0;
  for (const std::string& bad : invalid_utf8_samples()) {
    const std::string n = std::to_string(i++);
    cases.push_back({"in-text-" + n,
                     kGood + "{\"_id\": \"a\", \"text\": \"x" + bad + "\"}\n",
                     kData,
                     2,
                     {"invalid UTF-8 at byte column 24"}});
    cases.push_back({"in-id-" + n,
                     "{\"_id\": \"a" + bad + "\", \"text\": \"x\"}\n",
                     kData,
                     1,
                     {"invalid UTF-8 at byte column 11"}});
    cases.push_back({"outside-strings-" + n,
                     "{\"_id\": \"a\", \"text\": \"x\"}" + bad + "\n",
                     kData,
                     1,
                     {"invalid UTF-8"}});
  }
  cases.push_back({"latin1-file",
                   "{\"_id\": \"a\", \"text\": \"caf\xE9\"}\n",
                   kData,
                   1,
                   {"invalid UTF-8 at byte column 26"}});
  cases.push_back({"utf16-file", std::string("\xFF\xFE{\0\"\0", 6), kData, 1, {"invalid UTF-8"}});
  run_file_cases("corpus.jsonl", cases, read_corpus);
}

TEST(BeirCorpusFiles, DeepNestingIsNotACrash) {
  // A metadata value nested 200000 levels deep (one 400 kB line): read or refused, never a stack
  // overflow.
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  run_file_cases(
      "corpus.jsonl",
      {{"deep-array", R"({"_id": "a", "text": "x", "metadata": )" + deep + "}\n", kOk, 0, {}},
       {"deep-unclosed",
        R"({"_id": "a", "text": "x", "metadata": )" + std::string(200000, '{') + "\n",
        kData,
        1,
        {"bad JSON"}}},
      read_corpus);
}

TEST(BeirCorpusFiles, HugeLines) {
  // A 50 MB passage on one line is read whole (the line reader has no length limit: memory use
  // is one line) and the line after it still has its number; a 50 MB line that is not JSON is
  // one short error, not a 50 MB message.
  const std::string big(50u << 20, 'a');
  const std::string path =
      write_bytes("big.jsonl", kGood + R"({"_id": "big", "text": ")" + big + "\"}\n" + kGood);
  data::Corpus corpus;
  expect_outcome(
      [&] {
        data::for_each_beir_passage(path, [&](data::Passage&& passage, int64_t line) {
          corpus.add(std::move(passage), path, line);  // the duplicate d1 on line 3 throws
        });
      },
      kData, {path + ":3:", "duplicate passage id 'd1'"});
  ASSERT_EQ(corpus.size(), 2u);
  EXPECT_EQ(corpus[1].text.size(), big.size());

  const std::string unterminated =
      write_bytes("big-bad.jsonl", kGood + R"({"_id": "big", "text": ")" + big + "\n");
  const std::string message = expect_outcome([&] { data::read_beir_corpus(unterminated); }, kData,
                                             {unterminated + ":2:", "bad JSON"});
  EXPECT_LT(message.size(), 4096u) << "the message quotes the whole line";
}

TEST(BeirCorpusFiles, NotAReadableFile) {
  const std::string dir = scratch_dir() + "/corpus.jsonl";
  fs::create_directories(dir);
  expect_outcome([&] { read_corpus(dir); }, Expect::kIoError, {dir, "is a directory"});
  const std::string absent = scratch_dir() + "/absent.jsonl";
  expect_outcome([&] { read_corpus(absent); }, Expect::kIoError, {absent, "no such file"});
  const std::string dangling = scratch_dir() + "/dangling.jsonl";
  fs::create_symlink(scratch_dir() + "/nowhere.jsonl", dangling);
  expect_outcome([&] { read_corpus(dangling); }, Expect::kIoError, {dangling});
}

TEST(BeirQueryFiles, Catalogue) {
  const std::string q1 = R"({"_id": "q1", "text": "what"})"
                         "\n";
  run_file_cases(
      "queries.jsonl",
      {
          {"empty", "", kData, 0, {"empty file", "\"_id\", \"text\""}},
          {"only-blank-lines", "\n\n", kData, 0, {"no records"}},
          {"truncated-last-line", q1 + R"({"_id": "q2", "te)", kData, 2, {"bad JSON"}},
          {"not-json", q1 + "q2\twhat else\n", kData, 2, {"bad JSON"}},
          {"array-line", "[\"q1\", \"what\"]\n", kData, 1, {"found array"}},
          {"missing-id", R"({"text": "what"})", kData, 1, {"missing field '_id'"}},
          {"id-is-float",
           R"({"_id": 2.0, "text": "what"})",
           kData,
           1,
           {"field '_id' must be a string (or an integer)"}},
          {"empty-id", R"({"_id": "", "text": "what"})", kData, 1, {"empty query id"}},
          {"id-with-space",
           R"({"_id": "q 1", "text": "what"})",
           kData,
           1,
           {"query id 'q 1' contains whitespace"}},
          {"missing-text", R"({"_id": "q1", "query": "what"})", kData, 1, {"missing field 'text'"}},
          {"text-is-number",
           R"({"_id": "q1", "text": 42})",
           kData,
           1,
           {"field 'text' must be a string"}},
          {"duplicate-id",
           q1 +
               R"({"_id": "q2", "text": "x"})"
               "\n" +
               q1,
           kData,
           3,
           {"duplicate query id 'q1'"}},
          {"invalid-utf8",
           q1 + "{\"_id\": \"q2\", \"text\": \"\xC3\"}\n",
           kData,
           2,
           {"invalid UTF-8"}},
          {"integer-id", R"({"_id": 5, "text": "what"})", kOk, 0, {}},
          {"extra-fields", R"({"_id": "q1", "text": "what", "metadata": {}})", kOk, 0, {}},
      },
      [](const std::string& path) { data::read_beir_queries(path); });
}

TEST(BeirQrelsFiles, Catalogue) {
  const std::string header = "query-id\tcorpus-id\tscore\n";
  std::vector<FileCase> cases = {
      {"empty", "", kData, 0, {"empty file", "query-id<TAB>corpus-id<TAB>score"}},
      {"header-only", header, kData, 0, {"no records after the header"}},
      {"missing-header", "q1\td1\t1\n", kData, 1, {"expected the BEIR qrels header"}},
      {"header-with-spaces",
       "query-id corpus-id score\nq1 d1 1\n",
       kData,
       1,
       {"expected the BEIR qrels header"}},
      {"header-in-other-order",
       "corpus-id\tquery-id\tscore\nd1\tq1\t1\n",
       kData,
       1,
       {"expected the BEIR qrels header"}},
      {"two-columns",
       header + "q1\td1\t1\nq2\td2\n",
       kData,
       3,
       {"expected 3 tab-separated columns", "found 2"}},
      {"four-columns", header + "q1\td1\t1\t0\n", kData, 2, {"found 4"}},
      {"space-separated-row", header + "q1 d1 1\n", kData, 2, {"found 1"}},
      {"truncated-last-line", header + "q1\td1\t1\nq2\td", kData, 3, {"found 2"}},
      {"trailing-tab", header + "q1\td1\t1\t\n", kData, 2, {"found 4"}},
      {"float-grade", header + "q1\td1\t1.5\n", kData, 2, {"non-integer score '1.5'"}},
      {"word-grade", header + "q1\td1\trelevant\n", kData, 2, {"non-integer score 'relevant'"}},
      {"nan-grade", header + "q1\td1\tnan\n", kData, 2, {"non-integer score 'nan'"}},
      {"inf-grade", header + "q1\td1\tinf\n", kData, 2, {"non-integer score 'inf'"}},
      {"empty-grade", header + "q1\td1\t\n", kData, 2, {"non-integer score ''"}},
      {"grade-with-space", header + "q1\td1\t 1\n", kData, 2, {"non-integer score"}},
      {"grade-beyond-int",
       header + "q1\td1\t99999999999\n",
       kData,
       2,
       {"non-integer score '99999999999'"}},
      {"empty-query-id", header + "\td1\t1\n", kData, 2, {"empty query id"}},
      {"empty-passage-id", header + "q1\t\t1\n", kData, 2, {"empty passage id"}},
      {"id-with-space", header + "q 1\td1\t1\n", kData, 2, {"query id 'q 1' contains whitespace"}},
      {"duplicate-pair",
       header + "q1\td1\t1\nq1\td2\t0\nq1\td1\t2\n",
       kData,
       4,
       {"duplicate judgment", "'q1'", "'d1'", "first at line 2"}},
      {"invalid-utf8", header + "q1\td\xFF\t1\n", kData, 2, {"invalid UTF-8 at byte column 5"}},
      {"negative-and-signed-grades", header + "q1\td1\t-1\nq1\td2\t+2\n", kOk, 0, {}},
      {"crlf", "query-id\tcorpus-id\tscore\r\nq1\td1\t1\r\n", kOk, 0, {}},
  };
  run_file_cases("test.tsv", cases, [](const std::string& path) { data::read_beir_qrels(path); });
  // The format-detecting reader gives the same errors, except that a first line which is
  // neither the BEIR header nor a TREC line says both were expected.
  for (FileCase& c : cases) {
    if (c.name == "missing-header" || c.name == "header-with-spaces" ||
        c.name == "header-in-other-order") {
      c.parts = {"expected the BEIR qrels header 'query-id<TAB>corpus-id<TAB>score' or a TREC"};
    }
  }
  run_file_cases("auto.tsv", cases, [](const std::string& path) { data::read_qrels(path); });
}

TEST(DatasetFormatDetection, Catalogue) {
  // Paths whose extension or first line cannot say the format.
  run_file_cases(
      "corpus.txt",
      {{"unknown-extension", kGood, Expect::kConfigError, 0, {"cannot detect the corpus format"}}},
      [](const std::string& path) { data::load_corpus(path); });
  run_file_cases("corpus.tsv",
                 {{"empty-tsv", "", kData, 0, {"empty file", "DPR"}},
                  {"blank-tsv", "\n\n", kData, 0, {"no records"}},
                  {"jsonl-in-a-tsv", kGood, kData, 1, {"expected 2 tab-separated columns"}}},
                 [](const std::string& path) { data::load_corpus(path); });
  // A format name that is not one of the four (the config's Choice refuses it earlier; a caller
  // passing one anyway gets a ConfigError saying the name).
  const std::string corpus = write_bytes("corpus.jsonl", kGood);
  expect_outcome([&] { data::load_corpus(corpus, "parquet"); }, Expect::kConfigError,
                 {"unknown corpus format 'parquet'"});
  run_file_cases("queries.csv",
                 {{"unknown-query-extension",
                   "q1,what\n",
                   Expect::kConfigError,
                   0,
                   {"cannot detect the query file format"}}},
                 [](const std::string& path) { data::load_queries(path); });
  run_file_cases(
      "qrels.txt",
      {{"neither-beir-nor-trec",
        "q1 d1 1\n",
        kData,
        1,
        {"expected the BEIR qrels header", "found 'q1 d1 1'"}},
       {"jsonl-qrels", R"({"q1": {"d1": 1}})", kData, 1, {"expected the BEIR qrels header"}},
       {"empty-qrels", "", kData, 0, {"empty file"}}},
      [](const std::string& path) { data::read_qrels(path); });
}

TEST(AnswerFiles, Catalogue) {
  const std::string a1 = R"({"_id": "q1", "answers": ["Paris"]})"
                         "\n";
  const std::vector<FileCase> cases = {
      {"empty", "", kData, 0, {"empty file", "\"answers\""}},
      {"truncated-last-line", a1 + R"({"_id": "q2", "answers": ["Ber)", kData, 2, {"bad JSON"}},
      {"not-json", "q1\tParis\n", kData, 1, {"bad JSON"}},
      {"missing-answers", R"({"_id": "q1"})", kData, 1, {"missing field 'answers'"}},
      {"answers-is-string",
       R"({"_id": "q1", "answers": "Paris"})",
       kData,
       1,
       {"field 'answers' must be an array of strings, found string"}},
      {"answers-is-null", R"({"_id": "q1", "answers": null})", kData, 1, {"found null"}},
      {"answer-is-number",
       R"({"_id": "q1", "answers": ["Paris", 1889]})",
       kData,
       1,
       {"element 1 is number"}},
      {"answer-is-list",
       R"({"_id": "q1", "answers": [["Paris"]]})",
       kData,
       1,
       {"element 0 is array"}},
      {"missing-id", R"({"answers": ["Paris"]})", kData, 1, {"missing field '_id'"}},
      {"id-is-float", R"({"_id": 0.5, "answers": []})", kData, 1, {"field '_id' must be a string"}},
      {"duplicate-id",
       a1 +
           R"({"_id": "q2", "answers": []})"
           "\n" +
           a1,
       kData,
       3,
       {"duplicate id 'q1'", "first defined at line 1"}},
      {"invalid-utf8",
       "{\"_id\": \"q1\", \"answers\": [\"Par\xEDs\"]}\n",
       kData,
       1,
       {"invalid UTF-8"}},
      {"empty-list", R"({"_id": "q1", "answers": []})", kOk, 0, {}},
  };
  run_file_cases("answers.jsonl", cases, [](const std::string& path) { data::read_answers(path); });
}

TEST(PseudoQueryFiles, Catalogue) {
  run_file_cases("pseudo_queries.jsonl",
                 {
                     {"empty", "", kData, 0, {"empty file", "\"pseudo_queries\""}},
                     {"wrong-field-name",
                      R"({"_id": "d1", "queries": ["a"]})",
                      kData,
                      1,
                      {"missing field 'pseudo_queries'"}},
                     {"object-for-list",
                      R"({"_id": "d1", "pseudo_queries": {"a": 1}})",
                      kData,
                      1,
                      {"must be an array of strings, found object"}},
                     {"id-with-space",
                      R"({"_id": "d 1", "pseudo_queries": []})",
                      kData,
                      1,
                      {"contains whitespace"}},
                     {"duplicate-id",
                      R"({"_id": "d1", "pseudo_queries": []})"
                      "\n"
                      R"({"_id": "d1", "pseudo_queries": ["b"]})",
                      kData,
                      2,
                      {"duplicate id 'd1'"}},
                 },
                 [](const std::string& path) { data::read_pseudo_queries(path); });
}

}  // namespace
}  // namespace dgr::robustness
