// Stage 1's guard against a model that ignores its input. A seq2seq model trained from scratch
// can collapse: its encoder emits the same vector for every source and the decoder becomes a
// language model of the targets, while the loss still falls. The probe measures it on a fixed
// batch of examples with distinct sources and targets:
//
//   gap    = NLL/token of each target under a *wrong* source (targets rotated by one across the
//            batch) − NLL/token under its own source; ≈ 0 for a model that ignores its input
//   spread = standard deviation of the encoder output over a source's positions, averaged over
//            hidden units and sources; ≈ 1 at init (final LayerNorm), → 0 when the encoder
//            emits a constant vector.
//
// The probe rows are the same on every rank and for any number of ranks; each rank measures
// its share and the sums are all-reduced, so every rank sees the same numbers (and the same
// decision). Dropout is off while measuring; no random state is consumed.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/model/bart.h"
#include "core/model/bart_config.h"
#include "data/stage1_examples.h"
#include "distributed/communicator.h"

namespace dgr::distributed {

struct ProbeResult {
  double nll_true = 0;      // per target token, each target after its own source
  double nll_shuffled = 0;  // per target token, each target after another example's source
  double gap = 0;           // nll_shuffled − nll_true
  double encoder_spread = 0;
  int64_t examples = 0;
};

class InputProbe {
 public:
  // Up to `count` examples of `store` with pairwise distinct sources and targets, chosen by a
  // seeded draw over its rows (count 0 or fewer than 2 such examples: the probe is off).
  InputProbe(const data::Stage1ExampleFile& store, int count, uint64_t seed);

  bool enabled() const { return examples_.size() >= 2; }
  int64_t size() const { return static_cast<int64_t>(examples_.size()); }

  // Collective over `control`: rank r of `ranks` measures examples r, r + ranks, ...
  ProbeResult measure(model::BartModel& bart, const model::BartConfig& config,
                      const torch::Device& device, Communicator& control) const;

 private:
  std::vector<data::Stage1Example> examples_;
  std::string store_path_;  // named in errors
};

}  // namespace dgr::distributed
