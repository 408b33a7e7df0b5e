// DGR's differentiable passage score (stage 2): a candidate's stored keys (the generated
// identifiers that matched it at retrieval, with their corpus counts) are rescored by teacher
// forcing, with gradients, and weighted as SEAL's intersective scoring weighs them:
//
//   ŝ_k     = Σ_t log p(key_t | query, decoder start + view prefix + key_<t)   (the key's view)
//   prior_k = log(1 − P_k) − log P_k,  P_k = (F_k + smoothing) / (N_k + smoothing)
//   w_k     = max(0, ŝ_k + prior_k − log(1 − e^{ŝ_k}))^α
//   s(q, p) = Σ_k coeff_k · w_k
//
// F_k is the key's stored count (occurrences of view prefix + tokens) and N_k the positions
// where it can start, as at inference (search::key_positions): the corpus tokens N of the index
// for a body key, the occurrences of the title start marker (title_positions, the number of
// titles) for a title key, those of the pseudo-query start marker (pq_positions) for a
// pseudo-query key; a key whose view has no prefix can start anywhere and takes N. (Over N, a
// title key would look about N / titles times rarer than it is.) coeff_k is the coverage
// coefficient of core/search/intersective_scoring.h taken in the stored (counting) order:
// coeff_k = 1 − β + β·|T_k \ C_k| / |T_k|, T_k the distinct identifier tokens of key k (its end
// marker removed when it ends with its view's), C_k the union of T over the keys before it;
// coefficients are constants (no gradient). Each key is rescored in its own view's prompt (title
// keys after the title marker, body keys with none), so an unchanged model gives back the
// log-probabilities stored at retrieval.
//
// Numerics: ŝ is clamped to ≤ max_log_prob (−1e-6) before log(1 − e^ŝ), which is computed as
// log(−expm1(ŝ)) near 0 and log1p(−e^ŝ) below −ln 2; max(0, x)^α is evaluated only where x > 0,
// so weights and gradients are finite for every finite ŝ, including ŝ → 0 and any α > 0.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "core/model/bart.h"
#include "core/search/identifiers.h"

namespace dgr::rank {

struct PassageScoreOptions {
  double alpha = 2.0;          // exponent of a key's log-odds, > 0
  double beta = 0.8;           // coverage share, [0, 1]
  double smoothing = 5.0;      // > 0
  uint64_t corpus_tokens = 0;  // N of the index the counts come from, > 0
  // Occurrences of the title start marker in that index (index::Manifest::title_starts), N_k of
  // title keys: > 0 when a title key is scored. pq_positions likewise for pseudo-query keys.
  uint64_t title_positions = 0;
  uint64_t pq_positions = 0;
  double max_log_prob = -1e-6;  // ŝ is clamped to this (< 0) inside log(1 − e^ŝ)
};

// A stored key: its view and the generated tokens after the view's prefix (a finished title or
// pseudo-query keeps its end marker), and its corpus count F (≥ 0).
struct ScoreKey {
  search::View view = search::View::kBody;
  std::vector<int32_t> tokens;
  int64_t count = 0;
};

// The forced prefix and the end marker of each view (core/search/identifiers.h).
struct KeyPrompts {
  struct Prompt {
    std::vector<int32_t> prefix;
    std::vector<int32_t> end;
  };
  Prompt title, body, pseudo_query;
  const Prompt& of(search::View view) const;
};

// One candidate: which query (row of the encoder output) and its keys in stored order.
struct CandidateKeys {
  int64_t query = 0;
  std::vector<ScoreKey> keys;
};

// N_k of a key of `view` (file comment): options.corpus_tokens for a body key or a view without
// a prefix, options.title_positions / pq_positions for a title / pseudo-query key. ConfigError
// when that count is 0 (the index's manifest lacks it, or the index has no such view).
uint64_t prior_positions(search::View view, const KeyPrompts& prompts,
                         const PassageScoreOptions& options);

// log(1 − P) − log P for P = (count + smoothing) / (positions + smoothing), `positions` the N_k
// of the key (prior_positions); −∞ when P ≥ 1.
double key_prior(int64_t count, uint64_t positions, double smoothing);

// The coverage coefficients of one candidate's keys, in the given order (see the file comment).
// A key without identifier tokens gets 1 − β.
std::vector<double> coverage_coefficients(const std::vector<ScoreKey>& keys,
                                          const KeyPrompts& prompts, double beta);

// log(1 − e^x) elementwise for x < 0, without cancellation; differentiable.
torch::Tensor log1mexp(const torch::Tensor& x);

// w_k for log-probabilities ŝ [K] and priors [K] (same dtype): the formula of the file comment,
// differentiable in `log_probs`, finite values and gradients for finite inputs (a prior of −∞
// gives weight 0).
torch::Tensor key_weights(const torch::Tensor& log_probs, const torch::Tensor& priors, double alpha,
                          double max_log_prob = -1e-6);

// Teacher-forced log-probabilities [K] of `keys` (float32 on the model's device, differentiable
// through the model): key k is decoded against row query_of[k] of `encoder_out` [Q, S, D] /
// `attention_mask` [Q, S], from decoder start + prompts.of(view).prefix, and ŝ_k sums the
// log-probabilities of its tokens. All keys go through the decoder in one right-padded batch.
// DataError when a key has no tokens or start + prefix + tokens exceeds the model's positions;
// CHECK on query_of out of range or sizes that differ.
torch::Tensor teacher_forced_log_probs(model::BartModel& model, const torch::Tensor& encoder_out,
                                       const torch::Tensor& attention_mask,
                                       const std::vector<int64_t>& query_of,
                                       const std::vector<const ScoreKey*>& keys,
                                       const KeyPrompts& prompts);

// s(q, p) [C] (float32, differentiable) for every candidate: all their keys rescored in one
// batch, weighted, multiplied by their coverage coefficients and summed per candidate. A
// candidate without keys scores 0. ConfigError for options out of range, and for a title or
// pseudo-query key when its view's positions are 0 (prior_positions).
torch::Tensor score_candidates(model::BartModel& model, const torch::Tensor& encoder_out,
                               const torch::Tensor& attention_mask,
                               const std::vector<CandidateKeys>& candidates,
                               const KeyPrompts& prompts, const PassageScoreOptions& options);

}  // namespace dgr::rank
