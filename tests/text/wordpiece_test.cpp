// WordPiece as BERT's Hugging Face tokenizer does it, on hand-worked cases: cleaning, CJK
// ideographs as words, lowercasing with accent stripping (and the cased mode without), BERT's
// punctuation split, greedy longest-match pieces with "##", [UNK] for uncovered and over-long
// words, special tokens in raw text, vocab.txt and tokenizer_config.json reading, and the pair
// layout with longest_first truncation.
#include "core/text/wordpiece.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/util/error.h"

namespace dgr::text {
namespace {

namespace fs = std::filesystem;

using Words = std::vector<std::string>;

const Words kVocab = {
    "[PAD]",  "[UNK]",    "[CLS]", "[SEP]", "[MASK]",                            // 0-4
    "the",    "cafe",     "hello", "world", "un",                                // 5-9
    "##want", "##wanted", "##ed",  "run",   "##ning",                            // 10-14
    ",",      ".",        "!",     "'",     "$",                                 // 15-19
    "a",      "##a",      "中",    "国",    "##s",                               // 20-24
    "Hello",  "Café",     "don",   "t",     "5",                                 // 25-29
    "ecole",  "istanbul", "x",     "##y",   "[",                                 // 30-34
    "]",      "sep",      "é",     "##é",   "\xce\xbf\xce\xb4\xce\xbf\xcf\x83",  // 35-39: "οδοσ"
};

WordPieceTokenizer make(bool lowercase = true) {
  WordPieceOptions options;
  options.lowercase = lowercase;
  return WordPieceTokenizer(kVocab, options, "test vocab");
}

std::string test_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const fs::path dir = fs::path(DGR_TEST_TMP_DIR) / "wordpiece" /
                       (std::string(info->name()) + "_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir.string();
}

std::string write(const std::string& name, const std::string& content) {
  const std::string path = test_dir() + "/" + name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

template <typename E, typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "(no error of the expected type)";
}

TEST(WordPiece, LowercasesAndStripsAccents) {
  const auto t = make();
  EXPECT_EQ(t.split_words("Café HELLO ÉCOLE"), (Words{"cafe", "hello", "ecole"}));
  // Decomposed input (e + combining acute) strips the same way.
  EXPECT_EQ(t.split_words("Cafe\xcc\x81"), (Words{"cafe"}));
  // U+0130: NFD gives I + U+0307, the mark goes, then "i".
  EXPECT_EQ(t.split_words("\xc4\xb0stanbul"), (Words{"istanbul"}));
  EXPECT_EQ(t.encode("Café hello"), (std::vector<TokenId>{6, 7}));
}

TEST(WordPiece, LowercasesCapitalSigmaWithoutTheFinalFormRule) {
  // "ΟΔΟΣ": the fast tokenizer maps each character alone, so the last sigma is σ, not ς.
  const auto t = make();
  EXPECT_EQ(t.split_words("\xce\x9f\xce\x94\xce\x9f\xce\xa3"),
            (Words{"\xce\xbf\xce\xb4\xce\xbf\xcf\x83"}));
  EXPECT_EQ(t.encode("\xce\x9f\xce\x94\xce\x9f\xce\xa3"), (std::vector<TokenId>{39}));
}

TEST(WordPiece, CasedModeKeepsCaseAndAccents) {
  const auto t = make(/*lowercase=*/false);
  EXPECT_FALSE(t.options().strips_accents());
  EXPECT_EQ(t.split_words("Hello Café"), (Words{"Hello", "Café"}));
  EXPECT_EQ(t.encode("Hello Café hello"), (std::vector<TokenId>{25, 26, 7}));
  EXPECT_EQ(t.tokenize("HELLO"), (Words{"[UNK]"}));

  WordPieceOptions strip;
  strip.lowercase = false;
  strip.strip_accents = true;
  const WordPieceTokenizer s(kVocab, strip);
  EXPECT_EQ(s.split_words("Café"), (Words{"Cafe"}));

  WordPieceOptions keep;
  keep.strip_accents = false;  // lowercase only: U+0130 lowercases to i + U+0307
  const WordPieceTokenizer k(kVocab, keep);
  EXPECT_EQ(k.split_words("Café \xc4\xb0"), (Words{"café", "i\xcc\x87"}));
}

TEST(WordPiece, SplitsOnBertPunctuation) {
  const auto t = make();
  EXPECT_EQ(t.split_words("hello,world!!"), (Words{"hello", ",", "world", "!", "!"}));
  EXPECT_EQ(t.split_words("don't"), (Words{"don", "'", "t"}));
  // ASCII symbols are punctuation for BERT ($ is Sc, ^ is Sk in Unicode).
  EXPECT_EQ(t.split_words("$5 x^2"), (Words{"$", "5", "x", "^", "2"}));
  // Unicode P*: guillemets (Pi/Pf), em dash (Pd), ideographic full stop (Po).
  EXPECT_EQ(t.split_words("\xc2\xabhi\xc2\xbb a\xe2\x80\x94"
                          "b c\xe3\x80\x82"),
            (Words{"\xc2\xab", "hi", "\xc2\xbb", "a", "\xe2\x80\x94", "b", "c", "\xe3\x80\x82"}));
  // Other symbols are not: the euro sign (Sc) stays in its word.
  EXPECT_EQ(t.split_words("5\xe2\x82\xac"), (Words{"5\xe2\x82\xac"}));
  EXPECT_EQ(t.encode("don't $5."), (std::vector<TokenId>{27, 18, 28, 19, 29, 16}));
}

TEST(WordPiece, CjkIdeographsAreWordsKanaAndHangulAreNot) {
  const auto t = make();
  EXPECT_EQ(t.split_words("我是中国人"), (Words{"我", "是", "中", "国", "人"}));
  EXPECT_EQ(t.split_words("abc中def"), (Words{"abc", "中", "def"}));
  EXPECT_EQ(t.split_words("日本語テキスト"), (Words{"日", "本", "語", "テキスト"}));
  EXPECT_EQ(t.encode("中国"), (std::vector<TokenId>{22, 23}));
  // "中s": the ideograph is split off, so "s" starts a word and "##s" does not apply.
  EXPECT_EQ(t.tokenize("中s"), (Words{"中", "[UNK]"}));

  WordPieceOptions no_split;
  no_split.split_cjk = false;
  const WordPieceTokenizer n(kVocab, no_split);
  EXPECT_EQ(n.split_words("中国 人"), (Words{"中国", "人"}));
  EXPECT_EQ(n.tokenize("中国"), (Words{"[UNK]"}));
}

TEST(WordPiece, CleansControlCharactersAndWhitespace) {
  const auto t = make();
  // Control (Cc) and format (Cf: zero-width space, soft hyphen) characters, U+FFFD and NUL go.
  EXPECT_EQ(t.split_words(std::string("he\x01ll\xe2\x80\x8bo wor\xc2\xad"
                                      "ld\xef\xbf\xbd") +
                          std::string(1, '\0') + "!"),
            (Words{"hello", "world", "!"}));
  // Tab, newline, no-break space (Zs), ideographic space and line separator (Zl) separate words.
  EXPECT_EQ(t.split_words("a\tb\nc\xc2\xa0"
                          "d\xe3\x80\x80"
                          "e\xe2\x80\xa8"
                          "f"),
            (Words{"a", "b", "c", "d", "e", "f"}));
  EXPECT_TRUE(t.split_words(" \t\r\n ").empty());
  EXPECT_TRUE(t.encode("").empty());
}

TEST(WordPiece, GreedyLongestMatchFirstWithContinuationPieces) {
  const auto t = make();
  // "##wanted" is longer than "##want" + "##ed": the longest piece wins.
  EXPECT_EQ(t.tokenize("unwanted running"), (Words{"un", "##wanted", "run", "##ning"}));
  EXPECT_EQ(t.encode("unwanted running"), (std::vector<TokenId>{9, 11, 13, 14}));
  EXPECT_EQ(t.tokenize("aaa"), (Words{"a", "##a", "##a"}));
  EXPECT_EQ(t.tokenize("xyy"), (Words{"x", "##y", "##y"}));
}

TEST(WordPiece, UncoveredWordsAndOverLongWordsAreUnknownAsAWhole) {
  const auto t = make();
  // "unz": "un" matches, but nothing covers "z": the whole word is [UNK], not "un" + [UNK].
  EXPECT_EQ(t.tokenize("the unz cafe"), (Words{"the", "[UNK]", "cafe"}));
  EXPECT_EQ(t.encode("zzz"), (std::vector<TokenId>{1}));
  // 100 code points are pieced; 101 are [UNK], counted in code points, not bytes.
  EXPECT_EQ(t.encode(std::string(100, 'a')).size(), 100u);
  EXPECT_EQ(t.tokenize(std::string(101, 'a')), (Words{"[UNK]"}));
  const auto cased = make(/*lowercase=*/false);
  std::string accents;
  for (int i = 0; i < 100; ++i)
    accents += "é";  // 200 bytes, 100 characters
  EXPECT_EQ(cased.encode(accents).size(), 100u);
  EXPECT_EQ(cased.tokenize(accents + "é"), (Words{"[UNK]"}));

  WordPieceOptions shorter;
  shorter.max_input_chars_per_word = 3;
  const WordPieceTokenizer s(kVocab, shorter);
  EXPECT_EQ(s.tokenize("aaa aaaa"), (Words{"a", "##a", "##a", "[UNK]"}));
}

TEST(WordPiece, SpecialTokensInRawTextAreKeptWhole) {
  const auto t = make();
  EXPECT_EQ(t.encode("hello [SEP] world[MASK]"), (std::vector<TokenId>{7, 3, 8, 4}));
  EXPECT_EQ(t.split_words("a[CLS]b"), (Words{"a", "[CLS]", "b"}));
  // Matching is case-sensitive and happens before lowercasing: "[sep]" is punctuation + word.
  EXPECT_EQ(t.encode("[sep]"), (std::vector<TokenId>{34, 36, 35}));
}

TEST(WordPiece, InvalidUtf8IsADataError) {
  const auto t = make();
  const std::string message = error_of<DataError>([&] { t.encode("ok \xff bad"); });
  EXPECT_NE(message.find("not valid UTF-8"), std::string::npos) << message;
  EXPECT_NE(message.find("byte 3"), std::string::npos) << message;
}

TEST(WordPiece, LongestFirstTruncationLengths) {
  using Lengths = std::pair<size_t, size_t>;
  EXPECT_EQ(longest_first_lengths(3, 4, 10), Lengths(3, 4));  // fits
  // Only the longer one is cut.
  EXPECT_EQ(longest_first_lengths(5, 20, 21), Lengths(5, 16));
  EXPECT_EQ(longest_first_lengths(20, 5, 21), Lengths(16, 5));
  EXPECT_EQ(longest_first_lengths(0, 50, 7), Lengths(0, 7));
  // Both are cut: halves, the odd token to the longer one, to the second on a tie.
  EXPECT_EQ(longest_first_lengths(15, 15, 21), Lengths(10, 11));
  EXPECT_EQ(longest_first_lengths(16, 14, 21), Lengths(11, 10));
  EXPECT_EQ(longest_first_lengths(14, 16, 21), Lengths(10, 11));
  EXPECT_EQ(longest_first_lengths(30, 30, 20), Lengths(10, 10));
  EXPECT_EQ(longest_first_lengths(12, 40, 20), Lengths(10, 10));
  EXPECT_EQ(longest_first_lengths(11, 40, 20), Lengths(10, 10));
  EXPECT_EQ(longest_first_lengths(9, 40, 20), Lengths(9, 11));
  EXPECT_EQ(longest_first_lengths(40, 30, 0), Lengths(0, 0));
}

TEST(WordPiece, PairLayoutAndTruncation) {
  const auto t = make();
  const PairEncoding pair = t.encode_pair("the cafe", "hello world", 16);
  EXPECT_EQ(pair.input_ids, (std::vector<TokenId>{2, 5, 6, 3, 7, 8, 3}));
  EXPECT_EQ(pair.token_type_ids, (std::vector<TokenId>{0, 0, 0, 0, 1, 1, 1}));

  // max_length 8 leaves 5 tokens for 2 + 6: only the passage is cut (to 3).
  const PairEncoding cut = t.encode_pair("the cafe", "hello world hello world hello world", 8);
  EXPECT_EQ(cut.input_ids, (std::vector<TokenId>{2, 5, 6, 3, 7, 8, 7, 3}));
  EXPECT_EQ(cut.token_type_ids, (std::vector<TokenId>{0, 0, 0, 0, 1, 1, 1, 1}));

  // Both long: 4 + 5 of a budget of 9.
  const PairEncoding both = t.encode_pair("a a a a a a", "the the the the the the the", 12);
  EXPECT_EQ(both.input_ids, (std::vector<TokenId>{2, 20, 20, 20, 20, 3, 5, 5, 5, 5, 5, 3}));
  EXPECT_EQ(both.input_ids.size(), 12u);

  const PairEncoding empty = t.encode_pair("", "", 3);
  EXPECT_EQ(empty.input_ids, (std::vector<TokenId>{2, 3, 3}));
  EXPECT_EQ(empty.token_type_ids, (std::vector<TokenId>{0, 0, 1}));
  const PairEncoding tight = t.encode_pair("hello", "world", 3);
  EXPECT_EQ(tight.input_ids, (std::vector<TokenId>{2, 3, 3}));

  const std::string message = error_of<ConfigError>([&] { t.encode_pair("a", "b", 2); });
  EXPECT_NE(message.find("max_length 2"), std::string::npos) << message;
}

TEST(WordPieceVocab, LoadsLinesAsIdsWithAnyLineEnd) {
  const std::string path =
      write("vocab.txt", "[PAD]\r\n[UNK]\r[CLS]\n[SEP]\n[MASK]\nhello\n\nworld\nhello");
  const auto t = WordPieceTokenizer::load(path);
  EXPECT_EQ(t.vocab_size(), 9);
  EXPECT_EQ(t.cls_id(), 2);
  EXPECT_EQ(t.sep_id(), 3);
  EXPECT_EQ(t.pad_id(), 0);
  EXPECT_EQ(t.mask_id(), 4);
  EXPECT_EQ(t.unk_id(), 1);
  EXPECT_EQ(t.id_to_token(6), "");  // an empty line is the empty token
  EXPECT_EQ(t.id_to_token(7), "world");
  EXPECT_EQ(t.id_to_token(9), "");
  EXPECT_EQ(t.id_to_token(-1), "");
  EXPECT_EQ(t.token_to_id("hello"), 8);  // listed twice: the last id counts
  EXPECT_EQ(t.token_to_id("nothing"), -1);
  EXPECT_EQ(t.encode("Hello world"), (std::vector<TokenId>{8, 7}));
}

TEST(WordPieceVocab, MissingSpecialTokensAreADataErrorNamingTheFile) {
  const std::string path = write("vocab.txt", "[PAD]\n[UNK]\n[CLS]\nhello\n");
  const std::string message = error_of<DataError>([&] { WordPieceTokenizer::load(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("[SEP], [MASK]"), std::string::npos) << message;

  WordPieceOptions renamed;
  renamed.special.sep = "</s>";
  const std::string other = error_of<DataError>([&] { WordPieceTokenizer(kVocab, renamed); });
  EXPECT_NE(other.find("</s>"), std::string::npos) << other;
}

TEST(WordPieceVocab, EmptyOrInvalidVocabulariesAreDataErrors) {
  const std::string empty = write("empty.txt", "");
  EXPECT_NE(error_of<DataError>([&] { WordPieceTokenizer::load(empty); }).find("empty vocabulary"),
            std::string::npos);
  const std::string bad = write("bad.txt", "[PAD]\n[UNK]\n\xc3(\n");
  const std::string message = error_of<DataError>([&] { WordPieceTokenizer::load(bad); });
  EXPECT_NE(message.find(bad + ":3"), std::string::npos) << message;
  EXPECT_NE(error_of<IoError>([&] {
              WordPieceTokenizer::load(test_dir() + "/none.txt");
            }).find("none.txt"),
            std::string::npos);
}

TEST(WordPieceConfig, ReadsTheKeysThatChangeTokenisation) {
  const std::string path = write("tokenizer_config.json", R"({
    "do_lower_case": false, "strip_accents": true, "tokenize_chinese_chars": false,
    "model_max_length": 128, "unk_token": {"content": "[UNK]", "__type": "AddedToken"},
    "sep_token": "[SEP]", "tokenizer_class": "BertTokenizer"})");
  const BertTokenizerConfig c = read_bert_tokenizer_config(path);
  EXPECT_FALSE(c.options.lowercase);
  EXPECT_TRUE(c.options.strips_accents());
  EXPECT_FALSE(c.options.split_cjk);
  EXPECT_EQ(c.model_max_length, 128);
  EXPECT_EQ(c.options.special.unk, "[UNK]");

  // HF's "no limit" (1e30) is no limit; absent keys keep the defaults.
  WordPieceOptions defaults;
  defaults.lowercase = false;
  const std::string huge =
      write("huge.json", R"({"model_max_length": 1000000000000000019884624838656})");
  const BertTokenizerConfig h = read_bert_tokenizer_config(huge, defaults);
  EXPECT_FALSE(h.model_max_length.has_value());
  EXPECT_FALSE(h.options.lowercase);
  EXPECT_FALSE(h.options.strip_accents.has_value());
}

TEST(WordPieceConfig, WrongTypesAreConfigErrorsNamingFileAndKey) {
  const std::string path = write("tokenizer_config.json", R"({"do_lower_case": "yes"})");
  const std::string message = error_of<ConfigError>([&] { read_bert_tokenizer_config(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("do_lower_case"), std::string::npos) << message;
  const std::string token = write("token.json", R"({"cls_token": 5})");
  EXPECT_NE(error_of<ConfigError>([&] { read_bert_tokenizer_config(token); }).find("cls_token"),
            std::string::npos);
  const std::string broken = write("broken.json", "{");
  EXPECT_NE(
      error_of<ConfigError>([&] { read_bert_tokenizer_config(broken); }).find("not valid JSON"),
      std::string::npos);
}

}  // namespace
}  // namespace dgr::text
