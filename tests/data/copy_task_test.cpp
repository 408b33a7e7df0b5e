#include "data/copy_task.h"

#include <gtest/gtest.h>

#include <set>

#include "core/util/error.h"

namespace dgr::data {
namespace {

CopyTaskOptions options() {
  CopyTaskOptions o;
  o.length = 12;
  o.first_id = 4;
  o.vocab_size = 40;
  o.excluded = {7, 9};
  o.seed = 5;
  return o;
}

TEST(CopyTask, TargetIsTheSourceWithinTheDrawableIds) {
  std::set<int32_t> seen;
  for (const Stage1Example& e : CopyTask(options()).examples(3, 0, 200)) {
    EXPECT_EQ(e.source, e.target);
    EXPECT_TRUE(e.prompt.empty());
    EXPECT_EQ(e.view, search::View::kBody);
    EXPECT_GE(e.source.size(), 6U);
    EXPECT_LE(e.source.size(), 12U);
    for (int32_t t : e.source) {
      EXPECT_GE(t, 4);
      EXPECT_LT(t, 40);
      EXPECT_NE(t, 7);
      EXPECT_NE(t, 9);
      seen.insert(t);
    }
  }
  EXPECT_EQ(seen.size(), 34U) << "every drawable id appears in 200 rows";
}

TEST(CopyTask, RowsDependOnSeedStepAndRowOnly) {
  // One global batch of 8 made whole, or as two ranks' halves, is the same.
  const CopyTask task(options());
  const auto whole = task.examples(11, 0, 8);
  const auto first = task.examples(11, 0, 4);
  const auto second = task.examples(11, 4, 4);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(whole[i].source, first[i].source);
    EXPECT_EQ(whole[i + 4].source, second[i].source);
  }
  EXPECT_NE(task.examples(12, 0, 1)[0].source, whole[0].source);
  CopyTaskOptions other = options();
  other.seed = 6;
  EXPECT_NE(CopyTask(other).examples(11, 0, 1)[0].source, whole[0].source);
  EXPECT_NE(whole[0].source, whole[1].source);
}

TEST(CopyTask, NothingToDrawIsAConfigError) {
  CopyTaskOptions o = options();
  o.vocab_size = 4;
  EXPECT_THROW(CopyTask{o}, ConfigError);
  o = options();
  o.length = 0;
  EXPECT_THROW(CopyTask{o}, ConfigError);
}

}  // namespace
}  // namespace dgr::data
