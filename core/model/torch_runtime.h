// The torch runtime of a dgr process: which libtorch and BLAS it runs on, and how many threads
// each rank uses. This header does not include torch, so `launch/` can ask without paying for it.
#pragma once

#include <string>

namespace dgr::model {

struct TorchRuntimeInfo {
  std::string torch_version;     // e.g. "1.13.1"
  std::string blas;              // runtime BLAS, e.g. "OpenBLAS 0.3.21 ... (OpenMP)"
  std::string blas_library;      // shared object that provides sgemm_
  std::string parallel_backend;  // ATen's intra-op backend ("OpenMP", "native thread pool")
  int intra_op_threads = 0;
  int inter_op_threads = 0;
  bool cuda_available = false;
  int cuda_devices = 0;
};

TorchRuntimeInfo torch_runtime_info();

// Sets the intra-op threads of torch and of the BLAS. `threads` 0 means OMP_NUM_THREADS when the
// launcher set it (launch/dgr-mpirun, the SLURM stage scripts), else the cores of this process's
// affinity mask when a binding narrowed it, else the machine's cores divided by `ranks_on_node`;
// at least 1. Ranks that share cores must not oversubscribe them.
// Returns the thread count applied. Call before the first tensor operation.
int configure_threads(int threads, int ranks_on_node);

// The CUDA devices this process sees (0 with a CPU-only libtorch or no GPU).
int visible_cuda_devices();

// Makes CUDA device `index` the current one of this thread (the device new CUDA tensors and
// kernels default to). Throws when this libtorch has no CUDA.
void set_current_cuda_device(int index);

}  // namespace dgr::model
