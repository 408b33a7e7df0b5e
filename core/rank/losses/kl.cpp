// kl, the teacher-to-student Kullback-Leibler divergence: for each list,
//   KL(p ‖ q) = Σ_i p_i (log p_i − log q_i),  p = softmax(t / τ_t), q = softmax(s / τ_s),
// both softmaxes over the list's valid entries only. It is listnet minus the entropy of p, so
// the two have the same gradient in s; kl is 0 when the distributions agree.
#include <torch/torch.h>

#include "core/rank/losses/common.h"

namespace dgr::rank::losses {
namespace {

class KlDivergence final : public RankingLoss {
 public:
  explicit KlDivergence(const RankingLossOptions& options)
      : temperature_(options.temperature), teacher_temperature_(options.teacher_temperature) {}

  const char* name() const override { return "kl"; }

  torch::Tensor list_losses(const RankingBatch& batch) const override {
    check_batch(batch, name());
    const ListDistributions d = list_distributions(batch, temperature_, teacher_temperature_);
    return (d.p * (d.log_p - d.log_q)).sum(1);  // [L]
  }

 private:
  double temperature_, teacher_temperature_;
};

}  // namespace

std::unique_ptr<RankingLoss> make_kl(const RankingLossOptions& options) {
  return std::make_unique<KlDivergence>(options);
}

}  // namespace dgr::rank::losses
