#include "core/search/retriever.h"

#include <utility>

#include "core/util/error.h"

namespace dgr::search {

std::vector<ViewPrompt> view_prompts(const index::ViewOptions& indexed,
                                     const index::ViewMarkers& markers,
                                     const SearchOptions& search) {
  using config::option_key;
  using config::OptionError;
  const std::vector<std::string>& names = search.views;
  const std::vector<std::string> chosen = names.empty() ? index::view_names(indexed) : names;
  const config::OptionKey views_key = option_key(search, search.views);
  std::vector<ViewPrompt> prompts;
  std::vector<bool> seen(3, false);
  for (const std::string& name : chosen) {
    ViewPrompt prompt;
    bool in_index = false;
    if (name == "title") {
      prompt = {View::kTitle, markers.title_start, markers.title_end, search.title_max_length};
      in_index = indexed.title;
    } else if (name == "body") {
      prompt = {View::kBody, {}, {}, search.body_max_length};
      in_index = indexed.body;
    } else if (name == "pseudo_queries") {
      prompt = {View::kPseudoQuery, markers.pq_start, markers.pq_end, search.pq_max_length};
      in_index = indexed.pseudo_queries;
    } else {
      throw OptionError("{}: unknown view '" + name + "' (expected title, body or pseudo_queries)",
                        {views_key});
    }
    if (!in_index) {
      throw OptionError("{} lists '" + name + "' but the index holds no " + name +
                            " view (rebuild the index with it)",
                        {views_key});
    }
    if (seen[static_cast<size_t>(prompt.view)]) {
      throw OptionError("{} lists '" + name + "' twice", {views_key});
    }
    seen[static_cast<size_t>(prompt.view)] = true;
    if (prompt.max_length < 1) {
      throw ConfigError("search: the " + name + " view's maximum length must be at least 1");
    }
    prompts.push_back(std::move(prompt));
  }
  return prompts;
}

std::vector<QueryRetrieval> retrieve(StepModel& model, TokenConstraint& constraint,
                                     const index::ShardedIndex& index,
                                     const std::vector<std::vector<TokenId>>& queries,
                                     const std::vector<ViewPrompt>& views,
                                     const RetrieverOptions& options, const KeyRescorer& rescorer) {
  std::vector<SearchResult> searched = beam_search(model, constraint, queries, views, options.beam);
  std::vector<const ViewPrompt*> prompt_of(3, nullptr);
  for (const ViewPrompt& prompt : views)
    prompt_of[static_cast<size_t>(prompt.view)] = &prompt;

  std::vector<QueryRetrieval> out(queries.size());
  for (size_t q = 0; q < queries.size(); ++q) {
    std::vector<GeneratedKey>& generated = searched[q].keys;
    if (rescorer && !generated.empty()) rescorer(queries[q], views, generated);
    std::vector<ScoredKey>& keys = out[q].keys;
    keys.reserve(generated.size());
    for (GeneratedKey& key : generated) {
      const ViewPrompt& prompt = *prompt_of[static_cast<size_t>(key.view)];
      ScoredKey scored;
      scored.view = key.view;
      scored.indexed = prompt.prefix;
      scored.prefix_length = static_cast<uint32_t>(prompt.prefix.size());
      scored.indexed.insert(scored.indexed.end(), key.tokens.begin(), key.tokens.end());
      // Coverage counts identifier tokens: a finished title's end marker is not one.
      if (key.finished && key.tokens.size() >= prompt.end.size()) {
        key.tokens.resize(key.tokens.size() - prompt.end.size());
      }
      scored.tokens = std::move(key.tokens);
      scored.log_prob = key.log_prob;
      keys.push_back(std::move(scored));
    }
    out[q].passages = intersective_score(index, keys, searched[q].unigrams, options.scoring);
  }
  return out;
}

}  // namespace dgr::search
