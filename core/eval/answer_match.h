// Answer-string matching for open-domain QA (NQ, TriviaQA): a passage "has the answer" when one of
// the query's answer strings occurs in its text as a contiguous sequence of whole tokens, after
// both are normalised the same way. This is the DPR evaluation's hits@k; "cat" does not match
// "category", and "U.S." matches "the u.s" (punctuation only separates tokens).
//
// Normalisation: ASCII and Latin-1 letters are lower-cased; tokens are maximal runs of characters
// that are neither whitespace nor punctuation (ASCII punctuation, Latin-1 symbols, the Unicode
// General Punctuation block, CJK and full-width punctuation). Other characters, and bytes that are
// not valid UTF-8, are kept as they are. Accents are not stripped. An answer with no token never
// matches.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace dgr::eval {

class AnswerMatcher {
 public:
  // Returns the text of a passage, or nullptr when the corpus has no such passage. The pointer is
  // read during the call only.
  using PassageText = std::function<const std::string*(const std::string& passage_id)>;

  // `answers`: query id -> answer strings. Answers are tokenised once, here.
  AnswerMatcher(const std::map<std::string, std::vector<std::string>>& answers,
                PassageText passage_text);

  // Whether the passage's text contains one of the query's answers. False for a query without
  // answers. Throws DataError when the passage has no text. O(|passage| * |answers|).
  bool has_answer(const std::string& query_id, const std::string& passage_id) const;

  // Whether the query has at least one answer with a token (those are the queries evaluated).
  bool has_answers(const std::string& query_id) const;

  // The queries with at least one answer with a token, sorted.
  std::vector<std::string> queries() const;

  // The normalised tokens of `text` (see above).
  static std::vector<std::string> tokenize(std::string_view text);

 private:
  // query id -> tokenised answers (answers without a token are dropped).
  std::map<std::string, std::vector<std::vector<std::string>>> answers_;
  PassageText passage_text_;
};

}  // namespace dgr::eval
