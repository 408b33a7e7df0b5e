#include "teacher/teacher_options.h"

namespace dgr::teacher {

using config::option_key;
using config::OptionError;

void check_rank_options(const TeacherOptions& t) {
  if (t.num_candidates < 1) {
    throw OptionError("{} must be at least 1, got " + std::to_string(t.num_candidates),
                      {option_key(t, t.num_candidates)});
  }
  if (t.max_keys < 0) {
    throw OptionError("{} must be >= 0, got " + std::to_string(t.max_keys),
                      {option_key(t, t.max_keys)});
  }
  if (t.kind == "run-file" && t.run.empty()) {
    throw OptionError("{} is run-file but {} is empty (--teacher-run)",
                      {option_key(t, t.kind), option_key(t, t.run)});
  }
  if (t.kind == "cross-encoder" && t.cross_encoder.checkpoint.empty()) {
    throw OptionError("{} is cross-encoder but {} is empty (--checkpoint)",
                      {option_key(t, t.kind), option_key(t, t.cross_encoder.checkpoint)});
  }
  validate(t.bm25);
}

}  // namespace dgr::teacher
