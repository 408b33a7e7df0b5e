#include "distributed/device_placement.h"

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/model/torch_runtime.h"
#include "core/util/error.h"
#include "distributed/mpi_context.h"

namespace dgr::distributed {

namespace {

// The N of "cuda:N", or -1 when `text` is not a plain decimal index.
int parse_index(std::string_view text) {
  if (text.empty() || text.size() > 6) return -1;
  int value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return -1;
    value = value * 10 + (c - '0');
  }
  return value;
}

}  // namespace

DevicePlacement place_device(const std::string& requested, int node_rank, int visible_gpus,
                             const std::string& key) {
  DevicePlacement out;
  if (requested == "cpu") return out;
  const bool spread = requested == "cuda";
  const int explicit_index =
      requested.rfind("cuda:", 0) == 0 ? parse_index(std::string_view(requested).substr(5)) : -1;
  if (!spread && explicit_index < 0) {
    throw ConfigError(key + " is \"" + requested + "\": expected cpu, cuda or cuda:N");
  }
  if (visible_gpus <= 0) {
    throw ConfigError(key + " is " + requested +
                      " but this process sees no CUDA device (a CPU-only libtorch, no GPU, or "
                      "CUDA_VISIBLE_DEVICES hides them); use cpu");
  }
  const int index = spread ? node_rank % visible_gpus : explicit_index;
  if (index >= visible_gpus) {
    throw ConfigError(
        key + " is " + requested + " but only " + std::to_string(visible_gpus) +
        " CUDA device(s) are visible (cuda:0 .. cuda:" + std::to_string(visible_gpus - 1) + ")");
  }
  out.device = "cuda:" + std::to_string(index);
  out.cuda_index = index;
  return out;
}

std::pair<int, int> first_shared_device(const std::vector<std::string>& devices) {
  std::map<std::string, int> first_rank;
  for (int rank = 0; rank < static_cast<int>(devices.size()); ++rank) {
    const auto [it, fresh] = first_rank.emplace(devices[rank], rank);
    if (!fresh) return {it->second, rank};
  }
  return {-1, -1};
}

DevicePlacement place_rank_device(const MpiContext& mpi, const std::string& requested,
                                  const std::string& key) {
  const int visible = requested == "cpu" ? 0 : model::visible_cuda_devices();
  const DevicePlacement placement = place_device(requested, mpi.node_rank(), visible, key);
  if (placement.cuda_index >= 0) model::set_current_cuda_device(placement.cuda_index);
  return placement;
}

std::string placement_line(const MpiContext& mpi, const DevicePlacement& placement) {
  return rank_tag(mpi.rank(), mpi.size()) + " on " + mpi.hostname() + " (node rank " +
         std::to_string(mpi.node_rank()) + " of " + std::to_string(mpi.ranks_on_node()) +
         "): " + placement.device;
}

}  // namespace dgr::distributed
