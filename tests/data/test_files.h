// Scratch files and error expectations shared by the data reader tests.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

namespace dgr::data::test {

namespace fs = std::filesystem;

// A fresh directory per test, so that tests may run in parallel.
inline std::string test_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const fs::path dir = fs::path(DGR_TEST_TMP_DIR) / "data" /
                       (std::string(info->test_suite_name()) + "." + info->name());
  if (!fs::exists(dir)) fs::create_directories(dir);
  return dir.string();
}

inline std::string write_file(const std::string& name, const std::string& content) {
  const std::string path = test_dir() + "/" + name;
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

// Runs `f`, expects an exception of type E whose message contains every one of `parts`.
template <typename E>
void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
  } catch (const E& e) {
    const std::string message = e.what();
    for (const std::string& part : parts) {
      EXPECT_NE(message.find(part), std::string::npos)
          << "message: " << message << "\nexpected to contain: " << part;
    }
    return;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "exception of another type: " << e.what();
    return;
  }
  ADD_FAILURE() << "no exception thrown";
}

}  // namespace dgr::data::test
