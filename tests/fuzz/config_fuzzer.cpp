// Fuzzes the YAML experiment configuration: ConfigTree loading (extends, merging), --set
// overrides and strict binding onto ExperimentConfig (launch/experiment_config.h).
//
// Input: the config file. Lines "#set key=value" (YAML comments, so the file reads the same) are
// also passed as --set assignments. Property: an accepted config's resolved YAML loads again to
// the same resolved YAML (the file written next to every output must be a valid config); skipped
// when the input uses ${VAR} expansion, which is one-shot by design.
#include <string>
#include <string_view>
#include <vector>

#include "launch/experiment_config.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> sets;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(start, end - start);
    if (line.substr(0, 5) == "#set ") sets.emplace_back(line.substr(5));
    start = end + 1;
  }
  const std::string path = dgr::fuzz::write_scratch("config.yaml", text);

  dgr::ResolvedConfig config;
  if (!dgr::fuzz::accepts([&] { config = dgr::resolve_config(path, sets, {}); })) return 0;
  FUZZ_CHECK(!config.hash.empty());
  if (text.find('$') != std::string_view::npos) return 0;
  for (const std::string& set : sets) {
    if (set.find('$') != std::string::npos) return 0;
  }
  const std::string resolved_path = dgr::fuzz::write_scratch("resolved.yaml", config.yaml);
  // No catch: a resolved configuration that does not load again is a finding.
  const dgr::ResolvedConfig again = dgr::resolve_config(resolved_path, {}, {});
  FUZZ_CHECK(again.yaml == config.yaml);
  return 0;
}
