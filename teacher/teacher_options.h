// The teacher section of the configuration: which teacher scores the candidates and which
// candidates `dgr teacher rank` gives it (teacher/rank_job.h), the BM25 teacher with
// `dgr teacher bm25-run`, a cross-encoder checkpoint, and the training of a cross-encoder
// (teacher/train_options.h). No torch in this header.
#pragma once

#include <string>

#include "core/util/options.h"
#include "teacher/bm25.h"
#include "teacher/cross_encoder.h"
#include "teacher/train_options.h"

namespace dgr::teacher {

// BM25's own options, and those of `dgr teacher bm25-run`.
struct Bm25TeacherOptions : Bm25Options {
  int top_k = 1000;
  std::string queries = "judged";
  std::string run;
  std::string tag = "bm25";
  bool evaluate = true;
};

template <class V>
void visit(V& v, Bm25TeacherOptions& o) {
  visit(v, static_cast<Bm25Options&>(o));
  v.field("top_k", o.top_k, "Passages ranked per query by `dgr teacher bm25-run` (run depth).");
  v.field("queries", config::Choice{o.queries, {"judged", "all"}},
          "Queries `dgr teacher bm25-run` ranks for: those judged in the evaluated split, or "
          "all.");
  v.field("run", o.run,
          "Run file written by `dgr teacher bm25-run`; empty = bm25.trec in its output.");
  v.field("tag", o.tag, "Run tag of the BM25 run (last column).");
  v.field("evaluate", o.evaluate, "Evaluate the BM25 run against the judgments when they are set.");
}

// The cross-encoder's options, and where its checkpoint is.
struct CrossEncoderTeacherOptions : CrossEncoderOptions {
  std::string checkpoint;
};

template <class V>
void visit(V& v, CrossEncoderTeacherOptions& o) {
  v.field("checkpoint", o.checkpoint,
          "Hugging Face checkpoint directory of a BERT cross-encoder (config.json, "
          "model.safetensors, vocab.txt), e.g. cross-encoder/ms-marco-MiniLM-L-6-v2.");
  visit(v, static_cast<CrossEncoderOptions&>(o));
}

struct TeacherOptions {
  std::string kind = "bm25";
  std::string run;
  std::string missing_pair = "error";
  Bm25TeacherOptions bm25;
  TeacherTrainOptions train;
  CrossEncoderTeacherOptions cross_encoder;
  std::string candidates = "retrieve";
  std::string candidates_dir;
  int num_candidates = 200;
  int max_keys = 40;
  std::string qrels;
  std::string labels = "qrels";
  std::string out;
};

template <class V>
void visit(V& v, TeacherOptions& o) {
  v.field("kind", config::Choice{o.kind, {"bm25", "run-file", "cross-encoder"}},
          "The teacher whose scores are distilled: BM25 over the corpus, the scores of a TREC "
          "run (run), or a BERT cross-encoder (cross_encoder).");
  v.field("run", o.run, "TREC run whose scores the run-file teacher replays.");
  v.field("missing_pair", config::Choice{o.missing_pair, {"error", "fill"}},
          "Run-file teacher, a candidate the run does not score: error, or fill (below the "
          "query's lowest score).");
  v.section("bm25", o.bm25, "The BM25 teacher and `dgr teacher bm25-run`.");
  v.section("train", o.train,
            "`dgr teacher init` and `dgr teacher train`: a cross-encoder teacher made from "
            "training judgments.");
  v.section("cross_encoder", o.cross_encoder, "The cross-encoder teacher.");
  v.field("candidates", config::Choice{o.candidates, {"retrieve", "bm25"}},
          "Candidates `dgr teacher rank` scores per training query: the stage-1 retrieval "
          "(run + keys.jsonl of `dgr retrieve` in candidates_dir), or BM25's top passages (no "
          "keys, student score 0).");
  v.field("candidates_dir", o.candidates_dir,
          "Output directory of `dgr retrieve` (with its keys dumped) holding the candidates.");
  v.field("num_candidates", o.num_candidates,
          "Candidates kept per query (M; the candidate generator's top M).");
  v.field("max_keys", o.max_keys, "Matched keys kept per candidate.");
  v.field("qrels", o.qrels,
          "Judgments of the training queries (labels; a query is a training query when it has "
          "one); empty = the data set's training split, or the evaluated judgments without a "
          "data set.");
  v.field("labels", config::Choice{o.labels, {"qrels", "answers"}},
          "How candidates are labelled: qrels (their grade in the training judgments; unjudged "
          "ones stay unlabelled), or answers (1 when the passage's text contains one of the "
          "query's answers from the data set's answers file, else 0, for every candidate: "
          "the has_answer labels of the DGR reference on NQ and TriviaQA).");
  v.field("out", o.out,
          "Distillation set written by `dgr teacher rank`; empty = distill.h5 in its output.");
}

// OptionError for a count of `dgr teacher rank` out of range, a teacher without what it needs (a
// run, a checkpoint) or BM25 options out of range.
void check_rank_options(const TeacherOptions& options);

}  // namespace dgr::teacher
