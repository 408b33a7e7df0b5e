// The teacher section's checks (teacher/teacher_options.h) name the refused option by its key
// where the configuration places the section, and by its field without a scope.
#include "teacher/teacher_options.h"

#include <gtest/gtest.h>

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

TEST(TeacherOptions, RefusalsNameTheKeysWhereTheSectionIsPlaced) {
  TeacherOptions options;
  const config::KeyScope keys(options, "teacher");
  options.num_candidates = 0;
  EXPECT_EQ(refusal(options), "teacher.num_candidates must be at least 1, got 0");
  options = TeacherOptions{};
  options.max_keys = -1;
  EXPECT_EQ(refusal(options), "teacher.max_keys must be >= 0, got -1");
  options = TeacherOptions{};
  options.kind = "run-file";
  EXPECT_EQ(refusal(options), "teacher.kind is run-file but teacher.run is empty (--teacher-run)");
  options = TeacherOptions{};
  options.kind = "cross-encoder";
  EXPECT_EQ(refusal(options),
            "teacher.kind is cross-encoder but teacher.cross_encoder.checkpoint is empty "
            "(--checkpoint)");
  options = TeacherOptions{};
  options.bm25.b = 2;
  EXPECT_NE(refusal(options).find("BM25 teacher.bm25.b must be in [0, 1]"), std::string::npos)
      << refusal(options);
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
