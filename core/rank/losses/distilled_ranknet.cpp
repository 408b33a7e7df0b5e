// distilled_ranknet, DGR's distilled RankNet loss: for each list, the mean over the active
// preferred pairs (i, j) of
//   w_ij · max(0, s_j − s_i + M + (j − i − 1)·δ),
//   w_0j = first_weight, w_ij = 1/(i + 1) for i ≥ 1,
// where a pair is active when its term is > 0. The step (j − i − 1)·δ asks for a wider gap the
// further apart the teacher put two candidates. A list without an active pair gives 0, with a
// zero gradient.
#include <torch/torch.h>

#include "core/rank/losses/common.h"

namespace dgr::rank::losses {
namespace {

class DistilledRankNet final : public RankingLoss {
 public:
  explicit DistilledRankNet(const RankingLossOptions& options)
      : margin_(options.margin),
        margin_step_(options.margin_step),
        first_weight_(options.first_weight) {}

  const char* name() const override { return "distilled_ranknet"; }

  torch::Tensor list_losses(const RankingBatch& batch) const override {
    check_batch(batch, name());
    const torch::Tensor s = valid_or_zero(batch.student, batch.mask);  // [L, m]
    const torch::Tensor t = valid_or_zero(batch.teacher, batch.mask);  // [L, m]
    const int64_t m = s.size(1);
    const torch::Tensor pairs = preferred_pairs(t, batch.mask);  // [L, m, m]

    const torch::Tensor idx = torch::arange(m, s.options());                              // [m]
    const torch::Tensor step = (idx.view({1, m}) - idx.view({m, 1}) - 1) * margin_step_;  // [m, m]
    // -pair_differences(s) is s_j − s_i at [l, i, j].
    const torch::Tensor hinge = torch::relu(-pair_differences(s) + margin_ + step);   // [L, m, m]
    const torch::Tensor terms = pair_weights(m, first_weight_, s.options()) * hinge;  // [L, m, m]

    const torch::Tensor active = pairs & terms.gt(0);                                 // [L, m, m]
    const torch::Tensor sum = terms.masked_fill(~active, 0).sum({1, 2});              // [L]
    const torch::Tensor count = active.sum({1, 2}).clamp_min(1).to(s.scalar_type());  // [L]
    return sum / count;
  }

 private:
  double margin_, margin_step_, first_weight_;
};

}  // namespace

std::unique_ptr<RankingLoss> make_distilled_ranknet(const RankingLossOptions& options) {
  return std::make_unique<DistilledRankNet>(options);
}

}  // namespace dgr::rank::losses
