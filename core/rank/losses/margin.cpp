// margin, LTRGR's margin-based rank loss: for each list, the mean over its negatives j of
//   max(0, s_j − s_0 + M),
// the positive s_0 against every valid negative whatever the teacher's order among them. A list
// with no negative gives 0.
#include <torch/torch.h>

#include "core/rank/losses/common.h"

namespace dgr::rank::losses {
namespace {

class MarginLoss final : public RankingLoss {
 public:
  explicit MarginLoss(const RankingLossOptions& options) : margin_(options.margin) {}

  const char* name() const override { return "margin"; }

  torch::Tensor list_losses(const RankingBatch& batch) const override {
    check_batch(batch, name());
    const torch::Tensor s = valid_or_zero(batch.student, batch.mask);  // [L, m]
    const int64_t m = s.size(1);
    const torch::Tensor not_first = torch::arange(m, s.options().dtype(torch::kLong)).ne(0);
    const torch::Tensor negatives = batch.mask & not_first;                         // [L, m]
    const torch::Tensor hinge = torch::relu(s - s.narrow(1, 0, 1) + margin_);       // [L, m]
    const torch::Tensor sum = hinge.masked_fill(~negatives, 0).sum(1);              // [L]
    const torch::Tensor count = negatives.sum(1).clamp_min(1).to(s.scalar_type());  // [L]
    return sum / count;
  }

 private:
  double margin_;
};

}  // namespace

std::unique_ptr<RankingLoss> make_margin(const RankingLossOptions& options) {
  return std::make_unique<MarginLoss>(options);
}

}  // namespace dgr::rank::losses
