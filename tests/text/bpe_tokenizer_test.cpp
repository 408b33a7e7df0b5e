#include "core/text/bpe_tokenizer.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "core/text/byte_level.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "core/util/hash.h"

namespace dgr::text {
namespace {

const std::string kBartDir = std::string(DGR_SHARED_DATA_DIR) + "/tokenizer/bart";

const BpeTokenizer& bart() {
  static const BpeTokenizer tokenizer = BpeTokenizer::load(kBartDir);
  return tokenizer;
}

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << path;
  std::vector<nlohmann::json> rows;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
  }
  return rows;
}

TEST(BpeTokenizerBart, LoadsTheVocabularyAndSpecialTokens) {
  const BpeTokenizer& t = bart();
  EXPECT_EQ(t.vocab_size(), 50265);
  EXPECT_EQ(t.merges_size(), 50000);
  EXPECT_EQ(t.bos_id(), 0);
  EXPECT_EQ(t.pad_id(), 1);
  EXPECT_EQ(t.eos_id(), 2);
  EXPECT_EQ(t.unk_id(), 3);
  EXPECT_EQ(t.token_to_id("<mask>"), 50264);
  EXPECT_EQ(t.token_to_id("\xC4\xA0the"), 5);  // "Ġthe"
  EXPECT_EQ(t.token_to_id("no such token"), -1);
  EXPECT_EQ(t.id_to_token(5), "\xC4\xA0the");
  EXPECT_EQ(t.id_to_token(-1), "");
  EXPECT_EQ(t.id_to_token(50265), "");
}

TEST(BpeTokenizerBart, HashCoversVocabThenMerges) {
  const std::string expected =
      sha256_hex(read_file(kBartDir + "/vocab.json") + read_file(kBartDir + "/merges.txt"));
  EXPECT_EQ(bart().hash(), expected);
}

TEST(BpeTokenizerBart, EncodesEveryParityLineExactly) {
  const auto rows = read_jsonl(kBartDir + "/expected_ids.jsonl");
  ASSERT_EQ(rows.size(), 68u);
  for (const auto& row : rows) {
    const std::string text = row["text"];
    const auto expected = row["ids"].get<std::vector<TokenId>>();
    EXPECT_EQ(bart().encode(text), expected) << nlohmann::json(text).dump();
    // A second time, from the cache.
    EXPECT_EQ(bart().encode(text), expected) << nlohmann::json(text).dump();
  }
}

TEST(BpeTokenizerBart, EncodesWithoutTheCacheToo) {
  BpeTokenizer t = BpeTokenizer::load(kBartDir);
  t.set_cache_capacity(0);
  for (const auto& row : read_jsonl(kBartDir + "/expected_ids.jsonl")) {
    const std::string text = row["text"];
    EXPECT_EQ(t.encode(text), row["ids"].get<std::vector<TokenId>>())
        << nlohmann::json(text).dump();
  }
}

TEST(BpeTokenizerBart, DecodeInvertsEncodeOnEveryParityLine) {
  for (const auto& row : read_jsonl(kBartDir + "/expected_ids.jsonl")) {
    const std::string text = row["text"];
    EXPECT_EQ(bart().decode(bart().encode(text)), text) << nlohmann::json(text).dump();
  }
}

TEST(BpeTokenizerBart, DecodesEveryDecodeFixtureRow) {
  const auto rows = read_jsonl(kBartDir + "/expected_decode.jsonl");
  ASSERT_EQ(rows.size(), 13u);
  for (const auto& row : rows) {
    const auto ids = row["ids"].get<std::vector<TokenId>>();
    const std::string text = row["text"];
    EXPECT_EQ(bart().decode(ids), text) << row.dump();
    if (row["roundtrip"].get<bool>()) {
      EXPECT_EQ(bart().encode(text), ids) << row.dump();
    }
  }
}

TEST(BpeTokenizerBart, DecodesSpecialTokensToTheirText) {
  const BpeTokenizer& t = bart();
  std::vector<TokenId> ids = {t.bos_id()};
  for (TokenId id : t.encode("Hello"))
    ids.push_back(id);
  ids.push_back(t.eos_id());
  ids.push_back(t.token_to_id("<mask>"));
  EXPECT_EQ(t.decode(ids), "<s>Hello</s><mask>");
}

TEST(BpeTokenizerBart, EncodeDoesNotParseSpecialTokens) {
  const auto ids = bart().encode("<s>");
  EXPECT_GT(ids.size(), 1u);
  EXPECT_EQ(bart().decode(ids), "<s>");
}

TEST(BpeTokenizerBart, DecodeRejectsUnknownIds) {
  EXPECT_THROW(bart().decode({50265}), DataError);
  EXPECT_THROW(bart().decode({-1}), DataError);
}

TEST(BpeTokenizerBart, InvalidUtf8IsEncodedByteByByte) {
  const std::string text = "ab\xFF\xC3 cd\xE2\x82";
  const auto ids = bart().encode(text);
  EXPECT_EQ(bart().decode(ids), "ab\xEF\xBF\xBD\xEF\xBF\xBD cd\xEF\xBF\xBD");
  std::string bytes;
  for (TokenId id : ids)
    ASSERT_TRUE(symbols_to_bytes(bart().id_to_token(id), &bytes));
  EXPECT_EQ(bytes, text);
}

TEST(BpeTokenizerBart, RoundTripsAVeryLongWord) {
  const std::string letters(300, 'e');
  BpeTokenizer uncached = BpeTokenizer::load(kBartDir);
  uncached.set_cache_capacity(0);
  EXPECT_EQ(uncached.encode(letters), bart().encode(letters));
  EXPECT_EQ(bart().decode(bart().encode(letters)), letters);
}

TEST(BpeTokenizerBart, IsSafeToShareBetweenThreads) {
  BpeTokenizer t = BpeTokenizer::load(kBartDir);
  const auto rows = read_jsonl(kBartDir + "/expected_ids.jsonl");
  std::vector<int> failures(4, 0);
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] {
      for (int round = 0; round < 20; ++round) {
        for (const auto& row : rows) {
          if (t.encode(row["text"].get<std::string>()) != row["ids"].get<std::vector<TokenId>>())
            ++failures[k];
        }
      }
    });
  }
  for (auto& thread : threads)
    thread.join();
  for (int f : failures)
    EXPECT_EQ(f, 0);
}

// A tiny vocabulary: the 256 byte symbols plus whatever `extra` adds.
class MalformedTokenizerFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::string(DGR_TEST_TMP_DIR) + "/bpe-malformed-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    ensure_directory(dir_);
  }

  nlohmann::ordered_json byte_vocab() const {
    nlohmann::ordered_json vocab;
    for (int b = 0; b < 256; ++b)
      vocab[byte_symbol(static_cast<uint8_t>(b))] = b;
    return vocab;
  }

  void write(const std::string& vocab, const std::string& merges) {
    write_file_atomic(dir_ + "/vocab.json", vocab);
    write_file_atomic(dir_ + "/merges.txt", merges);
  }

  // The message of the DataError load throws.
  std::string load_error() {
    try {
      BpeTokenizer::load(dir_);
    } catch (const DataError& e) {
      return e.what();
    }
    ADD_FAILURE() << "no DataError";
    return "";
  }

  std::string dir_;
};

TEST_F(MalformedTokenizerFiles, AcceptsAMinimalValidPair) {
  auto vocab = byte_vocab();
  vocab["ab"] = 256;
  write(vocab.dump(), "#version: 0.2\na b\n");
  BpeTokenizer t = BpeTokenizer::load(dir_);
  EXPECT_EQ(t.encode("abab"), (std::vector<TokenId>{256, 256}));
  EXPECT_EQ(t.encode("aba"), (std::vector<TokenId>{256, 'a'}));
  EXPECT_EQ(t.bos_id(), -1);
}

TEST_F(MalformedTokenizerFiles, MergesLongWordsByRankThenLeftmost) {
  // Words over 64 bytes take the priority-queue path; the short path must agree with it.
  auto vocab = byte_vocab();
  vocab["ab"] = 256;
  vocab["abab"] = 257;
  vocab["aa"] = 258;
  vocab["aaaa"] = 259;
  write(vocab.dump(), "#version: 0.2\na b\nab ab\naa aa\na a\n");
  BpeTokenizer t = BpeTokenizer::load(dir_);
  for (int half : {3, 40}) {  // 6 bytes (short path) and 80 bytes (long path)
    std::string word;
    for (int i = 0; i < half; ++i)
      word += "ab";
    std::vector<TokenId> expected(static_cast<size_t>(half / 2), 257);
    if (half % 2) expected.push_back(256);
    EXPECT_EQ(t.encode(word), expected) << word;
    EXPECT_EQ(t.encode("b" + word), [&] {
      std::vector<TokenId> e = {'b'};
      e.insert(e.end(), expected.begin(), expected.end());
      return e;
    }()) << word;
  }
  for (size_t length : {size_t{7}, size_t{65}}) {
    // "a a" (rank 3) applies leftmost first, then "aa aa" (rank 2) as soon as it can.
    std::vector<TokenId> expected(length / 4, 259);
    if (length % 4 >= 2) expected.push_back(258);
    if (length % 2) expected.push_back('a');
    EXPECT_EQ(t.encode(std::string(length, 'a')), expected) << length;
  }
}

TEST_F(MalformedTokenizerFiles, NamesTheMergesLineOfAPartNotInTheVocabulary) {
  auto vocab = byte_vocab();
  vocab["ab"] = 256;
  write(vocab.dump(), "#version: 0.2\na b\nab zz\n");
  const std::string message = load_error();
  EXPECT_NE(message.find("merges.txt:3:"), std::string::npos) << message;
  EXPECT_NE(message.find("\"zz\""), std::string::npos) << message;
}

TEST_F(MalformedTokenizerFiles, NamesTheMergesLineOfAResultNotInTheVocabulary) {
  write(byte_vocab().dump(), "#version: 0.2\na b\n");
  const std::string message = load_error();
  EXPECT_NE(message.find("merges.txt:2:"), std::string::npos) << message;
  EXPECT_NE(message.find("result \"ab\""), std::string::npos) << message;
}

TEST_F(MalformedTokenizerFiles, NamesTheMergesLineWithoutTwoParts) {
  auto vocab = byte_vocab();
  vocab["ab"] = 256;
  write(vocab.dump(), "#version: 0.2\na b\nabc\n");
  EXPECT_NE(load_error().find("merges.txt:3:"), std::string::npos);
  write(vocab.dump(), "a b c\n");
  EXPECT_NE(load_error().find("merges.txt:1:"), std::string::npos);
  write(vocab.dump(), "a b\na b\n");
  const std::string duplicate = load_error();
  EXPECT_NE(duplicate.find("merges.txt:2: duplicate merge"), std::string::npos) << duplicate;
}

TEST_F(MalformedTokenizerFiles, NamesTheVocabLineOfInvalidJson) {
  write("{\n\"a\": 0,\n\"b\": }\n", "#version: 0.2\n");
  const std::string message = load_error();
  EXPECT_NE(message.find("vocab.json:3:"), std::string::npos) << message;
}

TEST_F(MalformedTokenizerFiles, RejectsBadIdsAndMissingBytes) {
  write("[1, 2]", "");
  EXPECT_NE(load_error().find("vocab.json: expected a JSON object"), std::string::npos);
  auto vocab = byte_vocab();
  vocab["ab"] = "x";
  write(vocab.dump(), "");
  EXPECT_NE(load_error().find("expected an integer"), std::string::npos);
  vocab = byte_vocab();
  vocab["ab"] = 5;
  write(vocab.dump(), "");
  EXPECT_NE(load_error().find("id 5 is given to both"), std::string::npos);
  vocab = byte_vocab();
  vocab.erase(byte_symbol(' '));
  write(vocab.dump(), "");
  EXPECT_NE(load_error().find("no entry for byte 0x20"), std::string::npos);
}

TEST_F(MalformedTokenizerFiles, MissingFilesAreIoErrors) {
  EXPECT_THROW(BpeTokenizer::load(dir_ + "/nowhere"), IoError);
}

TEST(ByteLevel, MapsBytesToPrintableSymbols) {
  EXPECT_EQ(byte_symbol(' '), "\xC4\xA0");   // Ġ U+0120
  EXPECT_EQ(byte_symbol('\n'), "\xC4\x8A");  // Ċ U+010A
  EXPECT_EQ(byte_symbol(0), "\xC4\x80");     // U+0100
  EXPECT_EQ(byte_symbol('a'), "a");
  EXPECT_EQ(byte_symbol(0xAD), "\xC5\x83");  // soft hyphen, the last shifted byte: U+0143
  EXPECT_EQ(byte_symbol(0xE9), "\xC3\xA9");  // é stands for itself
  std::string all;
  for (int b = 0; b < 256; ++b)
    all.push_back(static_cast<char>(b));
  std::string back;
  ASSERT_TRUE(symbols_to_bytes(bytes_to_symbols(all), &back));
  EXPECT_EQ(back, all);
  EXPECT_FALSE(symbols_to_bytes("\xE2\x82\xAC", &back));  // € is not a byte symbol
}

TEST(ByteLevel, LossyUtf8ReplacesEachMaximalInvalidSubpart) {
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(utf8_lossy("plain"), "plain");
  EXPECT_EQ(utf8_lossy("\xE6\x97"), r);                      // truncated 3-byte sequence
  EXPECT_EQ(utf8_lossy("a\xF0\x9F\x98z"), "a" + r + "z");    // truncated 4-byte sequence
  EXPECT_EQ(utf8_lossy("\x80\x80"), r + r);                  // lone continuation bytes
  EXPECT_EQ(utf8_lossy("\xC0\xAF"), r + r);                  // overlong: two subparts
  EXPECT_EQ(utf8_lossy("\xED\xA0\x80"), r + r + r);          // surrogate
  EXPECT_EQ(utf8_lossy("\xF4\x90\x80\x80"), r + r + r + r);  // above U+10FFFF
  EXPECT_EQ(utf8_lossy("\xE2\x82\xAC\xE2\x82"), "\xE2\x82\xAC" + r);
}

}  // namespace
}  // namespace dgr::text
