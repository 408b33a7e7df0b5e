#include "data/tsv_corpus.h"

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

TEST(DprCorpus, ReadsIdTextTitleAfterTheHeader) {
  const Corpus corpus = read_tsv_corpus(
      write_file("psgs.tsv", "id\ttext\ttitle\n1\tAaron is a prophet.\tAaron\n2\tsecond\t\n"),
      TsvCorpusFormat::kDpr);
  ASSERT_EQ(corpus.size(), 2u);
  EXPECT_EQ(corpus[0].id, "1");
  EXPECT_EQ(corpus[0].text, "Aaron is a prophet.");
  EXPECT_EQ(corpus[0].title, "Aaron");
  EXPECT_EQ(corpus[1].title, "");
}

TEST(DprCorpus, UnquotesCsvQuotedFields) {
  const Corpus corpus = read_tsv_corpus(
      write_file("psgs.tsv",
                 "id\ttext\ttitle\n1\t\"Aaron ( or ; \"\"Ah\xC3\xA4r\xC3\xB4n\"\") is\"\tAaron\n"
                 "2\t\"with\ta tab\"\t\"Quoted \"\"Title\"\"\"\n"),
      TsvCorpusFormat::kDpr);
  EXPECT_EQ(corpus[0].text, "Aaron ( or ; \"Ah\xC3\xA4r\xC3\xB4n\") is");
  EXPECT_EQ(corpus[1].text, "with\ta tab");
  EXPECT_EQ(corpus[1].title, "Quoted \"Title\"");
}

TEST(DprCorpus, MissingHeaderIsDataError) {
  const std::string path = write_file("psgs.tsv", "1\ttext\ttitle\n");
  expect_error<DataError>([&] { read_tsv_corpus(path, TsvCorpusFormat::kDpr); },
                          {path + ":1:", "expected the DPR header"});
}

TEST(DprCorpus, WrongColumnCountIsDataError) {
  const std::string path = write_file("psgs.tsv", "id\ttext\ttitle\n1\tonly text\n");
  expect_error<DataError>([&] { read_tsv_corpus(path, TsvCorpusFormat::kDpr); },
                          {path + ":2:", "expected 3 tab-separated columns", "found 2"});
}

TEST(DprCorpus, BadQuotingIsDataError) {
  const std::string open = write_file("open.tsv", "id\ttext\ttitle\n1\t\"never closed\tt\n");
  expect_error<DataError>([&] { read_tsv_corpus(open, TsvCorpusFormat::kDpr); },
                          {open + ":2:", "unterminated quoted field"});
  const std::string after = write_file("after.tsv", "id\ttext\ttitle\n1\t\"q\"x\tt\n");
  expect_error<DataError>([&] { read_tsv_corpus(after, TsvCorpusFormat::kDpr); },
                          {after + ":2:", "after the closing quote"});
}

TEST(DprCorpus, DuplicateIdNamesBothLines) {
  const std::string path = write_file("psgs.tsv", "id\ttext\ttitle\n1\ta\tA\n1\tb\tB\n");
  expect_error<DataError>([&] { read_tsv_corpus(path, TsvCorpusFormat::kDpr); },
                          {path + ":3:", "duplicate passage id '1'", "line 2"});
}

TEST(DprCorpus, HeaderOnlyFileIsDataError) {
  const std::string path = write_file("psgs.tsv", "id\ttext\ttitle\n");
  expect_error<DataError>([&] { read_tsv_corpus(path, TsvCorpusFormat::kDpr); },
                          {path + ": no records after the header"});
}

TEST(MsMarcoCollection, ReadsPidAndTextWithoutHeaderOrQuoting) {
  const Corpus corpus = read_tsv_corpus(
      write_file("collection.tsv", "0\t\"quoted\" stays as is\n7\tit\xC3\xA2\xC2\x80\xC2\x99s\n"),
      TsvCorpusFormat::kMsMarco);
  ASSERT_EQ(corpus.size(), 2u);
  EXPECT_EQ(corpus[0].text, "\"quoted\" stays as is");
  EXPECT_EQ(corpus[0].title, "");
  EXPECT_EQ(corpus[1].id, "7");
}

TEST(MsMarcoCollection, WrongColumnCountIsDataError) {
  const std::string path = write_file("collection.tsv", "0\ta\n1\tb\textra\n");
  expect_error<DataError>([&] { read_tsv_corpus(path, TsvCorpusFormat::kMsMarco); },
                          {path + ":2:", "expected 2 tab-separated columns, found 3"});
}

TEST(MsMarcoCollection, InvalidUtf8IsDataErrorWithByteColumn) {
  const std::string path = write_file("collection.tsv", "0\tok\n1\tbad \xC0\xAF\n");
  expect_error<DataError>([&] { read_tsv_corpus(path, TsvCorpusFormat::kMsMarco); },
                          {path + ":2:", "invalid UTF-8 at byte column 7"});
}

TEST(MsMarcoCollection, EmptyIdAndEmptyFileAreDataErrors) {
  const std::string no_id = write_file("noid.tsv", "\ttext\n");
  expect_error<DataError>([&] { read_tsv_corpus(no_id, TsvCorpusFormat::kMsMarco); },
                          {no_id + ":1:", "empty passage id"});
  const std::string empty = write_file("empty.tsv", "");
  expect_error<DataError>([&] { read_tsv_corpus(empty, TsvCorpusFormat::kMsMarco); },
                          {empty + ": empty file, expected", "pid<TAB>text"});
}

TEST(TsvQueries, ReadsQidAndText) {
  const Queries queries = read_tsv_queries(write_file("queries.tsv", "1048585\twhat is x\n2\ty\n"));
  ASSERT_EQ(queries.size(), 2u);
  EXPECT_EQ(queries[0].id, "1048585");
  EXPECT_EQ(queries.find("2"), 1u);
}

TEST(TsvQueries, DuplicateIdIsDataError) {
  const std::string path = write_file("queries.tsv", "1\ta\n1\tb\n");
  expect_error<DataError>([&] { read_tsv_queries(path); },
                          {path + ":2:", "duplicate query id '1'", "line 1"});
}

}  // namespace
}  // namespace dgr::data
