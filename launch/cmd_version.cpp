// `dgr version`: what this build is and what it runs on — version, build type, torch, BLAS,
// MPI, HDF5 and NCCL — so a run's log says exactly which stack produced it.
#include <hdf5.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "core/model/torch_runtime.h"
#include "distributed/mpi_context.h"
#include "launch/cli_common.h"

namespace dgr::cli {
namespace {

std::string hdf5_version() {
  unsigned major = 0, minor = 0, release = 0;
  H5get_libversion(&major, &minor, &release);
  std::string version =
      std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(release);
#ifdef H5_HAVE_PARALLEL
  version += " (parallel)";
#else
  version += " (serial)";
#endif
  return version;
}

int print_version(bool as_json) {
  model::TorchRuntimeInfo torch = model::torch_runtime_info();
  nlohmann::ordered_json info;
  info["dgr"] = DGR_VERSION;
  info["build_type"] = DGR_BUILD_TYPE;
  info["torch"] = torch.torch_version;
  info["torch_parallel"] = torch.parallel_backend;
  info["torch_threads"] = torch.intra_op_threads;
  info["cuda"] = torch.cuda_available ? std::to_string(torch.cuda_devices) + " device(s)"
                                      : std::string("not available");
  info["blas"] = torch.blas;
  info["blas_library"] = torch.blas_library;
  info["mpi"] = distributed::mpi_library_version();
  info["hdf5"] = hdf5_version();
  info["torch_cuda_build"] = DGR_TORCH_CUDA ? "yes" : "no";
  info["nccl"] = DGR_HAVE_NCCL
                     ? "built against torch's CUDA runtime and nccl.h"
                     : (DGR_TORCH_CUDA ? "not available (no nccl.h / libnccl at build time)"
                                       : "not available (torch has no CUDA)");
  if (as_json) {
    std::cout << info.dump(2) << "\n";
    return 0;
  }
  std::cout << "dgr " << DGR_VERSION << " (" << DGR_BUILD_TYPE << " build)\n";
  for (auto it = info.begin(); it != info.end(); ++it) {
    if (it.key() == "dgr" || it.key() == "build_type") continue;
    std::cout << "  " << it.key() << ": " << (it->is_string() ? it->get<std::string>() : it->dump())
              << "\n";
  }
  return 0;
}

}  // namespace

void add_version_command(CLI::App& app, Command& selected) {
  auto as_json = std::make_shared<bool>(false);
  CLI::App* version = app.add_subcommand(
      "version", "Print version, build type, torch, BLAS, MPI, HDF5 and NCCL availability");
  version->add_flag("--json", *as_json, "Machine-readable output");
  version->callback([as_json, &selected] {
    selected.needs_mpi = false;
    selected.run = [as_json](distributed::MpiContext*) { return print_version(*as_json); };
  });
}

}  // namespace dgr::cli
