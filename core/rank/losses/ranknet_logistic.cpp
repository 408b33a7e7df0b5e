// ranknet_logistic, RankNet's logistic pairwise loss with DGR's pair weights: for each list,
//   Σ over preferred pairs (i, j) of w_ij · log(1 + exp(−σ(s_i − s_j))),
//   w_0j = first_weight, w_ij = 1/(i + 1) for i ≥ 1.
// log(1 + exp(−x)) is computed as −log σ(x), which stays finite and exact for any finite x.
#include <torch/torch.h>

#include "core/rank/losses/common.h"

namespace dgr::rank::losses {
namespace {

class RankNetLogistic final : public RankingLoss {
 public:
  explicit RankNetLogistic(const RankingLossOptions& options)
      : sigma_(options.sigma), first_weight_(options.first_weight) {}

  const char* name() const override { return "ranknet_logistic"; }

  torch::Tensor list_losses(const RankingBatch& batch) const override {
    check_batch(batch, name());
    const torch::Tensor s = valid_or_zero(batch.student, batch.mask);  // [L, m]
    const torch::Tensor t = valid_or_zero(batch.teacher, batch.mask);  // [L, m]
    const int64_t m = s.size(1);
    const torch::Tensor pairs = preferred_pairs(t, batch.mask);                        // [L, m, m]
    const torch::Tensor logistic = -torch::log_sigmoid(sigma_ * pair_differences(s));  // [L, m, m]
    const torch::Tensor terms = pair_weights(m, first_weight_, s.options()) * logistic;
    return terms.masked_fill(~pairs, 0).sum({1, 2});  // [L]
  }

 private:
  double sigma_, first_weight_;
};

}  // namespace

std::unique_ptr<RankingLoss> make_ranknet_logistic(const RankingLossOptions& options) {
  return std::make_unique<RankNetLogistic>(options);
}

}  // namespace dgr::rank::losses
