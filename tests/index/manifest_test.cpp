// The index directory: manifest round trip, shard files, and errors that name the file when a
// shard is missing, truncated or corrupt.
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

  // Two shards over 5 passages, written like the indexer does.
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
