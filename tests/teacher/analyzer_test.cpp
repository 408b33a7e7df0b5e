// The English analyzer of the BM25 teacher: word segmentation as Lucene's StandardTokenizer does
// it, possessives, lowercasing, Lucene's stop words and Porter stemming with Lucene's departures
// from Snowball's porter.
#include "teacher/analyzer.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "core/util/error.h"

namespace dgr::teacher {
namespace {

std::vector<std::string> tokens(std::string_view text) {
  std::vector<std::string_view> views;
  standard_tokens(text, &views);
  return std::vector<std::string>(views.begin(), views.end());
}

using Words = std::vector<std::string>;

TEST(StandardTokens, SplitsOnPunctuationAndSpacesAndKeepsCase) {
  EXPECT_EQ(tokens("Hello, World!  (twice)\tnew-line\n"),
            (Words{"Hello", "World", "twice", "new", "line"}));
  EXPECT_EQ(tokens(""), Words{});
  EXPECT_EQ(tokens(" ... -- !? "), Words{});
}

TEST(StandardTokens, JoinsLettersAcrossApostrophesDotsAndColons) {
  EXPECT_EQ(tokens("don't o'neil U.S.A. a:b"), (Words{"don't", "o'neil", "U.S.A", "a:b"}));
  // Trailing or doubled joiners do not join.
  EXPECT_EQ(tokens("students' end. a..b"), (Words{"students", "end", "a", "b"}));
}

TEST(StandardTokens, JoinsDigitsAcrossSeparatorsAndLettersWithDigits) {
  EXPECT_EQ(tokens("3.14 1,000,000 12;34 mp3 3d covid-19 $100"),
            (Words{"3.14", "1,000,000", "12;34", "mp3", "3d", "covid", "19", "100"}));
  // `,` and `;` join digits only.
  EXPECT_EQ(tokens("a,b c;d"), (Words{"a", "b", "c", "d"}));
}

TEST(StandardTokens, UnderscoreJoinsButAloneIsNoWord) {
  EXPECT_EQ(tokens("foo_bar _x __ x_1"), (Words{"foo_bar", "_x", "x_1"}));
}

TEST(StandardTokens, HanAndHiraganaAreOneWordPerCharacterKatakanaAndThaiRuns) {
  EXPECT_EQ(tokens("中文字"), (Words{"中", "文", "字"}));
  EXPECT_EQ(tokens("ひらがな"), (Words{"ひ", "ら", "が", "な"}));
  EXPECT_EQ(tokens("カタカナ abc"), (Words{"カタカナ", "abc"}));
  EXPECT_EQ(tokens("ภาษาไทย ok"), (Words{"ภาษาไทย", "ok"}));
}

TEST(StandardTokens, MarksStayWithTheirLetterAndControlsSplit) {
  // e + COMBINING ACUTE ACCENT is one word with the mark.
  EXPECT_EQ(tokens("cafe\xCC\x81 ok"), (Words{"cafe\xCC\x81", "ok"}));
  // MS MARCO mojibake of a right quote: a, then two C1 controls, which separate words.
  EXPECT_EQ(tokens("don\xC3\xA2\xC2\x80\xC2\x99t"), (Words{"don\xC3\xA2", "t"}));
  // A right single quote (U+2019) joins letters like an apostrophe.
  EXPECT_EQ(tokens("don\xE2\x80\x99t"), (Words{"don\xE2\x80\x99t"}));
}

TEST(StandardTokens, PictographsAndFlagsAreWordsOfTheirOwn) {
  // MS MARCO mojibake of a registered sign: A-circumflex is a letter, U+00AE a pictograph.
  EXPECT_EQ(tokens("PREMIUM\xC3\x82\xC2\xAE Paint"),
            (Words{"PREMIUM\xC3\x82", "\xC2\xAE", "Paint"}));
  EXPECT_EQ(tokens("a\xC2\xA9"
                   "b \xE2\x84\xA2"),
            (Words{"a", "\xC2\xA9", "b", "\xE2\x84\xA2"}));
  // An emoji with a skin-tone modifier, a ZWJ sequence, two flags; other symbols make no words.
  const std::string thumbs = "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD";
  const std::string family =
      "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7";
  const std::string fr = "\xF0\x9F\x87\xAB\xF0\x9F\x87\xB7";
  const std::string de = "\xF0\x9F\x87\xA9\xF0\x9F\x87\xAA";
  EXPECT_EQ(tokens(thumbs + " " + family + " " + fr + de + " \xC2\xAC \xC2\xBC $"),
            (Words{thumbs, family, fr, de}));
}

TEST(StandardTokens, InvalidUtf8SeparatesWords) {
  EXPECT_EQ(tokens("ab\xFF"
                   "cd \xC3"),
            (Words{"ab", "cd"}));
}

TEST(StandardTokens, CutsWordsLongerThan255Utf16Units) {
  const std::string word(300, 'a');
  EXPECT_EQ(tokens(word), (Words{std::string(255, 'a'), std::string(45, 'a')}));
  // U+10400 (4 bytes in UTF-8) is two UTF-16 units: 128 of them make 256 units.
  std::string wide;
  for (int i = 0; i < 128; ++i)
    wide += "\xF0\x90\x90\xA8";  // DESERET SMALL LETTER LONG I
  const std::vector<std::string> pieces = tokens(wide);
  ASSERT_EQ(pieces.size(), 2u);
  EXPECT_EQ(pieces[0].size(), 127u * 4);
  EXPECT_EQ(pieces[1].size(), 4u);
}

TEST(Lowercase, MapsEveryCodePoint) {
  EXPECT_EQ(lowercase("HeLLo"), "hello");
  EXPECT_EQ(lowercase("\xC3\x89"
                      "COLE"),
            "\xC3\xA9"
            "cole");                                             // ÉCOLE -> école
  EXPECT_EQ(lowercase("\xCE\xA3\xCE\x91"), "\xCF\x83\xCE\xB1");  // ΣΑ -> σα
  EXPECT_EQ(lowercase("a\xFF"
                      "B"),
            "a\xFF"
            "b");  // invalid bytes kept
}

TEST(StopWords, AreLucenesThirtyThreeEnglishWords) {
  const std::vector<std::string>& words = english_stop_words();
  EXPECT_EQ(words.size(), 33u);
  EXPECT_TRUE(std::is_sorted(words.begin(), words.end()));
  for (const char* word : {"a", "an", "and", "the", "their", "with", "will", "such", "into"}) {
    EXPECT_TRUE(is_english_stop_word(word)) << word;
  }
  // Not in Lucene's list, unlike in longer lists (e.g. NLTK's).
  for (const char* word : {"how", "what", "i", "you", "from", "The"}) {
    EXPECT_FALSE(is_english_stop_word(word)) << word;
  }
}

TEST(Stemmer, ParsesNamesAndRejectsOthers) {
  EXPECT_EQ(parse_stemmer("porter"), Stemmer::kPorter);
  EXPECT_EQ(parse_stemmer("english"), Stemmer::kEnglish);
  EXPECT_EQ(parse_stemmer("none"), Stemmer::kNone);
  EXPECT_STREQ(stemmer_name(Stemmer::kEnglish), "english");
  EXPECT_THROW(parse_stemmer("krovetz"), ConfigError);
}

TEST(PorterStem, FollowsThePorterAlgorithm) {
  EnglishAnalyzer analyzer;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"running", "run"},      {"cats", "cat"},
      {"cycles", "cycl"},      {"flies", "fli"},
      {"skies", "ski"},        {"sky", "sky"},
      {"agreed", "agre"},      {"feed", "feed"},
      {"happy", "happi"},      {"generously", "gener"},
      {"hopefulness", "hope"}, {"sensibility", "sensibl"},
      {"abilities", "abil"},   {"probably", "probabl"},
      {"dying", "dy"},         {"technological", "technolog"},
      {"1990s", "1990"},       {"news", "new"}};
  for (const auto& [word, stem] : cases) {
    EXPECT_EQ(analyzer.stem(word), stem) << word;
  }
}

TEST(PorterStem, AppliesLucenesDeparturesFromSnowball) {
  EnglishAnalyzer analyzer;
  // -bli -> -ble (Snowball's porter keeps "possibli", "humbli").
  EXPECT_EQ(analyzer.stem("possibly"), "possibl");
  EXPECT_EQ(analyzer.stem("humbly"), "humbl");
  // -logi -> -log (Snowball's porter keeps "archaeologi").
  EXPECT_EQ(analyzer.stem("archaeology"), "archaeolog");
  EXPECT_EQ(analyzer.stem("anthropologies"), "anthropolog");
  EXPECT_EQ(analyzer.stem("technology"), analyzer.stem("technological"));
  // Step 2 needs m > 0 before the suffix: m("bio") = 0, m("") = 0, m("ha") = 0.
  EXPECT_EQ(analyzer.stem("biology"), "biologi");
  EXPECT_EQ(analyzer.stem("logy"), "logi");
  EXPECT_EQ(analyzer.stem("hably"), "habli");
  // Words of one or two characters are not stemmed ("is" would become "i").
  EXPECT_EQ(analyzer.stem("is"), "is");
  EXPECT_EQ(analyzer.stem("us"), "us");
  EXPECT_EQ(analyzer.stem("s"), "s");
}

TEST(EnglishAnalyzer, RunsTheWholeChain) {
  EnglishAnalyzer analyzer;
  EXPECT_EQ(analyzer.analyze("How long is the life cycle of a FLEA?"),
            (Words{"how", "long", "life", "cycl", "flea"}));
  // Possessives go before stemming; plain and typographic apostrophes, either case of s.
  EXPECT_EQ(analyzer.analyze("John's dogs' JANE'S Anna\xE2\x80\x99s"),
            (Words{"john", "dog", "jane", "anna"}));
  // Duplicates are kept, in text order.
  EXPECT_EQ(analyzer.analyze("cats chase cats"), (Words{"cat", "chase", "cat"}));
  EXPECT_EQ(analyzer.analyze("the and of"), Words{});
  // A pictograph is a term (and counts in the passage length), as in Lucene.
  EXPECT_EQ(analyzer.analyze("BEHR PREMIUM\xC3\x82\xC2\xAE paints"),
            (Words{"behr", "premium\xC3\xA2", "\xC2\xAE", "paint"}));
}

TEST(EnglishAnalyzer, OptionsTurnStepsOff) {
  EnglishAnalyzer no_stem(AnalyzerOptions{Stemmer::kNone, true});
  EXPECT_EQ(no_stem.analyze("The running Cats"), (Words{"running", "cats"}));
  EnglishAnalyzer keep_stop(AnalyzerOptions{Stemmer::kPorter, false});
  EXPECT_EQ(keep_stop.analyze("The running Cats"), (Words{"the", "run", "cat"}));
  EnglishAnalyzer porter2(AnalyzerOptions{Stemmer::kEnglish, true});
  EXPECT_EQ(porter2.analyze("generously running"), (Words{"generous", "run"}));
}

TEST(EnglishAnalyzer, MovedAnalyzerKeepsWorking) {
  EnglishAnalyzer first;
  EnglishAnalyzer second(std::move(first));
  EXPECT_EQ(second.analyze("possibly"), Words{"possibl"});
  EnglishAnalyzer third(AnalyzerOptions{Stemmer::kNone, true});
  third = std::move(second);
  EXPECT_EQ(third.analyze("possibly"), Words{"possibl"});
}

TEST(EnglishAnalyzer, OneAnalyzerPerThreadGivesTheSameTerms) {
  const std::string text =
      "Biological anthropology studies human evolution; archaeologists possibly disagree.";
  const Words expected = EnglishAnalyzer().analyze(text);
  std::vector<Words> results(4);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < results.size(); ++t) {
    threads.emplace_back([&, t] {
      EnglishAnalyzer analyzer;
      for (int i = 0; i < 200; ++i)
        results[t] = analyzer.analyze(text);
    });
  }
  for (std::thread& thread : threads)
    thread.join();
  for (const Words& result : results)
    EXPECT_EQ(result, expected);
}

}  // namespace
}  // namespace dgr::teacher
