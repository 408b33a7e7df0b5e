#include "core/search/identifiers.h"

namespace dgr::search {

const char* view_name(View view) {
  switch (view) {
    case View::kTitle:
      return "title";
    case View::kBody:
      return "body";
    case View::kPseudoQuery:
      return "pseudo_queries";
  }
  return "unknown";
}

}  // namespace dgr::search
