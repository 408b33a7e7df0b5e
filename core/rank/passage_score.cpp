#include "core/rank/passage_score.h"

#include <glog/logging.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>
#include <string>

#include "core/util/error.h"

namespace dgr::rank {
namespace {

constexpr double kLn2 = 0.693147180559945309417;

void check_alpha(double alpha) {
  if (!(alpha > 0)) {
    throw ConfigError("passage score: alpha = " + std::to_string(alpha) + " must be positive");
  }
}

void check_options(const PassageScoreOptions& options) {
  check_alpha(options.alpha);
  if (!(options.beta >= 0 && options.beta <= 1)) {
    throw ConfigError("passage score: beta = " + std::to_string(options.beta) +
                      " is outside [0, 1]");
  }
  if (!(options.smoothing > 0)) {
    throw ConfigError("passage score: smoothing = " + std::to_string(options.smoothing) +
                      " must be positive");
  }
  if (options.corpus_tokens == 0) {
    throw ConfigError("corpus_tokens = 0: the passage score needs the index's token count");
  }
  if (!(options.max_log_prob < 0)) {
    throw ConfigError("max_log_prob = " + std::to_string(options.max_log_prob) +
                      " must be negative");
  }
}

// The computation dtype of the log-softmax: at least float32 (half and bfloat16 logits are
// promoted), double kept so that a double model can be checked against finite differences.
torch::ScalarType log_prob_type(torch::ScalarType logits) {
  return logits == torch::kDouble ? torch::kDouble : torch::kFloat32;
}

}  // namespace

const KeyPrompts::Prompt& KeyPrompts::of(search::View view) const {
  switch (view) {
    case search::View::kTitle:
      return title;
    case search::View::kBody:
      return body;
    case search::View::kPseudoQuery:
      return pseudo_query;
  }
  throw DataError("key of unknown view " + std::to_string(static_cast<int>(view)));
}

uint64_t prior_positions(search::View view, const KeyPrompts& prompts,
                         const PassageScoreOptions& options) {
  // As at inference (search::key_positions): a key without a view prefix can start anywhere.
  if (view == search::View::kBody || prompts.of(view).prefix.empty()) return options.corpus_tokens;
  const bool title = view == search::View::kTitle;
  const uint64_t positions = title ? options.title_positions : options.pq_positions;
  if (positions == 0) {
    const char* option = title ? "title_positions" : "pq_positions";
    const char* marker = title ? "title" : "pseudo-query";
    const char* field = title ? "title_starts" : "pq_starts";
    throw ConfigError(std::string("passage score: a ") + search::view_name(view) + " key needs " +
                      option + ", the number of " + marker +
                      " start markers in the index (its manifest's " + field + "), but it is 0");
  }
  return positions;
}

double key_prior(int64_t count, uint64_t positions, double smoothing) {
  if (!(smoothing > 0)) {
    throw ConfigError("passage score: smoothing = " + std::to_string(smoothing) +
                      " must be positive");
  }
  if (count < 0) throw DataError("key count " + std::to_string(count) + " is negative");
  const auto f = static_cast<uint64_t>(count);
  if (f >= positions) return -std::numeric_limits<double>::infinity();  // P ≥ 1
  // log(1 − P) − log P = log(N − F) − log(F + s): the common log(N + s) cancels.
  return std::log(static_cast<double>(positions - f)) -
         std::log(static_cast<double>(f) + smoothing);
}

std::vector<double> coverage_coefficients(const std::vector<ScoreKey>& keys,
                                          const KeyPrompts& prompts, double beta) {
  std::vector<double> coefficients;
  coefficients.reserve(keys.size());
  std::vector<int32_t> covered;  // C, sorted
  std::vector<int32_t> distinct, merged;
  for (const ScoreKey& key : keys) {
    // T: the identifier tokens, the view's end marker (a finished key's) removed.
    const std::vector<int32_t>& end = prompts.of(key.view).end;
    auto last = key.tokens.end();
    if (!end.empty() && key.tokens.size() >= end.size() &&
        std::equal(end.begin(), end.end(),
                   key.tokens.end() - static_cast<std::ptrdiff_t>(end.size()))) {
      last -= static_cast<std::ptrdiff_t>(end.size());
    }
    distinct.assign(key.tokens.begin(), last);
    std::sort(distinct.begin(), distinct.end());
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    if (distinct.empty()) {
      coefficients.push_back(1.0 - beta);
      continue;
    }
    size_t fresh = 0;
    for (int32_t t : distinct)
      fresh += std::binary_search(covered.begin(), covered.end(), t) ? 0 : 1;
    coefficients.push_back(
        1.0 - beta + beta * static_cast<double>(fresh) / static_cast<double>(distinct.size()));
    merged.clear();
    std::set_union(covered.begin(), covered.end(), distinct.begin(), distinct.end(),
                   std::back_inserter(merged));
    covered.swap(merged);
  }
  return coefficients;
}

torch::Tensor log1mexp(const torch::Tensor& x) {
  // Each branch sees only the inputs it is accurate for (the others get −ln 2, where both are
  // fine), so the branch torch::where discards has finite values and gradients and cannot turn
  // a zero upstream gradient into NaN.
  const auto near_zero = x.gt(-kLn2);
  const auto small = torch::where(near_zero, x, torch::full_like(x, -kLn2));
  const auto large = torch::where(near_zero, torch::full_like(x, -kLn2), x);
  return torch::where(near_zero, torch::log(-torch::expm1(small)),
                      torch::log1p(-torch::exp(large)));
}

torch::Tensor key_weights(const torch::Tensor& log_probs, const torch::Tensor& priors, double alpha,
                          double max_log_prob) {
  check_alpha(alpha);
  CHECK(max_log_prob < 0) << "key_weights: max_log_prob " << max_log_prob << " must be negative";
  CHECK(log_probs.sizes() == priors.sizes())
      << "key_weights: log-probabilities " << log_probs.sizes() << " and priors " << priors.sizes();
  CHECK_EQ(log_probs.scalar_type(), priors.scalar_type()) << "key_weights: dtypes differ";
  const auto s = log_probs.clamp_max(max_log_prob);  // [K]
  const auto log_odds = s + priors - log1mexp(s);    // [K]; −∞ where the prior is
  const auto positive = log_odds.gt(0);              // [K]
  // pow only sees positive values (1 elsewhere): its gradient α·x^(α−1) is then finite for
  // every α > 0, and the discarded branch never contributes 0·∞.
  const auto safe = torch::where(positive, log_odds, torch::ones_like(log_odds));
  return torch::where(positive, safe.pow(alpha), torch::zeros_like(log_odds));
}

torch::Tensor teacher_forced_log_probs(model::BartModel& model, const torch::Tensor& encoder_out,
                                       const torch::Tensor& attention_mask,
                                       const std::vector<int64_t>& query_of,
                                       const std::vector<const ScoreKey*>& keys,
                                       const KeyPrompts& prompts) {
  CHECK_EQ(query_of.size(), keys.size()) << "teacher_forced_log_probs: one query per key";
  CHECK_EQ(encoder_out.dim(), 3) << "teacher_forced_log_probs: encoder_out is [Q, S, D]";
  CHECK(attention_mask.dim() == 2 && attention_mask.size(0) == encoder_out.size(0) &&
        attention_mask.size(1) == encoder_out.size(1))
      << "teacher_forced_log_probs: attention_mask " << attention_mask.sizes()
      << " for encoder_out " << encoder_out.sizes();
  const auto& config = model->config();
  const torch::Device device = encoder_out.device();
  const auto k_count = static_cast<int64_t>(keys.size());
  if (k_count == 0) {
    return torch::zeros(
        {0}, torch::TensorOptions().dtype(log_prob_type(encoder_out.scalar_type())).device(device));
  }

  int64_t longest = 0;
  for (size_t k = 0; k < keys.size(); ++k) {
    CHECK(query_of[k] >= 0 && query_of[k] < encoder_out.size(0))
        << "teacher_forced_log_probs: key " << k << " of query " << query_of[k] << " for "
        << encoder_out.size(0) << " encoded queries";
    const ScoreKey& key = *keys[k];
    if (key.tokens.empty()) {
      throw DataError("passage score: key " + std::to_string(k) + " (" +
                      search::view_name(key.view) + ") has no tokens");
    }
    // start + prefix + tokens[:-1]: as many positions as prefix + tokens.
    const auto length =
        static_cast<int64_t>(prompts.of(key.view).prefix.size() + key.tokens.size());
    if (length > config.max_position_embeddings) {
      throw DataError("passage score: key " + std::to_string(k) + " (" +
                      search::view_name(key.view) + ") needs " + std::to_string(length) +
                      " decoder positions, more than max_position_embeddings " +
                      std::to_string(config.max_position_embeddings));
    }
    longest = std::max(longest, length);
  }

  // One right-padded decoder batch: row k = start + prefix + tokens[:-1]. Flat positions
  // (row · T + t) whose next token is one of the key's tokens, that token, and its key.
  auto ids = torch::full({k_count, longest}, config.pad_token_id, torch::kLong);  // [K, T]
  auto ids_a = ids.accessor<int64_t, 2>();
  std::vector<int64_t> positions, next_tokens, owner;
  for (int64_t r = 0; r < k_count; ++r) {
    const ScoreKey& key = *keys[static_cast<size_t>(r)];
    const auto& prefix = prompts.of(key.view).prefix;
    int64_t t = 0;
    ids_a[r][t++] = config.decoder_start_token_id;
    for (int32_t token : prefix)
      ids_a[r][t++] = token;
    for (size_t i = 0; i + 1 < key.tokens.size(); ++i)
      ids_a[r][t++] = key.tokens[i];
    for (size_t i = 0; i < key.tokens.size(); ++i) {
      positions.push_back(r * longest + static_cast<int64_t>(prefix.size() + i));
      next_tokens.push_back(key.tokens[i]);
      owner.push_back(r);
    }
  }
  auto to_device = [&](const std::vector<int64_t>& v) {
    return torch::tensor(v, torch::kLong).to(device);
  };

  // Each key's encoder row, selected (not copied out of the graph) so gradients reach the
  // encoder through every key of its query.
  const auto rows = to_device(query_of);                              // [K]
  const auto memory = encoder_out.index_select(0, rows);              // [K, S, D]
  const auto mask = attention_mask.to(device).index_select(0, rows);  // [K, S]
  const auto hidden = model->decode(ids.to(device), memory, mask);    // [K, T, D]
  // The LM head only at scored positions: P = Σ |tokens| rows of V logits, not K · T.
  const auto picked = hidden.reshape({k_count * longest, -1}).index_select(0, to_device(positions));
  const auto logits = model->lm_logits(picked);  // [P, V]
  const auto log_probs = torch::log_softmax(logits.to(log_prob_type(logits.scalar_type())), -1);
  const auto token_lp = log_probs.gather(1, to_device(next_tokens).unsqueeze(1)).squeeze(1);  // [P]
  return torch::zeros({k_count}, token_lp.options()).index_add(0, to_device(owner), token_lp);
}

torch::Tensor score_candidates(model::BartModel& model, const torch::Tensor& encoder_out,
                               const torch::Tensor& attention_mask,
                               const std::vector<CandidateKeys>& candidates,
                               const KeyPrompts& prompts, const PassageScoreOptions& options) {
  check_options(options);
  const auto c_count = static_cast<int64_t>(candidates.size());

  // Every key of every candidate, flattened, with its prior, coverage coefficient and owner
  // (host side, in double).
  std::vector<const ScoreKey*> keys;
  std::vector<int64_t> query_of, owner;
  std::vector<double> priors, coefficients;
  for (int64_t c = 0; c < c_count; ++c) {
    const CandidateKeys& candidate = candidates[static_cast<size_t>(c)];
    const std::vector<double> coverage =
        coverage_coefficients(candidate.keys, prompts, options.beta);
    for (size_t k = 0; k < candidate.keys.size(); ++k) {
      const ScoreKey& key = candidate.keys[k];
      if (key.count < 0) {
        throw DataError("passage score: candidate " + std::to_string(c) + " key " +
                        std::to_string(k) + " has count " + std::to_string(key.count));
      }
      keys.push_back(&key);
      query_of.push_back(candidate.query);
      owner.push_back(c);
      priors.push_back(
          key_prior(key.count, prior_positions(key.view, prompts, options), options.smoothing));
      coefficients.push_back(coverage[k]);
    }
  }
  const torch::ScalarType dtype = log_prob_type(encoder_out.scalar_type());
  auto scores =
      torch::zeros({c_count}, torch::TensorOptions().dtype(dtype).device(encoder_out.device()));
  if (keys.empty()) return scores;  // no key: every score is the constant 0

  const auto log_probs =
      teacher_forced_log_probs(model, encoder_out, attention_mask, query_of, keys, prompts);  // [K]
  auto on_device = [&](const std::vector<double>& v) {
    return torch::tensor(v, torch::kDouble).to(log_probs.device(), log_probs.scalar_type());
  };
  const auto weights =
      key_weights(log_probs, on_device(priors), options.alpha, options.max_log_prob);  // [K]
  return scores.index_add(0, torch::tensor(owner, torch::kLong).to(log_probs.device()),
                          weights * on_device(coefficients));  // [C]
}

}  // namespace dgr::rank
