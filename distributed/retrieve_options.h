// `dgr retrieve`'s own options (distributed/retrieval.h): which queries, the run file, the keys
// dump. No torch in this header.
#pragma once

#include <string>

#include "core/search/search_options.h"
#include "core/util/options.h"

namespace dgr::distributed {

// `dgr retrieve`'s own options: which queries, the run file, the keys dump.
struct RetrieveOptions {
  std::string queries = "judged";
  std::string run;
  std::string tag = "dgr";
  bool dump_keys = false;
  int max_keys_per_passage = search::ScoringOptions{}.max_keys_per_passage;
  bool evaluate = true;
};

template <class V>
void visit(V& v, RetrieveOptions& o) {
  v.field("queries", config::Choice{o.queries, {"judged", "all"}},
          "Queries to retrieve for: those with judgments in the evaluated split, or every query.");
  v.field("run", o.run, "Run file written by `dgr retrieve`; empty = run.trec in its output.");
  v.field("tag", o.tag, "Run tag (last column of the run file).");
  v.field("dump_keys", o.dump_keys,
          "Also write keys.jsonl next to the run: each ranked passage's matched keys "
          "(distillation).");
  v.field("max_keys_per_passage", o.max_keys_per_passage,
          "Matched keys kept per passage in keys.jsonl (DGR uses 40).");
  v.field("evaluate", o.evaluate, "Evaluate the run against the judgments when they are set.");
}

}  // namespace dgr::distributed
