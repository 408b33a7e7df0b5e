// English text analysis for BM25, modelled on Anserini's default (Lucene's EnglishAnalyzer chain),
// so that our inverted index holds the same terms as an Anserini index of the same text:
//
//   1. segmentation into words by the Unicode word-break rules (UAX #29) as Lucene's
//      StandardTokenizer applies them: letters, digits and `_` stay together, `'` `.` `:` join
//      letters ("don't", "u.s.a"), `.` `,` `;` `'` join digits ("3.14", "1,000"); every Han
//      ideograph and every Hiragana character is a word of its own, runs of Katakana and runs of
//      South-East Asian scripts (Thai, Lao, Khmer, Myanmar) are one word each; words longer than
//      255 UTF-16 units are cut into pieces of that length. Pictographs (Extended_Pictographic,
//      e.g. the U+00A9 and U+00AE of MS MARCO's mojibake, and emoji with their modifiers and ZWJ
//      sequences) are words of one character or sequence each, and so are flags (pairs of
//      regional indicators), as Lucene's emoji rule makes them. Other symbols, punctuation and
//      controls make no words.
//   2. English possessives: a trailing 's (', U+2019 or U+FF07 before s or S) is removed;
//   3. lowercasing by the simple Unicode case mapping of each code point;
//   4. removal of Lucene's 33 English stop words ("a", "an", "and", ..., "with");
//   5. stemming with the Porter algorithm (libstemmer's "porter"), made to agree with Lucene's
//      PorterStemFilter, which Anserini uses by default: words of one or two characters are not
//      stemmed, and the two departures of Porter's own reference implementation that Lucene
//      keeps are applied (step 2 maps "-bli" to "-ble", not only "-abli" to "-able", and
//      "-logi" to "-log"; e.g. "possibly" -> "possibl", "archaeology" -> "archaeolog"). The
//      Snowball "english" stemmer (Porter2) is available as an option, not the default.
//
// Not modelled: the Hebrew-letter details of UAX #29 (Hebrew letters count as ordinary letters),
// keycap sequences as emoji (they stay number words with the same text), the few pictographs
// outside Lucene's Emoji set; Lucene's token types are not kept.
//
// Thread safety: libstemmer's stemmer objects keep their working buffer inside, so an
// EnglishAnalyzer (which owns one) must not be used by two threads at once. Analyzers are cheap
// to create: make one per thread. The free functions below are thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

struct sb_stemmer;

namespace dgr::teacher {

enum class Stemmer {
  kPorter,   // Porter (1980) as Lucene's PorterStemFilter applies it; Anserini's default
  kEnglish,  // Snowball's English stemmer (Porter2)
  kNone,
};

// "porter", "english" or "none"; anything else is a ConfigError naming the accepted values.
Stemmer parse_stemmer(const std::string& name);
const char* stemmer_name(Stemmer stemmer);

struct AnalyzerOptions {
  Stemmer stemmer = Stemmer::kPorter;
  bool remove_stop_words = true;
};

// The word tokens of `text` (step 1 above), in text order, as views into `text`, original case.
// Bytes that are not valid UTF-8 separate words like punctuation does. O(|text|).
void standard_tokens(std::string_view text, std::vector<std::string_view>* tokens);

// Lucene's English stop words (EnglishAnalyzer.ENGLISH_STOP_WORDS_SET), sorted.
const std::vector<std::string>& english_stop_words();
// Whether `lowercase_word` is one of them.
bool is_english_stop_word(std::string_view lowercase_word);

// `word` with its code points mapped to lowercase (UTF-8 in and out; invalid bytes are kept).
std::string lowercase(std::string_view word);

class EnglishAnalyzer {
 public:
  explicit EnglishAnalyzer(AnalyzerOptions options = {});
  ~EnglishAnalyzer();
  EnglishAnalyzer(EnglishAnalyzer&& other) noexcept;
  EnglishAnalyzer& operator=(EnglishAnalyzer&& other) noexcept;
  EnglishAnalyzer(const EnglishAnalyzer&) = delete;
  EnglishAnalyzer& operator=(const EnglishAnalyzer&) = delete;

  // Appends the terms of `text` to `terms` in text order; a word that occurs twice gives two
  // terms. Not const: stemming writes into the stemmer's buffer.
  void analyze(std::string_view text, std::vector<std::string>* terms);
  std::vector<std::string> analyze(std::string_view text);

  // Step 5 alone, on a lowercase word.
  std::string stem(std::string_view lowercase_word);

  const AnalyzerOptions& options() const { return options_; }

 private:
  std::string stem_porter(std::string_view word);
  std::string snowball(std::string_view word);

  AnalyzerOptions options_;
  sb_stemmer* stemmer_ = nullptr;  // owned; null when options_.stemmer is kNone
};

}  // namespace dgr::teacher
