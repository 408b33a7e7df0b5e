// Config → teacher options shared by the `dgr teacher` subcommands (cmd_teacher.cpp,
// cmd_teacher_train.cpp).
#pragma once

#include "launch/experiment_config.h"
#include "teacher/bm25.h"

namespace dgr::cli {

// teacher.bm25.* as BM25 options; ConfigError naming the key when they are out of range.
teacher::Bm25Options bm25_options(const Bm25TeacherOptions& o);

}  // namespace dgr::cli
