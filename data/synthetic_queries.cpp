#include "data/synthetic_queries.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <numeric>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "core/text/pretokenizer.h"
#include "core/text/utf8.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "core/util/hash.h"

namespace dgr::data {
namespace {

// A slot whose draw repeats an earlier query of its passage draws again, at most this often.
constexpr int kAttemptsPerSlot = 8;

// ---------------------------------------------------------------------------------------------
// Deterministic randomness: one SplitMix64 stream per (purpose, a, b), so a passage's queries
// depend only on the seed, the passage and the slot.

using Rng = SplitMixStream;

enum Stream : uint64_t { kSampleStream = 1, kQueryStream = 2 };

enum class Kind { kTerms, kSpan };

// ---------------------------------------------------------------------------------------------
// Characters.

bool is_word_char(char32_t cp) {
  const text::CharClass c = text::classify_code_point(cp);
  return c == text::CharClass::kLetter || c == text::CharClass::kNumber;
}

bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Words of "terms" queries.

// Function words that say nothing about a passage, plus the pieces contractions leave behind
// ("don't" -> "don", "t"). Low-idf words would rarely be chosen anyway; the list keeps them out of
// short passages, whose every word is otherwise a candidate.
bool is_stop_word(std::string_view word) {
  static const std::unordered_set<std::string_view> kStopWords = {
      "a",       "about",      "above",    "after",     "again",  "against",   "all",    "also",
      "am",      "an",         "and",      "any",       "are",    "as",        "at",     "be",
      "because", "been",       "before",   "being",     "below",  "between",   "both",   "but",
      "by",      "can",        "could",    "d",         "did",    "do",        "does",   "doing",
      "don",     "down",       "during",   "each",      "few",    "for",       "from",   "further",
      "had",     "has",        "have",     "having",    "he",     "her",       "here",   "hers",
      "herself", "him",        "himself",  "his",       "how",    "i",         "if",     "in",
      "into",    "is",         "it",       "its",       "itself", "just",      "ll",     "m",
      "may",     "me",         "might",    "more",      "most",   "must",      "my",     "myself",
      "no",      "nor",        "not",      "now",       "of",     "off",       "on",     "once",
      "only",    "or",         "other",    "our",       "ours",   "ourselves", "out",    "over",
      "own",     "re",         "s",        "same",      "shall",  "she",       "should", "so",
      "some",    "such",       "t",        "than",      "that",   "the",       "their",  "theirs",
      "them",    "themselves", "then",     "there",     "these",  "they",      "this",   "those",
      "through", "to",         "too",      "under",     "until",  "up",        "us",     "ve",
      "very",    "was",        "we",       "were",      "what",   "when",      "where",  "which",
      "while",   "who",        "whom",     "why",       "will",   "with",      "would",  "you",
      "your",    "yours",      "yourself", "yourselves"};
  return kStopWords.count(word) != 0;
}

// Appends the lowercased words of `text` (maximal runs of letters and digits) to `words`.
void append_words(std::string_view text, std::vector<std::string>* words) {
  size_t i = 0;
  size_t start = std::string_view::npos;
  while (i < text.size()) {
    size_t length = 1;
    const bool word_char = is_word_char(text::decode_code_point(text, i, &length));
    if (word_char && start == std::string_view::npos) start = i;
    if (!word_char && start != std::string_view::npos) {
      words->push_back(ascii_lower(text.substr(start, i - start)));
      start = std::string_view::npos;
    }
    i += length;
  }
  if (start != std::string_view::npos) words->push_back(ascii_lower(text.substr(start)));
}

bool usable_term(const std::string& word) {
  if (is_stop_word(word)) return false;
  // A lone letter ("e" of "e.g.") carries nothing; a lone digit may ("type 2 diabetes").
  if (word.size() == 1 && !(word[0] >= '0' && word[0] <= '9')) return false;
  return true;
}

// The distinct usable words of a passage (title, then text) in order of first appearance.
std::vector<std::string> passage_terms(const Passage& passage) {
  std::vector<std::string> words;
  append_words(passage.title, &words);
  append_words(passage.text, &words);
  std::vector<std::string> terms;
  std::unordered_set<std::string> seen;
  for (std::string& word : words) {
    if (!usable_term(word) || !seen.insert(word).second) continue;
    terms.push_back(std::move(word));
  }
  return terms;
}

using DocumentFrequencies = std::unordered_map<std::string, uint32_t>;

DocumentFrequencies document_frequencies(const Corpus& corpus) {
  DocumentFrequencies df;
  for (const Passage& passage : corpus) {
    for (const std::string& term : passage_terms(passage))
      ++df[term];
  }
  return df;
}

// The `n` highest-idf terms (lowest document frequency, then first position), in passage order.
std::string terms_query(const std::vector<std::string>& terms, const std::vector<uint32_t>& df,
                        size_t n) {
  std::vector<size_t> order(terms.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::partial_sort(order.begin(), order.begin() + static_cast<ptrdiff_t>(n), order.end(),
                    [&](size_t a, size_t b) { return df[a] != df[b] ? df[a] < df[b] : a < b; });
  order.resize(n);
  std::sort(order.begin(), order.end());
  std::string query;
  for (size_t position : order) {
    if (!query.empty()) query += ' ';
    query += terms[position];
  }
  return query;
}

// ---------------------------------------------------------------------------------------------
// Sentences of "span" queries.

// A word of a sentence as byte offsets into the passage text, its outer punctuation trimmed.
struct WordSpan {
  size_t begin;
  size_t end;
};

// Whether a whitespace-separated piece ends a sentence: its last character is '.', '!' or '?',
// possibly followed by closing quotes and brackets.
bool ends_sentence(std::string_view piece) {
  while (!piece.empty()) {
    const char c = piece.back();
    if (c == '"' || c == '\'' || c == ')' || c == ']') {
      piece.remove_suffix(1);
    } else if (piece.size() >= 3 && (piece.substr(piece.size() - 3) == "\xE2\x80\x9D" ||
                                     piece.substr(piece.size() - 3) == "\xE2\x80\x99")) {
      piece.remove_suffix(3);  // U+201D, U+2019: closing typographic quotes
    } else {
      break;
    }
  }
  return !piece.empty() && (piece.back() == '.' || piece.back() == '!' || piece.back() == '?');
}

// The sentences of `text`, each a list of its words.
std::vector<std::vector<WordSpan>> sentences(std::string_view text) {
  std::vector<std::vector<WordSpan>> out(1);
  size_t i = 0;
  while (i < text.size()) {
    if (is_ascii_space(text[i])) {
      ++i;
      continue;
    }
    size_t piece_end = i;
    while (piece_end < text.size() && !is_ascii_space(text[piece_end]))
      ++piece_end;
    // Trim to the first and last letter or digit of the piece.
    size_t first = std::string_view::npos;
    size_t last_end = 0;
    for (size_t j = i; j < piece_end;) {
      size_t length = 1;
      if (is_word_char(text::decode_code_point(text, j, &length))) {
        if (first == std::string_view::npos) first = j;
        last_end = j + length;
      }
      j += length;
    }
    if (first != std::string_view::npos) out.back().push_back({first, last_end});
    if (ends_sentence(text.substr(i, piece_end - i)) && !out.back().empty()) out.emplace_back();
    i = piece_end;
  }
  if (out.back().empty()) out.pop_back();
  return out;
}

// ---------------------------------------------------------------------------------------------
// Options.

Kind parse_kind(const std::string& name) {
  if (name == "terms") return Kind::kTerms;
  if (name == "span") return Kind::kSpan;
  throw ConfigError("synthetic query option kinds: unknown kind '" + name +
                    "', expected \"terms\" or \"span\"");
}

[[noreturn]] void bad_option(const char* name, const std::string& expected, int64_t found) {
  throw ConfigError(std::string("synthetic query option ") + name + ": expected " + expected +
                    ", found " + std::to_string(found));
}

// The indices of the passages that give queries, ascending.
std::vector<size_t> sampled_passages(size_t corpus_size, const SyntheticQueryOptions& options) {
  std::vector<size_t> indices(corpus_size);
  std::iota(indices.begin(), indices.end(), size_t{0});
  const auto wanted = static_cast<size_t>(options.passages);
  if (wanted == 0 || wanted >= corpus_size) return indices;
  // The first `wanted` steps of a Fisher-Yates shuffle.
  Rng rng(options.seed, kSampleStream, corpus_size, 0);
  for (size_t i = 0; i < wanted; ++i) {
    const size_t j = i + static_cast<size_t>(rng.below(corpus_size - i));
    std::swap(indices[i], indices[j]);
  }
  indices.resize(wanted);
  std::sort(indices.begin(), indices.end());
  return indices;
}

}  // namespace

const std::vector<std::string>& synthetic_query_kinds() {
  static const std::vector<std::string> kKinds = {"terms", "span"};
  return kKinds;
}

void check_synthetic_query_options(const SyntheticQueryOptions& options) {
  if (options.passages < 0) bad_option("passages", "an integer >= 0 (0: all)", options.passages);
  if (options.queries_per_passage < 1) {
    bad_option("queries_per_passage", "an integer >= 1", options.queries_per_passage);
  }
  if (options.min_words < 1) bad_option("min_words", "an integer >= 1", options.min_words);
  if (options.max_words < options.min_words) {
    bad_option("max_words", "an integer >= min_words (" + std::to_string(options.min_words) + ")",
               options.max_words);
  }
  if (options.kinds.empty()) {
    throw ConfigError(
        "synthetic query option kinds: expected at least one of \"terms\", \"span\", found none");
  }
  for (const std::string& kind : options.kinds)
    parse_kind(kind);
  if (options.id_prefix.empty() ||
      std::any_of(options.id_prefix.begin(), options.id_prefix.end(), is_ascii_space)) {
    throw ConfigError(
        "synthetic query option id_prefix: expected a non-empty prefix without "
        "whitespace, found '" +
        options.id_prefix + "'");
  }
}

SyntheticQueries make_synthetic_queries(const Corpus& corpus,
                                        const SyntheticQueryOptions& options) {
  check_synthetic_query_options(options);
  std::vector<Kind> kinds;
  for (const std::string& name : options.kinds)
    kinds.push_back(parse_kind(name));
  const bool any_terms = std::find(kinds.begin(), kinds.end(), Kind::kTerms) != kinds.end();
  const DocumentFrequencies df = any_terms ? document_frequencies(corpus) : DocumentFrequencies{};
  const auto min_words = static_cast<size_t>(options.min_words);
  const auto word_range = static_cast<uint64_t>(options.max_words - options.min_words + 1);

  SyntheticQueries out;
  for (size_t index : sampled_passages(corpus.size(), options)) {
    const Passage& passage = corpus[index];
    // Computed on first use: a passage's terms and sentences serve all its slots of that kind.
    std::vector<std::string> terms;
    std::vector<uint32_t> term_df;
    bool have_terms = false;
    std::vector<std::vector<WordSpan>> eligible;  // sentences with at least min_words words
    bool have_sentences = false;
    std::vector<std::string> made;  // lowercased texts of this passage's queries

    for (int slot = 0; slot < options.queries_per_passage; ++slot) {
      const Kind kind = kinds[static_cast<size_t>(slot) % kinds.size()];
      if (kind == Kind::kTerms && !have_terms) {
        terms = passage_terms(passage);
        for (const std::string& term : terms)
          term_df.push_back(df.at(term));
        have_terms = true;
      }
      if (kind == Kind::kSpan && !have_sentences) {
        for (std::vector<WordSpan>& sentence : sentences(passage.text)) {
          if (sentence.size() >= min_words) eligible.push_back(std::move(sentence));
        }
        have_sentences = true;
      }
      if (kind == Kind::kTerms ? terms.size() < min_words : eligible.empty()) continue;

      Rng rng(options.seed, kQueryStream, index, static_cast<uint64_t>(slot));
      for (int attempt = 0; attempt < kAttemptsPerSlot; ++attempt) {
        const size_t drawn = min_words + static_cast<size_t>(rng.below(word_range));
        std::string text;
        if (kind == Kind::kTerms) {
          text = terms_query(terms, term_df, std::min(drawn, terms.size()));
        } else {
          const std::vector<WordSpan>& sentence = eligible[rng.below(eligible.size())];
          const size_t n = std::min(drawn, sentence.size());
          const size_t start = static_cast<size_t>(rng.below(sentence.size() - n + 1));
          const size_t begin = sentence[start].begin;
          text = passage.text.substr(begin, sentence[start + n - 1].end - begin);
          // A run of function words alone ("one of the") names nothing: draw again.
          std::vector<std::string> words;
          append_words(text, &words);
          if (std::none_of(words.begin(), words.end(), usable_term)) continue;
        }
        std::string key = ascii_lower(text);
        if (std::find(made.begin(), made.end(), key) != made.end()) continue;
        made.push_back(std::move(key));
        const std::string id = options.id_prefix + "-" + passage.id + "-" + std::to_string(slot);
        out.queries.push_back(Query{id, std::move(text)});
        out.qrels.push_back(SyntheticQrel{id, passage.id, 1});
        break;
      }
    }
  }
  if (out.queries.empty()) {
    // Empty files would only fail later, in whichever stage reads them back.
    throw DataError("no synthetic query could be made from the " + std::to_string(corpus.size()) +
                    " passages of the corpus: every sampled passage has fewer than min_words (" +
                    std::to_string(options.min_words) + ") usable words");
  }
  return out;
}

void write_synthetic_queries(const std::string& dir, const SyntheticQueries& queries) {
  ensure_directory(dir + "/qrels");
  std::string jsonl;
  for (const Query& query : queries.queries) {
    try {
      jsonl += nlohmann::json{{"_id", query.id}, {"text", query.text}}.dump();
    } catch (const nlohmann::json::type_error& e) {
      throw DataError("synthetic query '" + query.id + "': text is not valid UTF-8 (" + e.what() +
                      ")");
    }
    jsonl += '\n';
  }
  std::string tsv = "query-id\tcorpus-id\tscore\n";
  for (const SyntheticQrel& qrel : queries.qrels)
    tsv += qrel.query_id + '\t' + qrel.passage_id + '\t' + std::to_string(qrel.grade) + '\n';
  write_file_atomic(dir + "/queries.jsonl", jsonl);
  write_file_atomic(dir + "/qrels/train.tsv", tsv);
}

}  // namespace dgr::data
