#include "data/dataset.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "core/util/error.h"
#include "tests/data/test_files.h"

namespace dgr::data {
namespace {

namespace fs = std::filesystem;

using test::expect_error;
using test::test_dir;
using test::write_file;

TEST(LoadCorpus, AutoPicksBeirForJsonl) {
  const Corpus corpus = load_corpus(
      write_file("corpus.jsonl", "{\"_id\": \"a\", \"title\": \"T\", \"text\": \"x\"}\n"));
  ASSERT_EQ(corpus.size(), 1u);
  EXPECT_EQ(corpus[0].title, "T");
}

TEST(LoadCorpus, AutoSniffsDprHeaderInTsv) {
  const std::string path = write_file("psgs.tsv", "\nid\ttext\ttitle\n1\tbody\tTitle\n");
  EXPECT_EQ(resolve_corpus_format(path), CorpusFormat::kDpr);
  const Corpus corpus = load_corpus(path);
  EXPECT_EQ(corpus[0].title, "Title");
}

TEST(LoadCorpus, AutoTakesHeaderlessTsvAsMsMarco) {
  const std::string path = write_file("collection.tsv", "0\tbody zero\n1\tbody one\n");
  EXPECT_EQ(resolve_corpus_format(path), CorpusFormat::kMsMarco);
  EXPECT_EQ(load_corpus(path, "auto").size(), 2u);
}

TEST(LoadCorpus, ExplicitFormatOverridesTheExtension) {
  const std::string path = write_file("corpus.txt", "5\tbody\n");
  EXPECT_EQ(load_corpus(path, "msmarco")[0].id, "5");
}

TEST(LoadCorpus, UnknownFormatOrUndetectableExtensionIsConfigError) {
  const std::string path = write_file("corpus.txt", "5\tbody\n");
  expect_error<ConfigError>([&] { load_corpus(path, "parquet"); },
                            {"unknown corpus format 'parquet'"});
  expect_error<ConfigError>([&] { load_corpus(path); }, {path, "cannot detect the corpus format"});
}

TEST(LoadCorpus, EmptyTsvIsDataErrorAndMissingFileIsIoError) {
  const std::string empty = write_file("empty.tsv", "");
  expect_error<DataError>([&] { load_corpus(empty); }, {empty + ": empty file, expected"});
  const std::string missing = test_dir() + "/missing.tsv";
  expect_error<IoError>([&] { load_corpus(missing); }, {missing});
}

TEST(LoadQueries, PicksTheReaderByExtension) {
  EXPECT_EQ(load_queries(write_file("q.jsonl", "{\"_id\": \"1\", \"text\": \"a\"}\n")).size(), 1u);
  EXPECT_EQ(load_queries(write_file("q.tsv", "1\ta\n2\tb\n")).size(), 2u);
  expect_error<ConfigError>([&] { load_queries(write_file("q.csv", "1,a\n")); }, {"q.csv"});
}

TEST(ReadQrels, DetectsBeirByHeader) {
  const eval::Qrels qrels =
      read_qrels(write_file("test.tsv", "query-id\tcorpus-id\tscore\nq\td\t2\n"));
  EXPECT_EQ(qrels.grade("q", "d"), 2);
}

TEST(ReadQrels, DetectsTrecByFourColumns) {
  const eval::Qrels qrels = read_qrels(write_file("qrels.txt", "q 0 d 3\nq 0 e 0\n"));
  EXPECT_EQ(qrels.size(), 2u);
  EXPECT_EQ(qrels.grade("q", "d"), 3);
}

TEST(ReadQrels, UnrecognisedFirstLineIsDataError) {
  const std::string path = write_file("qrels.tsv", "\nq\td\t1\n");
  expect_error<DataError>([&] { read_qrels(path); },
                          {path + ":2:", "expected the BEIR qrels header", "or a TREC qrels line"});
}

TEST(ReadQrels, ErrorsOfTheDetectedFormatKeepTheirLines) {
  const std::string path = write_file("qrels.txt", "q 0 d 3\nq 0 e x\n");
  expect_error<DataError>([&] { read_qrels(path); }, {path + ":2:", "non-integer relevance"});
}

TEST(ReadQrels, EmptyFileIsDataError) {
  const std::string path = write_file("qrels.tsv", "");
  expect_error<DataError>([&] { read_qrels(path); }, {path + ": empty file, expected"});
}

TEST(ForEachPassage, FilterSelectsRecordsByPositionInEveryFormat) {
  // Blank lines and the DPR header are not records; skipped records are not parsed, so the
  // malformed record 1 is not reported when only records 0 and 2 are wanted.
  const std::vector<std::pair<std::string, std::string>> files = {
      {"c.jsonl",
       "{\"_id\": \"a\", \"text\": \"x\"}\n\nnot json\n{\"_id\": \"c\", \"text\": \"z\"}\n"},
      {"c.tsv", "id\ttext\ttitle\na\tx\tT\nbroken line\nc\tz\tT\n"},
      {"m.tsv", "a\tx\nbroken\tline\twith 3 columns\nc\tz\n"}};
  for (const auto& [name, content] : files) {
    const std::string path = write_file(name, content);
    std::vector<std::string> ids;
    for_each_passage(
        path, "auto", [&](Passage&& p, int64_t) { ids.push_back(p.id); },
        [](size_t record) { return record != 1; });
    EXPECT_EQ(ids, (std::vector<std::string>{"a", "c"})) << name;
    EXPECT_THROW(for_each_passage(path, "auto", [](Passage&&, int64_t) {}), DataError) << name;
  }
}

}  // namespace
}  // namespace dgr::data
