// Reading train_log.jsonl in tests: the value of a key on the first line that has it (the
// step-1 line for the loss terms and the gradient norm).
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

namespace dgr::testing {

inline double first_logged(const std::string& log_path, const std::string& key) {
  std::ifstream in(log_path);
  EXPECT_TRUE(in.good()) << "cannot open " << log_path;
  std::string line;
  while (std::getline(in, line)) {
    const nlohmann::json j = nlohmann::json::parse(line);
    if (j.contains(key) && j[key].is_number()) return j[key].get<double>();
  }
  ADD_FAILURE() << log_path << " has no line with \"" << key << "\"";
  return std::numeric_limits<double>::quiet_NaN();
}

}  // namespace dgr::testing
