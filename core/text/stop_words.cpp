#include "core/text/stop_words.h"

#include <algorithm>

namespace dgr::text {

const std::vector<std::string>& english_stop_words() {
  static const std::vector<std::string> words = {
      "a",   "an",    "and",  "are",   "as",    "at",   "be",   "but", "by",  "for",  "if",
      "in",  "into",  "is",   "it",    "no",    "not",  "of",   "on",  "or",  "such", "that",
      "the", "their", "then", "there", "these", "they", "this", "to",  "was", "will", "with"};
  return words;
}

bool is_english_stop_word(std::string_view lowercase_word) {
  const std::vector<std::string>& words = english_stop_words();
  return std::binary_search(words.begin(), words.end(), lowercase_word);
}

}  // namespace dgr::text
