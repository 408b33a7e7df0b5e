// The WordPiece vocabulary builder: the five specials first with fixed ids, every character
// present as itself and as "##c", whole words by frequency (ties in byte order) after BERT's
// normalisation, the size cap and the minimum frequency, the rarest characters dropped when they
// cannot all fit, and a vocabulary that tokenizes its own text without [UNK] (read back from
// vocab.txt).
#include "core/text/wordpiece_vocab.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "core/util/error.h"

namespace dgr::text {
namespace {

using Words = std::vector<std::string>;

const Words kTexts = {
    "The boundary layer on a flat plate separates at high Mach numbers.",
    "Heat transfer in the boundary layer of a cone, at Mach 5.",
    "Élan: the boundary-layer theory (1904) explains separation.",
    "Slender wings at supersonic speeds; the flow is conical.",
};

size_t position(const Words& vocab, const std::string& token) {
  return static_cast<size_t>(std::find(vocab.begin(), vocab.end(), token) - vocab.begin());
}

Words build(const Words& texts, size_t vocab_size, uint64_t min_frequency = 1,
            WordPieceVocabStats* stats = nullptr) {
  WordPieceVocabOptions options;
  options.vocab_size = vocab_size;
  options.min_frequency = min_frequency;
  WordPieceVocabBuilder builder(options);
  for (const std::string& text : texts)
    builder.add(text);
  return builder.build(stats);
}

TEST(WordPieceVocabBuilder, SpecialsComeFirstWithFixedIds) {
  const Words vocab = build(kTexts, 1000);
  ASSERT_GE(vocab.size(), 5u);
  EXPECT_EQ(Words(vocab.begin(), vocab.begin() + 5),
            (Words{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}));
}

TEST(WordPieceVocabBuilder, EveryCharacterIsPresentAloneAndAsContinuation) {
  const Words vocab = build(kTexts, 1000);
  // Lowercased, accents stripped: "É" is seen as "e"; digits and punctuation are characters too.
  for (const std::string c : {"t", "h", "e", "m", "9", "0", ":", "(", ";", "-", "."}) {
    EXPECT_LT(position(vocab, c), vocab.size()) << c;
    EXPECT_LT(position(vocab, "##" + c), vocab.size()) << c;
  }
  EXPECT_EQ(position(vocab, "T"), vocab.size());
  EXPECT_EQ(position(vocab, "\xc3\x89"), vocab.size());  // "É"
  // No duplicates.
  Words sorted = vocab;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end());
}

TEST(WordPieceVocabBuilder, WholeWordsFollowByFrequencyThenByteOrder) {
  WordPieceVocabStats stats;
  const Words vocab = build(kTexts, 1000, 1, &stats);
  // "the" occurs 4 times (once as "The"), "boundary" 3, "layer" 3, "at" 3, "mach" 2.
  const size_t the = position(vocab, "the");
  const size_t at = position(vocab, "at");
  const size_t boundary = position(vocab, "boundary");
  const size_t layer = position(vocab, "layer");
  const size_t mach = position(vocab, "mach");
  ASSERT_LT(mach, vocab.size());
  EXPECT_LT(the, at);
  EXPECT_LT(at, boundary);  // equal counts: byte order
  EXPECT_LT(boundary, layer);
  EXPECT_LT(layer, mach);
  // Words come after every character.
  EXPECT_GT(the, position(vocab, "##w"));
  EXPECT_EQ(stats.whole_words, vocab.size() - 5 - 2 * stats.characters);
  EXPECT_EQ(stats.characters_dropped, 0u);
  EXPECT_LT(position(vocab, "elan"), vocab.size());  // "Élan" once, accent stripped
}

TEST(WordPieceVocabBuilder, SizeCapAndMinimumFrequencyLimitTheWords) {
  WordPieceVocabStats stats;
  const Words all = build(kTexts, 1000, 1, &stats);
  const size_t base = 5 + 2 * stats.characters;
  const Words capped = build(kTexts, base + 3);
  ASSERT_EQ(capped.size(), base + 3);
  EXPECT_EQ(Words(capped.end() - 3, capped.end()), (Words{"the", "at", "boundary"}));
  EXPECT_EQ(Words(all.begin(), all.begin() + static_cast<long>(base + 3)), capped);
  // min_frequency 3: only words seen at least three times.
  const Words frequent = build(kTexts, 1000, 3);
  EXPECT_EQ(Words(frequent.begin() + static_cast<long>(base), frequent.end()),
            (Words{"the", "at", "boundary", "layer"}));
}

TEST(WordPieceVocabBuilder, RarestCharactersAreDroppedWhenTheyCannotFit) {
  WordPieceVocabStats stats;
  const Words vocab = build({"aaaa bbb cc d"}, 5 + 2 * 3, 1, &stats);
  EXPECT_EQ(vocab, (Words{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "##a", "b", "##b", "c",
                          "##c"}));
  EXPECT_EQ(stats.characters, 4u);
  EXPECT_EQ(stats.characters_dropped, 1u);
  EXPECT_THROW(WordPieceVocabBuilder(WordPieceVocabOptions{4, 1, {}}), ConfigError);
}

TEST(WordPieceVocabBuilder, ItsOwnTextTokenizesWithoutUnknownPieces) {
  // A cap that admits only a few whole words, so most words are spelled in characters.
  WordPieceVocabStats stats;
  build(kTexts, 1000, 1, &stats);
  const Words vocab = build(kTexts, 5 + 2 * stats.characters + 4);
  const std::string path =
      std::string(DGR_TEST_TMP_DIR) + "/wordpiece-vocab-" + std::to_string(::getpid()) + ".txt";
  write_wordpiece_vocab(vocab, path);
  const WordPieceTokenizer tokenizer = WordPieceTokenizer::load(path);
  std::filesystem::remove(path);
  ASSERT_EQ(tokenizer.vocab_size(), static_cast<int32_t>(vocab.size()));
  for (const std::string& text : kTexts) {
    const Words pieces = tokenizer.tokenize(text);
    EXPECT_EQ(std::count(pieces.begin(), pieces.end(), "[UNK]"), 0) << text;
  }
  const Words pieces = tokenizer.tokenize("The slender cone");
  EXPECT_EQ(pieces, (Words{"the", "s", "##l", "##e", "##n", "##d", "##e", "##r", "c", "##o", "##n",
                           "##e"}));
  // A character never seen is [UNK].
  EXPECT_EQ(tokenizer.tokenize("zq"), (Words{"[UNK]"}));
}

TEST(WordPieceVocabBuilder, InvalidUtf8IsADataErrorNamingTheSource) {
  WordPieceVocabBuilder builder;
  try {
    builder.add("ok \xff bad", "corpus.jsonl line 7");
    FAIL() << "expected a DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("corpus.jsonl line 7"), std::string::npos) << e.what();
  }
  EXPECT_THROW(write_wordpiece_vocab({"[PAD]", "a\nb"}, "unused.txt"), DataError);
}

}  // namespace
}  // namespace dgr::text
