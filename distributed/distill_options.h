// The options of DGR stage 2 (`dgr train` with stage distill, distributed/distill_trainer.h):
// the ranking loss and its weights, the lists sampled per query, which queries train, the
// non-finite policy and the held-out agreement. The batch, schedule and optimizer are the train
// section's (distributed/training_options.h). No torch in this header.
#pragma once

#include <string>

#include "core/rank/list_sampling.h"
#include "core/rank/ranking_loss_options.h"
#include "core/util/options.h"

namespace dgr::distributed {

struct DistillOptions {
  std::string set;
  std::string loss = "distilled_ranknet";
  double lambda_rank = 1.0;
  double lambda_gen = 500.0;
  rank::RankingLossOptions ranking;
  rank::ListSamplingOptions sampling;
  int relevance_threshold = 1;
  int min_positives = 1;
  int min_negatives = 16;
  std::string on_nonfinite = "skip";
  int max_nonfinite_steps = 20;
  int holdout = 32;
  int eval_candidates = 50;
  int eval_every = 0;
};

template <class V>
void visit(V& v, DistillOptions& o) {
  v.field("set", o.set,
          "Distillation set to train on; empty = the one `dgr teacher rank` wrote (its out).");
  v.field("loss", config::Choice{o.loss, rank::ranking_loss_names()},
          "Ranking loss L_rank over each list (positive first, negatives in teacher order): DGR's "
          "distilled RankNet, its logistic form, LTRGR's margin loss, ListNet, KL to the "
          "teacher's softmax, or LambdaLoss (NDCG-Loss2).");
  v.field("lambda_rank", o.lambda_rank, "Weight of L_rank in the total loss.");
  v.field("lambda_gen", o.lambda_gen,
          "Weight of the generation loss 0.5 CE_title + 0.5 CE_body (the query's stage-1 "
          "examples); 0 needs no example store.");
  visit(v, o.ranking);
  visit(v, o.sampling);
  v.field("relevance_threshold", o.relevance_threshold,
          "Smallest label that makes a candidate a positive.");
  v.field("min_positives", o.min_positives, "Queries with fewer positive candidates are not used.");
  v.field("min_negatives", o.min_negatives,
          "Queries with fewer negative candidates are not used (the paper keeps queries with more "
          "than 15).");
  v.field("on_nonfinite", config::Choice{o.on_nonfinite, {"skip", "abort"}},
          "A step whose loss or gradient norm is not finite: skip it (no update, counted and "
          "logged) or abort the run.");
  v.field("max_nonfinite_steps", o.max_nonfinite_steps,
          "With on_nonfinite skip: abort once this many steps were skipped.");
  v.field("holdout", o.holdout,
          "Queries held out of training (drawn with the run's seed) on which the student's "
          "candidate order is compared with the teacher's before, during and after training.");
  v.field("eval_candidates", o.eval_candidates,
          "Candidates per held-out query scored in that comparison (the candidate generator's "
          "first).");
  v.field("eval_every", o.eval_every,
          "Steps between held-out comparisons; 0 = before and after training only.");
}

}  // namespace dgr::distributed
