#include "data/copy_task.h"

#include <algorithm>
#include <string>

#include "core/util/error.h"
#include "core/util/hash.h"

namespace dgr::data {
namespace {

constexpr uint64_t kCopyStream = 0x636f7079ULL;  // "copy"

// The drawable ids in increasing order.
std::vector<int32_t> drawable_ids(const CopyTaskOptions& o) {
  std::vector<int32_t> ids;
  for (int32_t id = std::max<int32_t>(0, o.first_id); id < o.vocab_size; ++id) {
    if (std::find(o.excluded.begin(), o.excluded.end(), id) == o.excluded.end()) ids.push_back(id);
  }
  return ids;
}

}  // namespace

CopyTask::CopyTask(const CopyTaskOptions& options)
    : options_(options), ids_(drawable_ids(options)) {
  if (options.length < 1) {
    throw ConfigError("copy task: length must be at least 1, got " +
                      std::to_string(options.length));
  }
  if (ids_.empty()) {
    throw ConfigError("the copy warm start has no token to draw: vocabulary of " +
                      std::to_string(options.vocab_size) + " from id " +
                      std::to_string(options.first_id));
  }
}

std::vector<Stage1Example> CopyTask::examples(uint64_t step, uint64_t first_row,
                                              uint64_t count) const {
  const auto longest = static_cast<uint64_t>(options_.length);
  const uint64_t shortest = std::max<uint64_t>(1, longest / 2);
  std::vector<Stage1Example> examples;
  examples.reserve(count);
  for (uint64_t row = first_row; row < first_row + count; ++row) {
    SplitMixStream stream(options_.seed, kCopyStream, step, row);
    const uint64_t length = shortest + stream.uniform(longest - shortest + 1);
    Stage1Example e;
    e.source_id = "copy:" + std::to_string(step) + ":" + std::to_string(row);
    e.view = search::View::kBody;
    e.supervised = false;
    e.source.reserve(length);
    for (uint64_t i = 0; i < length; ++i)
      e.source.push_back(ids_[stream.uniform(ids_.size())]);
    e.target = e.source;
    examples.push_back(std::move(e));
  }
  return examples;
}

}  // namespace dgr::data
