// Bad tokenizer files: byte-level BPE vocab.json + merges.txt (core/text/bpe_tokenizer),
// WordPiece vocab.txt and tokenizer_config.json (core/text/wordpiece). Truncated or non-JSON
// vocabularies, ids of every wrong type and range, missing byte symbols, merges lines with one
// or three parts, merges naming unknown tokens, duplicate merges, invalid UTF-8, empty files and
// directories in place of files. vocab.json / merges.txt / vocab.txt problems are DataErrors
// naming the file (and the merges line or the token); tokenizer_config.json problems are
// ConfigErrors naming the key; a file that cannot be read is an IoError.
//
// Decisions pinned here: a token listed twice in vocab.json or vocab.txt keeps its last id, as
// the Hugging Face loaders do (not an error); an empty merges.txt is a valid tokenizer without
// merges.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/text/bpe_tokenizer.h"
#include "core/text/byte_level.h"
#include "core/text/wordpiece.h"
#include "tests/robustness/bad_files.h"

namespace dgr::robustness {
namespace {

const Expect kData = Expect::kDataError;
const Expect kOk = Expect::kAccepted;

// The 256 byte symbols (ids 0..255), "ab" = 256 and the BART specials; `extra` is appended to
// the JSON text before its closing brace.
std::string vocab_json(const std::string& extra = "") {
  nlohmann::ordered_json vocab;
  for (int b = 0; b < 256; ++b)
    vocab[text::byte_symbol(static_cast<uint8_t>(b))] = b;
  vocab["ab"] = 256;
  vocab["<s>"] = 257;
  vocab["</s>"] = 258;
  std::string text = vocab.dump();
  text.pop_back();
  return text + extra + "}";
}

const std::string kMerges = "#version: 0.2\na b\n";

TEST(BpeVocabFiles, Catalogue) {
  const std::string good = vocab_json();
  const std::vector<FileCase> cases = {
      {"empty", "", kData, 0, {"invalid JSON"}},
      {"truncated-half", good.substr(0, good.size() / 2), kData, 0, {"invalid JSON"}},
      {"truncated-last-brace", good.substr(0, good.size() - 1), kData, 0, {"invalid JSON"}},
      {"not-json", "a 0\nb 1\n", kData, 1, {"invalid JSON"}},
      {"array", "[\"a\", \"b\"]", kData, 0, {"expected a JSON object mapping tokens to ids"}},
      {"string", "\"vocab\"", kData, 0, {"expected a JSON object"}},
      {"empty-object", "{}", kData, 0, {"empty vocabulary"}},
      {"id-is-string",
       vocab_json(R"(, "abc": "259")"),
       kData,
       0,
       {"token \"abc\" has id \"259\", expected an integer >= 0"}},
      {"id-is-float", vocab_json(R"(, "abc": 259.5)"), kData, 0, {"token \"abc\" has id 259.5"}},
      {"id-is-negative", vocab_json(R"(, "abc": -1)"), kData, 0, {"token \"abc\" has id -1"}},
      {"id-beyond-int32",
       vocab_json(R"(, "abc": 4294967296)"),
       kData,
       0,
       {"token \"abc\" has id 4294967296"}},
      {"id-is-null", vocab_json(R"(, "abc": null)"), kData, 0, {"token \"abc\" has id null"}},
      {"id-is-object", vocab_json(R"(, "abc": {"id": 3})"), kData, 0, {"token \"abc\" has id"}},
      {"id-far-beyond-the-entries",
       vocab_json(R"(, "abc": 100000000)"),
       kData,
       0,
       {"largest id 100000000 is far beyond"}},
      {"two-tokens-one-id",
       vocab_json(R"(, "abc": 256)"),
       kData,
       0,
       {"id 256 is given to both \"ab\" and \"abc\""}},
      {"missing-byte-symbol",
       R"({"a": 0, "b": 1, "ab": 2})",
       kData,
       0,
       {"no entry for byte 0x00", "a byte-level vocabulary has all 256"}},
      {"invalid-utf8-key", vocab_json(", \"ab\xFF\": 259"), kData, 0, {"invalid JSON"}},
      {"lone-surrogate-key", vocab_json(R"(, "\ud800": 259)"), kData, 0, {"invalid JSON"}},
      {"trailing-garbage", good + "\n}", kData, 0, {"invalid JSON"}},
      {"duplicate-token-keeps-last-id", vocab_json(R"(, "ab": 259)"), kOk, 0, {}},
      {"byte-order-mark", "\xEF\xBB\xBF" + good, kOk, 0, {}},
  };
  for (const FileCase& c : cases) {
    SCOPED_TRACE("case '" + c.name + "'");
    const std::string dir = scratch_dir() + "/" + c.name;
    const std::string vocab = write_bytes(c.name + "/vocab.json", c.content);
    write_bytes(c.name + "/merges.txt", kMerges);
    std::vector<std::string> parts = c.parts;
    if (c.expect != kOk) parts.insert(parts.begin(), vocab);
    expect_outcome([&] { text::BpeTokenizer::load(dir); }, c.expect, parts);
  }
  // The pinned decision: a repeated token keeps its last id.
  const std::string dir = scratch_dir() + "/duplicate-token-keeps-last-id";
  EXPECT_EQ(text::BpeTokenizer::load(dir).token_to_id("ab"), 259);
}

TEST(BpeMergesFiles, Catalogue) {
  const std::vector<FileCase> cases = {
      {"one-part", kMerges + "a\n", kData, 3, {"expected two tokens separated by one space"}},
      {"three-parts", kMerges + "a b ab\n", kData, 3, {"expected two tokens", "\"a b ab\""}},
      {"two-spaces", "a  b\n", kData, 1, {"expected two tokens"}},
      {"leading-space", " a b\n", kData, 1, {"expected two tokens"}},
      {"trailing-space", "a b \n", kData, 1, {"expected two tokens"}},
      {"tab-separated", "a\tb\n", kData, 1, {"expected two tokens"}},
      {"unknown-left-part",
       "#version: 0.2\nzz b\n",
       kData,
       2,
       {"left part \"zz\" of the merge \"zz b\" is not in the vocabulary"}},
      {"unknown-right-part", "a zz\n", kData, 1, {"right part \"zz\""}},
      {"unknown-result", "b a\n", kData, 1, {"result \"ba\" of the merge \"b a\""}},
      {"duplicate-merge", kMerges + "a b\n", kData, 3, {"duplicate merge"}},
      {"version-not-first",
       "a b\n#version: 0.2\n",
       kData,
       2,
       {"left part \"#version:\"", "is not in the vocabulary"}},
      {"invalid-utf8", "a \xFF\n", kData, 1, {"is not in the vocabulary"}},
      {"json-instead", "[[\"a\", \"b\"]]\n", kData, 1, {"is not in the vocabulary"}},
      {"truncated-last-line", kMerges + "a", kData, 3, {"expected two tokens"}},
      {"empty", "", kOk, 0, {}},
      {"version-only", "#version: 0.2\n", kOk, 0, {}},
      {"crlf-and-blank-lines", "#version: 0.2\r\n\r\na b\r\n\r\n", kOk, 0, {}},
  };
  for (const FileCase& c : cases) {
    SCOPED_TRACE("case '" + c.name + "'");
    const std::string dir = scratch_dir() + "/" + c.name;
    write_bytes(c.name + "/vocab.json", vocab_json());
    const std::string merges = write_bytes(c.name + "/merges.txt", c.content);
    std::vector<std::string> parts = c.parts;
    if (c.expect != kOk) {
      parts.insert(parts.begin(),
                   c.line > 0 ? merges + ":" + std::to_string(c.line) + ":" : merges);
    }
    expect_outcome([&] { text::BpeTokenizer::load(dir); }, c.expect, parts);
  }
}

TEST(BpeTokenizerFiles, MissingOrUnreadable) {
  const std::string dir = scratch_dir();
  expect_outcome([&] { text::BpeTokenizer::load(dir + "/absent"); }, Expect::kIoError,
                 {dir + "/absent/vocab.json"});
  write_bytes("no-merges/vocab.json", vocab_json());
  expect_outcome([&] { text::BpeTokenizer::load(dir + "/no-merges"); }, Expect::kIoError,
                 {dir + "/no-merges/merges.txt"});
  fs::create_directories(dir + "/dir-vocab/vocab.json");
  write_bytes("dir-vocab/merges.txt", kMerges);
  expect_outcome([&] { text::BpeTokenizer::load(dir + "/dir-vocab"); }, Expect::kIoError,
                 {dir + "/dir-vocab/vocab.json"});
}

// A WordPiece vocabulary with BERT's specials; `extra` lines follow.
std::string vocab_txt(const std::string& extra = "") {
  return "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\n##s\n" + extra;
}

TEST(WordPieceVocabFiles, Catalogue) {
  const std::vector<FileCase> cases = {
      {"empty", "", kData, 0, {"empty vocabulary"}},
      {"missing-one-special",
       "[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\n",
       kData,
       0,
       {"special token(s) missing from the vocabulary: [MASK]"}},
      {"missing-all-specials",
       "the\na\n",
       kData,
       0,
       {"missing from the vocabulary: [PAD], [UNK], [CLS], [SEP], [MASK]"}},
      {"lowercase-specials",
       "[pad]\n[unk]\n[cls]\n[sep]\n[mask]\n",
       kData,
       0,
       {"special token(s) missing"}},
      {"invalid-utf8-token", vocab_txt("caf\xE9\n"), kData, 8, {"token is not valid UTF-8"}},
      {"invalid-utf8-first-line", "\xFF\n" + vocab_txt(), kData, 1, {"not valid UTF-8"}},
      {"vocab-json-instead", R"({"[PAD]": 0, "[UNK]": 1})", kData, 0, {"special token(s) missing"}},
      {"utf16", std::string("\xFF\xFE[\0P\0", 6), kData, 1, {"not valid UTF-8"}},
      {"duplicate-token-keeps-last-id", vocab_txt("the\n"), kOk, 0, {}},
      {"blank-lines-are-tokens", vocab_txt("\n\nend\n"), kOk, 0, {}},
      {"crlf-and-cr-line-ends", "[PAD]\r\n[UNK]\r[CLS]\n[SEP]\r\n[MASK]", kOk, 0, {}},
  };
  run_file_cases("vocab.txt", cases,
                 [](const std::string& path) { text::WordPieceTokenizer::load(path); });
  const std::string path = scratch_dir() + "/duplicate-token-keeps-last-id/vocab.txt";
  EXPECT_EQ(text::WordPieceTokenizer::load(path).token_to_id("the"), 7);

  const std::string dir = scratch_dir() + "/a-directory.txt";
  fs::create_directories(dir);
  expect_outcome([&] { text::WordPieceTokenizer::load(dir); }, Expect::kIoError, {dir});
  const std::string absent = scratch_dir() + "/absent.txt";
  expect_outcome([&] { text::WordPieceTokenizer::load(absent); }, Expect::kIoError, {absent});
}

TEST(BertTokenizerConfigFiles, Catalogue) {
  const Expect kConfig = Expect::kConfigError;
  const std::vector<FileCase> cases = {
      {"empty", "", kConfig, 0, {"not valid JSON"}},
      {"truncated", R"({"do_lower_case": tr)", kConfig, 0, {"not valid JSON"}},
      {"array", "[true]", kConfig, 0, {"expected a JSON object"}},
      {"lowercase-as-string",
       R"({"do_lower_case": "true"})",
       kConfig,
       0,
       {"key \"do_lower_case\"", "expected true or false"}},
      {"lowercase-as-number", R"({"do_lower_case": 1})", kConfig, 0, {"key \"do_lower_case\""}},
      {"strip-accents-as-string",
       R"({"strip_accents": "no"})",
       kConfig,
       0,
       {"key \"strip_accents\"", "expected true, false or null"}},
      {"chinese-chars-as-list",
       R"({"tokenize_chinese_chars": [true]})",
       kConfig,
       0,
       {"key \"tokenize_chinese_chars\""}},
      {"max-length-as-string",
       R"({"model_max_length": "512"})",
       kConfig,
       0,
       {"key \"model_max_length\"", "expected a number"}},
      {"max-length-zero",
       R"({"model_max_length": 0})",
       kConfig,
       0,
       {"key \"model_max_length\"", "must be positive"}},
      {"max-length-negative", R"({"model_max_length": -512})", kConfig, 0, {"must be positive"}},
      {"unk-token-empty",
       R"({"unk_token": ""})",
       kConfig,
       0,
       {"key \"unk_token\"", "expected a non-empty token string"}},
      {"unk-token-number", R"({"unk_token": 100})", kConfig, 0, {"key \"unk_token\""}},
      {"mask-token-object-without-content",
       R"({"mask_token": {"lstrip": true}})",
       kConfig,
       0,
       {"key \"mask_token\"", "an object without \"content\""}},
      {"pad-token-content-not-string",
       R"({"pad_token": {"content": 0}})",
       kConfig,
       0,
       {"key \"pad_token\""}},
      {"invalid-utf8", "{\"unk_token\": \"[UNK\xFF]\"}", kConfig, 0, {"not valid JSON"}},
      {"no-limit", R"({"model_max_length": 1e30})", kOk, 0, {}},
      {"unknown-keys-ignored", R"({"tokenizer_class": "BertTokenizer", "x": [1]})", kOk, 0, {}},
  };
  run_file_cases("tokenizer_config.json", cases,
                 [](const std::string& path) { text::read_bert_tokenizer_config(path); });
  const std::string absent = scratch_dir() + "/absent.json";
  expect_outcome([&] { text::read_bert_tokenizer_config(absent); }, Expect::kIoError, {absent});
}

}  // namespace
}  // namespace dgr::robustness
