// Identifier views (MINDER): the token sequences of a passage that the FM-index holds and the
// model learns to generate.
//
//   title           </s> title @@             generated from the start marker, ends at " @@"
//   body            title @@ text             any substring (n-grams of up to 10 tokens)
//   pseudo_queries  || pseudo-query @@        one segment per pseudo-query
//
// The title and body views share one segment, `</s> title @@ text`, so a title's tokens are
// counted once in corpus frequencies (a title view alone is `</s> title @@`, a body view alone
// `title @@ text`). A passage without a title has no title view. Text is encoded with a leading
// space so every word has the same token it has mid-sentence. Markers are configurable strings:
// one that names a special token ("</s>") is that token, any other is encoded as text.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/index/fm_index.h"
#include "core/text/bpe_tokenizer.h"

namespace dgr::index {

struct ViewOptions {
  bool title = true;
  bool body = true;
  bool pseudo_queries = false;
  std::string title_start = "</s>";
  std::string title_end = " @@";
  std::string pq_start = " ||";
  std::string pq_end = " @@";
};

// Parses view names ("title", "body", "pseudo_queries") into the flags of `options`; throws
// ConfigError naming `where` for an unknown or repeated name, or an empty list.
void set_views(ViewOptions& options, const std::vector<std::string>& names,
               const std::string& where);
std::vector<std::string> view_names(const ViewOptions& options);

// The marker token sequences, encoded once per tokenizer.
struct ViewMarkers {
  std::vector<TokenId> title_start;
  std::vector<TokenId> title_end;
  std::vector<TokenId> pq_start;
  std::vector<TokenId> pq_end;
};
ViewMarkers encode_markers(const text::BpeTokenizer& tokenizer, const ViewOptions& options);

// The segments of one passage, in the order above.
PassageSegments passage_segments(const text::BpeTokenizer& tokenizer, const ViewOptions& options,
                                 const ViewMarkers& markers, const std::string& title,
                                 const std::string& text,
                                 const std::vector<std::string>& pseudo_queries);

}  // namespace dgr::index
