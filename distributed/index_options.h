// The options of the sharded FM-index (`dgr index build`, distributed/indexer.h, and every stage
// that loads it): where it lives, its identifier views and their markers, and its shards. No torch
// in this header.
#pragma once

#include <string>
#include <vector>

#include "core/index/views.h"
#include "core/util/options.h"

namespace dgr::distributed {

struct IndexOptions {
  std::string dir;
  std::vector<std::string> views{"title", "body"};
  int shards = 0;
  std::string title_start = "</s>";
  std::string title_end = " @@";
  std::string pq_start = " ||";
  std::string pq_end = " @@";
  bool verify_checksums = true;
};

template <class V>
void visit(V& v, IndexOptions& o) {
  v.field("dir", o.dir, "Index directory: written by `dgr index build`, read by later stages.");
  v.field("views", o.views,
          "Identifier views to index: title (</s> title @@), body (title @@ text), "
          "pseudo_queries (|| query @@).");
  v.field("shards", o.shards,
          "Number of FM-index shards (contiguous passage ranges); 0 = one per MPI rank.");
  v.field("title_start", o.title_start, "Marker before a title (a special token or text).");
  v.field("title_end", o.title_end, "Marker after a title, before the body text.");
  v.field("pq_start", o.pq_start, "Marker before a pseudo-query.");
  v.field("pq_end", o.pq_end, "Marker after a pseudo-query.");
  v.field("verify_checksums", o.verify_checksums,
          "Re-hash every shard against the manifest when loading (sizes are always checked).");
}

// The views and markers of `o`. OptionError naming the views option for an unknown or repeated
// view or an empty list.
index::ViewOptions view_options(const IndexOptions& o);

}  // namespace dgr::distributed
