// The HDF5 helpers and the stage-1 example store: write -> open -> read of random row subsets
// (out of order, repeated) equals the examples in memory; attributes; atomic writes; and every
// failure a reader can meet (missing file, not HDF5, truncated or corrupt bytes, a missing
// dataset, inconsistent lengths or offsets, another format version, a row out of range) is an
// error naming the file.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/util/error.h"
#include "data/hdf5_file.h"
#include "data/stage1_examples.h"
#include "tests/data/test_files.h"

namespace dgr::data {
namespace {

namespace fs = std::filesystem;
using test::expect_error;
using test::test_dir;

std::string describe(const Stage1Example& e) {
  std::ostringstream out;
  out << e.source_id << " " << search::view_name(e.view) << (e.supervised ? " sup [" : " unsup [");
  for (int32_t t : e.source)
    out << t << ",";
  out << "] [";
  for (int32_t t : e.prompt)
    out << t << ",";
  out << "] [";
  for (int32_t t : e.target)
    out << t << ",";
  return out.str() + "]";
}

std::vector<std::string> describe(const std::vector<Stage1Example>& examples) {
  std::vector<std::string> out;
  for (const Stage1Example& e : examples)
    out.push_back(describe(e));
  return out;
}

// Examples of every shape: empty and long sources, empty prompts, ids of varying length
// (empty and non-ASCII included), token ids up to the BART vocabulary's.
std::vector<Stage1Example> synthetic_examples(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto tokens = [&](size_t max_length) {
    std::vector<int32_t> out(rng() % (max_length + 1));
    for (int32_t& t : out)
      t = static_cast<int32_t>(rng() % 50265);
    return out;
  };
  std::vector<Stage1Example> examples(n);
  for (size_t i = 0; i < n; ++i) {
    Stage1Example& e = examples[i];
    e.source_id =
        i % 97 == 0 ? "" : (i % 13 == 0 ? "quérÿ-" : "q") + std::to_string(rng() % 100000);
    e.view = static_cast<search::View>(rng() % 3);
    e.supervised = rng() % 2 == 0;
    e.source = tokens(70);
    e.prompt = e.view == search::View::kBody ? std::vector<int32_t>{} : std::vector<int32_t>{2};
    e.target = tokens(16);
  }
  return examples;
}

std::vector<uint64_t> all_rows(size_t n) {
  std::vector<uint64_t> rows(n);
  for (uint64_t r = 0; r < n; ++r)
    rows[r] = r;
  return rows;
}

std::vector<Stage1Example> pick(const std::vector<Stage1Example>& examples,
                                const std::vector<uint64_t>& rows) {
  std::vector<Stage1Example> out;
  for (uint64_t r : rows)
    out.push_back(examples[r]);
  return out;
}

std::string write_store(const std::vector<Stage1Example>& examples,
                        const std::string& name = "store.h5") {
  const std::string path = test_dir() + "/" + name;
  write_stage1_examples(path, examples, {{"tokenizer_hash", "abc"}, {"config_hash", "def"}});
  return path;
}

TEST(Stage1Store, WriteOpenReadRandomSubsetsEqualsMemory) {
  // 6000 examples: ~210k source tokens, so the token datasets span several 64Ki chunks.
  const auto examples = synthetic_examples(6000, 7);
  const std::string path = write_store(examples);
  const Stage1ExampleFile file = Stage1ExampleFile::open(path);
  ASSERT_EQ(file.size(), examples.size());
  EXPECT_EQ(file.path(), path);
  EXPECT_EQ(describe(file.read(all_rows(examples.size()))), describe(examples));

  std::mt19937_64 rng(3);
  for (size_t batch : {1u, 8u, 64u, 500u}) {
    for (int trial = 0; trial < 5; ++trial) {
      std::vector<uint64_t> rows(batch);
      for (uint64_t& r : rows)
        r = rng() % examples.size();  // out of order, repeats possible
      EXPECT_EQ(describe(file.read(rows)), describe(pick(examples, rows)));
    }
  }
  const std::vector<uint64_t> repeated = {5, 5, 0, 5999, 5, 1, 0};
  EXPECT_EQ(describe(file.read(repeated)), describe(pick(examples, repeated)));
  EXPECT_TRUE(file.read({}).empty());
}

TEST(Stage1Store, AttributesHoldTheCallersAndTheCounts) {
  auto examples = synthetic_examples(50, 1);
  size_t supervised = 0, titles = 0;
  for (const auto& e : examples) {
    supervised += e.supervised;
    titles += e.view == search::View::kTitle;
  }
  const Stage1ExampleFile file = Stage1ExampleFile::open(write_store(examples));
  const auto& a = file.attributes();
  EXPECT_EQ(a.at("format_version"), "1");
  EXPECT_EQ(a.at("tokenizer_hash"), "abc");
  EXPECT_EQ(a.at("config_hash"), "def");
  EXPECT_EQ(a.at("num_examples"), "50");
  EXPECT_EQ(a.at("num_supervised"), std::to_string(supervised));
  EXPECT_EQ(a.at("num_unsupervised"), std::to_string(50 - supervised));
  EXPECT_EQ(a.at("num_title"), std::to_string(titles));
  EXPECT_EQ(a.at("created").size(), 20u);  // 2024-01-02T03:04:05Z
  EXPECT_EQ(a.at("created").back(), 'Z');
}

TEST(Stage1Store, EmptyStoreOpensWithNoRows) {
  const Stage1ExampleFile file = Stage1ExampleFile::open(write_store({}));
  EXPECT_EQ(file.size(), 0u);
  EXPECT_TRUE(file.read({}).empty());
  expect_error<DataError>([&] { file.read({0}); }, {"store.h5", "row 0 out of range"});
}

TEST(Stage1Store, WritingIsAtomicAndReplacesAnOldStore) {
  const std::string path = write_store(synthetic_examples(10, 1));
  const auto second = synthetic_examples(20, 2);
  write_store(second);
  for (const auto& entry : fs::directory_iterator(test_dir())) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp."), std::string::npos) << entry.path();
  }
  const Stage1ExampleFile file = Stage1ExampleFile::open(path);
  EXPECT_EQ(describe(file.read(all_rows(20))), describe(second));
  // A store in a directory that does not exist yet.
  const std::string nested = test_dir() + "/a/b/store.h5";
  write_stage1_examples(nested, second, {});
  EXPECT_EQ(Stage1ExampleFile::open(nested).size(), 20u);
}

TEST(Stage1Store, OpenFileIsMovable) {
  const auto examples = synthetic_examples(30, 4);
  Stage1ExampleFile file;
  EXPECT_EQ(file.size(), 0u);
  file = Stage1ExampleFile::open(write_store(examples));
  Stage1ExampleFile moved = std::move(file);
  EXPECT_EQ(moved.size(), 30u);
  EXPECT_EQ(describe(moved.read({29, 3})), describe(pick(examples, {29, 3})));
}

TEST(Stage1Store, ConcurrentReadersAgree) {
  const auto examples = synthetic_examples(3000, 5);
  const Stage1ExampleFile file = Stage1ExampleFile::open(write_store(examples));
  std::vector<int> failures(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(t);
      for (int i = 0; i < 50; ++i) {
        std::vector<uint64_t> rows(16);
        for (uint64_t& r : rows)
          r = rng() % examples.size();
        if (describe(file.read(rows)) != describe(pick(examples, rows))) ++failures[t];
      }
    });
  }
  for (auto& thread : threads)
    thread.join();
  EXPECT_EQ(failures, std::vector<int>(4, 0));
}

TEST(Stage1Store, RowOutOfRangeIsDataErrorNamingTheFile) {
  const std::string path = write_store(synthetic_examples(10, 1));
  const Stage1ExampleFile file = Stage1ExampleFile::open(path);
  expect_error<DataError>(
      [&] {
        file.read({3, 10});
      },
      {path, "row 10 out of range", "10 examples"});
}

TEST(Stage1Store, MissingFileIsIoError) {
  const std::string path = test_dir() + "/absent.h5";
  expect_error<IoError>([&] { Stage1ExampleFile::open(path); }, {path});
}

TEST(Stage1Store, NotAnHdf5FileIsDataError) {
  const std::string path = test::write_file("text.h5", "query-id\tcorpus-id\tscore\n");
  expect_error<DataError>([&] { Stage1ExampleFile::open(path); }, {path, "not an HDF5 file"});
  const std::string empty = test::write_file("empty.h5", "");
  expect_error<DataError>([&] { Stage1ExampleFile::open(empty); }, {empty});
}

TEST(Stage1Store, TruncatedFileIsDataError) {
  const auto examples = synthetic_examples(2000, 9);
  const std::string path = write_store(examples);
  const auto size = fs::file_size(path);
  for (double fraction : {0.9, 0.5, 0.01}) {
    const std::string cut = test_dir() + "/cut.h5";
    fs::copy_file(path, cut, fs::copy_options::overwrite_existing);
    fs::resize_file(cut, static_cast<uintmax_t>(static_cast<double>(size) * fraction));
    expect_error<DataError>(
        [&] {
          const Stage1ExampleFile file = Stage1ExampleFile::open(cut);
          file.read(all_rows(examples.size()));
        },
        {cut});
  }
}

TEST(Stage1Store, CorruptBytesAreDataError) {
  // Compressed chunks fail to inflate; uncompressed data carry no checksum, but the 0xA5 bytes
  // make offsets and token ids that no store holds (negative, out of order).
  const auto examples = synthetic_examples(2000, 9);
  for (int deflate : {4, 0}) {
    const std::string path = test_dir() + "/corrupt-" + std::to_string(deflate) + ".h5";
    write_stage1_examples(path, examples, {}, {65536, deflate});
    const auto size = fs::file_size(path);
    {
      std::fstream out(path, std::ios::in | std::ios::out | std::ios::binary);
      out.seekp(static_cast<std::streamoff>(size / 4));
      const std::string garbage(size / 2, '\xA5');
      out.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
    }
    expect_error<DataError>(
        [&] {
          const Stage1ExampleFile file = Stage1ExampleFile::open(path);
          file.read(all_rows(examples.size()));
        },
        {path});
  }
}

TEST(Stage1Store, CompressedStoreReadsTheSame) {
  const auto examples = synthetic_examples(3000, 11);
  const std::string path = test_dir() + "/deflate.h5";
  write_stage1_examples(path, examples, {}, {4096, 6});
  EXPECT_TRUE(h5::File::open(path).dataset("source/tokens").is_compressed());
  EXPECT_FALSE(h5::File::open(write_store(examples)).dataset("source/tokens").is_compressed());
  for (size_t cache : {size_t{0}, size_t{1} << 20}) {
    const Stage1ExampleFile file = Stage1ExampleFile::open(path, cache);
    const std::vector<uint64_t> rows = {2999, 0, 1500, 1500, 7};
    EXPECT_EQ(describe(file.read(rows)), describe(pick(examples, rows)));
    EXPECT_EQ(describe(file.read(all_rows(examples.size()))), describe(examples));
  }
}

// A store written by hand, so that one part of it can be wrong.
struct HandWritten {
  std::string format_version = "1";
  bool write_target_tokens = true;
  size_t supervised_rows = 3;
  std::vector<int64_t> source_offsets = {0, 2, 2, 5};
  std::vector<uint8_t> views = {0, 1, 2};

  std::string write(const std::string& name) const {
    const std::string path = test_dir() + "/" + name;
    h5::File file = h5::File::create(path);
    file.set_attribute("format_version", format_version);
    file.write_strings("source_id", {"a", "b", "c"});
    file.write("view", views);
    file.write("supervised", std::vector<uint8_t>(supervised_rows, 1));
    file.write("source/offset", source_offsets);
    file.write("source/tokens", std::vector<int32_t>{1, 2, 3, 4, 5});
    file.write("prompt/offset", std::vector<int64_t>{0, 0, 0, 0});
    file.write("prompt/tokens", std::vector<int32_t>{});
    file.write("target/offset", std::vector<int64_t>{0, 1, 2, 3});
    if (write_target_tokens) file.write("target/tokens", std::vector<int32_t>{7, 8, 9});
    file.close();
    return path;
  }
};

TEST(Stage1Store, HandWrittenStoreReads) {
  const std::string path = HandWritten{}.write("good.h5");
  const Stage1ExampleFile file = Stage1ExampleFile::open(path);
  const auto examples = file.read({2, 0, 1});
  ASSERT_EQ(examples.size(), 3u);
  EXPECT_EQ(examples[0].source_id, "c");
  EXPECT_EQ(examples[0].view, search::View::kPseudoQuery);
  EXPECT_EQ(examples[0].source, (std::vector<int32_t>{3, 4, 5}));
  EXPECT_EQ(examples[0].target, (std::vector<int32_t>{9}));
  EXPECT_TRUE(examples[2].source.empty());
}

TEST(Stage1Store, MissingDatasetIsDataErrorNamingIt) {
  HandWritten store;
  store.write_target_tokens = false;
  const std::string path = store.write("missing.h5");
  expect_error<DataError>([&] { Stage1ExampleFile::open(path); },
                          {path, "missing dataset 'target/tokens'"});
}

TEST(Stage1Store, WrongFormatVersionIsDataError) {
  HandWritten store;
  store.format_version = "2";
  const std::string path = store.write("v2.h5");
  expect_error<DataError>([&] { Stage1ExampleFile::open(path); }, {path, "format_version '2'"});
}

TEST(Stage1Store, InconsistentLengthsAreDataErrors) {
  HandWritten short_flags;
  short_flags.supervised_rows = 2;
  const std::string a = short_flags.write("flags.h5");
  expect_error<DataError>([&] { Stage1ExampleFile::open(a); }, {a, "'supervised'", "2 rows"});

  HandWritten overlong;
  overlong.source_offsets = {0, 2, 2, 6};  // 6 != 5 tokens
  const std::string b = overlong.write("ends.h5");
  expect_error<DataError>([&] { Stage1ExampleFile::open(b); }, {b, "source/offset", "ends at 6"});

  HandWritten decreasing;
  decreasing.source_offsets = {0, 4, 1, 5};
  const std::string c = decreasing.write("decreasing.h5");
  const Stage1ExampleFile file = Stage1ExampleFile::open(c);  // only the ends are checked here
  expect_error<DataError>([&] { file.read({1}); }, {c, "source/offset", "corrupt at row 1"});
  EXPECT_EQ(file.read({0})[0].source, (std::vector<int32_t>{1, 2, 3, 4}));

  HandWritten bad_view;
  bad_view.views = {0, 7, 1};
  const std::string d = bad_view.write("view.h5");
  expect_error<DataError>([&] { Stage1ExampleFile::open(d).read({1}); }, {d, "'view'", "7"});
}

TEST(Stage1Store, NotAStageOneStoreIsDataError) {
  const std::string path = test_dir() + "/other.h5";
  h5::File file = h5::File::create(path);
  file.write("x", std::vector<int32_t>{1});
  file.close();
  expect_error<DataError>([&] { Stage1ExampleFile::open(path); },
                          {path, "missing attribute 'format_version'"});
}

// ---------------------------------------------------------------------------------------------
// The helpers on their own.

TEST(Hdf5File, DatasetsOfEveryShapeReadBack) {
  const std::string path = test_dir() + "/helpers.h5";
  {
    h5::File file = h5::File::create(path);
    std::vector<float> matrix(5 * 3);
    for (size_t i = 0; i < matrix.size(); ++i)
      matrix[i] = static_cast<float>(i) * 0.5f;
    file.write("cand/teacher_score", matrix, {5, 3}, h5::WriteOptions{2, 4});
    std::vector<int64_t> big(200000);
    for (size_t i = 0; i < big.size(); ++i)
      big[i] = static_cast<int64_t>(i) * 3 - 7;
    file.write("big", big);
    file.write("raw", std::vector<int8_t>{-1, 0, 1}, {}, h5::WriteOptions{65536, 0});
    file.write_strings("names", {"alpha", "", "ünïcödé", "b"});
    file.set_attribute("empty", "");
    file.set_attribute("text", "héllo\nworld");
    file.set_attribute("text", "replaced");
    file.close();
  }
  const h5::File file = h5::File::open(path);
  EXPECT_TRUE(file.exists("cand/teacher_score"));
  EXPECT_TRUE(file.exists("cand"));
  EXPECT_FALSE(file.exists("cand/label"));
  EXPECT_FALSE(file.exists("keys/offset"));

  const h5::Dataset scores = file.dataset("cand/teacher_score");
  EXPECT_EQ(scores.dims(), (std::vector<uint64_t>{5, 3}));
  EXPECT_TRUE(scores.is_float());
  EXPECT_EQ(scores.read_rows<float>(3, 2), (std::vector<float>{4.5f, 5, 5.5f, 6, 6.5f, 7}));
  EXPECT_EQ(scores.read_all<double>().back(), 7.0);
  expect_error<DataError>([&] { scores.read_rows<float>(4, 2); },
                          {path, "'cand/teacher_score'", "rows [4, 6)"});
  // Ranges of a 2-D dataset are ranges of whole rows.
  EXPECT_EQ(scores.read_ranges<float>({{0, 1}, {3, 5}}),
            (std::vector<float>{0, 0.5f, 1, 4.5f, 5, 5.5f, 6, 6.5f, 7}));
  expect_error<DataError>(
      [&] {
        scores.read_ranges<float>({{4, 6}});
      },
      {path, "'cand/teacher_score'", "[4, 6)", "5 rows"});

  const h5::Dataset big = file.dataset("big", 8 << 20);
  EXPECT_EQ(big.read_points<int64_t>({199999, 0, 70000, 0}),
            (std::vector<int64_t>{599990, -7, 209993, -7}));
  EXPECT_EQ(big.read_ranges<int64_t>({{0, 2}, {5, 5}, {65535, 65538}, {199999, 200000}}),
            (std::vector<int64_t>{-7, -4, 196598, 196601, 196604, 599990}));
  expect_error<DataError>([&] { big.read_points<int64_t>({200000}); }, {path, "'big'", "200000"});
  expect_error<DataError>([&] { big.read_ranges<int64_t>({{5, 9}, {7, 8}}); }, {"ascend"});
  EXPECT_EQ(file.dataset("raw").read_all<int32_t>(), (std::vector<int32_t>{-1, 0, 1}));

  const h5::Dataset names = file.dataset("names");
  EXPECT_TRUE(names.is_string());
  EXPECT_EQ(names.read_strings(), (std::vector<std::string>{"alpha", "", "ünïcödé", "b"}));
  EXPECT_EQ(names.read_strings({3, 2, 3}), (std::vector<std::string>{"b", "ünïcödé", "b"}));

  EXPECT_EQ(file.attribute("text"), "replaced");
  EXPECT_EQ(file.attributes(),
            (std::map<std::string, std::string>{{"empty", ""}, {"text", "replaced"}}));
  expect_error<DataError>([&] { file.attribute("absent"); }, {path, "missing attribute 'absent'"});
  expect_error<DataError>([&] { file.dataset("cand/label"); },
                          {path, "missing dataset 'cand/label'"});
}

TEST(Hdf5File, RaggedArraysReadRowsByOffsets) {
  const std::string path = test_dir() + "/ragged.h5";
  std::vector<std::vector<int32_t>> rows = {{1, 2, 3}, {}, {4}, {5, 6}, {}};
  {
    h5::File file = h5::File::create(path);
    h5::write_ragged(file, "keys", rows.size(),
                     [&](size_t r) -> const std::vector<int32_t>& { return rows[r]; });
    file.close();
  }
  const h5::File file = h5::File::open(path);
  const h5::RaggedDataset keys = h5::RaggedDataset::open(file, "keys");
  EXPECT_EQ(keys.rows(), 5u);
  EXPECT_EQ(keys.total(), 6u);
  EXPECT_EQ(keys.read({0, 1, 2, 3, 4}), rows);
  EXPECT_EQ(keys.read({1, 3}), (std::vector<std::vector<int32_t>>{{}, {5, 6}}));
  expect_error<DataError>([&] { keys.read({5}); }, {path, "keys/offset", "no row 5"});
}

TEST(Hdf5File, CreateInAMissingDirectoryIsIoError) {
  const std::string path = test_dir() + "/no/such/dir/x.h5";
  expect_error<IoError>([&] { h5::File::create(path); }, {path});
}

}  // namespace
}  // namespace dgr::data
