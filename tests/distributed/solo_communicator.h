// A Communicator of a world of one rank, for tests that run a trainer on one rank and on all
// ranks in the same process and compare.
#pragma once

#include <cstring>
#include <memory>

#include "distributed/communicator.h"

namespace dgr::distributed {

// A world of one rank: every collective is the identity (or a copy), as MPI's would be.
class SoloCommunicator : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  const char* backend() const override { return "mpi"; }
  void all_reduce(void*, size_t, DataType, ReduceOp) override {}
  std::shared_ptr<Work> all_reduce_async(void*, size_t, DataType, ReduceOp) override {
    return std::make_shared<DoneWork>();
  }
  void reduce_scatter(const void* send, void* recv, size_t recv_count, DataType type,
                      ReduceOp) override {
    if (send != recv) std::memmove(recv, send, recv_count * element_size(type));
  }
  std::shared_ptr<Work> reduce_scatter_async(const void* send, void* recv, size_t recv_count,
                                             DataType type, ReduceOp op) override {
    reduce_scatter(send, recv, recv_count, type, op);
    return std::make_shared<DoneWork>();
  }
  void all_gather(const void* send, void* recv, size_t send_count, DataType type) override {
    if (send != recv) std::memmove(recv, send, send_count * element_size(type));
  }
  void broadcast(void*, size_t, DataType, int) override {}
  void barrier() override {}

 private:
  struct DoneWork : Work {
    void wait() override {}
    bool done() override { return true; }
  };
};

}  // namespace dgr::distributed
