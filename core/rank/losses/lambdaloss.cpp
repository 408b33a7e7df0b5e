// lambdaloss, NDCG-Loss2 of the LambdaLoss framework (Wang et al., 2018): for each list,
//   Σ over valid pairs (i, j) with G_i > G_j of δ_ij · |G_i − G_j| · log2(1 + exp(−σ(s_i − s_j))),
//   δ_ij = |1/D(|r_i − r_j|) − 1/D(|r_i − r_j| + 1)|,  D(k) = log2(1 + k),
//   G_i = (2^{g_i} − 1) / maxDCG,  maxDCG = Σ_k (2^{g_(k)} − 1) / log2(1 + k)  (1 when it is 0),
// with g_i the number of valid entries that entry i is preferred to (the preferred pairs of
// core/rank/ranking_loss.h; the positive's g is the number of negatives), g_(k) the gains in
// descending order, and r the 1-based ranks of the valid entries by the student's scores,
// highest first, ties by list position. The ranks and gains carry no gradient: only the
// logistic term does, weighted by how much swapping the two entries would move NDCG.
#include <torch/torch.h>

#include <cmath>

#include "core/rank/losses/common.h"

namespace dgr::rank::losses {
namespace {

class LambdaLoss final : public RankingLoss {
 public:
  explicit LambdaLoss(const RankingLossOptions& options) : sigma_(options.sigma) {}

  const char* name() const override { return "lambdaloss"; }

  torch::Tensor list_losses(const RankingBatch& batch) const override {
    check_batch(batch, name());
    const torch::Tensor& mask = batch.mask;                      // [L, m]
    const torch::Tensor s = valid_or_zero(batch.student, mask);  // [L, m]
    const torch::Tensor t = valid_or_zero(batch.teacher, mask);  // [L, m]
    const int64_t m = s.size(1);
    const torch::Tensor both_valid = mask.unsqueeze(2) & mask.unsqueeze(1);  // [L, m, m]

    const torch::Tensor g = preferred_pairs(t, mask).sum(2);  // [L, m] int64, 0 when masked
    const torch::Tensor ranked_above = g.unsqueeze(2) > g.unsqueeze(1);  // [L, m, m]: g_i > g_j
    const torch::Tensor pairs = both_valid & ranked_above;               // [L, m, m]

    // G: gains over the ideal DCG of the list. Masked entries have g = 0, hence gain 0, and
    // sort last.
    const torch::Tensor gains = torch::pow(2.0, g.to(s.scalar_type())) - 1;             // [L, m]
    const torch::Tensor ideal = std::get<0>(gains.sort(1, /*descending=*/true));        // [L, m]
    const torch::Tensor discounts = torch::log2(torch::arange(2, m + 2, s.options()));  // [m]
    const torch::Tensor max_dcg = (ideal / discounts).sum(1, true);                     // [L, 1]
    const torch::Tensor big_g =
        gains / torch::where(max_dcg.gt(0), max_dcg, torch::ones_like(max_dcg));

    // r: 1 + the number of valid entries j before i in the student's order (higher score, or
    // the same score earlier in the list).
    torch::Tensor ranks;  // [L, m]
    {
      torch::NoGradGuard no_grad;
      const torch::Tensor idx = torch::arange(m, s.options().dtype(torch::kLong));  // [m]
      const torch::Tensor earlier = idx.view({1, m}) < idx.view({m, 1});            // [m, m]: j < i
      const torch::Tensor diff = pair_differences(s.detach());  // [L, m, m]: s_i − s_j
      const torch::Tensor before = mask.unsqueeze(1) & (diff.lt(0) | (diff.eq(0) & earlier));
      ranks = 1 + before.sum(2);
    }
    // |r_i − r_j| ≥ 1 on valid pairs; the other entries get 1 so that no 1/0 appears.
    const torch::Tensor distance =
        (ranks.unsqueeze(2) - ranks.unsqueeze(1)).abs().to(s.scalar_type()).masked_fill(~pairs, 1);
    const torch::Tensor delta =
        (torch::log2(1 + distance).reciprocal() - torch::log2(2 + distance).reciprocal()).abs();
    const torch::Tensor weights = delta * pair_differences(big_g).abs();  // [L, m, m]

    // log2(1 + exp(−x)) = −log σ(x) / ln 2, finite for every finite x.
    const torch::Tensor logistic =
        -torch::log_sigmoid(sigma_ * pair_differences(s)) / std::log(2.0);
    return (weights * logistic).masked_fill(~pairs, 0).sum({1, 2});  // [L]
  }

 private:
  double sigma_;
};

}  // namespace

std::unique_ptr<RankingLoss> make_lambdaloss(const RankingLossOptions& options) {
  return std::make_unique<LambdaLoss>(options);
}

}  // namespace dgr::rank::losses
