// The registry of ranking losses: each name maps to the factory in core/rank/losses/<name>.cpp.
// Options are checked here once, so a loss can trust them.
#include "core/rank/ranking_loss.h"

#include <cmath>
#include <sstream>
#include <utility>

#include "core/rank/losses/common.h"
#include "core/util/error.h"

namespace dgr::rank {
namespace {

using Factory = std::unique_ptr<RankingLoss> (*)(const RankingLossOptions&);

// Each name of ranking_loss_names() with its factory.
const std::vector<std::pair<std::string, Factory>>& registry() {
  static const std::vector<std::pair<std::string, Factory>> losses = {
      {"distilled_ranknet", &losses::make_distilled_ranknet},
      {"ranknet_logistic", &losses::make_ranknet_logistic},
      {"margin", &losses::make_margin},
      {"listnet", &losses::make_listnet},
      {"kl", &losses::make_kl},
      {"lambdaloss", &losses::make_lambdaloss},
  };
  return losses;
}

std::string number_text(double value) {
  std::ostringstream out;
  out.precision(17);
  out << value;
  return out.str();
}

void check_finite(const RankingLossOptions& options, const double& value) {
  if (!std::isfinite(value)) {
    throw config::OptionError("{} must be a finite number, got " + number_text(value),
                              {config::option_key(options, value)});
  }
}

// σ and the temperatures divide or scale scores: 0 or a negative flips or breaks the loss, and
// inf turns a tie into inf · 0 = NaN.
void check_positive(const RankingLossOptions& options, const double& value) {
  if (!(std::isfinite(value) && value > 0)) {
    throw config::OptionError("{} must be a finite number > 0, got " + number_text(value),
                              {config::option_key(options, value)});
  }
}

}  // namespace

std::unique_ptr<RankingLoss> make_ranking_loss(const std::string& name,
                                               const RankingLossOptions& options) {
  Factory factory = nullptr;
  for (const auto& [known, make] : registry()) {
    if (known == name) factory = make;
  }
  if (factory == nullptr) {
    std::string known;
    for (const std::string& entry : ranking_loss_names()) {
      known += (known.empty() ? "" : ", ") + entry;
    }
    throw ConfigError("unknown ranking loss '" + name + "' (known: " + known + ")");
  }
  check_ranking_loss_options(options);
  return factory(options);
}

void check_ranking_loss_options(const RankingLossOptions& options) {
  // Every option is checked whichever loss reads it: a bad value is a mistake in the config
  // even when this loss ignores it.
  check_finite(options, options.margin);
  check_finite(options, options.margin_step);
  check_finite(options, options.first_weight);
  check_positive(options, options.sigma);
  check_positive(options, options.temperature);
  check_positive(options, options.teacher_temperature);
}

}  // namespace dgr::rank
