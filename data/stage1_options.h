// The options of stage-1 example generation (`dgr examples build`, data/stage1_examples.h): the
// store's path and how many examples of which kind; defaults are MINDER's (the paper's settings).
// No HDF5 or tokenizer here.
#pragma once

#include <string>

#include "core/util/options.h"

namespace dgr::data {

struct Stage1Options {
  std::string path;
  int titles_per_query = 3;
  int spans_per_query = 10;
  int pseudo_queries_per_query = 5;
  int span_length = 10;
  bool unsupervised = true;
  int unsup_spans = 3;
  int unsup_titles = 1;
  int unsup_pseudo_queries = 2;
  int source_length = 64;
  int relevance_threshold = 1;
};

template <class V>
void visit(V& v, Stage1Options& o) {
  v.field("path", o.path,
          "HDF5 file of stage-1 examples: written by `dgr examples build`, read by `dgr train`; "
          "empty = stage1_examples.h5 in the run's output.");
  v.field("titles_per_query", o.titles_per_query,
          "Copies of each positive passage's title example per training query.");
  v.field("spans_per_query", o.spans_per_query,
          "Body spans per (query, positive), preferring overlap with the query.");
  v.field("pseudo_queries_per_query", o.pseudo_queries_per_query,
          "Pseudo-query examples per (query, positive) when pseudo-queries are indexed.");
  v.field("span_length", o.span_length, "Tokens of a body-span identifier.");
  v.field("unsupervised", o.unsupervised,
          "Also make corpus examples: a passage segment -> its title / a span / a pseudo-query.");
  v.field("unsup_spans", o.unsup_spans, "Corpus examples per passage with a span target.");
  v.field("unsup_titles", o.unsup_titles, "Corpus examples per passage with its title as target.");
  v.field("unsup_pseudo_queries", o.unsup_pseudo_queries,
          "Corpus examples per passage with a pseudo-query target.");
  v.field("source_length", o.source_length, "Tokens of the passage segment of a corpus example.");
  v.field("relevance_threshold", o.relevance_threshold,
          "Smallest qrels grade that makes a passage a positive of a training query.");
}

}  // namespace dgr::data
