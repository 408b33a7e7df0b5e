// Words of BPE token sequences (where identifier spans may start): a word begins at a token with
// the space marker (or the first token, or after white space), never inside a word or at
// punctuation; words are lowercased letter-and-number runs across tokens; stop words, numbers and
// punctuation are no content words.
#include "core/text/token_words.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/text/stop_words.h"

namespace dgr::text {
namespace {

const std::string kBartDir = std::string(DGR_SHARED_DATA_DIR) + "/tokenizer/bart";

class TokenWordsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (std::filesystem::exists(kBartDir + "/vocab.json")) {
      tokenizer_ = std::make_unique<BpeTokenizer>(BpeTokenizer::load(kBartDir));
    }
  }
  static void TearDownTestSuite() { tokenizer_.reset(); }
  void SetUp() override {
    if (!tokenizer_) GTEST_SKIP() << "BART tokenizer not found under " << kBartDir;
  }

  // (word, content) of `text`, each word checked to begin at a token that starts it.
  std::vector<std::pair<std::string, bool>> words(const std::string& text) const {
    const std::vector<TokenId> tokens = tokenizer_->encode(text);
    std::vector<std::pair<std::string, bool>> out;
    for (const TokenWord& w : TokenWords(*tokenizer_).words(tokens)) {
      EXPECT_LT(w.position, tokens.size());
      out.emplace_back(w.text, w.content);
    }
    return out;
  }

  static std::unique_ptr<BpeTokenizer> tokenizer_;
};

std::unique_ptr<BpeTokenizer> TokenWordsTest::tokenizer_;

TEST_F(TokenWordsTest, WordsBeginAtSpaceMarkedTokensAndSpanTheirPieces) {
  const std::string text = " Aeroelastic models of heated high-speed aircraft.";
  const std::vector<TokenId> tokens = tokenizer_->encode(text);
  const std::vector<TokenWord> found = TokenWords(*tokenizer_).words(tokens);
  // "speed" follows "-" without a space: part of "high-speed", not a word start.
  std::vector<std::string> texts;
  for (const TokenWord& w : found) {
    texts.push_back(w.text);
    EXPECT_EQ(tokenizer_->id_to_token(tokens[w.position]).rfind("\u0120", 0), 0u) << w.text;
  }
  EXPECT_EQ(texts, (std::vector<std::string>{"aeroelastic", "models", "of", "heated", "high",
                                             "aircraft"}));
  // "aeroelastic" is several tokens; the word is read across them, the period left out.
  EXPECT_GT(tokenizer_->encode(" Aeroelastic").size(), 1u);
  EXPECT_EQ(found[0].position, 0u);
  EXPECT_EQ(found[1].position, tokenizer_->encode(" Aeroelastic").size());
}

TEST_F(TokenWordsTest, StopWordsNumbersAndPunctuationAreNoContentWords) {
  EXPECT_EQ(words(" The NASA tests at Mach 2 and 3.5, (see) ..."),
            (std::vector<std::pair<std::string, bool>>{{"the", false},
                                                       {"nasa", true},
                                                       {"tests", true},
                                                       {"at", false},
                                                       {"mach", true},
                                                       {"2", false},
                                                       {"and", false},
                                                       {"3", false}}));
  EXPECT_TRUE(is_english_stop_word("with"));
  EXPECT_FALSE(is_english_stop_word("flow"));
  EXPECT_EQ(english_stop_words().size(), 33u);
}

TEST_F(TokenWordsTest, FirstTokenAndWordsAfterNewlinesBeginWords) {
  // No leading space: the first token still begins a word; after a newline, the word has no
  // space marker but follows white space.
  EXPECT_EQ(words("Shock waves\nboundary layers"),
            (std::vector<std::pair<std::string, bool>>{
                {"shock", true}, {"waves", true}, {"boundary", true}, {"layers", true}}));
  EXPECT_TRUE(words(" ... ;").empty());
  EXPECT_TRUE(TokenWords(*tokenizer_).words({}).empty());
  // Accented letters are letters (kept as they are).
  const auto accented = words(" Économie café");
  ASSERT_EQ(accented.size(), 2u);
  EXPECT_EQ(accented[1].first, "café");
  EXPECT_TRUE(accented[1].second);
}

}  // namespace
}  // namespace dgr::text
