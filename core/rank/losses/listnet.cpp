// listnet, top-one ListNet with the teacher's distribution as the target: for each list,
//   −Σ_i p_i · log q_i,  p = softmax(t / τ_t), q = softmax(s / τ_s),
// both softmaxes over the list's valid entries only. Its gradient in s_i is (q_i − p_i) / τ_s.
#include <torch/torch.h>

#include "core/rank/losses/common.h"

namespace dgr::rank::losses {
namespace {

class ListNet final : public RankingLoss {
 public:
  explicit ListNet(const RankingLossOptions& options)
      : temperature_(options.temperature), teacher_temperature_(options.teacher_temperature) {}

  const char* name() const override { return "listnet"; }

  torch::Tensor list_losses(const RankingBatch& batch) const override {
    check_batch(batch, name());
    const ListDistributions d = list_distributions(batch, temperature_, teacher_temperature_);
    return -(d.p * d.log_q).sum(1);  // [L]
  }

 private:
  double temperature_, teacher_temperature_;
};

}  // namespace

std::unique_ptr<RankingLoss> make_listnet(const RankingLossOptions& options) {
  return std::make_unique<ListNet>(options);
}

}  // namespace dgr::rank::losses
