// Which device a rank computes on. `model.device: cuda` spreads the ranks of a node over its GPUs
// by their node-local rank (MPI_COMM_TYPE_SHARED, MpiContext::node_rank) modulo the GPUs the rank
// sees, so plain `mpirun -np 8` on an 8-GPU node and a launcher that hides all but one GPU per
// rank (CUDA_VISIBLE_DEVICES) both give each rank its own GPU; `cuda:N` is honoured as written.
// The model, the NCCL communicator and the current CUDA device all take the one index found here.
// No torch in this header.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace dgr::distributed {

class MpiContext;

struct DevicePlacement {
  std::string device = "cpu";  // "cpu" or "cuda:K", what parse_device and the model take
  int cuda_index = -1;         // K; -1 on the CPU
};

// The placement of a rank that is `node_rank` on its node and sees `visible_gpus` CUDA devices,
// for `requested` ("cpu", "cuda" or "cuda:N"). `key` names the option in messages. ConfigError
// for another spelling, for cuda without a visible GPU, and for cuda:N past the visible ones.
DevicePlacement place_device(const std::string& requested, int node_rank, int visible_gpus,
                             const std::string& key);

// The first two ranks, by rank, whose `devices` entries are equal (each entry names the physical
// GPU a rank uses, e.g. "<host>/<PCI bus id>"), or {-1, -1} when every rank has a GPU of its own,
// as NCCL requires. Ranks that see different GPU sets (a launcher's CUDA_VISIBLE_DEVICES per
// rank) can share an index and still a GPU of their own, so only the physical ids can tell.
std::pair<int, int> first_shared_device(const std::vector<std::string>& devices);

// This rank's placement from torch's count of visible GPUs; on a GPU it also becomes the current
// CUDA device, before any model loads. Not collective: every rank decides alike from the same
// configuration. (That no two ranks of one NCCL communicator share a GPU is checked when the
// communicator is created, from the GPUs' PCI bus ids.)
DevicePlacement place_rank_device(const MpiContext& mpi, const std::string& requested,
                                  const std::string& key);

// "rank R/N on <host> (node rank k of m): <device>", the line that logs a placement.
std::string placement_line(const MpiContext& mpi, const DevicePlacement& placement);

}  // namespace dgr::distributed
