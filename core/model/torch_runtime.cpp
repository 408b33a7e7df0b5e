#include "core/model/torch_runtime.h"

#include <ATen/Parallel.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <dlfcn.h>
#include <sched.h>
#include <torch/version.h>

#include <cstdlib>
#include <thread>

namespace dgr::model {
namespace {

// OpenBLAS exports these; looked up at run time because the BLAS is whichever libblas.so.3
// the system's alternatives point at (reference BLAS, OpenBLAS pthreads or OpenMP).
using GetConfigFn = char* (*)();
using GetParallelFn = int (*)();
using SetThreadsFn = void (*)(int);

template <class Fn>
Fn blas_symbol(const char* name) {
  return reinterpret_cast<Fn>(::dlsym(RTLD_DEFAULT, name));
}

}  // namespace

TorchRuntimeInfo torch_runtime_info() {
  TorchRuntimeInfo info;
  info.torch_version = TORCH_VERSION;
  info.parallel_backend = at::get_parallel_info();
  // Keep only the backend line of ATen's multi-line description.
  if (auto pos = info.parallel_backend.find("ATen parallel backend: "); pos != std::string::npos) {
    auto end = info.parallel_backend.find('\n', pos);
    info.parallel_backend = info.parallel_backend.substr(pos + 23, end - pos - 23);
  }
  info.intra_op_threads = at::get_num_threads();
  info.inter_op_threads = at::get_num_interop_threads();
  info.cuda_available = torch::cuda::is_available();
  info.cuda_devices = info.cuda_available ? static_cast<int>(torch::cuda::device_count()) : 0;

  if (auto get_config = blas_symbol<GetConfigFn>("openblas_get_config")) {
    info.blas = get_config();
    if (auto get_parallel = blas_symbol<GetParallelFn>("openblas_get_parallel")) {
      static const char* kModes[] = {"sequential", "pthreads", "OpenMP"};
      int mode = get_parallel();
      info.blas += std::string(" (") + (mode >= 0 && mode <= 2 ? kModes[mode] : "?") + ")";
    }
  } else {
    info.blas = "reference or unknown BLAS (install libopenblas0-openmp: about 17x faster)";
  }
  Dl_info where{};
  if (void* sgemm = ::dlsym(RTLD_DEFAULT, "sgemm_"); sgemm && ::dladdr(sgemm, &where)) {
    info.blas_library = where.dli_fname ? where.dli_fname : "";
  }
  return info;
}

int configure_threads(int threads, int ranks_on_node) {
  if (threads <= 0) {
    const char* omp = std::getenv("OMP_NUM_THREADS");
    const int from_launcher = omp != nullptr ? std::atoi(omp) : 0;
    if (from_launcher > 0) {
      threads = from_launcher;
    } else {
      cpu_set_t mask;
      CPU_ZERO(&mask);
      const int machine = static_cast<int>(std::thread::hardware_concurrency());
      const int allowed =
          sched_getaffinity(0, sizeof(mask), &mask) == 0 ? CPU_COUNT(&mask) : machine;
      // A rank bound to its own cores uses them all; unbound ranks share the machine.
      threads = allowed < machine ? allowed : machine / std::max(1, ranks_on_node);
      threads = std::max(1, threads);
    }
  }
  at::set_num_threads(threads);
  if (auto set_threads = blas_symbol<SetThreadsFn>("openblas_set_num_threads")) {
    set_threads(threads);
  }
  return threads;
}

int visible_cuda_devices() {
  return torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0;
}

void set_current_cuda_device(int index) {
  // Through torch's device-guard registry, so a CPU-only build compiles this and only a call
  // without CUDA fails.
  c10::impl::getDeviceGuardImpl(c10::DeviceType::CUDA)
      ->setDevice(c10::Device(c10::DeviceType::CUDA, static_cast<c10::DeviceIndex>(index)));
}

}  // namespace dgr::model
