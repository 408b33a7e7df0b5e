// docs/configuration.md must list exactly the keys of the option structs, with the same type
// and default: regenerate its tables with `dgr config docs` when this fails.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "core/util/files.h"
#include "launch/experiment_config.h"

namespace dgr {
namespace {

struct Row {
  std::string type;
  std::string default_value;
};

// Rows "| `key` | type | default | meaning |" of a Markdown document, by key.
std::map<std::string, Row> key_rows(const std::string& markdown) {
  std::map<std::string, Row> rows;
  std::istringstream in(markdown);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("| `", 0) != 0) continue;
    // Split on " | " (escaped pipes inside cells are written "\|").
    std::vector<std::string> cells;
    std::string cell;
    for (size_t i = 1; i < line.size(); ++i) {
      if (line[i] == '|' && line[i - 1] != '\\') {
        cells.push_back(cell);
        cell.clear();
      } else {
        cell += line[i];
      }
    }
    auto trim = [](std::string s) {
      size_t a = s.find_first_not_of(' '), b = s.find_last_not_of(' ');
      return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
    };
    if (cells.size() < 4) continue;
    std::string key = trim(cells[0]);
    std::string def = trim(cells[2]);
    auto strip_ticks = [](std::string s) {
      if (s.size() >= 2 && s.front() == '`' && s.back() == '`') s = s.substr(1, s.size() - 2);
      return s;
    };
    rows[strip_ticks(key)] = Row{trim(cells[1]), strip_ticks(def)};
  }
  return rows;
}

TEST(ConfigurationDoc, ListsEveryKeyWithTypeAndDefault) {
  std::string doc = read_file(std::string(DGR_SOURCE_DIR) + "/docs/configuration.md");
  std::map<std::string, Row> documented = key_rows(doc);
  std::map<std::string, Row> expected = key_rows(configuration_reference());
  ASSERT_FALSE(expected.empty());
  for (const auto& [key, row] : expected) {
    auto it = documented.find(key);
    ASSERT_NE(it, documented.end())
        << "docs/configuration.md lacks key '" << key << "' (regenerate with `dgr config docs`)";
    EXPECT_EQ(it->second.type, row.type) << "type of " << key;
    EXPECT_EQ(it->second.default_value, row.default_value) << "default of " << key;
  }
  for (const auto& [key, row] : documented) {
    EXPECT_TRUE(expected.count(key))
        << "docs/configuration.md documents '" << key << "', which no option struct has";
  }
}

}  // namespace
}  // namespace dgr
