// Reading train_log.jsonl in tests: the value of a key on the first line that has it (the
// step-1 line for the loss terms and the gradient norm) or on the last, and the input probe's
// lines.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

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

// The value of `key` on the last line that has it (the last logged step's loss).
inline double last_logged(const std::string& log_path, const std::string& key) {
  std::ifstream in(log_path);
  EXPECT_TRUE(in.good()) << "cannot open " << log_path;
  double value = std::numeric_limits<double>::quiet_NaN();
  bool found = false;
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json j = nlohmann::json::parse(line);
    if (j.contains(key) && j[key].is_number()) {
      value = j[key].get<double>();
      found = true;
    }
  }
  if (!found) ADD_FAILURE() << log_path << " has no line with \"" << key << "\"";
  return value;
}

// The input probe of every probed step: step -> (probe_gap, encoder_spread).
inline std::map<int, std::pair<double, double>> probe_log(const std::string& log_path) {
  std::map<int, std::pair<double, double>> probed;
  std::ifstream in(log_path);
  EXPECT_TRUE(in.good()) << "cannot open " << log_path;
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json j = nlohmann::json::parse(line);
    if (!j.contains("encoder_spread")) continue;
    probed[j["step"].get<int>()] = {j["probe_gap"].get<double>(),
                                    j["encoder_spread"].get<double>()};
  }
  return probed;
}

}  // namespace dgr::testing
