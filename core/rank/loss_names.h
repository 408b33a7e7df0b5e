// The names of the ranking losses, in the order users see them: the registry of
// core/rank/ranking_loss.cpp makes each, and the configuration lists them (distill.loss) without
// linking the losses or torch. A test checks that every name has its loss.
#pragma once

#include <string>
#include <vector>

namespace dgr::rank {

inline const std::vector<std::string>& ranking_loss_names() {
  static const std::vector<std::string> names = {
      "distilled_ranknet", "ranknet_logistic", "margin", "listnet", "kl", "lambdaloss"};
  return names;
}

}  // namespace dgr::rank
