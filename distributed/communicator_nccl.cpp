// The NCCL communicator: collectives on device memory of one CUDA device per rank, enqueued on the
// communicator's own stream. Compiled only when DGR_HAVE_NCCL (nccl.h and the CUDA runtime were
// found); the binaries still load and run on machines without a GPU, where asking for this backend
// is a ConfigError.
//
// Ordering with the caller's kernels: buffers are expected to be produced on the legacy default
// stream (torch's default). Before each collective the communicator records an event there and
// makes its own (non-blocking) stream wait for it, so the collective sees finished data while
// later compute on the default stream is not held back by the collective. Blocking calls return
// once the stream is idle; async work is an event recorded after the collective.
#include <cuda_runtime.h>
#include <nccl.h>

#include <cstdint>
#include <memory>
#include <string>

#include "core/util/error.h"
#include "distributed/communicator.h"

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

// A collective enqueued on the stream: `start` and `end` bracket it.
class NcclWork : public Work {
 public:
  NcclWork() {
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

  void wait() override { check_cuda(cudaEventSynchronize(end_), "cudaEventSynchronize"); }
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
  cudaEvent_t start_ = nullptr;
  cudaEvent_t end_ = nullptr;
};

class NcclCommunicator : public Communicator {
 public:
  NcclCommunicator(MpiContext& mpi, int device) : rank_(mpi.rank()), size_(mpi.size()) {
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
    synchronize();
  }

  std::shared_ptr<Work> all_reduce_async(void* data, size_t count, DataType type,
                                         ReduceOp op) override {
    follow_default_stream();  // also makes our device current: the events belong to it
    auto work = std::make_shared<NcclWork>();
    check_cuda(cudaEventRecord(work->start(), stream_), "cudaEventRecord");
    check_nccl(ncclAllReduce(data, data, count, nccl_type(type), nccl_op(op, type), comm_, stream_),
               "ncclAllReduce");
    check_cuda(cudaEventRecord(work->end(), stream_), "cudaEventRecord");
    return work;
  }

  void reduce_scatter(const void* send, void* recv, size_t recv_count, DataType type,
                      ReduceOp op) override {
    follow_default_stream();
    check_nccl(ncclReduceScatter(send, recv, recv_count, nccl_type(type), nccl_op(op, type), comm_,
                                 stream_),
               "ncclReduceScatter");
    synchronize();
  }

  std::shared_ptr<Work> reduce_scatter_async(const void* send, void* recv, size_t recv_count,
                                             DataType type, ReduceOp op) override {
    follow_default_stream();
    auto work = std::make_shared<NcclWork>();
    check_cuda(cudaEventRecord(work->start(), stream_), "cudaEventRecord");
    check_nccl(ncclReduceScatter(send, recv, recv_count, nccl_type(type), nccl_op(op, type), comm_,
                                 stream_),
               "ncclReduceScatter");
    check_cuda(cudaEventRecord(work->end(), stream_), "cudaEventRecord");
    return work;
  }

  void all_gather(const void* send, void* recv, size_t send_count, DataType type) override {
    follow_default_stream();
    check_nccl(ncclAllGather(send, recv, send_count, nccl_type(type), comm_, stream_),
               "ncclAllGather");
    synchronize();
  }

  void broadcast(void* data, size_t count, DataType type, int root) override {
    if (root < 0 || root >= size_) {
      throw CommError("ncclBroadcast: root " + std::to_string(root) + " is not a rank of " +
                      std::to_string(size_));
    }
    follow_default_stream();
    check_nccl(ncclBroadcast(data, data, count, nccl_type(type), root, comm_, stream_),
               "ncclBroadcast");
    synchronize();
  }

  // NCCL has no barrier: an all-reduce of one element that every rank must join.
  void barrier() override {
    check_cuda(cudaSetDevice(device_), "cudaSetDevice");
    check_nccl(ncclAllReduce(barrier_word_, barrier_word_, 1, ncclInt32, ncclSum, comm_, stream_),
               "ncclAllReduce (barrier)");
    synchronize();
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
    check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking),
               "cudaStreamCreateWithFlags");
    check_cuda(cudaEventCreateWithFlags(&ready_, cudaEventDisableTiming), "cudaEventCreate");
    check_cuda(cudaMalloc(&barrier_word_, sizeof(int32_t)), "cudaMalloc");

    ncclUniqueId id;
    if (rank_ == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
    check_mpi(MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, mpi.comm()), "MPI_Bcast (ncclUniqueId)");
    check_nccl(ncclCommInitRank(&comm_, size_, id, rank_), "ncclCommInitRank");
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

  // Our stream waits for the work already queued on the legacy default stream (of our device,
  // made current: the caller may be another thread, e.g. autograd's device thread).
  void follow_default_stream() {
    check_cuda(cudaSetDevice(device_), "cudaSetDevice");
    check_cuda(cudaEventRecord(ready_, cudaStreamLegacy), "cudaEventRecord (default stream)");
    check_cuda(cudaStreamWaitEvent(stream_, ready_, 0), "cudaStreamWaitEvent");
  }

  void enqueue_all_reduce(void* data, size_t count, DataType type, ReduceOp op) {
    follow_default_stream();
    check_nccl(ncclAllReduce(data, data, count, nccl_type(type), nccl_op(op, type), comm_, stream_),
               "ncclAllReduce");
  }

  void synchronize() {
    check_cuda(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
    ncclResult_t async_error = ncclSuccess;
    check_nccl(ncclCommGetAsyncError(comm_, &async_error), "ncclCommGetAsyncError");
    check_nccl(async_error, "NCCL collective");
  }

  int rank_;
  int size_;
  int device_ = 0;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t ready_ = nullptr;
  int32_t* barrier_word_ = nullptr;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(MpiContext& mpi, int device) {
  return std::make_unique<NcclCommunicator>(mpi, device);
}

}  // namespace dgr::distributed
