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
    const torch::Tensor s = valid_or_zero(batch.student, batch.mask);  // [L, m]
    const torch::Tensor t = valid_or_zero(batch.teacher, batch.mask);  // [L, m]
    const torch::Tensor log_p = masked_log_softmax(t / teacher_temperature_, batch.mask);
    const torch::Tensor log_q = masked_log_softmax(s / temperature_, batch.mask);  // [L, m]
    const torch::Tensor p = log_p.exp().masked_fill(~batch.mask, 0);               // [L, m]
    return -(p * log_q).sum(1);                                                    // [L]
  }

 private:
  double temperature_, teacher_temperature_;
};

}  // namespace

std::unique_ptr<RankingLoss> make_listnet(const RankingLossOptions& options) {
  return std::make_unique<ListNet>(options);
}

}  // namespace dgr::rank::losses
