// Collectives between the ranks of a data-parallel job, on raw buffers: an MPI implementation on
// host memory and an NCCL implementation on device memory (compiled when nccl.h and the CUDA
// runtime are found; bootstrapped over MPI: rank 0 creates the ncclUniqueId and broadcasts it).
// One interface, chosen at start-up by `make_communicator`. Every MPI/NCCL return code is checked:
// a failure throws CommError naming the call, which the launch guard turns into MPI_Abort.
// No torch here: buffers are pointers + element counts.
//
// MPI backend: blocking calls run on the caller's thread over a private duplicate of the context's
// communicator; all_reduce_async and reduce_scatter_async run on a communication thread with a
// second duplicate, in FIFO order (needs MPI_THREAD_MULTIPLE; with a lower level it runs at
// submission, with a warning). bfloat16 is summed (kSum only: each pair added in float32 and
// rounded once, as NCCL does); float16 is moved (all_gather, broadcast) but not reduced. When all
// ranks share one machine, float32 sums go through a shared-memory window instead of
// MPI_Allreduce (MpiCommunicatorOptions).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "distributed/mpi_context.h"

namespace dgr::distributed {

enum class DataType : uint8_t { kFloat32, kFloat64, kInt64, kInt32, kBFloat16, kFloat16 };
// kAvg: the sum divided by size(), for floating types only (on MPI, the division runs where the
// collective ran: on the communication thread for all_reduce_async).
enum class ReduceOp : uint8_t { kSum, kMax, kMin, kAvg };
size_t element_size(DataType type);

// A collective started without waiting. `wait` blocks until it is complete (and rethrows its
// failure); `done` polls.
class Work {
 public:
  virtual ~Work() = default;
  virtual void wait() = 0;
  virtual bool done() = 0;
  // Seconds the collective itself ran (from its start on the communication thread or stream to
  // its completion, not counting time in the queue); valid after wait() returned.
  virtual double seconds() const { return 0.0; }
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual const char* backend() const = 0;  // "mpi" or "nccl"
  // How large float buffers are all-reduced, for the log: the backend's name, or
  // "mpi (shared memory)" when the mpi backend reduces through a shared-memory window.
  virtual std::string transport() const { return backend(); }

  // In place over `count` elements of every rank.
  virtual void all_reduce(void* data, size_t count, DataType type, ReduceOp op) = 0;
  // Starts an in-place all-reduce that proceeds while the caller computes (the MPI implementation
  // progresses it on a communication thread). `data` must stay valid until wait() returns.
  virtual std::shared_ptr<Work> all_reduce_async(void* data, size_t count, DataType type,
                                                 ReduceOp op) = 0;
  // `send` holds size() blocks of `recv_count` elements; rank r receives the reduction of every
  // rank's block r.
  virtual void reduce_scatter(const void* send, void* recv, size_t recv_count, DataType type,
                              ReduceOp op) = 0;
  // reduce_scatter started without waiting, queued with the asynchronous all-reduces (one FIFO):
  // `send` and `recv` must stay valid until wait() returns and must not overlap.
  virtual std::shared_ptr<Work> reduce_scatter_async(const void* send, void* recv,
                                                     size_t recv_count, DataType type,
                                                     ReduceOp op) = 0;
  // `recv` receives size() blocks of `send_count` elements, block r from rank r.
  virtual void all_gather(const void* send, void* recv, size_t send_count, DataType type) = 0;
  virtual void broadcast(void* data, size_t count, DataType type, int root) = 0;
  virtual void barrier() = 0;
};

// How the mpi backend reduces float32 buffers between ranks of one machine.
struct MpiCommunicatorOptions {
  // When every rank of the communicator runs on one node: float32 sums and averages of at least
  // `shm_min_elements` go through a shared-memory window (MPI_Win_allocate_shared) instead of
  // MPI_Allreduce. Chunk by chunk, every rank copies the other ranks' slices into the window,
  // sums its own slice over all ranks (in rank order, scaled once for an average) and copies the
  // other slices' sums back: each element is summed once, so all ranks get the same bits.
  // Otherwise, or when the window cannot be made (a warning says so), MPI_Allreduce.
  bool shared_memory = true;
  size_t shm_chunk_elements = size_t{1} << 16;  // float32 elements per rank and pipeline stage
  size_t shm_min_elements = size_t{1} << 14;    // smaller buffers: MPI_Allreduce
};

// "mpi" (host memory) or "nccl" (device memory of CUDA device `device`; ConfigError when this
// build has no NCCL, no GPU is visible or two ranks share a GPU). Collective over `mpi`. On
// NCCL a collective that has not completed after `timeout_s` seconds (<= 0: never) aborts the
// communicator and throws CommError naming the rank and the collective; MPI collectives cannot
// be aborted and wait as long as MPI does.
// `mpi_options` applies to the mpi backend.
std::unique_ptr<Communicator> make_communicator(const std::string& backend, MpiContext& mpi,
                                                int device = 0, double timeout_s = 600,
                                                const MpiCommunicatorOptions& mpi_options = {});
bool nccl_available();  // compiled with NCCL

}  // namespace dgr::distributed
