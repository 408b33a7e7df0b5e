#include "core/index/views.h"

#include <algorithm>

#include "core/util/error.h"

namespace dgr::index {
namespace {

std::vector<TokenId> encode_marker(const text::BpeTokenizer& tokenizer, const std::string& marker) {
  if (marker.empty()) return {};
  if (TokenId special = tokenizer.token_to_id(marker);
      special >= 0 && marker.front() == '<' && marker.back() == '>') {
    return {special};
  }
  return tokenizer.encode(marker);
}

void append(std::vector<TokenId>& to, const std::vector<TokenId>& from) {
  to.insert(to.end(), from.begin(), from.end());
}

}  // namespace

void set_views(ViewOptions& options, const std::vector<std::string>& names,
               const std::string& where) {
  if (names.empty()) throw ConfigError(where + ": at least one view is needed (title, body)");
  options.title = options.body = options.pseudo_queries = false;
  for (const auto& name : names) {
    bool* flag = name == "title"            ? &options.title
                 : name == "body"           ? &options.body
                 : name == "pseudo_queries" ? &options.pseudo_queries
                                            : nullptr;
    if (flag == nullptr) {
      throw ConfigError(where + ": unknown view '" + name +
                        "'; the views are title, body, pseudo_queries");
    }
    if (*flag) throw ConfigError(where + ": view '" + name + "' is listed twice");
    *flag = true;
  }
}

std::vector<std::string> view_names(const ViewOptions& options) {
  std::vector<std::string> names;
  if (options.title) names.emplace_back("title");
  if (options.body) names.emplace_back("body");
  if (options.pseudo_queries) names.emplace_back("pseudo_queries");
  return names;
}

ViewMarkers encode_markers(const text::BpeTokenizer& tokenizer, const ViewOptions& options) {
  return ViewMarkers{
      encode_marker(tokenizer, options.title_start), encode_marker(tokenizer, options.title_end),
      encode_marker(tokenizer, options.pq_start), encode_marker(tokenizer, options.pq_end)};
}

PassageSegments passage_segments(const text::BpeTokenizer& tokenizer, const ViewOptions& options,
                                 const ViewMarkers& markers, const std::string& title,
                                 const std::string& text,
                                 const std::vector<std::string>& pseudo_queries) {
  PassageSegments segments;
  const bool has_title = !title.empty();
  if ((options.title && has_title) || options.body) {
    std::vector<TokenId> segment;
    if (options.title && has_title) append(segment, markers.title_start);
    if (has_title) {
      append(segment, tokenizer.encode(" " + title));
      append(segment, markers.title_end);
    }
    if (options.body && !text.empty()) append(segment, tokenizer.encode(" " + text));
    if (!segment.empty()) segments.push_back(std::move(segment));
  }
  if (options.pseudo_queries) {
    for (const auto& query : pseudo_queries) {
      if (query.empty()) continue;
      std::vector<TokenId> segment = markers.pq_start;
      append(segment, tokenizer.encode(" " + query));
      append(segment, markers.pq_end);
      segments.push_back(std::move(segment));
    }
  }
  return segments;
}

}  // namespace dgr::index
