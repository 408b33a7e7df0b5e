// The teacher section's checks (teacher/teacher_options.h) name the refused option by its key
// where the configuration places the section, and by its field without a scope.
#include "teacher/teacher_options.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "core/util/error.h"

namespace dgr::teacher {
namespace {

std::string refusal(const TeacherOptions& options) {
  try {
    check_rank_options(options);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(TeacherOptions, DefaultsPass) {
  EXPECT_EQ(refusal(TeacherOptions{}), "");
}

// The refusal of options changed by `change`, placed where the configuration puts the section.
std::string placed_refusal(const std::function<void(TeacherOptions&)>& change) {
  TeacherOptions options;
  const config::KeyScope keys(options, "teacher");
  change(options);
  return refusal(options);
}

TEST(TeacherOptions, RefusalsNameTheKeysWhereTheSectionIsPlaced) {
  EXPECT_EQ(placed_refusal([](TeacherOptions& o) { o.num_candidates = 0; }),
            "teacher.num_candidates must be at least 1, got 0");
  EXPECT_EQ(placed_refusal([](TeacherOptions& o) { o.max_keys = -1; }),
            "teacher.max_keys must be >= 0, got -1");
  EXPECT_EQ(placed_refusal([](TeacherOptions& o) { o.kind = "run-file"; }),
            "teacher.kind is run-file but teacher.run is empty (--teacher-run)");
  EXPECT_EQ(placed_refusal([](TeacherOptions& o) { o.kind = "cross-encoder"; }),
            "teacher.kind is cross-encoder but teacher.cross_encoder.checkpoint is empty "
            "(--checkpoint)");
  const std::string bm25 = placed_refusal([](TeacherOptions& o) { o.bm25.b = 2; });
  EXPECT_NE(bm25.find("BM25 teacher.bm25.b must be in [0, 1]"), std::string::npos) << bm25;
}

TEST(TeacherOptions, WithoutAScopeTheFieldsNameThemselves) {
  TeacherOptions options;
  options.kind = "cross-encoder";
  EXPECT_EQ(refusal(options),
            "kind is cross-encoder but cross_encoder.checkpoint is empty (--checkpoint)");
  // The teacher's training shares the student's training keys, with its own defaults.
  EXPECT_EQ(options.train.lr, 1e-4);
  EXPECT_EQ(config::option_key(options, options.train.lr).name, "train.lr");
}

}  // namespace
}  // namespace dgr::teacher
