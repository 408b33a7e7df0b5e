// Identifier views: which token sequences a passage contributes to the index.
#include "core/index/views.h"

#include <gtest/gtest.h>

#include "core/util/error.h"

namespace dgr::index {
namespace {

const text::BpeTokenizer& bart() {
  static const text::BpeTokenizer tokenizer =
      text::BpeTokenizer::load(std::string(DGR_SHARED_DATA_DIR) + "/tokenizer/bart");
  return tokenizer;
}

std::vector<TokenId> concat(std::initializer_list<std::vector<TokenId>> parts) {
  std::vector<TokenId> out;
  for (const auto& p : parts)
    out.insert(out.end(), p.begin(), p.end());
  return out;
}

TEST(Views, TitleAndBodyShareOneSegmentStartingWithTheTitleMarker) {
  ViewOptions options;  // title + body
  ViewMarkers markers = encode_markers(bart(), options);
  ASSERT_EQ(markers.title_start, std::vector<TokenId>{bart().eos_id()});  // "</s>" is a token
  PassageSegments segments =
      passage_segments(bart(), options, markers, "Jet flow", "the flow is fast", {});
  ASSERT_EQ(segments.size(), 1u);
  EXPECT_EQ(segments[0], concat({{bart().eos_id()},
                                 bart().encode(" Jet flow"),
                                 bart().encode(" @@"),
                                 bart().encode(" the flow is fast")}));
}

TEST(Views, TitleViewAloneEndsAtTheEndMarker) {
  ViewOptions options;
  set_views(options, {"title"}, "test");
  ViewMarkers markers = encode_markers(bart(), options);
  PassageSegments segments = passage_segments(bart(), options, markers, "Jet flow", "body", {});
  ASSERT_EQ(segments.size(), 1u);
  EXPECT_EQ(segments[0],
            concat({{bart().eos_id()}, bart().encode(" Jet flow"), bart().encode(" @@")}));
}

TEST(Views, BodyViewAloneHasNoStartMarker) {
  ViewOptions options;
  set_views(options, {"body"}, "test");
  ViewMarkers markers = encode_markers(bart(), options);
  PassageSegments segments = passage_segments(bart(), options, markers, "T", "x y", {});
  ASSERT_EQ(segments.size(), 1u);
  EXPECT_EQ(segments[0],
            concat({bart().encode(" T"), bart().encode(" @@"), bart().encode(" x y")}));
}

TEST(Views, PassageWithoutTitleHasOnlyItsBody) {
  ViewOptions options;
  ViewMarkers markers = encode_markers(bart(), options);
  PassageSegments segments = passage_segments(bart(), options, markers, "", "only text", {});
  ASSERT_EQ(segments.size(), 1u);
  EXPECT_EQ(segments[0], bart().encode(" only text"));
  EXPECT_TRUE(passage_segments(bart(), options, markers, "", "", {}).empty());
}

TEST(Views, PseudoQueriesAreOneSegmentEach) {
  ViewOptions options;
  set_views(options, {"title", "body", "pseudo_queries"}, "test");
  ViewMarkers markers = encode_markers(bart(), options);
  PassageSegments segments =
      passage_segments(bart(), options, markers, "T", "x", {"what is x", "", "why"});
  ASSERT_EQ(segments.size(), 3u);  // the empty pseudo-query is skipped
  EXPECT_EQ(segments[1],
            concat({bart().encode(" ||"), bart().encode(" what is x"), bart().encode(" @@")}));
  EXPECT_EQ(segments[2],
            concat({bart().encode(" ||"), bart().encode(" why"), bart().encode(" @@")}));
}

TEST(Views, MarkersAreConfigurable) {
  ViewOptions options;
  options.title_start = "<s>";
  options.title_end = " ::";
  ViewMarkers markers = encode_markers(bart(), options);
  EXPECT_EQ(markers.title_start, std::vector<TokenId>{bart().bos_id()});
  EXPECT_EQ(markers.title_end, bart().encode(" ::"));
}

TEST(Views, UnknownOrRepeatedViewNamesAreConfigErrors) {
  ViewOptions options;
  EXPECT_THROW(set_views(options, {"titles"}, "index.views"), ConfigError);
  EXPECT_THROW(set_views(options, {"body", "body"}, "index.views"), ConfigError);
  EXPECT_THROW(set_views(options, {}, "index.views"), ConfigError);
  set_views(options, {"body", "pseudo_queries"}, "index.views");
  EXPECT_EQ(view_names(options), (std::vector<std::string>{"body", "pseudo_queries"}));
}

}  // namespace
}  // namespace dgr::index
