#include "distributed/hdf5_group.h"

#include <glog/logging.h>
#include <hdf5.h>

#include <memory>
#include <string>
#include <vector>

#include "core/util/error.h"
#include "distributed/mpi_context.h"

namespace dgr::distributed {
namespace {

class MpiGroupBackend final : public data::h5::GroupBackend {
 public:
  explicit MpiGroupBackend(MPI_Comm comm) : comm_(comm) {
    check_mpi(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
    check_mpi(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  std::vector<int64_t> all_gather(const std::vector<int64_t>& local) const override {
    std::vector<int64_t> all(local.size() * static_cast<size_t>(size_));
    const int n = static_cast<int>(local.size());
    check_mpi(MPI_Allgather(local.data(), n, MPI_INT64_T, all.data(), n, MPI_INT64_T, comm_),
              "MPI_Allgather");
    return all;
  }

  std::string broadcast(const std::string& value, int root) const override {
    uint64_t length = value.size();
    check_mpi(MPI_Bcast(&length, 1, MPI_UINT64_T, root, comm_), "MPI_Bcast");
    std::string out = rank_ == root ? value : std::string(length, '\0');
    if (length > 0) {
      check_mpi(MPI_Bcast(out.data(), static_cast<int>(length), MPI_CHAR, root, comm_),
                "MPI_Bcast");
    }
    return out;
  }

  bool use_mpio_driver(int64_t file_access) const override {
#ifdef H5_HAVE_PARALLEL
    return H5Pset_fapl_mpio(file_access, comm_, MPI_INFO_NULL) >= 0;
#else
    (void)file_access;
    return false;
#endif
  }

  bool use_collective_transfer(int64_t transfer) const override {
#ifdef H5_HAVE_PARALLEL
    return H5Pset_dxpl_mpio(transfer, H5FD_MPIO_COLLECTIVE) >= 0;
#else
    (void)transfer;
    return false;
#endif
  }

 private:
  MPI_Comm comm_;
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace

data::h5::WriterGroup hdf5_writer_group(MPI_Comm comm) {
#ifndef H5_HAVE_PARALLEL
  (void)comm;
  throw ConfigError(
      "this build's HDF5 library is not parallel: files cannot be written by several MPI ranks "
      "(install libhdf5-openmpi-dev and rebuild)");
#else
  int initialized = 0;
  check_mpi(MPI_Initialized(&initialized), "MPI_Initialized");
  CHECK(initialized) << "hdf5_writer_group: MPI is not initialised";
  CHECK(comm != MPI_COMM_NULL) << "hdf5_writer_group: the null communicator";
  return data::h5::WriterGroup(std::make_shared<const MpiGroupBackend>(comm));
#endif
}

data::h5::WriterGroup hdf5_job_group(MPI_Comm comm) {
  int size = 1;
  check_mpi(MPI_Comm_size(comm, &size), "MPI_Comm_size");
  return size > 1 ? hdf5_writer_group(comm) : data::h5::WriterGroup::serial();
}

}  // namespace dgr::distributed
