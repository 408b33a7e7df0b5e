#include "core/text/pretokenizer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace dgr::text {
namespace {

std::vector<std::string> pieces(std::string_view text) {
  std::vector<std::string> out;
  for (std::string_view piece : split_gpt2(text))
    out.emplace_back(piece);
  return out;
}

using Pieces = std::vector<std::string>;

TEST(Gpt2PreTokenizer, SplitsWordsWithTheirLeadingSpace) {
  EXPECT_EQ(pieces("Hello world!"), (Pieces{"Hello", " world", "!"}));
  EXPECT_EQ(pieces(" leading"), (Pieces{" leading"}));
  EXPECT_EQ(pieces(""), Pieces{});
}

TEST(Gpt2PreTokenizer, SplitsLowercaseContractionsOnly) {
  EXPECT_EQ(pieces("it's they've we're I'm she'll he'd don't"),
            (Pieces{"it", "'s", " they", "'ve", " we", "'re", " I", "'m", " she", "'ll", " he",
                    "'d", " don", "'t"}));
  EXPECT_EQ(pieces("IT'S I'M"), (Pieces{"IT", "'", "S", " I", "'", "M"}));
  EXPECT_EQ(pieces("'l 'x"), (Pieces{"'", "l", " '", "x"}));
  EXPECT_EQ(pieces("x ''s"), (Pieces{"x", " ''", "s"}));
  EXPECT_EQ(pieces("it\xE2\x80\x99s"), (Pieces{"it", "\xE2\x80\x99", "s"}));  // curly apostrophe
}

TEST(Gpt2PreTokenizer, KeepsDigitRunsApartFromLetters) {
  EXPECT_EQ(pieces("abc123def 456 7.5"), (Pieces{"abc", "123", "def", " 456", " 7", ".", "5"}));
  EXPECT_EQ(pieces("x\xC2\xB2 \xEF\xBC\x91\xEF\xBC\x92"),  // superscript two, fullwidth 1 2
            (Pieces{"x", "\xC2\xB2", " \xEF\xBC\x91\xEF\xBC\x92"}));
}

TEST(Gpt2PreTokenizer, GroupsSymbolRunsWithAnOptionalSpace) {
  EXPECT_EQ(pieces("a ... b?!"), (Pieces{"a", " ...", " b", "?!"}));
  EXPECT_EQ(pieces("(x)"), (Pieces{"(", "x", ")"}));
}

TEST(Gpt2PreTokenizer, MultipleSpacesLeaveTheLastOneToTheNextWord) {
  EXPECT_EQ(pieces("a   b"), (Pieces{"a", "  ", " b"}));
  EXPECT_EQ(pieces("  two"), (Pieces{" ", " two"}));
  EXPECT_EQ(pieces("end  "), (Pieces{"end", "  "}));
  EXPECT_EQ(pieces("a \t b"), (Pieces{"a", " \t", " b"}));
}

TEST(Gpt2PreTokenizer, NewlineRunsSplitBeforeTheLastCharacter) {
  EXPECT_EQ(pieces("a\nb"), (Pieces{"a", "\n", "b"}));
  EXPECT_EQ(pieces("a\n\n\nb"), (Pieces{"a", "\n\n", "\n", "b"}));
  EXPECT_EQ(pieces("a\r\nb"), (Pieces{"a", "\r", "\n", "b"}));
  EXPECT_EQ(pieces("a \n b"), (Pieces{"a", " \n", " b"}));
  EXPECT_EQ(pieces("a\n\n"), (Pieces{"a", "\n\n"}));
  EXPECT_EQ(pieces("\tx"), (Pieces{"\t", "x"}));
}

TEST(Gpt2PreTokenizer, WhitespaceIsUnicodeWhiteSpace) {
  const std::string nbsp = "\xC2\xA0";
  const std::string nel = "\xC2\x85";
  const std::string bom = "\xEF\xBB\xBF";
  const std::string zwsp = "\xE2\x80\x8B";  // U+200B is a format character, not White_Space
  // NBSP is whitespace but not U+0020, so it never joins the following word.
  EXPECT_EQ(pieces("a" + nbsp + "b"), (Pieces{"a", nbsp, "b"}));
  EXPECT_EQ(pieces("a" + nel + nel + "b"), (Pieces{"a", nel, nel, "b"}));
  EXPECT_EQ(pieces("a " + bom + "b"), (Pieces{"a", " " + bom, "b"}));
  EXPECT_EQ(pieces("a" + zwsp + "b"), (Pieces{"a", zwsp, "b"}));
  EXPECT_EQ(pieces("a\v\fb"), (Pieces{"a", "\v", "\f", "b"}));
  EXPECT_EQ(pieces("a\x1F"), (Pieces{"a", "\x1F"}));  // unit separator: a symbol
}

TEST(Gpt2PreTokenizer, UsesUnicodeLetterAndNumberClasses) {
  EXPECT_EQ(pieces("na\xC3\xAFve caf\xC3\xA9"), (Pieces{"na\xC3\xAFve", " caf\xC3\xA9"}));
  // A combining accent is a mark (Mn), not a letter.
  EXPECT_EQ(pieces("e\xCC\x81t\xC3\xA9"), (Pieces{"e", "\xCC\x81", "t\xC3\xA9"}));
  EXPECT_EQ(pieces("\xE6\x97\xA5\xE6\x9C\xAC 42"), (Pieces{"\xE6\x97\xA5\xE6\x9C\xAC", " 42"}));
  EXPECT_EQ(classify_code_point(U'\u00e9'), CharClass::kLetter);
  EXPECT_EQ(classify_code_point(U'\u0663'), CharClass::kNumber);  // Arabic-Indic three
  EXPECT_EQ(classify_code_point(U'\u2163'), CharClass::kNumber);  // Roman numeral four (Nl)
  EXPECT_EQ(classify_code_point(U'\u3000'), CharClass::kSpace);
  EXPECT_EQ(classify_code_point(U'\u2029'), CharClass::kSpace);
  EXPECT_EQ(classify_code_point(U'\U0001F600'), CharClass::kOther);
}

TEST(Gpt2PreTokenizer, InvalidBytesAreSymbols) {
  EXPECT_EQ(pieces("ab\xFF\xFE cd \xC3"), (Pieces{"ab", "\xFF\xFE", " cd", " \xC3"}));
}

TEST(Gpt2PreTokenizer, PiecesCoverTheTextExactly) {
  const std::string text =
      "  Mixed: \xCE\xB1\xCE\xB2 12\n\n\t x's  \xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD ";
  std::string joined;
  for (std::string_view piece : split_gpt2(text)) {
    EXPECT_FALSE(piece.empty());
    joined += piece;
  }
  EXPECT_EQ(joined, text);
}

}  // namespace
}  // namespace dgr::text
