// Ranking losses of DGR stage 2 over lists of candidates (core/rank/list_sampling.h): each list
// is a positive followed by negatives in teacher order. One interface; the loss is chosen by
// name, and each lives in its own file under core/rank/losses/.
//
// A batch of L lists of at most m entries is given as [L, m] tensors: the student's scores
// s (differentiable), the teacher's scores t, and a mask of the valid entries (a prefix of each
// row, at least one entry). Entry 0 of a list is its positive.
//
// Preferred pairs: (i, j) with i < j, both valid, and either i = 0 (the positive is preferred
// to every negative whatever the teacher says) or t_i > t_j (negatives tied in the teacher's
// score form no pair).
//
//   distilled_ranknet  DGR: mean over active preferred pairs of w_ij·max(0, s_j − s_i + M +
//                      (j − i − 1)·δ), w_0j = first_weight, w_ij = 1/(i + 1) for i ≥ 1; a pair is
//                      active when its term is > 0; a list without an active pair gives 0.
//   ranknet_logistic   Σ over preferred pairs of w_ij·log(1 + exp(−σ(s_i − s_j))), the same w.
//   margin             LTRGR: mean over the list's negatives j of max(0, s_j − s_0 + M).
//   listnet            −Σ_i softmax(t / τ_t)_i · log softmax(s / τ_s)_i over the valid entries
//                      (top-one ListNet with the teacher's distribution as the target).
//   kl                 KL(softmax(t / τ_t) ‖ softmax(s / τ_s)) = Σ_i p_i (log p_i − log q_i).
//   lambdaloss         LambdaLoss's NDCG-Loss2: Σ over pairs with G_i > G_j of
//                      δ_ij·|G_i − G_j|·log2(1 + exp(−σ(s_i − s_j))),
//                      δ_ij = |1/D(|r_i − r_j|) − 1/D(|r_i − r_j| + 1)|, D(k) = log2(1 + k),
//                      r the 1-based ranks of the entries by the student's scores (no gradient;
//                      ties by list position), G_i = (2^{g_i} − 1) / maxDCG with g_i the number
//                      of valid entries that entry i is preferred to, maxDCG = Σ_k (2^{g_(k)} −
//                      1) / log2(1 + k) over the gains in descending order (1 when it is 0).
//
// Every loss gives one value per list, finite for finite scores (masked entries never reach an
// exp or a log that could make a NaN, in values or gradients), and the caller averages them.
#pragma once

#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

#include "core/rank/ranking_loss_options.h"

namespace dgr::rank {

struct RankingBatch {
  torch::Tensor student;  // [L, m] floating, differentiable
  torch::Tensor teacher;  // [L, m] same dtype and device
  torch::Tensor mask;     // [L, m] bool: valid entries, a non-empty prefix of each row
};

class RankingLoss {
 public:
  virtual ~RankingLoss() = default;
  virtual const char* name() const = 0;
  // The loss of each list [L], differentiable in batch.student. DataError for shapes, dtypes or
  // a mask that the contract above does not allow.
  virtual torch::Tensor list_losses(const RankingBatch& batch) const = 0;
};

// The loss `name` (one of ranking_loss_names()). ConfigError listing the names for an unknown
// name; OptionError naming the option for a value out of range (sigma, temperatures ≤ 0; margin,
// margin_step, first_weight not finite).
std::unique_ptr<RankingLoss> make_ranking_loss(const std::string& name,
                                               const RankingLossOptions& options);

}  // namespace dgr::rank
