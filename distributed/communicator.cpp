// The MPI communicator (host memory) and the backend factory. The NCCL communicator lives in
// communicator_nccl.cpp, compiled only when DGR_HAVE_NCCL.
//
// Overlap on CPU: all_reduce_async hands the buffer to a communication thread that owns its own
// duplicate of the communicator and runs the queued all-reduces one after the other, in the order
// they were submitted (every rank submits in the same order, so the collectives match). Before each
// one the ranks meet in a non-blocking barrier that the thread tests with sleeps in between, so
// that while it waits for a slower rank it leaves the core to the ranks' compute threads instead
// of spinning inside MPI_Allreduce; then the all-reduce itself runs blocking, at full speed.
#include "distributed/communicator.h"

#include <glog/logging.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "core/util/error.h"

namespace dgr::distributed {

#if defined(DGR_HAVE_NCCL)
// communicator_nccl.cpp
std::unique_ptr<Communicator> make_nccl_communicator(MpiContext& mpi, int device, double timeout_s);
#endif

size_t element_size(DataType type) {
  switch (type) {
    case DataType::kFloat32:
    case DataType::kInt32:
      return 4;
    case DataType::kFloat64:
    case DataType::kInt64:
      return 8;
    case DataType::kBFloat16:
    case DataType::kFloat16:
      return 2;
  }
  return 0;
}

namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

const char* type_name(DataType type) {
  switch (type) {
    case DataType::kFloat32:
      return "float32";
    case DataType::kFloat64:
      return "float64";
    case DataType::kInt64:
      return "int64";
    case DataType::kInt32:
      return "int32";
    case DataType::kBFloat16:
      return "bfloat16";
    case DataType::kFloat16:
      return "float16";
  }
  return "unknown";
}

// The MPI type of `type` for a reduction. bfloat16 travels as uint16 and is summed by our own
// MPI operation (bf16_sum); float16 has no reduction.
MPI_Datatype reduce_type(DataType type, const char* call) {
  switch (type) {
    case DataType::kFloat32:
      return MPI_FLOAT;
    case DataType::kFloat64:
      return MPI_DOUBLE;
    case DataType::kInt64:
      return MPI_INT64_T;
    case DataType::kInt32:
      return MPI_INT32_T;
    case DataType::kBFloat16:
      return MPI_UINT16_T;
    case DataType::kFloat16:
      break;
  }
  throw CommError(std::string(call) + ": the mpi backend cannot reduce " + type_name(type) +
                  " (keep the buffer in float32, or use the nccl backend)");
}

// The MPI type of `type` for moving data without arithmetic: 16-bit floats travel as uint16.
MPI_Datatype move_type(DataType type) {
  if (type == DataType::kBFloat16 || type == DataType::kFloat16) return MPI_UINT16_T;
  return reduce_type(type, "");
}

// bfloat16 <-> float32 by bits: bfloat16 is the upper half of a float32. Rounding to nearest,
// ties to even, as torch rounds; a NaN stays a (quiet) NaN.
float bf16_to_float(uint16_t bits) {
  const uint32_t word = static_cast<uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &word, sizeof(value));
  return value;
}

uint16_t float_to_bf16(float value) {
  uint32_t word;
  std::memcpy(&word, &value, sizeof(word));
  // Branch-free, so the loop below vectorises: a NaN keeps its sign and top bits, made quiet.
  const uint32_t rounded = (word + 0x7FFFu + ((word >> 16) & 1u)) >> 16;
  const uint32_t quiet_nan = (word >> 16) | 0x0040u;
  return static_cast<uint16_t>((word & 0x7FFFFFFFu) > 0x7F800000u ? quiet_nan : rounded);
}

// MPI's user function for a sum of bfloat16 buffers: each pair is added in float32 and rounded
// once to bfloat16 (MPI combines two buffers at a time, so a sum over N ranks rounds N - 1
// times, as NCCL's bfloat16 sum does).
void bf16_sum(void* in, void* inout, int* len, MPI_Datatype* /*type*/) {
  const auto* a = static_cast<const uint16_t*>(in);
  auto* b = static_cast<uint16_t*>(inout);
  const int n = *len;
  for (int i = 0; i < n; ++i)
    b[i] = float_to_bf16(bf16_to_float(a[i]) + bf16_to_float(b[i]));
}

MPI_Op bf16_sum_op() {
  static const MPI_Op op = [] {
    MPI_Op created = MPI_OP_NULL;
    check_mpi(MPI_Op_create(&bf16_sum, /*commute=*/1, &created), "MPI_Op_create (bf16 sum)");
    return created;
  }();
  return op;
}

MPI_Op mpi_op(ReduceOp op, DataType type) {
  if (type == DataType::kBFloat16) {
    if (op != ReduceOp::kSum) {
      throw CommError(
          "the mpi backend reduces bfloat16 by kSum only (average or extremes: use float32)");
    }
    return bf16_sum_op();
  }
  switch (op) {
    case ReduceOp::kSum:
    case ReduceOp::kAvg:  // then scaled by scale_for_average
      return MPI_SUM;
    case ReduceOp::kMax:
      return MPI_MAX;
    case ReduceOp::kMin:
      return MPI_MIN;
  }
  return MPI_SUM;
}

// The factor that turns the sum into the average (0: nothing to scale). CommError for an
// average of integers.
double scale_for_average(ReduceOp op, DataType type, int size, const char* call) {
  if (op != ReduceOp::kAvg) return 0.0;
  if (type != DataType::kFloat32 && type != DataType::kFloat64) {
    throw CommError(std::string(call) + ": the average of " + type_name(type) +
                    " is not defined; use kSum");
  }
  return size > 1 ? 1.0 / size : 0.0;
}

void scale_in_place(void* data, size_t count, DataType type, double scale) {
  if (scale == 0.0) return;
  if (type == DataType::kFloat32) {
    auto* values = static_cast<float*>(data);
    const auto factor = static_cast<float>(scale);
    for (size_t i = 0; i < count; ++i)
      values[i] *= factor;
  } else {
    auto* values = static_cast<double*>(data);
    for (size_t i = 0; i < count; ++i)
      values[i] *= scale;
  }
}

// MPI counts are ints.
int mpi_count(size_t count, const char* call) {
  if (count > static_cast<size_t>(INT_MAX)) {
    throw CommError(std::string(call) + ": " + std::to_string(count) +
                    " elements exceed MPI's int count; split the buffer");
  }
  return static_cast<int>(count);
}

MPI_Comm dup_comm(MPI_Comm comm) {
  MPI_Comm dup = MPI_COMM_NULL;
  check_mpi(MPI_Comm_dup(comm, &dup), "MPI_Comm_dup");
  check_mpi(MPI_Comm_set_errhandler(dup, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  return dup;
}

// A float32 all-reduce through a shared-memory window, for ranks that all run on one node
// (MpiCommunicatorOptions::shared_memory). Open MPI's shared-memory all-reduce copies every
// message through the transport's fragments; here each rank's window holds two input chunks and
// two result chunks, every chunk cut into one slice per rank, and rank r sums slice r:
//   copy the other ranks' slices of chunk j into my in[j % 2]; meet; sum slice r of chunk j over
//   the ranks (my own values straight from the buffer, the others' from their in[j % 2]) into the
//   buffer and my out[j % 2]; copy the other ranks' slices of chunk j - 1 from their out[(j-1) %
//   2].
// One meeting per chunk (plus one at the end) orders it all: after meeting j every rank has summed
// chunk j - 1 and copied chunk j - 2 out, so neither buffer of the pair is still being read when it
// is written again. A slice is summed by one rank only, in rank order, so every rank receives the
// same bits (for 2 ranks, the same as MPI_Allreduce's). On 2 ranks of a 2-core VM it all-reduces
// 560 MB in about 95 ms against Open MPI's 305 ms (docs/benchmarks.md).
class ShmAllReduce {
 public:
  // Collective over `comm`. Null when the ranks of `comm` span several nodes, or when MPI could
  // not make the window on some rank (then every rank logs why and uses MPI_Allreduce).
  static std::unique_ptr<ShmAllReduce> create(MPI_Comm comm, size_t chunk_elements) {
    int size = 1;
    check_mpi(MPI_Comm_size(comm, &size), "MPI_Comm_size");
    if (size < 2 || chunk_elements == 0) return nullptr;
    MPI_Comm node = MPI_COMM_NULL;
    check_mpi(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node),
              "MPI_Comm_split_type (shared-memory all-reduce)");
    int node_size = 0;
    check_mpi(MPI_Comm_size(node, &node_size), "MPI_Comm_size");
    if (node_size != size) {  // the same answer on every rank: each node sees fewer than all
      MPI_Comm_free(&node);
      return nullptr;
    }
    check_mpi(MPI_Comm_set_errhandler(node, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    // Each rank's part on its own pages (the memory of the core that writes it).
    MPI_Info info = MPI_INFO_NULL;
    check_mpi(MPI_Info_create(&info), "MPI_Info_create");
    check_mpi(MPI_Info_set(info, "alloc_shared_noncontig", "true"), "MPI_Info_set");
    float* mine = nullptr;
    MPI_Win win = MPI_WIN_NULL;
    const auto bytes = static_cast<MPI_Aint>(4 * chunk_elements * sizeof(float));
    const int rc = MPI_Win_allocate_shared(bytes, sizeof(float), info, node, &mine, &win);
    MPI_Info_free(&info);
    int made = rc == MPI_SUCCESS ? 1 : 0, all_made = 0;
    check_mpi(MPI_Allreduce(&made, &all_made, 1, MPI_INT, MPI_LAND, node),
              "MPI_Allreduce (shared-memory window made?)");
    if (!all_made) {
      char reason[MPI_MAX_ERROR_STRING] = "made on this rank, not on another";
      int length = 0;
      if (rc != MPI_SUCCESS) MPI_Error_string(rc, reason, &length);
      LOG(WARNING) << "the shared-memory all-reduce is off: MPI_Win_allocate_shared: " << reason
                   << "; float gradients go through MPI_Allreduce";
      if (win != MPI_WIN_NULL) MPI_Win_free(&win);
      MPI_Comm_free(&node);
      return nullptr;
    }
    return std::unique_ptr<ShmAllReduce>(new ShmAllReduce(node, win, size, chunk_elements));
  }

  ~ShmAllReduce() {
    // Errors ignored: a destructor cannot report them, and the process may be unwinding.
    MPI_Win_unlock_all(win_);
    MPI_Win_free(&win_);
    MPI_Comm_free(&comm_);
  }
  ShmAllReduce(const ShmAllReduce&) = delete;
  ShmAllReduce& operator=(const ShmAllReduce&) = delete;

  // In place over `count` floats of every rank; `scale` (0: none) multiplies each sum.
  void run(float* data, size_t count, float scale) {
    if (count == 0) return;
    const size_t chunks = (count + chunk_ - 1) / chunk_;
    for (size_t j = 0; j < chunks; ++j) {
      const size_t offset = j * chunk_;
      const size_t length = std::min(chunk_, count - offset);
      for (int k = 0; k < size_; ++k) {
        if (k == rank_) continue;
        const Slice part = slice(k, length);
        std::memcpy(input(rank_, j) + part.begin, data + offset + part.begin,
                    (part.end - part.begin) * sizeof(float));
      }
      meet();
      sum_own_slice(data + offset, j, slice(rank_, length), scale);
      if (j > 0) copy_out(data, count, j - 1);
    }
    meet();
    copy_out(data, count, chunks - 1);
  }

 private:
  struct Slice {
    size_t begin = 0;
    size_t end = 0;
  };

  ShmAllReduce(MPI_Comm comm, MPI_Win win, int size, size_t chunk)
      : comm_(comm),
        win_(win),
        size_(size),
        chunk_(chunk),
        base_(static_cast<size_t>(size)),
        sources_(static_cast<size_t>(size)) {
    check_mpi(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
    for (int k = 0; k < size_; ++k) {
      MPI_Aint bytes = 0;
      int unit = 0;
      check_mpi(MPI_Win_shared_query(win_, k, &bytes, &unit, &base_[static_cast<size_t>(k)]),
                "MPI_Win_shared_query");
    }
    // One passive epoch for the window's life; MPI_Win_sync orders the loads and stores.
    check_mpi(MPI_Win_lock_all(MPI_MODE_NOCHECK, win_), "MPI_Win_lock_all");
  }

  float* input(int rank, size_t chunk) const {
    return base_[static_cast<size_t>(rank)] + (chunk % 2) * chunk_;
  }
  float* output(int rank, size_t chunk) const {
    return base_[static_cast<size_t>(rank)] + (2 + chunk % 2) * chunk_;
  }

  // Rank k's slice of a chunk of `length`: equal parts, rounded up to whole cache lines.
  Slice slice(int k, size_t length) const {
    constexpr size_t kLine = 64 / sizeof(float);
    const size_t part = ((length + size_ - 1) / size_ + kLine - 1) / kLine * kLine;
    const size_t begin = std::min(length, static_cast<size_t>(k) * part);
    return {begin, std::min(length, begin + part)};
  }

  void meet() {
    check_mpi(MPI_Win_sync(win_), "MPI_Win_sync");
    check_mpi(MPI_Barrier(comm_), "MPI_Barrier (shared-memory all-reduce)");
    check_mpi(MPI_Win_sync(win_), "MPI_Win_sync");
  }

  // Slice `own` of chunk `chunk` (whose values of this rank start at `mine`): the sum over the
  // ranks in rank order, times `scale`, into `mine` and this rank's out buffer. Block by block:
  // the sum goes to the out buffer (no operand aliases it, so the loops vectorise) and is copied
  // into `mine` while the block is in the first-level cache.
  void sum_own_slice(float* mine, size_t chunk, Slice own, float scale) {
    constexpr size_t kBlock = 2048;
    for (int k = 0; k < size_; ++k) {
      sources_[static_cast<size_t>(k)] =
          (k == rank_ ? mine : input(k, chunk)) + static_cast<std::ptrdiff_t>(own.begin);
    }
    float* const result = output(rank_, chunk) + own.begin;
    for (size_t at = 0; at < own.end - own.begin; at += kBlock) {
      const size_t n = std::min(kBlock, own.end - own.begin - at);
      float* __restrict out = result + at;
      const float* __restrict first = sources_[0] + at;
      const float* __restrict second = sources_[1] + at;
      if (size_ == 2 && scale != 0.0f) {
        for (size_t i = 0; i < n; ++i)
          out[i] = (first[i] + second[i]) * scale;
      } else {
        for (size_t i = 0; i < n; ++i)
          out[i] = first[i] + second[i];
        for (int k = 2; k < size_; ++k) {
          const float* __restrict next = sources_[static_cast<size_t>(k)] + at;
          for (size_t i = 0; i < n; ++i)
            out[i] += next[i];
        }
        if (scale != 0.0f) {
          for (size_t i = 0; i < n; ++i)
            out[i] *= scale;
        }
      }
      std::memcpy(mine + own.begin + at, out, n * sizeof(float));
    }
  }

  void copy_out(float* data, size_t count, size_t chunk) const {
    const size_t offset = chunk * chunk_;
    const size_t length = std::min(chunk_, count - offset);
    for (int k = 0; k < size_; ++k) {
      if (k == rank_) continue;  // summed straight into the buffer
      const Slice part = slice(k, length);
      std::memcpy(data + offset + part.begin, output(k, chunk) + part.begin,
                  (part.end - part.begin) * sizeof(float));
    }
  }

  MPI_Comm comm_;
  MPI_Win win_;
  int size_;
  int rank_ = 0;
  size_t chunk_;
  std::vector<float*> base_;           // every rank's part of the window, mapped into this process
  std::vector<const float*> sources_;  // sum_own_slice's operands, one per rank
};

// Completion of one asynchronous collective, shared by the Work handle and the thread running it.
struct Completion {
  std::mutex mutex;
  std::condition_variable cv;
  bool done = false;
  std::exception_ptr error;
  double seconds = 0.0;

  void finish(std::exception_ptr failure, double elapsed) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      done = true;
      error = std::move(failure);
      seconds = elapsed;
    }
    cv.notify_all();
  }
};

class MpiWork : public Work {
 public:
  explicit MpiWork(std::shared_ptr<Completion> completion) : completion_(std::move(completion)) {}

  void wait() override {
    std::unique_lock<std::mutex> lock(completion_->mutex);
    completion_->cv.wait(lock, [&] { return completion_->done; });
    if (completion_->error) std::rethrow_exception(completion_->error);
  }
  bool done() override {
    std::lock_guard<std::mutex> lock(completion_->mutex);
    return completion_->done;
  }
  double seconds() const override {
    std::lock_guard<std::mutex> lock(completion_->mutex);
    return completion_->seconds;
  }

 private:
  std::shared_ptr<Completion> completion_;
};

// Waits for `request` without spinning: tests, yields a few times, then sleeps between tests (a
// sleep lasts ~50-60 us with Linux's default timer slack), so a rank waiting for its peer leaves
// the core to the compute threads. Returns false if `abandon` was raised first.
bool wait_politely(MPI_Request& request, const char* call, const std::atomic<bool>& abandon) {
  constexpr int kEagerTests = 32;
  for (int tests = 0;; ++tests) {
    int complete = 0;
    check_mpi(MPI_Test(&request, &complete, MPI_STATUS_IGNORE), call);
    if (complete) return true;
    if (abandon.load(std::memory_order_relaxed)) return false;  // the process is going down
    if (tests < kEagerTests) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  }
}

// A blocking MPI_Allreduce is the fastest once every rank is in it (Open MPI's tuned algorithms
// are ~2x faster than the MPI_Iallreduce schedule), but it busy-polls while it waits for a late
// rank. So before each collective of the communication thread the ranks meet in an
// MPI_Ibarrier on `comm`, waited for politely, and only then run the blocking collective, which
// then hardly waits. False if abandoned first.
bool meet_politely(MPI_Comm comm, const std::atomic<bool>& abandon) {
  MPI_Request request = MPI_REQUEST_NULL;
  check_mpi(MPI_Ibarrier(comm, &request), "MPI_Ibarrier (before the reduction)");
  return wait_politely(request, "MPI_Test (barrier before the reduction)", abandon);
}

// One in-place all-reduce on `comm`, or a reduce-scatter (`send` non-null: `count` is the block
// each rank receives).
void run_reduction(const void* send, void* data, int count, MPI_Datatype type, MPI_Op op,
                   MPI_Comm comm) {
  if (send != nullptr) {
    check_mpi(MPI_Reduce_scatter_block(send, data, count, type, op, comm),
              "MPI_Reduce_scatter_block (async)");
  } else {
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, data, count, type, op, comm), "MPI_Allreduce (async)");
  }
}

// The failure of a collective the communication thread gave up on.
std::exception_ptr abandoned() {
  return std::make_exception_ptr(
      CommError("asynchronous collective abandoned: the communicator was destroyed"));
}

// The communication thread: a FIFO of all-reduces and reduce-scatters run on its own
// communicator.
class CommThread {
 public:
  // `shm` (may be null): the shared-memory all-reduce over a communicator of its own, for the
  // tasks submitted with `shared_memory`.
  CommThread(MPI_Comm comm, std::unique_ptr<ShmAllReduce> shm)
      : comm_(comm), shm_(std::move(shm)), thread_([this] { run(); }) {}

  // Drains the queue and joins; with `abandon`, fails what has not completed instead (used while
  // an exception unwinds: a peer may never join the pending collectives).
  void stop(bool abandon) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
      if (abandon) abandon_.store(true);
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    if (abandon_.load()) {
      (void)shm_.release();  // freeing the window is collective: a peer may never come
    } else {
      shm_.reset();
      if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
    }
  }

  ~CommThread() { stop(std::uncaught_exceptions() > 0); }

  // `scale` (0: none) multiplies the result, of `element` type, once the sum is complete. `send`
  // null: an in-place all-reduce of `count` elements of `data`; else a reduce-scatter from `send`
  // into the `count` elements of `data`.
  // `shared_memory`: an all-reduce of float32 that runs through the shared-memory window.
  std::shared_ptr<Work> submit(const void* send, void* data, int count, MPI_Datatype type,
                               MPI_Op op, DataType element, double scale,
                               bool shared_memory = false) {
    auto completion = std::make_shared<Completion>();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) throw CommError("asynchronous collective: the communicator is shutting down");
      queue_.push_back(
          Task{send, data, count, type, op, element, scale, shared_memory && shm_, completion});
    }
    cv_.notify_one();
    return std::make_shared<MpiWork>(completion);
  }

 private:
  struct Task {
    const void* send;  // null: all-reduce in place
    void* data;
    int count;
    MPI_Datatype type;
    MPI_Op op;
    DataType element;
    double scale;
    bool shared_memory;
    std::shared_ptr<Completion> completion;
  };

  void run() {
    for (;;) {
      Task task;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty() || abandon_.load()) break;
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      const double start = now_seconds();
      std::exception_ptr failure;
      try {
        if (!meet_politely(comm_, abandon_)) {
          failure = abandoned();
        } else if (task.shared_memory) {
          shm_->run(static_cast<float*>(task.data), static_cast<size_t>(task.count),
                    static_cast<float>(task.scale));
        } else {
          run_reduction(task.send, task.data, task.count, task.type, task.op, comm_);
          scale_in_place(task.data, static_cast<size_t>(task.count), task.element, task.scale);
        }
      } catch (...) {
        failure = std::current_exception();
      }
      task.completion->finish(failure, now_seconds() - start);
    }
    // Abandoned: whatever is still queued never ran.
    std::lock_guard<std::mutex> lock(mutex_);
    for (Task& task : queue_)
      task.completion->finish(abandoned(), 0.0);
    queue_.clear();
  }

  MPI_Comm comm_;
  std::unique_ptr<ShmAllReduce> shm_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Task> queue_;
  bool stopping_ = false;
  std::atomic<bool> abandon_{false};
  std::thread thread_;  // last: starts once the members above exist
};

class MpiCommunicator : public Communicator {
 public:
  MpiCommunicator(MpiContext& mpi, const MpiCommunicatorOptions& options)
      : rank_(mpi.rank()), size_(mpi.size()), shm_min_elements_(options.shm_min_elements) {
    comm_ = dup_comm(mpi.comm());
    const size_t chunk = options.shm_chunk_elements;
    if (options.shared_memory) shm_ = ShmAllReduce::create(comm_, chunk);
    if (mpi.thread_level() >= MPI_THREAD_MULTIPLE) {
      MPI_Comm thread_comm = dup_comm(mpi.comm());
      std::unique_ptr<ShmAllReduce> thread_shm;
      if (shm_) thread_shm = ShmAllReduce::create(thread_comm, chunk);
      comm_thread_ = std::make_unique<CommThread>(thread_comm, std::move(thread_shm));
    } else {
      LOG(WARNING) << rank_tag(rank_, size_) << " MPI provides "
                   << thread_level_name(mpi.thread_level())
                   << ", not MPI_THREAD_MULTIPLE: asynchronous all-reduces run at submission, "
                      "without overlap";
    }
  }

  ~MpiCommunicator() override {
    comm_thread_.reset();  // joins the thread before its communicator's sibling goes
    // Freeing the window is collective: while an exception unwinds a peer may never come.
    if (std::uncaught_exceptions() > 0) (void)shm_.release();
    shm_.reset();
    if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* backend() const override { return "mpi"; }
  std::string transport() const override { return shm_ ? "mpi (shared memory)" : "mpi"; }

  void all_reduce(void* data, size_t count, DataType type, ReduceOp op) override {
    const double scale = scale_for_average(op, type, size_, "MPI_Allreduce");
    all_reduce_here(data, count, type, op, scale, "MPI_Allreduce");
  }

  std::shared_ptr<Work> all_reduce_async(void* data, size_t count, DataType type,
                                         ReduceOp op) override {
    const int n = mpi_count(count, "all_reduce_async");
    const MPI_Datatype mpi_type = reduce_type(type, "all_reduce_async");
    const double scale = scale_for_average(op, type, size_, "all_reduce_async");
    if (comm_thread_) {
      return comm_thread_->submit(nullptr, data, n, mpi_type, mpi_op(op, type), type, scale,
                                  through_shared_memory(type, op, count));
    }
    // No MPI_THREAD_MULTIPLE: run now, on the caller's thread, in submission order.
    auto completion = std::make_shared<Completion>();
    const double start = now_seconds();
    std::exception_ptr failure;
    try {
      all_reduce_here(data, count, type, op, scale, "MPI_Allreduce (async fallback)");
    } catch (...) {
      failure = std::current_exception();
    }
    completion->finish(failure, now_seconds() - start);
    return std::make_shared<MpiWork>(completion);
  }

  void reduce_scatter(const void* send, void* recv, size_t recv_count, DataType type,
                      ReduceOp op) override {
    const double scale = scale_for_average(op, type, size_, "MPI_Reduce_scatter_block");
    check_mpi(MPI_Reduce_scatter_block(
                  send, recv, mpi_count(recv_count, "MPI_Reduce_scatter_block"),
                  reduce_type(type, "MPI_Reduce_scatter_block"), mpi_op(op, type), comm_),
              "MPI_Reduce_scatter_block");
    scale_in_place(recv, recv_count, type, scale);
  }

  std::shared_ptr<Work> reduce_scatter_async(const void* send, void* recv, size_t recv_count,
                                             DataType type, ReduceOp op) override {
    // The total must fit MPI's int count too (the send buffer holds size() blocks).
    mpi_count(recv_count * static_cast<size_t>(size_), "reduce_scatter_async");
    const int n = mpi_count(recv_count, "reduce_scatter_async");
    const MPI_Datatype mpi_type = reduce_type(type, "reduce_scatter_async");
    const double scale = scale_for_average(op, type, size_, "reduce_scatter_async");
    if (comm_thread_)
      return comm_thread_->submit(send, recv, n, mpi_type, mpi_op(op, type), type, scale);
    auto completion = std::make_shared<Completion>();
    const double start = now_seconds();
    std::exception_ptr failure;
    try {
      check_mpi(MPI_Reduce_scatter_block(send, recv, n, mpi_type, mpi_op(op, type), comm_),
                "MPI_Reduce_scatter_block (async fallback)");
      scale_in_place(recv, recv_count, type, scale);
    } catch (...) {
      failure = std::current_exception();
    }
    completion->finish(failure, now_seconds() - start);
    return std::make_shared<MpiWork>(completion);
  }

  void all_gather(const void* send, void* recv, size_t send_count, DataType type) override {
    const int n = mpi_count(send_count * static_cast<size_t>(size_), "MPI_Allgather") / size_;
    // MPI forbids aliased buffers; a send block that already sits at this rank's place in `recv`
    // (a sharded optimizer's own shard) is passed as MPI_IN_PLACE.
    const char* own_block = static_cast<const char*>(recv) +
                            static_cast<size_t>(rank_) * send_count * element_size(type);
    const void* source = (send == own_block) ? MPI_IN_PLACE : send;
    check_mpi(MPI_Allgather(source, n, move_type(type), recv, n, move_type(type), comm_),
              "MPI_Allgather");
  }

  void broadcast(void* data, size_t count, DataType type, int root) override {
    if (root < 0 || root >= size_) {
      throw CommError("MPI_Bcast: root " + std::to_string(root) + " is not a rank of " +
                      std::to_string(size_));
    }
    check_mpi(MPI_Bcast(data, mpi_count(count, "MPI_Bcast"), move_type(type), root, comm_),
              "MPI_Bcast");
  }

  void barrier() override { check_mpi(MPI_Barrier(comm_), "MPI_Barrier"); }

 private:
  // Float32 sums and averages of at least shm_min_elements_ go through the window, if there is one.
  bool through_shared_memory(DataType type, ReduceOp op, size_t count) const {
    return shm_ && type == DataType::kFloat32 && (op == ReduceOp::kSum || op == ReduceOp::kAvg) &&
           count >= shm_min_elements_;
  }

  // An all-reduce on the caller's thread; `call` names it in errors.
  void all_reduce_here(void* data, size_t count, DataType type, ReduceOp op, double scale,
                       const char* call) {
    if (through_shared_memory(type, op, count)) {
      shm_->run(static_cast<float*>(data), count, static_cast<float>(scale));
      return;
    }
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, data, mpi_count(count, call), reduce_type(type, call),
                            mpi_op(op, type), comm_),
              call);
    scale_in_place(data, count, type, scale);
  }

  int rank_;
  int size_;
  MPI_Comm comm_ = MPI_COMM_NULL;
  size_t shm_min_elements_;
  std::unique_ptr<ShmAllReduce> shm_;  // null: every all-reduce through MPI
  std::unique_ptr<CommThread> comm_thread_;
};

}  // namespace

std::unique_ptr<Communicator> make_communicator(const std::string& backend, MpiContext& mpi,
                                                int device, double timeout_s,
                                                const MpiCommunicatorOptions& mpi_options) {
  if (backend == "mpi") return std::make_unique<MpiCommunicator>(mpi, mpi_options);
  if (backend == "nccl") {
#if defined(DGR_HAVE_NCCL)
    return make_nccl_communicator(mpi, device, timeout_s);
#else
    throw ConfigError(
        "communicator backend 'nccl': this build of dgr has no NCCL (nccl.h and the CUDA "
        "runtime were not found at configure time); use 'mpi'");
#endif
  }
  throw ConfigError("unknown communicator backend '" + backend + "' (choices: mpi, nccl)");
}

bool nccl_available() {
#if defined(DGR_HAVE_NCCL)
  return true;
#else
  return false;
#endif
}

}  // namespace dgr::distributed
