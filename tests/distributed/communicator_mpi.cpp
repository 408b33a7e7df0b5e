// The MPI communicator under several ranks: every collective against values computed by hand
// (sum/max/min over float, double, int64, int32), asynchronous all-reduces in flight together,
// reduce-scatter and all-gather blocks, broadcast from a non-zero root, and the backend factory's
// errors. Expected values are functions of (rank, size), so the tests hold for any world size.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/util/error.h"
#include "distributed/communicator.h"
#include "tests/distributed/mpi_test_env.h"

namespace dgr::distributed {
namespace {

using test_env::context;

std::unique_ptr<Communicator> make_mpi() {
  return make_communicator("mpi", context());
}

// Rank r contributes (r + 1) * base(i) to element i.
template <typename T>
void check_all_reduce(DataType type, T base_scale) {
  auto comm = make_mpi();
  const int rank = comm->rank();
  const int n = comm->size();
  const size_t count = 1000;
  auto base = [&](size_t i) { return static_cast<T>(i + 1) * base_scale; };
  for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kMax, ReduceOp::kMin}) {
    std::vector<T> data(count);
    for (size_t i = 0; i < count; ++i)
      data[i] = static_cast<T>(rank + 1) * base(i);
    comm->all_reduce(data.data(), count, type, op);
    for (size_t i = 0; i < count; ++i) {
      T expected{};
      if (op == ReduceOp::kSum) expected = static_cast<T>(n * (n + 1) / 2) * base(i);
      if (op == ReduceOp::kMax) expected = static_cast<T>(n) * base(i);
      if (op == ReduceOp::kMin) expected = base(i);
      ASSERT_EQ(data[i], expected) << "element " << i << " op " << static_cast<int>(op);
    }
  }
}

TEST(MpiCommunicator, KnowsItsRankSizeAndBackend) {
  auto comm = make_mpi();
  EXPECT_EQ(comm->rank(), context().rank());
  EXPECT_EQ(comm->size(), context().size());
  EXPECT_STREQ(comm->backend(), "mpi");
  if (test_env::expected_size() > 0) {
    EXPECT_EQ(comm->size(), test_env::expected_size());
  }
}

TEST(MpiCommunicator, AllReduceFloat) {
  check_all_reduce<float>(DataType::kFloat32, 0.5f);
}
TEST(MpiCommunicator, AllReduceDouble) {
  check_all_reduce<double>(DataType::kFloat64, 0.25);
}
TEST(MpiCommunicator, AllReduceInt64BeyondInt32) {
  check_all_reduce<int64_t>(DataType::kInt64, int64_t{1} << 36);
}
TEST(MpiCommunicator, AllReduceInt32) {
  check_all_reduce<int32_t>(DataType::kInt32, 3);
}

TEST(MpiCommunicator, AverageIsTheSumOverTheWorldSize) {
  auto comm = make_mpi();
  const int rank = comm->rank();
  const int n = comm->size();
  std::vector<float> f(100);
  std::vector<double> d(100);
  std::vector<double> async_d(100000);
  for (size_t i = 0; i < f.size(); ++i)
    f[i] = static_cast<float>(2 * (rank + 1) * (i + 1));
  for (size_t i = 0; i < d.size(); ++i)
    d[i] = 0.5 * rank + i;
  for (size_t i = 0; i < async_d.size(); ++i)
    async_d[i] = rank == 0 ? 1.0 * n * i : 0.0;
  auto work =
      comm->all_reduce_async(async_d.data(), async_d.size(), DataType::kFloat64, ReduceOp::kAvg);
  comm->all_reduce(f.data(), f.size(), DataType::kFloat32, ReduceOp::kAvg);
  comm->all_reduce(d.data(), d.size(), DataType::kFloat64, ReduceOp::kAvg);
  work->wait();
  for (size_t i = 0; i < f.size(); ++i) {
    EXPECT_FLOAT_EQ(f[i], static_cast<float>((n + 1) * (i + 1)));
  }
  for (size_t i = 0; i < d.size(); ++i)
    EXPECT_DOUBLE_EQ(d[i], 0.25 * (n - 1) + i);
  for (size_t i = 0; i < async_d.size(); ++i)
    ASSERT_DOUBLE_EQ(async_d[i], 1.0 * i);

  std::vector<double> send(4 * static_cast<size_t>(n), 2.0 * (rank + 1));
  std::vector<double> recv(4);
  comm->reduce_scatter(send.data(), recv.data(), 4, DataType::kFloat64, ReduceOp::kAvg);
  for (double v : recv)
    EXPECT_DOUBLE_EQ(v, n + 1.0);

  std::vector<int64_t> ints(3, 1);
  EXPECT_THROW(comm->all_reduce(ints.data(), 3, DataType::kInt64, ReduceOp::kAvg), CommError);
  EXPECT_THROW(comm->all_reduce_async(ints.data(), 3, DataType::kInt64, ReduceOp::kAvg), CommError);
}

TEST(MpiCommunicator, AllReduceOfNothingIsFine) {
  auto comm = make_mpi();
  float dummy = 1.0f;
  EXPECT_NO_THROW(comm->all_reduce(&dummy, 0, DataType::kFloat32, ReduceOp::kSum));
  EXPECT_EQ(dummy, 1.0f);
  EXPECT_NO_THROW(comm->all_reduce_async(&dummy, 0, DataType::kFloat32, ReduceOp::kSum)->wait());
}

// bfloat16 sums (gradient compression): each pair of ranks' values is added in float32 and
// rounded once to nearest even. 1.5 on every rank sums exactly; 1 + 2^-8 (rank 0's 1.0 and rank
// 1's 2^-8) lies halfway between two bfloat16 values and rounds to the even one, 1.0. Only kSum
// is offered on MPI; float16 is not reduced.
TEST(MpiCommunicator, BFloat16IsSummedInFloat32AndRoundedOnce) {
  auto comm = make_mpi();
  const int size = comm->size();
  std::vector<uint16_t> data(5, 0x3FC0);  // 1.5
  comm->all_reduce(data.data(), data.size(), DataType::kBFloat16, ReduceOp::kSum);
  const uint16_t expected = size == 1 ? 0x3FC0 : size == 2 ? 0x4040 : data[0];  // 3.0 on 2 ranks
  for (const uint16_t bits : data)
    EXPECT_EQ(bits, expected);
  if (size == 2) {
    std::vector<uint16_t> tie(3, comm->rank() == 0 ? 0x3F80 : 0x3B80);  // 1.0, 2^-8
    comm->all_reduce_async(tie.data(), tie.size(), DataType::kBFloat16, ReduceOp::kSum)->wait();
    for (const uint16_t bits : tie)
      EXPECT_EQ(bits, 0x3F80);
    std::vector<uint16_t> up(2, comm->rank() == 0 ? 0x3F81 : 0x3B80);  // 1 + 2^-7, 2^-8
    comm->all_reduce(up.data(), up.size(), DataType::kBFloat16, ReduceOp::kSum);
    for (const uint16_t bits : up)
      EXPECT_EQ(bits, 0x3F82);  // halfway from an odd value: up to 1 + 2^-6
  }
  EXPECT_THROW(comm->all_reduce(data.data(), 4, DataType::kBFloat16, ReduceOp::kAvg), CommError);
  EXPECT_THROW(comm->all_reduce(data.data(), 4, DataType::kBFloat16, ReduceOp::kMax), CommError);
  EXPECT_THROW(comm->all_reduce_async(data.data(), 4, DataType::kFloat16, ReduceOp::kSum),
               CommError);
}

TEST(MpiCommunicator, AsyncAllReducesInFlightTogetherCompleteInOrder) {
  auto comm = make_mpi();
  const int rank = comm->rank();
  const int n = comm->size();
  // Sizes from tiny to several MB, so some take many progress rounds.
  const std::vector<size_t> sizes = {1, 17, 4096, 1 << 20, 3, 1 << 18, 2'000'000, 100};
  std::vector<std::vector<float>> buffers;
  std::vector<std::shared_ptr<Work>> works;
  for (size_t b = 0; b < sizes.size(); ++b) {
    buffers.emplace_back(sizes[b]);
    for (size_t i = 0; i < sizes[b]; ++i) {
      buffers[b][i] = static_cast<float>((rank + 1) * static_cast<int>(b + 1) + (i % 7));
    }
  }
  for (size_t b = 0; b < sizes.size(); ++b) {
    works.push_back(
        comm->all_reduce_async(buffers[b].data(), sizes[b], DataType::kFloat32, ReduceOp::kSum));
  }
  // FIFO: once the last is done, every earlier one is.
  works.back()->wait();
  for (auto& work : works)
    EXPECT_TRUE(work->done());
  for (size_t b = sizes.size(); b-- > 0;) {
    works[b]->wait();
    EXPECT_GE(works[b]->seconds(), 0.0);
    const float rank_sum = static_cast<float>(n * (n + 1) / 2);
    for (size_t i = 0; i < sizes[b]; ++i) {
      const float expected = rank_sum * static_cast<float>(b + 1) + static_cast<float>(n) * (i % 7);
      ASSERT_EQ(buffers[b][i], expected) << "buffer " << b << " element " << i;
    }
  }
}

TEST(MpiCommunicator, AsyncAndBlockingCallsInterleave) {
  auto comm = make_mpi();
  const int n = comm->size();
  std::vector<double> async_data(100000, 1.0);
  std::vector<int64_t> blocking_data(10, 2);
  auto work = comm->all_reduce_async(async_data.data(), async_data.size(), DataType::kFloat64,
                                     ReduceOp::kMax);
  comm->all_reduce(blocking_data.data(), blocking_data.size(), DataType::kInt64, ReduceOp::kSum);
  comm->barrier();
  work->wait();
  for (int64_t v : blocking_data)
    EXPECT_EQ(v, 2 * n);
  for (double v : async_data)
    ASSERT_EQ(v, 1.0);
}

TEST(MpiCommunicator, OutstandingAsyncWorkCompletesWhenTheCommunicatorGoes) {
  auto comm = make_mpi();
  const int n = comm->size();
  std::vector<float> data(50000, 1.0f);
  auto work = comm->all_reduce_async(data.data(), data.size(), DataType::kFloat32, ReduceOp::kSum);
  comm.reset();  // drains the queue and joins the thread
  EXPECT_TRUE(work->done());
  work->wait();
  for (float v : data)
    ASSERT_EQ(v, static_cast<float>(n));
}

TEST(MpiCommunicator, ReduceScatterGivesEachRankItsBlock) {
  auto comm = make_mpi();
  const int rank = comm->rank();
  const int n = comm->size();
  const size_t block = 33;
  std::vector<double> send(block * static_cast<size_t>(n));
  for (int b = 0; b < n; ++b) {
    for (size_t j = 0; j < block; ++j)
      send[static_cast<size_t>(b) * block + j] = rank + 10.0 * b + j;
  }
  std::vector<double> recv(block, -1.0);
  comm->reduce_scatter(send.data(), recv.data(), block, DataType::kFloat64, ReduceOp::kSum);
  for (size_t j = 0; j < block; ++j) {
    EXPECT_EQ(recv[j], n * (n - 1) / 2.0 + n * (10.0 * rank + j));
  }
  comm->reduce_scatter(send.data(), recv.data(), block, DataType::kFloat64, ReduceOp::kMax);
  for (size_t j = 0; j < block; ++j)
    EXPECT_EQ(recv[j], (n - 1) + 10.0 * rank + j);
}

TEST(MpiCommunicator, AllGatherPlacesBlockRFromRankR) {
  auto comm = make_mpi();
  const int rank = comm->rank();
  const int n = comm->size();
  const size_t block = 5;
  std::vector<int64_t> send(block);
  for (size_t j = 0; j < block; ++j)
    send[j] = 100 * rank + static_cast<int64_t>(j);
  std::vector<int64_t> recv(block * static_cast<size_t>(n), -1);
  comm->all_gather(send.data(), recv.data(), block, DataType::kInt64);
  ASSERT_EQ(recv.size(), block * static_cast<size_t>(n));
  for (int r = 0; r < n; ++r) {
    for (size_t j = 0; j < block; ++j) {
      EXPECT_EQ(recv[static_cast<size_t>(r) * block + j], 100 * r + static_cast<int64_t>(j));
    }
  }
}

TEST(MpiCommunicator, AllGatherInPlaceFromOwnBlock) {
  auto comm = make_mpi();
  const int rank = comm->rank();
  const int n = comm->size();
  const size_t block = 7;
  std::vector<float> all(block * static_cast<size_t>(n), -1.0f);
  float* own = all.data() + static_cast<size_t>(rank) * block;
  for (size_t j = 0; j < block; ++j)
    own[j] = static_cast<float>(rank) + 0.5f * j;
  comm->all_gather(own, all.data(), block, DataType::kFloat32);
  for (int r = 0; r < n; ++r) {
    for (size_t j = 0; j < block; ++j) {
      EXPECT_EQ(all[static_cast<size_t>(r) * block + j], static_cast<float>(r) + 0.5f * j);
    }
  }
}

TEST(MpiCommunicator, SixteenBitFloatsAreMovedBitForBit) {
  auto comm = make_mpi();
  const int rank = comm->rank();
  const int n = comm->size();
  std::vector<uint16_t> send = {static_cast<uint16_t>(0x3f80 + rank), 0xffff, 0x0001};
  std::vector<uint16_t> recv(send.size() * static_cast<size_t>(n));
  comm->all_gather(send.data(), recv.data(), send.size(), DataType::kBFloat16);
  for (int r = 0; r < n; ++r) {
    EXPECT_EQ(recv[static_cast<size_t>(r) * 3], 0x3f80 + r);
    EXPECT_EQ(recv[static_cast<size_t>(r) * 3 + 1], 0xffff);
  }
  std::vector<uint16_t> word = {static_cast<uint16_t>(rank == 0 ? 0x7c00 : 0)};
  comm->broadcast(word.data(), 1, DataType::kFloat16, 0);
  EXPECT_EQ(word[0], 0x7c00);
}

TEST(MpiCommunicator, BroadcastFromRootOne) {
  auto comm = make_mpi();
  const int rank = comm->rank();
  const int root = comm->size() > 1 ? 1 : 0;
  std::vector<double> data(64);
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = rank * 1000.0 + i;
  comm->broadcast(data.data(), data.size(), DataType::kFloat64, root);
  for (size_t i = 0; i < data.size(); ++i)
    EXPECT_EQ(data[i], root * 1000.0 + i);

  std::vector<int32_t> ints(3, rank == root ? 42 : -1);
  comm->broadcast(ints.data(), ints.size(), DataType::kInt32, root);
  for (int32_t v : ints)
    EXPECT_EQ(v, 42);
}

TEST(MpiCommunicator, BroadcastFromANonRankIsACommError) {
  auto comm = make_mpi();
  double value = 0;
  EXPECT_THROW(comm->broadcast(&value, 1, DataType::kFloat64, comm->size()), CommError);
  EXPECT_THROW(comm->broadcast(&value, 1, DataType::kFloat64, -1), CommError);
}

TEST(MpiCommunicator, BarrierCompletes) {
  auto comm = make_mpi();
  for (int i = 0; i < 3; ++i)
    EXPECT_NO_THROW(comm->barrier());
}

// The shared-memory all-reduce with a 64-element chunk, so that buffers of a few hundred
// elements run the whole pipeline (several chunks, a short last chunk, slices cut to cache lines,
// a rank with an empty slice) and every buffer takes it (no minimum size).
MpiCommunicatorOptions small_chunks() {
  MpiCommunicatorOptions options;
  options.shm_chunk_elements = 64;
  options.shm_min_elements = 0;
  return options;
}

// Rank r's element i: values of mixed sign and magnitude, so sums round.
float shm_value(int rank, size_t i) {
  const auto x = static_cast<float>((i * 2654435761u + static_cast<size_t>(rank) * 40503u) % 20011);
  return (x - 10005.0f) * 1.37e-3f * static_cast<float>(1 + rank % 3);
}

// What every rank must receive: the sum in rank order, then times `scale` (0: none), in float.
std::vector<float> shm_expected(int size, size_t count, float scale) {
  std::vector<float> out(count);
  for (size_t i = 0; i < count; ++i) {
    float sum = shm_value(0, i);
    for (int k = 1; k < size; ++k)
      sum += shm_value(k, i);
    out[i] = scale != 0.0f ? sum * scale : sum;
  }
  return out;
}

TEST(MpiCommunicator, SharedMemoryAllReduceIsTheRankOrderSumBitForBit) {
  auto comm = make_communicator("mpi", context(), 0, 600, small_chunks());
  const int rank = comm->rank();
  const int n = comm->size();
  if (n > 1) {
    EXPECT_EQ(comm->transport(), "mpi (shared memory)");  // the tests run on one node
  }
  const float average = 1.0f / static_cast<float>(n);
  for (size_t count : {size_t{0}, size_t{1}, size_t{5}, size_t{16}, size_t{17}, size_t{63},
                       size_t{64}, size_t{65}, size_t{128}, size_t{64 * 7 + 3}, size_t{10000}}) {
    for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kAvg}) {
      for (bool async : {false, true}) {
        std::vector<float> data(count);
        for (size_t i = 0; i < count; ++i)
          data[i] = shm_value(rank, i);
        if (async) {
          comm->all_reduce_async(data.data(), count, DataType::kFloat32, op)->wait();
        } else {
          comm->all_reduce(data.data(), count, DataType::kFloat32, op);
        }
        const std::vector<float> expected =
            shm_expected(n, count, op == ReduceOp::kAvg && n > 1 ? average : 0.0f);
        for (size_t i = 0; i < count; ++i) {
          ASSERT_EQ(data[i], expected[i]) << "count " << count << " element " << i << " op "
                                          << static_cast<int>(op) << " async " << async;
        }
      }
    }
  }
}

// On two ranks MPI_Allreduce adds the same pair once as well: both paths give the same bits.
TEST(MpiCommunicator, SharedMemoryAndMpiAllreduceAgreeOnTwoRanks) {
  if (context().size() != 2) GTEST_SKIP() << "needs exactly 2 ranks";
  MpiCommunicatorOptions plain;
  plain.shared_memory = false;
  auto shm = make_communicator("mpi", context(), 0, 600, small_chunks());
  auto mpi = make_communicator("mpi", context(), 0, 600, plain);
  EXPECT_EQ(mpi->transport(), "mpi");
  const size_t count = 64 * 5 + 11;
  for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kAvg}) {
    std::vector<float> a(count), b(count);
    for (size_t i = 0; i < count; ++i)
      a[i] = b[i] = shm_value(context().rank(), i);
    shm->all_reduce(a.data(), count, DataType::kFloat32, op);
    mpi->all_reduce(b.data(), count, DataType::kFloat32, op);
    for (size_t i = 0; i < count; ++i)
      ASSERT_EQ(a[i], b[i]) << "element " << i;
  }
}

// Asynchronous all-reduces on the communication thread's window while the caller's thread uses
// its own window for blocking ones, and other types (not through shared memory) in between.
TEST(MpiCommunicator, SharedMemoryAsyncAndBlockingAllReducesInterleave) {
  auto comm = make_communicator("mpi", context(), 0, 600, small_chunks());
  const int rank = comm->rank();
  const int n = comm->size();
  std::vector<std::vector<float>> buffers;
  std::vector<std::shared_ptr<Work>> works;
  const std::vector<size_t> sizes = {300, 7, 1000, 64, 129};
  for (size_t count : sizes) {
    buffers.emplace_back(count);
    for (size_t i = 0; i < count; ++i)
      buffers.back()[i] = shm_value(rank, i);
  }
  for (auto& buffer : buffers) {
    works.push_back(
        comm->all_reduce_async(buffer.data(), buffer.size(), DataType::kFloat32, ReduceOp::kSum));
  }
  std::vector<float> blocking(777);
  for (size_t i = 0; i < blocking.size(); ++i)
    blocking[i] = shm_value(rank, i);
  comm->all_reduce(blocking.data(), blocking.size(), DataType::kFloat32, ReduceOp::kSum);
  std::vector<double> doubles(100, 1.5);
  comm->all_reduce(doubles.data(), doubles.size(), DataType::kFloat64, ReduceOp::kSum);
  for (auto& work : works)
    work->wait();
  for (size_t b = 0; b < buffers.size(); ++b) {
    const std::vector<float> expected = shm_expected(n, sizes[b], 0.0f);
    for (size_t i = 0; i < sizes[b]; ++i)
      ASSERT_EQ(buffers[b][i], expected[i]) << "buffer " << b << " element " << i;
  }
  const std::vector<float> expected = shm_expected(n, blocking.size(), 0.0f);
  for (size_t i = 0; i < blocking.size(); ++i)
    ASSERT_EQ(blocking[i], expected[i]) << "element " << i;
  for (double v : doubles)
    ASSERT_EQ(v, 1.5 * n);
}

TEST(MakeCommunicator, UnknownBackendIsAConfigErrorListingTheChoices) {
  try {
    make_communicator("gloo", context());
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("gloo"), std::string::npos) << message;
    EXPECT_NE(message.find("mpi"), std::string::npos) << message;
    EXPECT_NE(message.find("nccl"), std::string::npos) << message;
  }
}

// Without NCCL in the build, or without a GPU (CI), asking for nccl is a ConfigError on every
// rank. Where ranks do have GPUs, the communicator must come up and agree on a barrier.
TEST(MakeCommunicator, NcclWithoutAGpuIsAConfigError) {
  MpiContext& ctx = context();
  std::unique_ptr<Communicator> comm;
  try {
    comm = make_communicator("nccl", ctx, ctx.rank());
  } catch (const ConfigError& error) {
    const std::string message = error.what();
    if (nccl_available()) {
      EXPECT_NE(message.find("GPU"), std::string::npos) << message;
    } else {
      EXPECT_NE(message.find("no NCCL"), std::string::npos) << message;
    }
    return;
  }
  ASSERT_TRUE(nccl_available());
  EXPECT_STREQ(comm->backend(), "nccl");
  EXPECT_EQ(comm->size(), ctx.size());
  EXPECT_NO_THROW(comm->barrier());
}

}  // namespace
}  // namespace dgr::distributed
