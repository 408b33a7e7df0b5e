// The index directory: manifest round trip (with the counts of the view start markers, and an
// older manifest without them, counted from the shards), shard files, and errors that name the
// file when a shard is missing, truncated or corrupt.
#include "core/index/manifest.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/util/error.h"
#include "core/util/files.h"
#include "core/util/hash.h"

namespace dgr::index {
namespace {

namespace fs = std::filesystem;

class IndexDirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::path(DGR_TEST_TMP_DIR) /
            ("index-dir-" +
             std::string(::testing::UnitTest::GetInstance()->current_test_info()->name())))
               .string();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }

  // Two shards over 5 passages, written like the indexer does, with the view start markers of
  // markers(): title start 5 (in passages 0 and 3: 2), pseudo-query start 7 (not an indexed
  // view: 0).
  static ViewMarkers markers() { return ViewMarkers{{5}, {}, {7}, {}}; }
  Manifest write_index() {
    std::vector<PassageSegments> a = {{{5, 6, 7}}, {{6, 7}}, {{9}}};
    std::vector<PassageSegments> b = {{{5, 6}}, {{7, 7, 7}, {8}}};
    Manifest m;
    m.tokenizer_hash = "t";
    m.corpus = "corpus.jsonl";
    m.corpus_hash = "c";
    m.config_hash = "h";
    m.num_passages = 5;
    uint32_t first = 0;
    int s = 0;
    for (auto* passages : {&a, &b}) {
      FmIndex index = FmIndex::build(*passages);
      std::vector<std::string> ids;
      for (size_t i = 0; i < passages->size(); ++i)
        ids.push_back("p" + std::to_string(first + i));
      std::string file = "shard-0000" + std::to_string(s++) + ".fmi";
      write_shard(dir_ + "/" + file, index, ids);
      m.shards.push_back({file, first, static_cast<uint32_t>(passages->size()), index.num_tokens(),
                          fs::file_size(dir_ + "/" + file), sha256_file(dir_ + "/" + file)});
      m.num_tokens += index.num_tokens();
      const ViewStarts starts = count_view_starts(index, m.views, markers());
      m.title_starts += starts.title;
      m.pq_starts += starts.pq;
      first += static_cast<uint32_t>(passages->size());
    }
    m.write(dir_ + "/manifest.yaml");
    return m;
  }

  template <class E>
  std::string error_of(const std::function<void()>& fn) {
    try {
      fn();
    } catch (const E& e) {
      return e.what();
    }
    ADD_FAILURE() << "expected exception not thrown";
    return "";
  }

  std::string dir_;
};

TEST_F(IndexDirectoryTest, ManifestRoundTrips) {
  Manifest written = write_index();
  Manifest read = Manifest::read(dir_ + "/manifest.yaml");
  EXPECT_EQ(read.num_passages, 5u);
  EXPECT_EQ(read.num_tokens, written.num_tokens);
  ASSERT_EQ(read.shards.size(), 2u);
  EXPECT_EQ(read.shards[1].first_passage, 3u);
  EXPECT_EQ(read.shards[1].sha256, written.shards[1].sha256);
  EXPECT_EQ(read.views.title_end, " @@");
  EXPECT_EQ(view_names(read.views), (std::vector<std::string>{"title", "body"}));
  EXPECT_TRUE(read.view_starts_known);
  EXPECT_EQ(written.title_starts, 2u);
  EXPECT_EQ(read.title_starts, 2u);
  EXPECT_EQ(read.pq_starts, 0u);
}

TEST_F(IndexDirectoryTest, ViewStartsCountTheMarkersOfIndexedViewsOnly) {
  // Segments {5 6 7} {6 7} {7 7 7} {8}: 5 occurs once, 7 five times, 7 7 twice.
  const FmIndex index = FmIndex::build({{{5, 6, 7}}, {{6, 7}}, {{7, 7, 7}, {8}}});
  ViewOptions views;
  views.pseudo_queries = true;
  ViewStarts starts = count_view_starts(index, views, markers());
  EXPECT_EQ(starts.title, 1u);
  EXPECT_EQ(starts.pq, 5u);
  starts = count_view_starts(index, views, ViewMarkers{{5}, {}, {7, 7}, {}});
  EXPECT_EQ(starts.pq, 2u);
  // A view the index lacks, or an empty marker (count({}) is every position): 0.
  views.pseudo_queries = false;
  EXPECT_EQ(count_view_starts(index, views, markers()).pq, 0u);
  views.title = false;
  EXPECT_EQ(count_view_starts(index, views, markers()).title, 0u);
  views.title = true;
  EXPECT_EQ(count_view_starts(index, views, ViewMarkers{}).title, 0u);
}

TEST_F(IndexDirectoryTest, ManifestWithoutViewStartsReadsAndCountsThemFromTheShards) {
  write_index();
  const std::string path = dir_ + "/manifest.yaml";
  std::string text = read_file(path);
  for (const std::string line : {"title_starts: 2\n", "pq_starts: 0\n"}) {
    const size_t at = text.find(line);
    ASSERT_NE(at, std::string::npos) << line << " not in\n" << text;
    text.erase(at, line.size());
  }
  // An older index with the pseudo-query view: its start marker 7 occurs 5 times.
  const std::string views = "views: [title, body]";
  ASSERT_NE(text.find(views), std::string::npos) << text;
  text.replace(text.find(views), views.size(), "views: [title, body, pseudo_queries]");
  std::ofstream(path, std::ios::trunc) << text;

  Manifest read = Manifest::read(path);
  EXPECT_FALSE(read.view_starts_known);
  EXPECT_EQ(read.title_starts, 0u);
  EXPECT_EQ(read.pq_starts, 0u);
  EXPECT_EQ(load_index_directory(dir_).manifest.view_starts_known, false);
  // Written back unknown, they stay absent rather than turning into zeros.
  read.write(dir_ + "/copy.yaml");
  EXPECT_EQ(read_file(dir_ + "/copy.yaml").find("_starts"), std::string::npos);

  fill_view_starts(dir_, read, markers());
  EXPECT_TRUE(read.view_starts_known);
  EXPECT_EQ(read.title_starts, 2u);
  EXPECT_EQ(read.pq_starts, 5u);
  read.write(path);
  const Manifest again = Manifest::read(path);
  EXPECT_TRUE(again.view_starts_known);
  EXPECT_EQ(again.title_starts, 2u);
  EXPECT_EQ(again.pq_starts, 5u);
  // Known counts are kept as they are.
  Manifest known = again;
  known.title_starts = 77;
  fill_view_starts(dir_, known, markers());
  EXPECT_EQ(known.title_starts, 77u);
}

TEST_F(IndexDirectoryTest, ViewStartsComeInPairs) {
  write_index();
  const std::string path = dir_ + "/manifest.yaml";
  const std::string text = read_file(path);
  const std::string line = "pq_starts: 0\n";
  ASSERT_NE(text.find(line), std::string::npos) << text;
  std::string without = text;
  without.erase(without.find(line), line.size());
  std::ofstream(path, std::ios::trunc) << without;
  std::string message = error_of<DataError>([&] { Manifest::read(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("'title_starts' without 'pq_starts'"), std::string::npos) << message;
  std::string negative = text;
  negative.replace(negative.find(line), line.size(), "pq_starts: -3\n");
  std::ofstream(path, std::ios::trunc) << negative;
  message = error_of<DataError>([&] { Manifest::read(path); });
  EXPECT_NE(message.find("pq_starts"), std::string::npos) << message;
}

TEST_F(IndexDirectoryTest, LoadedShardsAnswerWithGlobalPassageIds) {
  write_index();
  IndexDirectory loaded = load_index_directory(dir_);
  EXPECT_EQ(loaded.passage_ids, (std::vector<std::string>{"p0", "p1", "p2", "p3", "p4"}));
  EXPECT_EQ(loaded.index.count({6, 7}), 2u);
  EXPECT_EQ(loaded.index.passages(std::vector<TokenId>{5, 6}, 10), (std::vector<uint32_t>{0, 3}));
  EXPECT_EQ(loaded.index.count({7, 7}), 2u);
}

TEST_F(IndexDirectoryTest, MissingShardIsNamed) {
  write_index();
  fs::remove(dir_ + "/shard-00001.fmi");
  std::string message = error_of<IoError>([&] { load_index_directory(dir_); });
  EXPECT_NE(message.find("shard-00001.fmi"), std::string::npos) << message;
  EXPECT_NE(message.find("missing"), std::string::npos) << message;
}

TEST_F(IndexDirectoryTest, TruncatedShardIsNamed) {
  write_index();
  std::string path = dir_ + "/shard-00000.fmi";
  fs::resize_file(path, fs::file_size(path) - 7);
  std::string message = error_of<DataError>([&] { load_index_directory(dir_); });
  EXPECT_NE(message.find("shard-00000.fmi"), std::string::npos) << message;
  // Without the manifest's size check, the shard's own header catches it.
  message = error_of<DataError>([&] { read_shard(path); });
  EXPECT_NE(message.find("truncated"), std::string::npos) << message;
}

TEST_F(IndexDirectoryTest, CorruptShardIsNamed) {
  write_index();
  std::string path = dir_ + "/shard-00000.fmi";
  std::string bytes = read_file(path);
  bytes[bytes.size() / 2] ^= 0x5a;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  std::string message = error_of<DataError>([&] { load_index_directory(dir_); });
  EXPECT_NE(message.find("shard-00000.fmi"), std::string::npos) << message;
  EXPECT_NE(message.find("checksum"), std::string::npos) << message;
}

TEST_F(IndexDirectoryTest, GarbageShardIsADataErrorNotACrash) {
  std::string path = dir_ + "/garbage.fmi";
  std::ofstream(path, std::ios::binary) << std::string(200, '\x07');
  EXPECT_THROW(read_shard(path), DataError);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << "DGR";
  EXPECT_THROW(read_shard(path), DataError);
}

TEST_F(IndexDirectoryTest, ManifestErrorsNameTheFile) {
  write_index();
  std::string path = dir_ + "/manifest.yaml";
  std::string text = read_file(path);
  std::ofstream(path, std::ios::trunc) << "format_version: 99\n";
  std::string message = error_of<DataError>([&] { Manifest::read(path); });
  EXPECT_NE(message.find("version 99"), std::string::npos) << message;
  std::ofstream(path, std::ios::trunc) << "format_version: 2\n";
  message = error_of<DataError>([&] { Manifest::read(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("lacks key"), std::string::npos) << message;
  EXPECT_THROW(Manifest::read(dir_ + "/nothing/manifest.yaml"), IoError);
}

}  // namespace
}  // namespace dgr::index
