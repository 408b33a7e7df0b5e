// The options of constrained beam search (`search`) and of SEAL's intersective scoring
// (`scoring`), as the configuration holds them: each struct with its visit() (core/util/config.h
// reads, writes and documents them). SEAL's settings are the defaults. No index or torch here.
#pragma once

#include <string>
#include <vector>

#include "core/util/options.h"

namespace dgr::search {

struct SearchOptions {
  int beam_size = 15;
  std::vector<std::string> views;
  int title_max_length = 15;
  int body_max_length = 10;
  int pq_max_length = 30;
  bool keep_history = true;
  int batch_size = 8;
  int max_query_length = 64;
  bool rescore = false;
};

template <class V>
void visit(V& v, SearchOptions& o) {
  v.field("beam_size", o.beam_size, "Beams per query and view of constrained beam search.");
  v.field("views", o.views,
          "Views to generate (title, body, pseudo_queries); empty = every view the index holds.");
  v.field("title_max_length", o.title_max_length,
          "Longest generated title, in tokens (end marker included).");
  v.field("body_max_length", o.body_max_length, "Longest generated body n-gram, in tokens.");
  v.field("pq_max_length", o.pq_max_length,
          "Longest generated pseudo-query, in tokens (end marker included).");
  v.field("keep_history", o.keep_history,
          "Every partial hypothesis becomes a key (SEAL); false keeps only the final beams.");
  v.field("batch_size", o.batch_size, "Queries decoded together.");
  v.field("max_query_length", o.max_query_length, "Query tokens given to the encoder.");
  v.field("rescore", o.rescore,
          "Rescore every key by teacher forcing. Beam search's own sums are already the keys' "
          "log-probabilities without length penalty (equal up to float rounding), so this only "
          "costs time; it is here for parity with SEAL.");
}

// OptionError for a beam, batch, query length or view length below 1.
void check_search_options(const SearchOptions& o);

struct ScoringOptions {
  double alpha = 2.0;            // exponent of a key's log-odds
  double beta = 0.8;             // share of a key's weight that depends on new tokens, [0, 1]
  double smoothing = 5.0;        // s in P(n) = (F + s) / (N + s), > 0
  int max_hits = 1500;           // keys with more occurrences nominate no candidates
  int fully_score = 1500;        // candidates scored fully, by nomination weight
  bool unigram_evidence = true;  // add the first body step's unigram log-odds
  int unigram_top = 5000;        // tokens of the first body step kept as unigram evidence
  int depth = 100;               // passages returned
  // Counted keys reported per passage (DGR's 40): not a scoring key, the retrieving stage sets it
  // from its own option, whose default this is.
  int max_keys_per_passage = 40;
};

template <class V>
void visit(V& v, ScoringOptions& o) {
  v.field("alpha", o.alpha, "Exponent of a key's log-odds weight (SEAL: 2).");
  v.field("beta", o.beta, "Coverage weight: share of a key's weight that depends on new tokens.");
  v.field("smoothing", o.smoothing,
          "Added to counts in P(n) = (F(n) + s) / (N + s); N is the corpus tokens for body keys "
          "and, for title and pseudo-query keys, the count of their start marker (the keys can "
          "only start there).");
  v.field("max_hits", o.max_hits, "Keys occurring more often than this nominate no candidates.");
  v.field("fully_score", o.fully_score, "Candidates scored with every key (the top by evidence).");
  v.field("unigram_evidence", o.unigram_evidence,
          "Add the first decoding step's token log-odds (no exponent) to passage scores.");
  v.field("unigram_top", o.unigram_top, "Tokens of the first step kept as unigram evidence.");
  v.field("depth", o.depth, "Passages ranked per query (run file depth).");
}

// OptionError for a value out of range (alpha, smoothing <= 0; beta outside [0, 1]; max_hits,
// fully_score, depth < 1; unigram_top < 0).
void check_scoring_options(const ScoringOptions& o);

}  // namespace dgr::search
