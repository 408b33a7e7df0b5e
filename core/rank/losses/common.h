// What the ranking losses of core/rank/losses/ share: the check of a RankingBatch against the
// contract of core/rank/ranking_loss.h, the preferred pairs and their weights, and a log-softmax
// over the valid entries only. Also declares the factory of each loss, which the registry in
// core/rank/ranking_loss.cpp calls with options it has already checked.
//
// Every helper keeps masked entries away from exp, log and division: it replaces them by safe
// values first and masks the result afterwards, so padding (even NaN or inf) changes neither
// the values nor the gradients of the valid entries, and gets a zero gradient itself.
#pragma once

#include <torch/types.h>

#include <memory>

#include "core/rank/ranking_loss.h"

namespace dgr::rank::losses {

// DataError naming `loss` unless student, teacher and mask are defined [L, m] tensors with
// m ≥ 1, student floating, teacher of the student's dtype, mask bool, all on one device, and
// each mask row a non-empty prefix (entry 0 valid, no valid entry after a masked one).
void check_batch(const RankingBatch& batch, const char* loss);

// `x` [L, m] with the masked entries replaced by 0: the input every loss starts from.
torch::Tensor valid_or_zero(const torch::Tensor& x, const torch::Tensor& mask);

// [L, m, m] bool: entry [l, i, j] is true when (i, j) is a preferred pair of list l: i < j,
// both valid, and i = 0 or t_i > t_j. `teacher` must be finite where `mask` is false
// (valid_or_zero).
torch::Tensor preferred_pairs(const torch::Tensor& teacher, const torch::Tensor& mask);

// [1, m, 1] of the `options` dtype and device: w_ij, which depends on i only: first_weight for
// i = 0, 1/(i + 1) for i ≥ 1. Broadcasts against [L, m, m] pair tensors.
torch::Tensor pair_weights(int64_t m, double first_weight, const torch::TensorOptions& options);

// [L, m, m]: entry [l, i, j] = x_i − x_j of list l.
torch::Tensor pair_differences(const torch::Tensor& x);

// [L, m]: log softmax of `x` over the valid entries of each row, 0 at masked entries. `x` must
// be finite where `mask` is false (valid_or_zero).
torch::Tensor masked_log_softmax(const torch::Tensor& x, const torch::Tensor& mask);

// The teacher's and the student's distributions over each list's valid entries (listnet, kl):
// log p = log softmax(t / τ_t), log q = log softmax(s / τ_s), and p itself, 0 on padding.
struct ListDistributions {
  torch::Tensor log_p, log_q, p;  // [L, m] each
};
ListDistributions list_distributions(const RankingBatch& batch, double temperature,
                                     double teacher_temperature);

// The losses, one file each (the formula in the file's first comment).
std::unique_ptr<RankingLoss> make_distilled_ranknet(const RankingLossOptions& options);
std::unique_ptr<RankingLoss> make_ranknet_logistic(const RankingLossOptions& options);
std::unique_ptr<RankingLoss> make_margin(const RankingLossOptions& options);
std::unique_ptr<RankingLoss> make_listnet(const RankingLossOptions& options);
std::unique_ptr<RankingLoss> make_kl(const RankingLossOptions& options);
std::unique_ptr<RankingLoss> make_lambdaloss(const RankingLossOptions& options);

}  // namespace dgr::rank::losses
