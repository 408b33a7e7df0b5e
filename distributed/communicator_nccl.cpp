// The NCCL communicator: collectives on device memory of one CUDA device per rank, enqueued on the
// communicator's own stream. Compiled only when DGR_HAVE_NCCL (nccl.h and the CUDA runtime were
// found); the binaries still load and run on machines without a GPU, where asking for this backend
// is a ConfigError.
//
// Ordering with the caller's kernels: buffers are produced on torch's current stream of the
// communicator's device (the default stream, or whatever stream the caller made current, on
// whatever thread calls: autograd's device threads included). Before each collective the
// communicator records an event there and makes its own (non-blocking) stream wait for it, so
// the collective sees finished data while later compute is not held back by the collective.
// Blocking calls return once the stream is idle; async work is an event recorded after the
// collective.
//
// Hangs: every wait polls its event with a deadline (the communicator's timeout) instead of
// blocking in cudaEventSynchronize. A collective that a stuck or dead peer never completes ends
// in ncclCommAbort and a CommError naming this rank and the collective, which the launch guard
// turns into MPI_Abort of the whole job.
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime.h>
#include <nccl.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/util/error.h"
#include "distributed/communicator.h"
#include "distributed/device_placement.h"

namespace dgr::distributed {

namespace {

void check_cuda(cudaError_t rc, const char* call) {
  if (rc == cudaSuccess) return;
  throw CommError(std::string(call) + " failed: " + cudaGetErrorString(rc));
}

void check_nccl(ncclResult_t rc, const char* call) {
  if (rc == ncclSuccess) return;
  throw CommError(std::string(call) + " failed: " + ncclGetErrorString(rc));
}

ncclDataType_t nccl_type(DataType type) {
  switch (type) {
    case DataType::kFloat32:
      return ncclFloat32;
    case DataType::kFloat64:
      return ncclFloat64;
    case DataType::kInt64:
      return ncclInt64;
    case DataType::kInt32:
      return ncclInt32;
    case DataType::kBFloat16:
      return ncclBfloat16;
    case DataType::kFloat16:
      return ncclFloat16;
  }
  return ncclFloat32;
}

// `type` matters for kAvg only, which (as on MPI) is for floating types.
ncclRedOp_t nccl_op(ReduceOp op, DataType type = DataType::kFloat32) {
  if (op == ReduceOp::kAvg && (type == DataType::kInt32 || type == DataType::kInt64)) {
    throw CommError("nccl: the average of integers is not defined; use kSum");
  }
  switch (op) {
    case ReduceOp::kSum:
      return ncclSum;
    case ReduceOp::kMax:
      return ncclMax;
    case ReduceOp::kMin:
      return ncclMin;
    case ReduceOp::kAvg:
      return ncclAvg;
  }
  return ncclSum;
}

class NcclCommunicator;

// A collective enqueued on the stream: `start` and `end` bracket it. Waits go through the
// communicator, which owns the deadline and the abort.
class NcclWork : public Work {
 public:
  NcclWork(NcclCommunicator& owner, const char* what) : owner_(owner), what_(what) {
    check_cuda(cudaEventCreate(&start_), "cudaEventCreate");
    const cudaError_t rc = cudaEventCreate(&end_);
    if (rc != cudaSuccess) cudaEventDestroy(start_);
    check_cuda(rc, "cudaEventCreate");
  }
  ~NcclWork() override {
    cudaEventDestroy(start_);  // errors ignored: nothing to do about them in a destructor
    cudaEventDestroy(end_);
  }
  NcclWork(const NcclWork&) = delete;
  NcclWork& operator=(const NcclWork&) = delete;

  cudaEvent_t start() const { return start_; }
  cudaEvent_t end() const { return end_; }

  void wait() override;
  bool done() override {
    const cudaError_t rc = cudaEventQuery(end_);
    if (rc == cudaErrorNotReady) return false;
    check_cuda(rc, "cudaEventQuery");
    return true;
  }
  double seconds() const override {
    float ms = 0.0f;
    if (cudaEventElapsedTime(&ms, start_, end_) != cudaSuccess) return 0.0;
    return ms / 1000.0;
  }

 private:
  NcclCommunicator& owner_;
  const char* what_;
  cudaEvent_t start_ = nullptr;
  cudaEvent_t end_ = nullptr;
};

class NcclCommunicator : public Communicator {
 public:
  NcclCommunicator(MpiContext& mpi, int device, double timeout_s)
      : rank_(mpi.rank()), size_(mpi.size()), timeout_s_(timeout_s) {
    try {
      bootstrap(mpi, device);
    } catch (...) {
      release();
      throw;
    }
  }
  ~NcclCommunicator() override { release(); }
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* backend() const override { return "nccl"; }

  void all_reduce(void* data, size_t count, DataType type, ReduceOp op) override {
    enqueue_all_reduce(data, count, type, op);
    synchronize("ncclAllReduce");
  }

  std::shared_ptr<Work> all_reduce_async(void* data, size_t count, DataType type,
                                         ReduceOp op) override {
    follow_compute_stream();  // also makes our device current: the events belong to it
    auto work = std::make_shared<NcclWork>(*this, "ncclAllReduce");
    check_cuda(cudaEventRecord(work->start(), stream_), "cudaEventRecord");
    check_nccl(ncclAllReduce(data, data, count, nccl_type(type), nccl_op(op, type), comm_, stream_),
               "ncclAllReduce");
    check_cuda(cudaEventRecord(work->end(), stream_), "cudaEventRecord");
    return work;
  }

  void reduce_scatter(const void* send, void* recv, size_t recv_count, DataType type,
                      ReduceOp op) override {
    follow_compute_stream();
    check_nccl(ncclReduceScatter(send, recv, recv_count, nccl_type(type), nccl_op(op, type), comm_,
                                 stream_),
               "ncclReduceScatter");
    synchronize("ncclReduceScatter");
  }

  std::shared_ptr<Work> reduce_scatter_async(const void* send, void* recv, size_t recv_count,
                                             DataType type, ReduceOp op) override {
    follow_compute_stream();
    auto work = std::make_shared<NcclWork>(*this, "ncclReduceScatter");
    check_cuda(cudaEventRecord(work->start(), stream_), "cudaEventRecord");
    check_nccl(ncclReduceScatter(send, recv, recv_count, nccl_type(type), nccl_op(op, type), comm_,
                                 stream_),
               "ncclReduceScatter");
    check_cuda(cudaEventRecord(work->end(), stream_), "cudaEventRecord");
    return work;
  }

  void all_gather(const void* send, void* recv, size_t send_count, DataType type) override {
    follow_compute_stream();
    check_nccl(ncclAllGather(send, recv, send_count, nccl_type(type), comm_, stream_),
               "ncclAllGather");
    synchronize("ncclAllGather");
  }

  void broadcast(void* data, size_t count, DataType type, int root) override {
    if (root < 0 || root >= size_) {
      throw CommError("ncclBroadcast: root " + std::to_string(root) + " is not a rank of " +
                      std::to_string(size_));
    }
    follow_compute_stream();
    check_nccl(ncclBroadcast(data, data, count, nccl_type(type), root, comm_, stream_),
               "ncclBroadcast");
    synchronize("ncclBroadcast");
  }

  // NCCL has no barrier: an all-reduce of one element that every rank must join.
  void barrier() override {
    check_cuda(cudaSetDevice(device_), "cudaSetDevice");
    check_nccl(ncclAllReduce(barrier_word_, barrier_word_, 1, ncclInt32, ncclSum, comm_, stream_),
               "ncclAllReduce (barrier)");
    synchronize("barrier");
  }

 private:
  // The MPI bootstrap of NCCL, in one place: pick the device, let rank 0 create the unique id,
  // broadcast it over MPI, and join the clique. The GPU check is agreed by all ranks first, so
  // that either every rank goes on to the broadcast or every rank throws.
  void bootstrap(MpiContext& mpi, int device) {
    int devices = 0;
    const bool have_gpu = cudaGetDeviceCount(&devices) == cudaSuccess && devices > 0;
    if (!mpi.all_true(have_gpu)) {
      cudaGetLastError();  // clear the sticky "no device" error, if any
      throw ConfigError("nccl backend needs a CUDA GPU on every rank (" + rank_tag(rank_, size_) +
                        " sees " + std::to_string(have_gpu ? devices : 0) + "); use 'mpi'");
    }
    const bool device_ok = device >= 0 && device < devices;
    if (!mpi.all_true(device_ok)) {
      throw ConfigError("nccl backend: CUDA device " + std::to_string(device) + " of " +
                        rank_tag(rank_, size_) + " is not one of its " + std::to_string(devices) +
                        " visible GPUs");
    }
    device_ = device;
    check_cuda(cudaSetDevice(device_), "cudaSetDevice");
    require_gpu_per_rank(mpi);
    check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking),
               "cudaStreamCreateWithFlags");
    check_cuda(cudaEventCreateWithFlags(&ready_, cudaEventDisableTiming), "cudaEventCreate");
    check_cuda(cudaMalloc(&barrier_word_, sizeof(int32_t)), "cudaMalloc");

    ncclUniqueId id;
    if (rank_ == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
    check_mpi(MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, mpi.comm()), "MPI_Bcast (ncclUniqueId)");
    check_nccl(ncclCommInitRank(&comm_, size_, id, rank_), "ncclCommInitRank");
  }

  // Two ranks of one communicator on one GPU make ncclCommInitRank fail with a terse "invalid
  // usage"; say which ranks share which GPU instead, on every rank alike.
  void require_gpu_per_rank(MpiContext& mpi) {
    char bus_id[32] = {0};
    check_cuda(cudaDeviceGetPCIBusId(bus_id, sizeof(bus_id), device_), "cudaDeviceGetPCIBusId");
    const std::string mine = mpi.hostname() + " GPU " + bus_id;
    const std::vector<std::string> all = mpi.gather_strings(mine);
    std::pair<int, int> shared{-1, -1};
    if (mpi.is_root()) shared = first_shared_device(all);
    shared.first = mpi.broadcast_int(shared.first);
    shared.second = mpi.broadcast_int(shared.second);
    if (shared.first < 0) return;
    std::string where = mine;
    if (mpi.is_root()) where = all[static_cast<size_t>(shared.second)];
    mpi.broadcast_string(where);
    throw ConfigError("nccl backend: ranks " + std::to_string(shared.first) + " and " +
                      std::to_string(shared.second) + " both use " + where +
                      "; NCCL needs a GPU per rank (the device cuda spreads a node's ranks over "
                      "its GPUs; start at most one rank per GPU)");
  }

  // Errors ignored: a destructor cannot report them, and the process may be unwinding.
  void release() {
    if (stream_ != nullptr) cudaSetDevice(device_);
    if (stream_ != nullptr) cudaStreamSynchronize(stream_);
    if (comm_ != nullptr) ncclCommDestroy(comm_);
    if (barrier_word_ != nullptr) cudaFree(barrier_word_);
    if (ready_ != nullptr) cudaEventDestroy(ready_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
    comm_ = nullptr;
    barrier_word_ = nullptr;
    ready_ = nullptr;
    stream_ = nullptr;
  }

  // Our stream waits for the work already queued on torch's current stream of our device
  // (made current: the caller may be another thread, e.g. autograd's device thread).
  void follow_compute_stream() {
    check_cuda(cudaSetDevice(device_), "cudaSetDevice");
    const cudaStream_t compute =
        c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device_)).stream();
    check_cuda(cudaEventRecord(ready_, compute), "cudaEventRecord (compute stream)");
    check_cuda(cudaStreamWaitEvent(stream_, ready_, 0), "cudaStreamWaitEvent");
  }

  void enqueue_all_reduce(void* data, size_t count, DataType type, ReduceOp op) {
    follow_compute_stream();
    check_nccl(ncclAllReduce(data, data, count, nccl_type(type), nccl_op(op, type), comm_, stream_),
               "ncclAllReduce");
  }

  // Blocks until the stream is idle, within the timeout.
  void synchronize(const char* what) {
    check_cuda(cudaEventRecord(ready_, stream_), "cudaEventRecord");
    wait_event(ready_, what);
  }

 public:
  // Polls `event` until it completes, NCCL reports an asynchronous error, or the timeout passes;
  // the last two abort the communicator (its collectives can never complete) and throw.
  void wait_event(cudaEvent_t event, const char* what) {
    if (comm_ == nullptr) {
      throw CommError(rank_tag(rank_, size_) + " " + what +
                      ": the NCCL communicator was aborted by an earlier failure");
    }
    using Clock = std::chrono::steady_clock;
    const Clock::time_point start = Clock::now();
    auto pause = std::chrono::microseconds(20);
    for (;;) {
      const cudaError_t rc = cudaEventQuery(event);
      if (rc == cudaSuccess) break;
      if (rc != cudaErrorNotReady) check_cuda(rc, "cudaEventQuery");
      ncclResult_t async_error = ncclSuccess;
      check_nccl(ncclCommGetAsyncError(comm_, &async_error), "ncclCommGetAsyncError");
      if (async_error != ncclSuccess && async_error != ncclInProgress) {
        abort_communicator();
        throw CommError(rank_tag(rank_, size_) + " " + what +
                        " failed: " + ncclGetErrorString(async_error) + " (communicator aborted)");
      }
      const double waited = std::chrono::duration<double>(Clock::now() - start).count();
      if (timeout_s_ > 0 && waited > timeout_s_) {
        abort_communicator();
        throw CommError(rank_tag(rank_, size_) + " " + what + " did not complete within " +
                        std::to_string(static_cast<int64_t>(timeout_s_)) +
                        " s (a peer rank stopped or hangs?); the NCCL communicator was aborted");
      }
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::microseconds(2000));
    }
    ncclResult_t async_error = ncclSuccess;
    check_nccl(ncclCommGetAsyncError(comm_, &async_error), "ncclCommGetAsyncError");
    check_nccl(async_error, what);
  }

 private:
  void abort_communicator() {
    if (comm_ != nullptr) ncclCommAbort(comm_);  // errors ignored: we are failing already
    comm_ = nullptr;
  }

  int rank_;
  int size_;
  double timeout_s_;  // <= 0: wait forever
  int device_ = 0;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t ready_ = nullptr;
  int32_t* barrier_word_ = nullptr;
};

void NcclWork::wait() {
  owner_.wait_event(end_, what_);
}

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(MpiContext& mpi, int device,
                                                     double timeout_s) {
  return std::make_unique<NcclCommunicator>(mpi, device, timeout_s);
}

}  // namespace dgr::distributed
