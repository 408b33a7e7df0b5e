# Finds every third-party dependency once and exposes it as an imported target
# (dgr::torch, dgr::sdsl, dgr::hdf5, MPI::MPI_CXX, yaml-cpp, glog::glog, CLI11, nlohmann_json).

find_package(Threads REQUIRED)
find_package(MPI REQUIRED COMPONENTS C CXX)
find_package(yaml-cpp REQUIRED)
find_package(glog REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_path(CLI11_INCLUDE_DIR CLI/CLI.hpp REQUIRED)
add_library(dgr_cli11 INTERFACE)
target_include_directories(dgr_cli11 SYSTEM INTERFACE ${CLI11_INCLUDE_DIR})

# Parallel HDF5 (C API): the distillation set is written with collective hyperslab writes.
set(HDF5_PREFER_PARALLEL TRUE)
find_package(HDF5 REQUIRED COMPONENTS C)
if(NOT HDF5_IS_PARALLEL)
  message(WARNING "HDF5 found is not parallel; install libhdf5-openmpi-dev")
endif()
add_library(dgr_hdf5 INTERFACE)
target_include_directories(dgr_hdf5 SYSTEM INTERFACE ${HDF5_C_INCLUDE_DIRS} ${HDF5_INCLUDE_DIRS})
target_link_libraries(dgr_hdf5 INTERFACE ${HDF5_C_LIBRARIES} MPI::MPI_C)
target_compile_definitions(dgr_hdf5 INTERFACE ${HDF5_C_DEFINITIONS} ${HDF5_DEFINITIONS})
add_library(dgr::hdf5 ALIAS dgr_hdf5)

# utf8proc: Unicode general categories and White_Space for the GPT-2 pre-tokenizer.
find_path(UTF8PROC_INCLUDE_DIR utf8proc.h REQUIRED)
find_library(UTF8PROC_LIBRARY utf8proc REQUIRED)
add_library(dgr_utf8proc INTERFACE)
target_include_directories(dgr_utf8proc SYSTEM INTERFACE ${UTF8PROC_INCLUDE_DIR})
target_link_libraries(dgr_utf8proc INTERFACE ${UTF8PROC_LIBRARY})

# sdsl-lite ships no CMake config.
# Snowball stemmers (libstemmer-dev) for the BM25 teacher's analyzer.
find_path(STEMMER_INCLUDE_DIR libstemmer.h REQUIRED)
find_library(STEMMER_LIBRARY stemmer REQUIRED)
add_library(dgr::stemmer INTERFACE IMPORTED)
set_target_properties(dgr::stemmer PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${STEMMER_INCLUDE_DIR}"
                      INTERFACE_LINK_LIBRARIES "${STEMMER_LIBRARY}")

find_path(SDSL_INCLUDE_DIR sdsl/suffix_arrays.hpp REQUIRED)
find_library(SDSL_LIBRARY sdsl REQUIRED)
find_library(DIVSUFSORT_LIBRARY divsufsort REQUIRED)
find_library(DIVSUFSORT64_LIBRARY divsufsort64 REQUIRED)
add_library(dgr_sdsl INTERFACE)
target_include_directories(dgr_sdsl SYSTEM INTERFACE ${SDSL_INCLUDE_DIR})
target_link_libraries(dgr_sdsl INTERFACE ${SDSL_LIBRARY} ${DIVSUFSORT_LIBRARY} ${DIVSUFSORT64_LIBRARY})
add_library(dgr::sdsl ALIAS dgr_sdsl)

if(DGR_WITH_TORCH)
  find_package(Torch REQUIRED)
  set(DGR_TORCH_VERSION ${Torch_VERSION})
  add_library(dgr_torch INTERFACE)
  target_link_libraries(dgr_torch INTERFACE ${TORCH_LIBRARIES})
  target_compile_options(dgr_torch INTERFACE ${TORCH_CXX_FLAGS})
  add_library(dgr::torch ALIAS dgr_torch)
else()
  set(DGR_TORCH_VERSION "none")
endif()

# NCCL: compiled only when torch itself has CUDA (NCCL reduces torch's device tensors), against
# the CUDA runtime torch's config found, when nccl.h and libnccl are there too; forced ON, any
# missing piece is an error. A CPU-only torch never links cudart or NCCL, even on a machine with
# a CUDA toolkit.
set(DGR_HAVE_NCCL OFF)
set(DGR_TORCH_CUDA OFF)
if(DGR_WITH_TORCH AND (CAFFE2_USE_CUDA OR TARGET torch_cuda OR TARGET c10_cuda))
  set(DGR_TORCH_CUDA ON)
endif()
if(NOT DGR_WITH_NCCL STREQUAL "OFF")
  if(DGR_TORCH_CUDA)
    if(NOT CUDAToolkit_FOUND)
      find_package(CUDAToolkit QUIET)
    endif()
    # Torch's config records the CUDA it was built with (CUDA_VERSION from its CUDA module);
    # a runtime of another major version would be two CUDAs in one process.
    if(CUDA_VERSION AND CUDAToolkit_VERSION_MAJOR)
      string(REGEX MATCH "^[0-9]+" DGR_TORCH_CUDA_MAJOR "${CUDA_VERSION}")
      if(NOT DGR_TORCH_CUDA_MAJOR STREQUAL CUDAToolkit_VERSION_MAJOR)
        message(FATAL_ERROR "torch was built with CUDA ${CUDA_VERSION} but the CUDA toolkit found "
                            "is ${CUDAToolkit_VERSION}: point CUDAToolkit_ROOT at the CUDA torch "
                            "uses, or configure with -DDGR_WITH_NCCL=OFF")
      endif()
    endif()
    find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/local/cuda/include)
    find_library(NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR} /usr/local/cuda/lib64)
    if(CUDAToolkit_FOUND AND NCCL_INCLUDE_DIR AND NCCL_LIBRARY)
      set(DGR_HAVE_NCCL ON)
    elseif(DGR_WITH_NCCL STREQUAL "ON")
      message(FATAL_ERROR "DGR_WITH_NCCL=ON but nccl.h / libnccl / the CUDA runtime were not found")
    endif()
  elseif(DGR_WITH_NCCL STREQUAL "ON")
    message(FATAL_ERROR "DGR_WITH_NCCL=ON but torch was built without CUDA (NCCL reduces torch's "
                        "device tensors): use a CUDA build of libtorch")
  endif()
endif()

find_package(GTest)
find_package(benchmark)
