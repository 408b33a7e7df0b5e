#include "core/text/bpe_trainer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/text/bpe_tokenizer.h"
#include "core/util/error.h"
#include "core/util/files.h"

namespace dgr::text {
namespace {

std::string tmp_dir(const std::string& name) {
  return std::string(DGR_TEST_TMP_DIR) + "/bpe-trainer-" + name;
}

// Title and text of the first `limit` Cranfield documents.
std::vector<std::string> cranfield_texts(size_t limit) {
  std::ifstream in(std::string(DGR_SHARED_DATA_DIR) + "/cranfield/corpus.jsonl");
  EXPECT_TRUE(in);
  std::vector<std::string> texts;
  std::string line;
  while (texts.size() < limit && std::getline(in, line)) {
    const auto doc = nlohmann::json::parse(line);
    texts.push_back(doc.value("title", "") + " " + doc.value("text", ""));
  }
  return texts;
}

BpeVocabulary train(const std::vector<std::string>& texts, BpeTrainerOptions options) {
  BpeTrainer trainer(options);
  for (const auto& text : texts)
    trainer.add_text(text);
  return trainer.train();
}

TEST(BpeTrainer, LearnsTheMostFrequentPairsWithTiesToTheSmallestStrings) {
  // Words: "low", " low" x2, " lower", " lowest" ("Ġ" is the space). (l,o) and (o,w) both occur
  // 5 times; "l" < "o" decides. Then (lo,w) 5, (Ġ,low) 4, (Ġlow,e) 2; every other pair once.
  BpeTrainerOptions options;
  options.vocab_size = 1000;
  options.min_frequency = 2;
  const BpeVocabulary v = train({"low low low lower lowest"}, options);
  using Merge = std::pair<std::string, std::string>;
  EXPECT_EQ(v.merges, (std::vector<Merge>{
                          {"l", "o"}, {"lo", "w"}, {"\xC4\xA0", "low"}, {"\xC4\xA0low", "e"}}));
  ASSERT_EQ(v.tokens.size(), 4u + 256 + 4 + 1);
  EXPECT_EQ(v.tokens[0], "<s>");
  EXPECT_EQ(v.tokens[1], "<pad>");
  EXPECT_EQ(v.tokens[2], "</s>");
  EXPECT_EQ(v.tokens[3], "<unk>");
  EXPECT_EQ(v.tokens[4], "\xC4\x80");  // byte 0
  EXPECT_EQ(v.tokens[4 + 'a'], "a");
  EXPECT_EQ(v.tokens[260], "lo");
  EXPECT_EQ(v.tokens[263], "\xC4\xA0lowe");
  EXPECT_EQ(v.tokens.back(), "<mask>");
}

TEST(BpeTrainer, MinFrequencyOneMergesPairsSeenOnce) {
  BpeTrainerOptions options;
  options.vocab_size = 1000;
  options.min_frequency = 1;
  const BpeVocabulary v = train({"low low low lower lowest"}, options);
  // All five words end up whole: " lower" and " lowest" need 1 + 2 more merges.
  EXPECT_EQ(v.merges.size(), 7u);
}

TEST(BpeTrainer, RespectsTheVocabularySize) {
  BpeTrainerOptions options;
  options.vocab_size = 400;
  const auto texts = cranfield_texts(200);
  const BpeVocabulary v = train(texts, options);
  EXPECT_EQ(v.tokens.size(), 400u);
  EXPECT_EQ(v.merges.size(), 400u - 261);
  EXPECT_EQ(v.tokens.back(), "<mask>");
}

TEST(BpeTrainer, WritesFilesBpeTokenizerLoadsAndRoundTrips) {
  BpeTrainerOptions options;
  options.vocab_size = 2000;
  const auto texts = cranfield_texts(400);
  const BpeVocabulary v = train(texts, options);
  const std::string dir = tmp_dir("roundtrip");
  v.write(dir);

  BpeTokenizer t = BpeTokenizer::load(dir);
  EXPECT_EQ(t.vocab_size(), 2000);
  EXPECT_EQ(t.merges_size(), 2000 - 261);
  EXPECT_EQ(t.bos_id(), 0);
  EXPECT_EQ(t.pad_id(), 1);
  EXPECT_EQ(t.eos_id(), 2);
  EXPECT_EQ(t.unk_id(), 3);
  EXPECT_EQ(t.token_to_id("<mask>"), 1999);
  for (const auto& text : texts)
    ASSERT_EQ(t.decode(t.encode(text)), text);
  const std::string unseen =
      "Quantum chromodynamics \xE2\x80\x94 na\xC3\xAFve \xF0\x9F\x98\x80 42!";
  EXPECT_EQ(t.decode(t.encode(unseen)), unseen);

  // Frequent words of the corpus become single tokens.
  for (const char* word : {" the", " of", " flow", " boundary", " layer", " pressure"}) {
    EXPECT_EQ(t.encode(word).size(), 1u) << word;
  }
  // The corpus compresses well below one token per byte.
  size_t bytes = 0, tokens = 0;
  for (const auto& text : texts) {
    bytes += text.size();
    tokens += t.encode(text).size();
  }
  EXPECT_LT(static_cast<double>(tokens), 0.3 * static_cast<double>(bytes));
}

TEST(BpeTrainer, IsDeterministic) {
  BpeTrainerOptions options;
  options.vocab_size = 1500;
  auto texts = cranfield_texts(300);
  const BpeVocabulary first = train(texts, options);
  std::reverse(texts.begin(), texts.end());  // the order of texts does not matter either
  const BpeVocabulary second = train(texts, options);
  first.write(tmp_dir("det-1"));
  second.write(tmp_dir("det-2"));
  EXPECT_EQ(read_file(tmp_dir("det-1") + "/vocab.json"),
            read_file(tmp_dir("det-2") + "/vocab.json"));
  EXPECT_EQ(read_file(tmp_dir("det-1") + "/merges.txt"),
            read_file(tmp_dir("det-2") + "/merges.txt"));
}

TEST(BpeTrainer, StopsWhenNoPairIsFrequentEnough) {
  BpeTrainerOptions options;
  options.vocab_size = 100000;
  options.min_frequency = 50;
  const BpeVocabulary v = train(cranfield_texts(100), options);
  EXPECT_LT(v.tokens.size(), 100000u);
  EXPECT_GT(v.merges.size(), 10u);
  EXPECT_EQ(v.tokens.size(), 261 + v.merges.size());
}

TEST(BpeTrainer, FileFormat) {
  BpeVocabulary v;
  v.tokens = {"<s>", "a\"b", "\xC4\xA0x"};
  v.merges = {{"\xC4\xA0", "x"}};
  EXPECT_EQ(v.vocab_json(), "{\n  \"<s>\": 0,\n  \"a\\\"b\": 1,\n  \"\xC4\xA0x\": 2\n}\n");
  EXPECT_EQ(v.merges_txt(), "#version: 0.2\n\xC4\xA0 x\n");
}

TEST(BpeTrainer, CountsWords) {
  BpeTrainer trainer;
  trainer.add_text("the cat and the dog");
  trainer.add_text("the");
  EXPECT_EQ(trainer.words_seen(), 6);
  EXPECT_EQ(trainer.distinct_words(), 5u);  // "the", " cat", " and", " the", " dog"
}

TEST(BpeTrainer, RejectsInvalidOptions) {
  BpeTrainerOptions options;
  options.vocab_size = 260;
  EXPECT_THROW(BpeTrainer{options}, ConfigError);
  options.vocab_size = 261;
  options.min_frequency = 0;
  EXPECT_THROW(BpeTrainer{options}, ConfigError);
  options.min_frequency = 1;
  EXPECT_NO_THROW(BpeTrainer{options});
}

}  // namespace
}  // namespace dgr::text
