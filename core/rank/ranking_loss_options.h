// The ranking losses' names and options, torch-free: the registry of core/rank/ranking_loss.cpp
// makes a loss of each name, and the distillation options (distributed/distill_options.h) offer
// the names and visit the options without linking the losses or torch. A test checks that every
// name has its loss.
#pragma once

#include <string>
#include <vector>

#include "core/util/options.h"

namespace dgr::rank {

inline const std::vector<std::string>& ranking_loss_names() {
  static const std::vector<std::string> names = {
      "distilled_ranknet", "ranknet_logistic", "margin", "listnet", "kl", "lambdaloss"};
  return names;
}

struct RankingLossOptions {
  double margin = 300;             // M (distilled_ranknet, margin)
  double margin_step = 100;        // δ (distilled_ranknet)
  double first_weight = 3;         // w_0j (distilled_ranknet, ranknet_logistic)
  double sigma = 1;                // σ (ranknet_logistic, lambdaloss), > 0
  double temperature = 1;          // τ_s: the student's softmax temperature (listnet, kl), > 0
  double teacher_temperature = 1;  // τ_t (listnet, kl), > 0
};

// OptionError naming the option of a value out of range (sigma, temperatures <= 0; margin,
// margin_step, first_weight not finite), checked whichever loss reads it. Defined with the losses
// (core/rank/ranking_loss.cpp).
void check_ranking_loss_options(const RankingLossOptions& options);

template <class V>
void visit(V& v, RankingLossOptions& o) {
  v.field("margin", o.margin, "Margin M of distilled_ranknet and margin.");
  v.field("margin_step", o.margin_step,
          "distilled_ranknet: the margin grows by this per position between the pair.");
  v.field("first_weight", o.first_weight,
          "Weight of the pairs of a list's positive (distilled_ranknet, ranknet_logistic); later "
          "rows weigh 1/(i+1).");
  v.field("sigma", o.sigma, "Slope of the logistic pair loss (ranknet_logistic, lambdaloss).");
  v.field("temperature", o.temperature,
          "Softmax temperature of the student's scores (listnet, kl).");
  v.field("teacher_temperature", o.teacher_temperature,
          "Softmax temperature of the teacher's scores (listnet, kl).");
}

}  // namespace dgr::rank
