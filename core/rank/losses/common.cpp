#include "core/rank/losses/common.h"

#include <torch/torch.h>

#include <limits>
#include <string>

#include "core/util/error.h"

namespace dgr::rank::losses {
namespace {

std::string shape_text(const torch::Tensor& x) {
  std::string out = "[";
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d > 0) out += ", ";
    out += std::to_string(x.size(d));
  }
  return out + "]";
}

std::string dtype_text(const torch::Tensor& x) {
  return std::string(x.dtype().name());
}

}  // namespace

void check_batch(const RankingBatch& batch, const char* loss) {
  const std::string where = std::string(loss) + ": ";
  if (!batch.student.defined() || !batch.teacher.defined() || !batch.mask.defined()) {
    throw DataError(where + "the batch needs student, teacher and mask tensors");
  }
  const torch::Tensor& s = batch.student;
  if (s.dim() != 2 || s.size(1) < 1) {
    throw DataError(where + "student scores " + shape_text(s) +
                    " are not [L, m] with m >= 1 (L lists of at most m candidates)");
  }
  if (!batch.teacher.sizes().equals(s.sizes()) || !batch.mask.sizes().equals(s.sizes())) {
    throw DataError(where + "student " + shape_text(s) + ", teacher " + shape_text(batch.teacher) +
                    " and mask " + shape_text(batch.mask) + " differ in shape");
  }
  if (!s.is_floating_point()) {
    throw DataError(where + "student scores are " + dtype_text(s) + ", not floating point");
  }
  if (batch.teacher.scalar_type() != s.scalar_type()) {
    throw DataError(where + "teacher scores are " + dtype_text(batch.teacher) +
                    " but student scores are " + dtype_text(s));
  }
  if (batch.mask.scalar_type() != torch::kBool) {
    throw DataError(where + "the mask is " + dtype_text(batch.mask) + ", not bool");
  }
  if (batch.teacher.device() != s.device() || batch.mask.device() != s.device()) {
    throw DataError(where + "student (" + s.device().str() + "), teacher (" +
                    batch.teacher.device().str() + ") and mask (" + batch.mask.device().str() +
                    ") are not on one device");
  }
  // A row is bad when its positive is masked or a valid entry follows a masked one.
  const int64_t m = s.size(1);
  const torch::Tensor& mask = batch.mask;
  const torch::Tensor gap = mask.narrow(1, 1, m - 1) & ~mask.narrow(1, 0, m - 1);  // [L, m - 1]
  const torch::Tensor bad = ~mask.select(1, 0) | gap.any(1);                       // [L]
  if (bad.any().item<bool>()) {
    const int64_t row = bad.nonzero()[0][0].item<int64_t>();
    throw DataError(where + "mask row " + std::to_string(row) +
                    " is not a non-empty prefix (entry 0, the positive, must be valid and no "
                    "valid entry may follow a masked one)");
  }
}

torch::Tensor valid_or_zero(const torch::Tensor& x, const torch::Tensor& mask) {
  return x.masked_fill(~mask, 0);
}

torch::Tensor preferred_pairs(const torch::Tensor& teacher, const torch::Tensor& mask) {
  const int64_t m = teacher.size(1);
  const torch::Tensor idx = torch::arange(m, teacher.options().dtype(torch::kLong));  // [m]
  const torch::Tensor before = idx.view({m, 1}) < idx.view({1, m});  // [m, m]: i < j
  const torch::Tensor from_positive = idx.eq(0).view({m, 1});        // [m, 1]
  const torch::Tensor teacher_prefers = teacher.unsqueeze(2) > teacher.unsqueeze(1);  // [L, m, m]
  const torch::Tensor both_valid = mask.unsqueeze(2) & mask.unsqueeze(1);             // [L, m, m]
  return both_valid & before & (from_positive | teacher_prefers);
}

torch::Tensor pair_weights(int64_t m, double first_weight, const torch::TensorOptions& options) {
  const torch::Tensor idx = torch::arange(m, options);  // [m]
  const torch::Tensor weights =
      torch::where(idx.eq(0), torch::full_like(idx, first_weight), (idx + 1).reciprocal());
  return weights.view({1, m, 1});
}

torch::Tensor pair_differences(const torch::Tensor& x) {
  return x.unsqueeze(2) - x.unsqueeze(1);
}

torch::Tensor masked_log_softmax(const torch::Tensor& x, const torch::Tensor& mask) {
  const torch::Tensor invalid = ~mask;
  // The shift only keeps exp in range; log-sum-exp does not depend on it, so it needs no
  // gradient. Entry 0 is valid, so it is finite.
  const torch::Tensor shift =
      x.masked_fill(invalid, -std::numeric_limits<double>::infinity()).amax(1, true).detach();
  const torch::Tensor z = (x - shift).masked_fill(invalid, 0);                       // [L, m], <= 0
  const torch::Tensor log_sum = z.exp().masked_fill(invalid, 0).sum(1, true).log();  // [L, 1]
  return (z - log_sum).masked_fill(invalid, 0);
}

ListDistributions list_distributions(const RankingBatch& batch, double temperature,
                                     double teacher_temperature) {
  const torch::Tensor s = valid_or_zero(batch.student, batch.mask);  // [L, m]
  const torch::Tensor t = valid_or_zero(batch.teacher, batch.mask);  // [L, m]
  ListDistributions d;
  d.log_p = masked_log_softmax(t / teacher_temperature, batch.mask);
  d.log_q = masked_log_softmax(s / temperature, batch.mask);
  // p_i underflowing to 0 leaves a finite log p_i, so 0 · (log p_i − log q_i) stays 0.
  d.p = d.log_p.exp().masked_fill(~batch.mask, 0);
  return d;
}

}  // namespace dgr::rank::losses
