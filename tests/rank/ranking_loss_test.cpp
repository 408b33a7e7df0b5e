// The ranking losses of DGR stage 2 (core/rank/ranking_loss.h): each loss on a normal list, on
// all-equal student scores, on a single negative and with ties in the teacher's order, against
// values (and some gradients) worked out by hand in the comments; then, for every loss, that
// padded rows give the same values as the rows alone (padding is NaN and inf, and gets a zero
// gradient), that the gradient matches central finite differences in float64, that float32
// agrees, and that extreme scores stay finite; last, the registry's names and option checks
// (ConfigError naming the key) and the batch checks (DataError).
#include "core/rank/ranking_loss.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "core/util/error.h"

namespace dgr::rank {
namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();
const double kLn2 = std::log(2.0);

using Rows = std::vector<std::vector<double>>;

// Lists of different lengths padded to the longest. The padding is NaN in the student's scores
// and +inf in the teacher's: a loss that let one masked entry through would show it.
RankingBatch make_batch(const Rows& student, const Rows& teacher,
                        torch::Dtype dtype = torch::kFloat64) {
  const int64_t rows = static_cast<int64_t>(student.size());
  size_t width = 0;
  for (const auto& row : student)
    width = std::max(width, row.size());
  const int64_t m = static_cast<int64_t>(width);
  torch::Tensor s = torch::full({rows, m}, kNaN, torch::kFloat64);
  torch::Tensor t = torch::full({rows, m}, kInf, torch::kFloat64);
  torch::Tensor mask = torch::zeros({rows, m}, torch::kBool);
  for (int64_t l = 0; l < rows; ++l) {
    for (size_t i = 0; i < student[l].size(); ++i) {
      const auto k = static_cast<int64_t>(i);
      s[l][k] = student[l][i];
      t[l][k] = teacher[l][i];
      mask[l][k] = true;
    }
  }
  return {s.to(dtype).requires_grad_(true), t.to(dtype), mask};
}

std::vector<double> to_vector(const torch::Tensor& x) {
  const torch::Tensor flat = x.detach().to(torch::kFloat64).contiguous().view({-1});
  return std::vector<double>(flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel());
}

struct ListResult {
  double value = 0;
  std::vector<double> grad;  // d value / d s_i
};

// One list through the loss `name`: its value and the gradient of that value.
ListResult evaluate(const std::string& name, const RankingLossOptions& options,
                    const std::vector<double>& student, const std::vector<double>& teacher) {
  const RankingBatch batch = make_batch({student}, {teacher});
  const torch::Tensor losses = make_ranking_loss(name, options)->list_losses(batch);
  EXPECT_EQ(losses.sizes(), torch::IntArrayRef({1}));
  losses.sum().backward();
  return {losses.item<double>(), to_vector(batch.student.grad())};
}

void expect_values_near(const std::vector<double>& actual, const std::vector<double>& expected,
                        double tolerance) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    EXPECT_NEAR(actual[i], expected[i], tolerance) << "at index " << i;
  }
}

template <class E>
std::string message_of(const std::function<void()>& run) {
  try {
    run();
  } catch (const E& error) {
    return error.what();
  }
  ADD_FAILURE() << "no exception was thrown";
  return "";
}

// The list most hand computations use: a positive, then three negatives in strict teacher order.
const std::vector<double> kStudent = {2.0, 0.5, 1.5, 1.0};
const std::vector<double> kTeacher = {4.0, 3.0, 2.0, 1.0};
// A positive the teacher scores lowest (it is preferred anyway) and two tied negatives.
const std::vector<double> kTiedTeacher = {0.1, 2.0, 2.0, 1.0};

// ---------------------------------------------------------------------------- distilled_ranknet

TEST(RankingLossDistilledRanknet, NormalListIsTheMeanOverActivePairs) {
  RankingLossOptions options;
  options.margin = 1;
  options.margin_step = 0.5;
  options.first_weight = 3;
  // s = (2, 0.5, 1.5, 1); term = w_ij · max(0, s_j − s_i + 1 + (j − i − 1)·0.5):
  //   (0,1): 0.5 − 2 + 1 + 0   = −0.5 -> inactive
  //   (0,2): 1.5 − 2 + 1 + 0.5 =  1   -> 3 · 1   = 3
  //   (0,3): 1   − 2 + 1 + 1   =  1   -> 3 · 1   = 3
  //   (1,2): 1.5 − 0.5 + 1 + 0 =  2   -> 1/2 · 2 = 1
  //   (1,3): 1 − 0.5 + 1 + 0.5 =  2   -> 1/2 · 2 = 1
  //   (2,3): 1 − 1.5 + 1 + 0   =  0.5 -> 1/3 · 0.5 = 1/6
  // Five active pairs: (3 + 3 + 1 + 1 + 1/6) / 5 = 49/30.
  // Gradient: each active pair adds w/5 to s_j and −w/5 to s_i:
  //   s_0: −(3 + 3)/5 = −6/5, s_1: −(1/2 + 1/2)/5 = −1/5,
  //   s_2: (3 + 1/2 − 1/3)/5 = 19/30, s_3: (3 + 1/2 + 1/3)/5 = 23/30.
  const ListResult r = evaluate("distilled_ranknet", options, kStudent, kTeacher);
  EXPECT_NEAR(r.value, 49.0 / 30.0, 1e-12);
  expect_values_near(r.grad, {-6.0 / 5.0, -1.0 / 5.0, 19.0 / 30.0, 23.0 / 30.0}, 1e-12);
}

TEST(RankingLossDistilledRanknet, FirstWeightScalesOnlyThePositivesPairs) {
  RankingLossOptions options;
  options.margin = 1;
  options.margin_step = 0.5;
  options.first_weight = 5;
  // As above with w_0j = 5: (5 + 5 + 1 + 1 + 1/6) / 5 = (73/6) / 5 = 73/30.
  EXPECT_NEAR(evaluate("distilled_ranknet", options, kStudent, kTeacher).value, 73.0 / 30.0, 1e-12);
}

TEST(RankingLossDistilledRanknet, AllEqualScoresActivateEveryPair) {
  // Defaults M = 300, δ = 100, w_0j = 3; s = 0, so the hinge is 300 + (j − i − 1)·100:
  //   (0,1): 3·300 = 900, (0,2): 3·400 = 1200, (0,3): 3·500 = 1500,
  //   (1,2): 300/2 = 150, (1,3): 400/2 = 200,  (2,3): 300/3 = 100;
  //   mean over 6: 4050 / 6 = 675.
  // Gradient (w/6 per pair): s_0: −9/6 = −3/2, s_1: (3 − 1/2 − 1/2)/6 = 1/3,
  //   s_2: (3 + 1/2 − 1/3)/6 = 19/36, s_3: (3 + 1/2 + 1/3)/6 = 23/36.
  const ListResult r = evaluate("distilled_ranknet", {}, {0, 0, 0, 0}, kTeacher);
  EXPECT_NEAR(r.value, 675.0, 1e-9);
  expect_values_near(r.grad, {-1.5, 1.0 / 3.0, 19.0 / 36.0, 23.0 / 36.0}, 1e-12);
}

TEST(RankingLossDistilledRanknet, SingleNegative) {
  // m = 2, defaults: 3 · max(0, 3 − 1 + 300) = 906; gradient (−3, 3).
  const ListResult r = evaluate("distilled_ranknet", {}, {1, 3}, {0.5, 0.2});
  EXPECT_NEAR(r.value, 906.0, 1e-9);
  expect_values_near(r.grad, {-3, 3}, 1e-12);
}

TEST(RankingLossDistilledRanknet, ListWithoutActivePairGivesZeroAndZeroGradient) {
  RankingLossOptions options;
  options.margin = 1;
  options.margin_step = 0.5;
  // s = (5, 1, −3): (0,1): 1 − 5 + 1 = −3, (0,2): −3 − 5 + 1 + 0.5 = −6.5, (1,2): −3 − 1 + 1 = −3.
  const ListResult three = evaluate("distilled_ranknet", options, {5, 1, -3}, {3, 2, 1});
  EXPECT_EQ(three.value, 0.0);
  expect_values_near(three.grad, {0, 0, 0}, 0.0);
  // m = 2: 1 − 5 + 1 = −3.
  const ListResult two = evaluate("distilled_ranknet", options, {5, 1}, {3, 2});
  EXPECT_EQ(two.value, 0.0);
  expect_values_near(two.grad, {0, 0}, 0.0);
}

TEST(RankingLossDistilledRanknet, StepTermWidensTheMarginWithTheTeachersDistance) {
  RankingLossOptions options;
  options.margin = 0;
  options.margin_step = 1;
  // s = 0, M = 0: only (j − i − 1)·1 is left, 0 for neighbours, so those pairs are inactive:
  //   (0,2): 3·1 = 3, (0,3): 3·2 = 6, (1,3): 1/2·1 = 1/2; mean over 3: 9.5/3 = 19/6.
  const ListResult r = evaluate("distilled_ranknet", options, {0, 0, 0, 0}, kTeacher);
  EXPECT_NEAR(r.value, 19.0 / 6.0, 1e-12);
  // Gradient (w/3 per pair): s_0: −6/3 = −2, s_1: −1/6, s_2: 3/3 = 1, s_3: (3 + 1/2)/3 = 7/6.
  expect_values_near(r.grad, {-2, -1.0 / 6.0, 1, 7.0 / 6.0}, 1e-12);
}

TEST(RankingLossDistilledRanknet, TiedNegativesFormNoPair) {
  RankingLossOptions options;
  options.margin = 1;
  options.margin_step = 0.5;
  // t = (0.1, 2, 2, 1): the positive is preferred to all three negatives although its teacher
  // score is lowest; (1,2) is tied, so no pair. s = 0:
  //   (0,1): 3·1 = 3, (0,2): 3·1.5 = 4.5, (0,3): 3·2 = 6, (1,3): 1/2·1.5 = 0.75,
  //   (2,3): 1/3·1 = 1/3; mean over 5: (14.25 + 1/3)/5 = 35/12.
  // (With (1,2) as a pair it would be (14.25 + 1/3 + 1/2)/6.)
  EXPECT_NEAR(evaluate("distilled_ranknet", options, {0, 0, 0, 0}, kTiedTeacher).value, 35.0 / 12.0,
              1e-12);
}

// ----------------------------------------------------------------------------- ranknet_logistic

TEST(RankingLossRanknetLogistic, NormalList) {
  RankingLossOptions options;
  options.sigma = 1;
  options.first_weight = 3;
  auto softplus = [](double x) { return std::log1p(std::exp(x)); };
  // Σ w_ij log(1 + exp(−(s_i − s_j))) with s = (2, 0.5, 1.5, 1):
  //   (0,1): 3·log(1 + e^−1.5), (0,2): 3·log(1 + e^−0.5), (0,3): 3·log(1 + e^−1),
  //   (1,2): 1/2·log(1 + e^1),  (1,3): 1/2·log(1 + e^0.5), (2,3): 1/3·log(1 + e^−0.5).
  const double expected = 3 * softplus(-1.5) + 3 * softplus(-0.5) + 3 * softplus(-1.0) +
                          0.5 * softplus(1.0) + 0.5 * softplus(0.5) + softplus(-0.5) / 3;
  EXPECT_NEAR(evaluate("ranknet_logistic", options, kStudent, kTeacher).value, expected, 1e-12);
}

TEST(RankingLossRanknetLogistic, AllEqualScores) {
  RankingLossOptions options;
  options.sigma = 2;
  // Every term is w·log 2: (3·3 + 1/2·2 + 1/3) log 2 = (31/3) log 2.
  // d/ds_i of w·log(1 + exp(−σ(s_i − s_j))) at s_i = s_j is −w·σ/2 = −w (and +w for s_j):
  //   s_0: −9, s_1: 3 − 1/2 − 1/2 = 2, s_2: 3 + 1/2 − 1/3 = 19/6, s_3: 3 + 1/2 + 1/3 = 23/6.
  const ListResult r = evaluate("ranknet_logistic", options, {0, 0, 0, 0}, kTeacher);
  EXPECT_NEAR(r.value, 31.0 / 3.0 * kLn2, 1e-12);
  expect_values_near(r.grad, {-9, 2, 19.0 / 6.0, 23.0 / 6.0}, 1e-12);
}

TEST(RankingLossRanknetLogistic, SingleNegative) {
  RankingLossOptions options;
  options.sigma = 0.5;
  // 3·log(1 + exp(−0.5·(1 − 3))) = 3·log(1 + e); d/ds_0 = −3·0.5·e/(1 + e), d/ds_1 the opposite.
  const double e = std::exp(1.0);
  const ListResult r = evaluate("ranknet_logistic", options, {1, 3}, {0.5, 0.2});
  EXPECT_NEAR(r.value, 3 * std::log(1 + e), 1e-12);
  expect_values_near(r.grad, {-1.5 * e / (1 + e), 1.5 * e / (1 + e)}, 1e-12);
}

TEST(RankingLossRanknetLogistic, TiedNegativesFormNoPair) {
  // t = (0.1, 2, 2, 1), s = 0: pairs (0,1), (0,2), (0,3) at 3, (1,3) at 1/2, (2,3) at 1/3:
  //   (9 + 1/2 + 1/3) log 2 = (59/6) log 2.
  EXPECT_NEAR(evaluate("ranknet_logistic", {}, {0, 0, 0, 0}, kTiedTeacher).value, 59.0 / 6.0 * kLn2,
              1e-12);
}

// ----------------------------------------------------------------------------------------- margin

TEST(RankingLossMargin, NormalList) {
  RankingLossOptions options;
  options.margin = 1.25;
  // max(0, s_j − 2 + 1.25) for s_j = 0.5, 1.5, 1: 0, 0.75, 0.25; mean (0 + 0.75 + 0.25)/3 = 1/3.
  // Gradient: s_0: −2/3 (two active negatives), s_1: 0, s_2: 1/3, s_3: 1/3.
  const ListResult r = evaluate("margin", options, kStudent, kTeacher);
  EXPECT_NEAR(r.value, 1.0 / 3.0, 1e-12);
  expect_values_near(r.grad, {-2.0 / 3.0, 0, 1.0 / 3.0, 1.0 / 3.0}, 1e-12);
}

TEST(RankingLossMargin, AllEqualScores) {
  // Default M = 300: every negative gives 300; the mean is 300, gradient (−1, 1/3, 1/3, 1/3).
  const ListResult r = evaluate("margin", {}, {0, 0, 0, 0}, kTeacher);
  EXPECT_NEAR(r.value, 300.0, 1e-9);
  expect_values_near(r.grad, {-1, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0}, 1e-12);
}

TEST(RankingLossMargin, SingleNegative) {
  // max(0, 3 − 1 + 300) = 302.
  const ListResult r = evaluate("margin", {}, {1, 3}, {0.5, 0.2});
  EXPECT_NEAR(r.value, 302.0, 1e-9);
  expect_values_near(r.grad, {-1, 1}, 1e-12);
}

TEST(RankingLossMargin, TeacherTiesDoNotMatter) {
  RankingLossOptions options;
  options.margin = 0.25;
  // Only the positive is compared: s = (0, 0.5, −0.5, 1) gives 0.75, 0, 1.25; mean 2/3, with the
  // tied teacher as with the strict one.
  const std::vector<double> s = {0, 0.5, -0.5, 1};
  EXPECT_NEAR(evaluate("margin", options, s, kTiedTeacher).value, 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(evaluate("margin", options, s, kTeacher).value, 2.0 / 3.0, 1e-12);
}

// ---------------------------------------------------------------------------------------- listnet

TEST(RankingLossListnet, NormalListWithTemperatures) {
  RankingLossOptions options;
  options.temperature = 0.5;
  options.teacher_temperature = 2;
  // t/2 = (2, 1.5, 1, 0.5), s/0.5 = (4, 1, 3, 2).
  const double zt = std::exp(2.0) + std::exp(1.5) + std::exp(1.0) + std::exp(0.5);
  const double zs = std::exp(4.0) + std::exp(1.0) + std::exp(3.0) + std::exp(2.0);
  const double p[] = {std::exp(2.0) / zt, std::exp(1.5) / zt, std::exp(1.0) / zt,
                      std::exp(0.5) / zt};
  const double q[] = {std::exp(4.0) / zs, std::exp(1.0) / zs, std::exp(3.0) / zs,
                      std::exp(2.0) / zs};
  // −Σ p_i log q_i = −Σ p_i (x_i − log zs) = log zs − Σ p_i x_i (Σ p_i = 1).
  const double expected = std::log(zs) - (4 * p[0] + 1 * p[1] + 3 * p[2] + 2 * p[3]);
  // Gradient: (q_i − p_i) / τ_s = 2 (q_i − p_i).
  const ListResult r = evaluate("listnet", options, kStudent, kTeacher);
  EXPECT_NEAR(r.value, expected, 1e-12);
  expect_values_near(
      r.grad, {2 * (q[0] - p[0]), 2 * (q[1] - p[1]), 2 * (q[2] - p[2]), 2 * (q[3] - p[3])}, 1e-12);
}

TEST(RankingLossListnet, AllEqualScores) {
  // q = 1/4 everywhere: −Σ p_i log(1/4) = log 4 for any p; gradient q_i − p_i = 1/4 − p_i.
  const double zt = std::exp(4.0) + std::exp(3.0) + std::exp(2.0) + std::exp(1.0);
  const ListResult r = evaluate("listnet", {}, {0, 0, 0, 0}, kTeacher);
  EXPECT_NEAR(r.value, std::log(4.0), 1e-12);
  expect_values_near(r.grad,
                     {0.25 - std::exp(4.0) / zt, 0.25 - std::exp(3.0) / zt,
                      0.25 - std::exp(2.0) / zt, 0.25 - std::exp(1.0) / zt},
                     1e-12);
}

TEST(RankingLossListnet, SingleNegative) {
  // t = (2, 0): p = (e²/(e² + 1), 1/(e² + 1)); s = (1, 3): log q = (1, 3) − log(e + e³).
  const double e2 = std::exp(2.0);
  const double p0 = e2 / (e2 + 1), p1 = 1 / (e2 + 1);
  const double log_z = std::log(std::exp(1.0) + std::exp(3.0));
  const double expected = -(p0 * (1 - log_z) + p1 * (3 - log_z));
  EXPECT_NEAR(evaluate("listnet", {}, {1, 3}, {2, 0}).value, expected, 1e-12);
}

TEST(RankingLossListnet, TiedTeacherScoresShareTheTarget) {
  // t = (1, 1, 0): p = (e, e, 1)/(2e + 1); s = (0.5, 0, −1): log q = s − log(e^0.5 + 1 + e^−1).
  const double e = std::exp(1.0);
  const double p[] = {e / (2 * e + 1), e / (2 * e + 1), 1 / (2 * e + 1)};
  const double log_z = std::log(std::exp(0.5) + 1 + std::exp(-1.0));
  const double expected = -(p[0] * (0.5 - log_z) + p[1] * (0 - log_z) + p[2] * (-1 - log_z));
  EXPECT_NEAR(evaluate("listnet", {}, {0.5, 0, -1}, {1, 1, 0}).value, expected, 1e-12);
}

// --------------------------------------------------------------------------------------------- kl

TEST(RankingLossKl, NormalListWithTemperatures) {
  RankingLossOptions options;
  options.temperature = 0.5;
  options.teacher_temperature = 2;
  // As listnet's normal list, plus Σ p_i log p_i (log p_i = t_i/2 − log zt).
  const double zt = std::exp(2.0) + std::exp(1.5) + std::exp(1.0) + std::exp(0.5);
  const double zs = std::exp(4.0) + std::exp(1.0) + std::exp(3.0) + std::exp(2.0);
  const double x_t[] = {2, 1.5, 1, 0.5};
  const double x_s[] = {4, 1, 3, 2};
  double expected = 0;
  for (int i = 0; i < 4; ++i) {
    const double p = std::exp(x_t[i]) / zt;
    expected += p * ((x_t[i] - std::log(zt)) - (x_s[i] - std::log(zs)));
  }
  const ListResult kl = evaluate("kl", options, kStudent, kTeacher);
  EXPECT_NEAR(kl.value, expected, 1e-12);
  // kl = listnet − H(p): the same gradient in s.
  const ListResult listnet = evaluate("listnet", options, kStudent, kTeacher);
  expect_values_near(kl.grad, listnet.grad, 1e-12);
}

TEST(RankingLossKl, AllEqualScores) {
  // q = 1/4: Σ p_i (log p_i + log 4) = log 4 − H(p), p = softmax(4, 3, 2, 1).
  const double zt = std::exp(4.0) + std::exp(3.0) + std::exp(2.0) + std::exp(1.0);
  double entropy = 0;
  for (double t : kTeacher)
    entropy -= std::exp(t) / zt * (t - std::log(zt));
  EXPECT_NEAR(evaluate("kl", {}, {0, 0, 0, 0}, kTeacher).value, std::log(4.0) - entropy, 1e-12);
  // Student and teacher all equal: p = q, KL = 0 with a zero gradient.
  const ListResult same = evaluate("kl", {}, {0, 0, 0, 0}, {1, 1, 1, 1});
  EXPECT_NEAR(same.value, 0.0, 1e-15);
  expect_values_near(same.grad, {0, 0, 0, 0}, 1e-15);
}

TEST(RankingLossKl, SingleNegative) {
  // t = (2, 0): p = (e²/(e² + 1), 1/(e² + 1)); s = (1, 3): log q = (1, 3) − log(e + e³).
  const double e2 = std::exp(2.0);
  const double p0 = e2 / (e2 + 1), p1 = 1 / (e2 + 1);
  const double log_z = std::log(std::exp(1.0) + std::exp(3.0));
  const double expected = p0 * (std::log(p0) - (1 - log_z)) + p1 * (std::log(p1) - (3 - log_z));
  EXPECT_NEAR(evaluate("kl", {}, {1, 3}, {2, 0}).value, expected, 1e-12);
}

TEST(RankingLossKl, TiedTeacherScoresMatchedByTheStudentGiveZero) {
  RankingLossOptions options;
  options.temperature = 2;
  options.teacher_temperature = 1;
  // t = (1, 1, 0) and s = (2, 2, 0) with τ_s = 2: s/2 = t, so q = p and KL = 0.
  EXPECT_NEAR(evaluate("kl", options, {2, 2, 0}, {1, 1, 0}).value, 0.0, 1e-15);
}

// ------------------------------------------------------------------------------------- lambdaloss

// The gains of a strict three-entry list t = (3, 2, 1): g = (2, 1, 0), 2^g − 1 = (3, 1, 0),
// maxDCG = 3/log2(2) + 1/log2(3) + 0/log2(4) = 3 + 1/log2(3), G = (3, 1, 0)/maxDCG.
const double kLog2Of3 = std::log2(3.0);
const double kMaxDcg3 = 3 + 1 / kLog2Of3;
double log2_logistic(double x) {
  return std::log2(1 + std::exp(-x));
}

TEST(RankingLossLambdaloss, NormalList) {
  // s = (0.5, 2, −1): the student ranks entry 1 first, so r = (2, 1, 3).
  //   (0,1): |r| = 1, δ = 1 − 1/log2 3;   |G0 − G1| = 2/maxDCG; log2(1 + exp(−(0.5 − 2)))
  //   (0,2): |r| = 1, δ = 1 − 1/log2 3;   |G0 − G2| = 3/maxDCG; log2(1 + exp(−(0.5 + 1)))
  //   (1,2): |r| = 2, δ = 1/log2 3 − 1/2; |G1 − G2| = 1/maxDCG; log2(1 + exp(−(2 + 1)))
  const double expected =
      ((1 - 1 / kLog2Of3) * 2 * log2_logistic(-1.5) + (1 - 1 / kLog2Of3) * 3 * log2_logistic(1.5) +
       (1 / kLog2Of3 - 0.5) * 1 * log2_logistic(3.0)) /
      kMaxDcg3;
  EXPECT_NEAR(evaluate("lambdaloss", {}, {0.5, 2, -1}, {3, 2, 1}).value, expected, 1e-12);
}

TEST(RankingLossLambdaloss, AllEqualScores) {
  RankingLossOptions options;
  options.sigma = 2;
  // s = 0: ranks by list position r = (1, 2, 3), every logistic term log2(1 + 1) = 1:
  //   (0,1): (1 − 1/log2 3)·2, (0,2): (1/log2 3 − 1/2)·3, (1,2): (1 − 1/log2 3)·1, over maxDCG.
  const double expected =
      ((1 - 1 / kLog2Of3) * 2 + (1 / kLog2Of3 - 0.5) * 3 + (1 - 1 / kLog2Of3) * 1) / kMaxDcg3;
  const ListResult r = evaluate("lambdaloss", options, {0, 0, 0}, {3, 2, 1});
  EXPECT_NEAR(r.value, expected, 1e-12);
  // d/ds_i of c·log2(1 + exp(−σ(s_i − s_j))) at s_i = s_j is −c·σ/(2 ln 2) = −c/ln 2 (σ = 2),
  // with c = δ_ij·|G_i − G_j|: s_0 gets −(c01 + c02)/ln 2, s_1 (c01 − c12)/ln 2, s_2 (c02 +
  // c12)/ln 2.
  const double c01 = (1 - 1 / kLog2Of3) * 2 / kMaxDcg3;
  const double c02 = (1 / kLog2Of3 - 0.5) * 3 / kMaxDcg3;
  const double c12 = (1 - 1 / kLog2Of3) * 1 / kMaxDcg3;
  expect_values_near(r.grad, {-(c01 + c02) / kLn2, (c01 - c12) / kLn2, (c02 + c12) / kLn2}, 1e-12);
}

TEST(RankingLossLambdaloss, StudentTiesAreBrokenByListPosition) {
  // s = (1, 1, 0): entry 0 ranks before entry 1, so r = (1, 2, 3) (the other way round would
  // give r = (2, 1, 3) and swap the two δ of the pairs with entry 2):
  //   (0,1): (1 − 1/log2 3)·2·log2(1 + e^0), (0,2): (1/log2 3 − 1/2)·3·log2(1 + e^−1),
  //   (1,2): (1 − 1/log2 3)·1·log2(1 + e^−1), over maxDCG.
  const double expected =
      ((1 - 1 / kLog2Of3) * 2 * 1 + (1 / kLog2Of3 - 0.5) * 3 * log2_logistic(1.0) +
       (1 - 1 / kLog2Of3) * 1 * log2_logistic(1.0)) /
      kMaxDcg3;
  EXPECT_NEAR(evaluate("lambdaloss", {}, {1, 1, 0}, {3, 2, 1}).value, expected, 1e-12);
}

TEST(RankingLossLambdaloss, SingleNegative) {
  // g = (1, 0), gains (1, 0), maxDCG = 1/log2(2) = 1, G = (1, 0). s = (1, 3): r = (2, 1),
  // δ = 1 − 1/log2 3; loss = δ·1·log2(1 + exp(−(1 − 3))) = (1 − 1/log2 3)·log2(1 + e²).
  EXPECT_NEAR(evaluate("lambdaloss", {}, {1, 3}, {0.5, 0.2}).value,
              (1 - 1 / kLog2Of3) * std::log2(1 + std::exp(2.0)), 1e-12);
}

TEST(RankingLossLambdaloss, TiesInTheTeacherOrder) {
  // t = (3, 1, 1): the tied negatives are preferred to nothing: g = (2, 0, 0), gains (3, 0, 0),
  // maxDCG = 3, G = (1, 0, 0); pairs (0,1) and (0,2) only. s = 0, r = (1, 2, 3):
  //   (0,1): (1 − 1/log2 3)·1·1, (0,2): (1/log2 3 − 1/2)·1·1; the sum is 1/2.
  EXPECT_NEAR(evaluate("lambdaloss", {}, {0, 0, 0}, {3, 1, 1}).value, 0.5, 1e-12);
  // A positive the teacher scores lowest still has the top gain: t = (0.1, 2, 1) gives the
  // gains of t = (3, 2, 1).
  EXPECT_NEAR(evaluate("lambdaloss", {}, {0.5, 2, -1}, {0.1, 2, 1}).value,
              evaluate("lambdaloss", {}, {0.5, 2, -1}, {3, 2, 1}).value, 1e-15);
}

// ------------------------------------------------------------------------------------ every loss

// Options under which no term of the batches below sits at a kink or saturates.
RankingLossOptions test_options() {
  RankingLossOptions options;
  options.margin = 0.3;
  options.margin_step = 0.2;
  options.first_weight = 3;
  options.sigma = 1.3;
  options.temperature = 0.7;
  options.teacher_temperature = 1.5;
  return options;
}

// Rows of 4, 2, 1 and 3 entries; the last one has tied negatives.
const Rows kMixedStudent = {{0.4, 0.9, -0.2, 0.1}, {0.3, 0.8}, {1.1}, {-0.3, 0.2, 0.25}};
const Rows kMixedTeacher = {{2.0, 1.5, 1.0, -0.5}, {1.0, 0.0}, {0.7}, {0.5, 0.9, 0.9}};

class RankingLossEveryLoss : public testing::TestWithParam<std::string> {};

TEST_P(RankingLossEveryLoss, IsNamedAsRegistered) {
  EXPECT_EQ(make_ranking_loss(GetParam(), {})->name(), GetParam());
}

TEST_P(RankingLossEveryLoss, PaddedRowsGiveTheValuesOfEachRowAlone) {
  const auto loss = make_ranking_loss(GetParam(), test_options());
  const RankingBatch batch = make_batch(kMixedStudent, kMixedTeacher);
  const torch::Tensor losses = loss->list_losses(batch);  // [4]
  ASSERT_EQ(losses.sizes(), torch::IntArrayRef({4}));
  EXPECT_EQ(losses.scalar_type(), torch::kFloat64);
  losses.sum().backward();
  const std::vector<double> values = to_vector(losses);
  const torch::Tensor grad = batch.student.grad();  // [4, 4]
  for (size_t l = 0; l < kMixedStudent.size(); ++l) {
    SCOPED_TRACE("row " + std::to_string(l));
    const ListResult alone =
        evaluate(GetParam(), test_options(), kMixedStudent[l], kMixedTeacher[l]);
    EXPECT_TRUE(std::isfinite(values[l]));
    EXPECT_NEAR(values[l], alone.value, 1e-12);
    const std::vector<double> row_grad = to_vector(grad[static_cast<int64_t>(l)]);
    for (size_t i = 0; i < row_grad.size(); ++i) {
      if (i < alone.grad.size()) {
        EXPECT_NEAR(row_grad[i], alone.grad[i], 1e-12) << "entry " << i;
      } else {
        EXPECT_EQ(row_grad[i], 0.0) << "padding entry " << i;  // exactly 0, not NaN
      }
    }
  }
  // A list of just the positive has no pair, no negative and a one-point softmax.
  EXPECT_EQ(values[2], 0.0);
}

// Σ_l c_l · loss_l, so that every list's gradient is checked with its own weight.
double weighted_total(const RankingLoss& loss, const RankingBatch& batch) {
  const torch::Tensor weights = torch::tensor({1.0, 0.7, 1.3}, torch::kFloat64);
  return (loss.list_losses(batch) * weights).sum().item<double>();
}

TEST_P(RankingLossEveryLoss, GradientMatchesFiniteDifferences) {
  torch::manual_seed(20240611);
  const std::vector<int64_t> lengths = {5, 3, 2};
  Rows student, teacher;
  for (int64_t n : lengths) {
    student.push_back(to_vector(torch::randn({n}, torch::kFloat64)));
    std::vector<double> t = to_vector(torch::randn({n}, torch::kFloat64));
    std::sort(t.begin(), t.end(), std::greater<double>());  // teacher order
    teacher.push_back(t);
  }
  teacher[0][3] = teacher[0][2];  // a tie among the negatives
  const RankingLossOptions options = test_options();
  // Keep away from the kinks: hinge arguments (distilled_ranknet, margin) and student ties
  // (lambdaloss's ranks) all at least 1e-3 from 0, far beyond the step h.
  for (const auto& s : student) {
    for (size_t i = 0; i < s.size(); ++i) {
      for (size_t j = i + 1; j < s.size(); ++j) {
        const double step = static_cast<double>(j - i - 1) * options.margin_step;
        ASSERT_GT(std::abs(s[j] - s[i] + options.margin + step), 1e-3);
        ASSERT_GT(std::abs(s[j] - s[i] + options.margin), 1e-3);
        ASSERT_GT(std::abs(s[j] - s[i]), 1e-3);
      }
    }
  }

  const auto loss = make_ranking_loss(GetParam(), options);
  const RankingBatch batch = make_batch(student, teacher);
  const torch::Tensor weights = torch::tensor({1.0, 0.7, 1.3}, torch::kFloat64);
  (loss->list_losses(batch) * weights).sum().backward();
  const torch::Tensor analytic = batch.student.grad();  // [3, 5]

  const double h = 1e-6;
  for (size_t l = 0; l < student.size(); ++l) {
    for (size_t i = 0; i < student[l].size(); ++i) {
      Rows plus = student, minus = student;
      plus[l][i] += h;
      minus[l][i] -= h;
      const double numeric = (weighted_total(*loss, make_batch(plus, teacher)) -
                              weighted_total(*loss, make_batch(minus, teacher))) /
                             (2 * h);
      const double got = analytic[static_cast<int64_t>(l)][static_cast<int64_t>(i)].item<double>();
      EXPECT_NEAR(got, numeric, 1e-6 * std::max(1.0, std::abs(numeric)))
          << "list " << l << ", entry " << i;
    }
  }
  // The padding of the shorter lists gets nothing.
  EXPECT_EQ(analytic[1].narrow(0, 3, 2).abs().sum().item<double>(), 0.0);
  EXPECT_EQ(analytic[2].narrow(0, 2, 3).abs().sum().item<double>(), 0.0);
}

TEST_P(RankingLossEveryLoss, Float32AgreesWithFloat64) {
  const auto loss = make_ranking_loss(GetParam(), test_options());
  const RankingBatch wide = make_batch(kMixedStudent, kMixedTeacher, torch::kFloat64);
  const RankingBatch narrow = make_batch(kMixedStudent, kMixedTeacher, torch::kFloat32);
  const torch::Tensor wide_losses = loss->list_losses(wide);
  const torch::Tensor narrow_losses = loss->list_losses(narrow);
  EXPECT_EQ(narrow_losses.scalar_type(), torch::kFloat32);
  wide_losses.sum().backward();
  narrow_losses.sum().backward();
  expect_values_near(to_vector(narrow_losses), to_vector(wide_losses), 1e-5);
  expect_values_near(to_vector(narrow.student.grad()), to_vector(wide.student.grad()), 1e-5);
}

TEST_P(RankingLossEveryLoss, ExtremeScoresStayFinite) {
  // Scores far apart in both directions, small temperatures and a large σ: every exp would
  // overflow if taken naively.
  RankingLossOptions options;
  options.sigma = 50;
  options.temperature = 0.01;
  options.teacher_temperature = 0.01;
  const Rows student = {{-3e4, 2e4, 0, 5e3}, {4e4, -4e4}};
  const Rows teacher = {{900, 500, -800, -900}, {1e4, -1e4}};
  for (const torch::Dtype dtype : {torch::kFloat64, torch::kFloat32}) {
    const RankingBatch batch = make_batch(student, teacher, dtype);
    const torch::Tensor losses = make_ranking_loss(GetParam(), options)->list_losses(batch);
    losses.sum().backward();
    EXPECT_TRUE(torch::isfinite(losses).all().item<bool>()) << losses;
    EXPECT_TRUE(torch::isfinite(batch.student.grad()).all().item<bool>()) << batch.student.grad();
  }
}

TEST_P(RankingLossEveryLoss, EmptyBatchGivesNoLosses) {
  const RankingBatch batch = {torch::zeros({0, 5}, torch::kFloat64),
                              torch::zeros({0, 5}, torch::kFloat64),
                              torch::zeros({0, 5}, torch::kBool)};
  EXPECT_EQ(make_ranking_loss(GetParam(), {})->list_losses(batch).sizes(), torch::IntArrayRef({0}));
}

INSTANTIATE_TEST_SUITE_P(RankingLoss, RankingLossEveryLoss, testing::ValuesIn(ranking_loss_names()),
                         [](const testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

// -------------------------------------------------------------------------------------- registry

TEST(RankingLossRegistry, ListsEveryLossInOrder) {
  EXPECT_EQ(ranking_loss_names(),
            (std::vector<std::string>{"distilled_ranknet", "ranknet_logistic", "margin", "listnet",
                                      "kl", "lambdaloss"}));
}

// The list the configuration offers (core/rank/ranking_loss_options.h) and the registry agree:
// every name makes the loss of that name.
TEST(RankingLossRegistry, EveryListedNameMakesThatLoss) {
  for (const std::string& name : ranking_loss_names())
    EXPECT_EQ(make_ranking_loss(name, RankingLossOptions{})->name(), name);
}

TEST(RankingLossRegistry, UnknownNameIsAConfigErrorListingTheNames) {
  const std::string message =
      message_of<ConfigError>([] { make_ranking_loss("listwise", RankingLossOptions{}); });
  EXPECT_NE(message.find("unknown ranking loss 'listwise'"), std::string::npos) << message;
  EXPECT_NE(message.find("known: distilled_ranknet, ranknet_logistic, margin, listnet, kl, "
                         "lambdaloss"),
            std::string::npos)
      << message;
}

TEST(RankingLossRegistry, BadOptionValuesNameTheKey) {
  struct Case {
    const char* key;
    std::function<void(RankingLossOptions&)> set;
  };
  const std::vector<Case> cases = {
      {"sigma", [](RankingLossOptions& o) { o.sigma = 0; }},
      {"sigma", [](RankingLossOptions& o) { o.sigma = -1; }},
      {"sigma", [](RankingLossOptions& o) { o.sigma = kNaN; }},
      {"temperature", [](RankingLossOptions& o) { o.temperature = 0; }},
      {"temperature", [](RankingLossOptions& o) { o.temperature = kInf; }},
      {"teacher_temperature", [](RankingLossOptions& o) { o.teacher_temperature = -0.5; }},
      {"margin", [](RankingLossOptions& o) { o.margin = kInf; }},
      {"margin", [](RankingLossOptions& o) { o.margin = kNaN; }},
      {"margin_step", [](RankingLossOptions& o) { o.margin_step = -kInf; }},
      {"first_weight", [](RankingLossOptions& o) { o.first_weight = kNaN; }},
  };
  for (const Case& c : cases) {
    RankingLossOptions options;
    // Placed as the distillation options place them, the message names the full key.
    const config::KeyScope keys(options, "distill");
    c.set(options);
    // Every loss rejects it, also one that does not read the option.
    for (const std::string& name : ranking_loss_names()) {
      const std::string message =
          message_of<ConfigError>([&] { make_ranking_loss(name, options); });
      EXPECT_NE(message.find(std::string("distill.") + c.key + " must"), std::string::npos)
          << name << ": " << message;
    }
  }
  // Finite margins of any sign are fine.
  RankingLossOptions fine;
  fine.margin = -1;
  fine.margin_step = 0;
  fine.first_weight = 0.5;
  EXPECT_NO_THROW(make_ranking_loss("distilled_ranknet", fine));
}

// --------------------------------------------------------------------------------- batch checks

TEST(RankingLossBatchChecks, MalformedBatchesAreDataErrors) {
  const auto f64 = torch::kFloat64;
  const torch::Tensor s = torch::zeros({2, 3}, f64);
  const torch::Tensor mask = torch::ones({2, 3}, torch::kBool);
  struct Case {
    const char* what;
    RankingBatch batch;
    const char* expected;  // a part of the message
  };
  const std::vector<Case> cases = {
      {"undefined mask", {s, s, torch::Tensor()}, "needs student, teacher and mask"},
      {"1-d scores",
       {torch::zeros({3}, f64), torch::zeros({3}, f64), torch::ones({3}, torch::kBool)},
       "not [L, m]"},
      {"empty lists",
       {torch::zeros({2, 0}, f64), torch::zeros({2, 0}, f64), torch::ones({2, 0}, torch::kBool)},
       "not [L, m]"},
      {"teacher shape", {s, torch::zeros({2, 4}, f64), mask}, "differ in shape"},
      {"mask shape", {s, s, torch::ones({3, 3}, torch::kBool)}, "differ in shape"},
      {"integer scores",
       {torch::zeros({2, 3}, torch::kLong), torch::zeros({2, 3}, torch::kLong), mask},
       "not floating point"},
      {"teacher dtype", {s, torch::zeros({2, 3}, torch::kFloat32), mask}, "teacher scores are"},
      {"mask dtype", {s, s, torch::ones({2, 3}, torch::kUInt8)}, "not bool"},
      {"positive masked",
       {s, s, torch::tensor({1, 1, 1, 0, 1, 1}).to(torch::kBool).view({2, 3})},
       "mask row 1"},
      {"gap in the mask",
       {s, s, torch::tensor({1, 1, 0, 1, 0, 1}).to(torch::kBool).view({2, 3})},
       "mask row 1"},
  };
  for (const std::string& name : ranking_loss_names()) {
    const auto loss = make_ranking_loss(name, {});
    for (const Case& c : cases) {
      const std::string message = message_of<DataError>([&] { loss->list_losses(c.batch); });
      EXPECT_NE(message.find(name + ": "), std::string::npos) << c.what << ": " << message;
      EXPECT_NE(message.find(c.expected), std::string::npos) << c.what << ": " << message;
    }
  }
}

}  // namespace
}  // namespace dgr::rank
