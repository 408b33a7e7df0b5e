#!/usr/bin/env bash
# Builds dgr on a GPU machine against that machine's CUDA torch and NCCL, runs the GPU tests and
# two GPU benchmarks, and writes a short report. The GPU machine needs x86-64, python3 with a CUDA
# build of torch and NCCL from pip (nvidia-nccl-cu*), nvcc, g++, CMake and ninja; it needs no
# network: the other libraries dgr links travel as Debian 12 packages in .gpu-deps/.
#
#   launch/gpu-check.sh --fetch       on a Debian 12 (amd64) machine that reaches Debian's archive:
#                                     downloads the .deb files of DEB_PACKAGES (below) into
#                                     .gpu-deps/ and copies the benchmark data into .gpu-deps/data/
#                                     (from $DGR_DATA, default ../shared/data). Fails above 48 MiB.
#   launch/gpu-check.sh --dry-run     on that machine, no GPU needed: checks that .gpu-deps/ holds
#                                     every package and data file, unpacks it into a temporary
#                                     prefix, runs CMake's configure step against it (the local
#                                     torch, no NCCL; build/gpu-dry) and checks that every library
#                                     was found in the prefix; prints the commands of a GPU run.
#   launch/gpu-check.sh [--out DIR]   on the GPU machine, from a copy of the repository with
#                                     .gpu-deps/: unpacks the packages under /tmp, configures
#                                     build/gpu (Release, NCCL on), builds dgr, dgr_gpu_tests,
#                                     train_step_bench and beam_search_bench, runs `dgr version`,
#                                     `ctest -L gpu` and the benchmarks. Writes DIR/gpu-report.md
#                                     and one log per step, 8 files in all (DIR: --out, else $OUT,
#                                     else build/gpu/report).
#
# Every step is timed and has a time limit; the steps together stop after DGR_GPU_CHECK_BUDGET
# seconds (default 540). A failed step does not stop the later ones that can still run. Where the
# machine is reached through a tool that copies the working tree and returns the folder $OUT, send
# .gpu-deps along with the tree (it is git-ignored) and give the command 570 s.
#
# Exit status: 0 when every step passed, 1 when one failed, timed out or its target is absent
# (the report says which), 2 for bad arguments.
# Environment: DGR_GPU_DEPS (default .gpu-deps), DGR_DATA (--fetch), DGR_GPU_PREFIX (unpacked
# packages, default /tmp/dgr-gpu-deps), DGR_GPU_JOBS (default: all cores), DGR_GPU_CHECK_BUDGET,
# DGR_GPU_KEEP=1 (--dry-run keeps its prefix and build/gpu-dry).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPS="${DGR_GPU_DEPS:-$ROOT/.gpu-deps}"
[[ "$DEPS" == /* ]] || DEPS="$PWD/$DEPS"
MAX_MIB=48
BUILD_DIR=build/gpu
DRY_BUILD_DIR=build/gpu-dry
ARCH_DIR=x86_64-linux-gnu

# The Debian 12 packages the GPU build needs: the -dev packages of dgr's dependencies, the
# libraries they load, and what those load in turn, except what every Ubuntu or Debian system
# with a C++ compiler has (libc6, libstdc++6, libgcc-s1, libzstd1, liblzma5, libudev1,
# libatomic1, ...). Torch, CUDA and NCCL come from the GPU machine itself.
DEB_PACKAGES=(
  # Open MPI 4.1: headers, compiler wrappers, mpirun and orted, and what libmpi and its
  # components load.
  libopenmpi-dev libopenmpi3 openmpi-bin openmpi-common
  libevent-core-2.1-7 libevent-pthreads-2.1-7 libhwloc15 libpmix2 libmunge2
  libfabric1 libucx0 libibverbs1 librdmacm1 libnl-3-200 libnl-route-3-200 libnuma1
  libpsm-infinipath1 libpsm2-2
  # Parallel HDF5 1.10 and the libraries its wrapper (h5pcc) names: libsz, zlib, libcrypto,
  # libcurl (HDF5's read-only S3 driver), and libcurl's own.
  libhdf5-openmpi-dev libhdf5-openmpi-103-1 libhdf5-openmpi-hl-100
  libaec-dev libaec0 libsz2 zlib1g-dev zlib1g libssl-dev libssl3
  libcurl4-openssl-dev libcurl4 libbrotli1 libnghttp2-14 libpsl5 librtmp1 libssh2-1
  libidn2-0 libunistring2 libldap-2.5-0 libsasl2-2 libsasl2-modules-db libdb5.3
  libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0 libkeyutils1 libcom-err2
  libgnutls30 libnettle8 libhogweed6 libgmp10 libp11-kit0 libtasn1-6 libffi8
  # The rest of launch/setup.sh's list, with glog's gflags and libunwind.
  libyaml-cpp-dev libyaml-cpp0.7
  libgoogle-glog-dev libgoogle-glog0v6 libgflags-dev libgflags2.2 libunwind-dev libunwind8
  libsdsl-dev libsdsl3 libdivsufsort-dev libdivsufsort3
  libutf8proc-dev libutf8proc2 libstemmer-dev libstemmer0d
  libcli11-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev libbenchmark1debian
)
# Data sets copied into .gpu-deps/data/ (the layout of ../shared/data): the beam search benchmark
# reads the TREC DL 2019 pool and BART's vocabulary; the tests may read Cranfield.
DATA_DIRS=(tokenizer/bart msmarco-dl19 cranfield)
DATA_FILES=(tokenizer/bart/vocab.json tokenizer/bart/merges.txt msmarco-dl19/corpus.jsonl
            msmarco-dl19/queries.jsonl cranfield/corpus.jsonl cranfield/queries.jsonl)
# The targets of a GPU run, and the cache entries that must point into the unpacked prefix.
TARGETS=(dgr dgr_gpu_tests train_step_bench beam_search_bench)
# The bart-large training step the GPU run times (bf16, then fp32), and the GPU tests' ctest.
STEP_BENCH_SHAPE=(--batch 16 --source-len 64 --target-len 32 --steps 10 --warmup 3)
CTEST_ARGS=(-L gpu --output-on-failure -V --no-tests=error --timeout 120)
PREFIX_CACHE_VARS=(MPI_C_COMPILER MPI_CXX_COMPILER MPI_mpi_LIBRARY MPIEXEC_EXECUTABLE
                   HDF5_C_COMPILER_EXECUTABLE HDF5_C_LIBRARY_hdf5 yaml-cpp_DIR glog_DIR gflags_DIR
                   Unwind_LIBRARY nlohmann_json_DIR CLI11_INCLUDE_DIR UTF8PROC_LIBRARY
                   STEMMER_LIBRARY SDSL_INCLUDE_DIR SDSL_LIBRARY DIVSUFSORT_LIBRARY
                   DIVSUFSORT64_LIBRARY GTest_DIR benchmark_DIR)

log() { echo "[gpu-check] $*" >&2; }
die() {
  echo "gpu-check: $*" >&2
  exit 1
}

MODE=gpu
OUT_DIR="${OUT:-}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --fetch) MODE=fetch; shift ;;
    --dry-run) MODE=dry; shift ;;
    --out)
      [[ $# -ge 2 ]] || { echo "gpu-check.sh: --out needs a folder (see --help)" >&2; exit 2; }
      OUT_DIR="$2"; shift 2 ;;
    --out=*) OUT_DIR="${1#*=}"; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "gpu-check.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
OUT_DIR="${OUT_DIR:-$ROOT/$BUILD_DIR/report}"

# ---------------------------------------------------------------------------------------------
# .gpu-deps/: which .deb file holds which package.

declare -A DEB_FILE=()
index_debs() {
  local f pkg
  DEB_FILE=()
  shopt -s nullglob
  for f in "$1"/*.deb; do
    pkg="$(dpkg-deb -f "$f" Package 2>/dev/null)" || continue
    DEB_FILE[$pkg]="$f"
  done
  shopt -u nullglob
}

# check_deps: every package of DEB_PACKAGES and every data file is in $DEPS, else exit 1
# naming what is missing.
check_deps() {
  command -v dpkg-deb >/dev/null || die "dpkg-deb not found: the packages cannot be unpacked here"
  [[ -d "$DEPS" ]] || die "no $DEPS: run launch/gpu-check.sh --fetch first (on a Debian 12 machine that reaches Debian's archive)"
  index_debs "$DEPS"
  local missing=() data_missing=() pkg file
  for pkg in "${DEB_PACKAGES[@]}"; do
    [[ -n "${DEB_FILE[$pkg]:-}" ]] || missing+=("$pkg")
  done
  for file in "${DATA_FILES[@]}"; do
    [[ -s "$DEPS/data/$file" ]] || data_missing+=("data/$file")
  done
  if [[ ${#missing[@]} -gt 0 || ${#data_missing[@]} -gt 0 ]]; then
    [[ ${#missing[@]} -gt 0 ]] &&
      echo "gpu-check: $DEPS lacks ${#missing[@]} of ${#DEB_PACKAGES[@]} packages: ${missing[*]}" >&2
    [[ ${#data_missing[@]} -gt 0 ]] &&
      echo "gpu-check: $DEPS lacks ${#data_missing[@]} data file(s): ${data_missing[*]}" >&2
    die "run launch/gpu-check.sh --fetch (on a Debian 12 machine that reaches Debian's archive)"
  fi
  log "$DEPS holds all ${#DEB_PACKAGES[@]} packages and the data files"
}

# ---------------------------------------------------------------------------------------------
# The unpacked prefix: Debian's packages moved from / to PREFIX.

PREFIX=""
SHIM=""
LIB_PATH=""
RUN_ENV=()
set_prefix() {
  PREFIX="$1"
  SHIM="$PREFIX/bin"
  local lib="$PREFIX/usr/lib/$ARCH_DIR"
  LIB_PATH="$lib:$PREFIX/lib/$ARCH_DIR:$lib/openmpi/lib:$lib/hdf5/openmpi:$lib/pmix2/lib"
  # What a program linked against the prefix needs at run time: its libraries (those of Debian's
  # packages have no RUNPATH), where Open MPI moved (OPAL_PREFIX), where PMIx's components are
  # (PMIx has no variable for its own prefix), and the MCA settings of one node (shared memory
  # without cross-memory attach, no network transports).
  RUN_ENV=(env "OPAL_PREFIX=$PREFIX/usr" "PMIX_MCA_mca_base_component_path=$lib/pmix2/lib/pmix"
           "LD_LIBRARY_PATH=$LIB_PATH${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
           OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
           OMPI_MCA_pml=ob1 "OMPI_MCA_btl=self,vader" "OMPI_MCA_osc=^ucx"
           OMPI_MCA_btl_vader_single_copy_mechanism=none)
}

# write_shim NAME PROGRAM: $SHIM/NAME runs $PREFIX/usr/bin/PROGRAM with the prefix's environment
# (the compiler wrappers need libopen-pal and OPAL_PREFIX; CMake runs them).
write_shim() {
  cat >"$SHIM/$1" <<EOF
#!/bin/sh
# $1 of the Open MPI unpacked in $PREFIX (written by launch/gpu-check.sh).
OPAL_PREFIX='$PREFIX/usr'
PMIX_MCA_mca_base_component_path='$PREFIX/usr/lib/$ARCH_DIR/pmix2/lib/pmix'
LD_LIBRARY_PATH='$LIB_PATH'\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}
export OPAL_PREFIX PMIX_MCA_mca_base_component_path LD_LIBRARY_PATH
exec '$PREFIX/usr/bin/$2' "\$@"
EOF
  chmod +x "$SHIM/$1"
}

# unpack_prefix: every .deb of DEB_PACKAGES into $PREFIX (never into /), then the fixes a moved
# tree needs: absolute symbolic links, pkg-config files, the MPI wrappers, h5pcc.
unpack_prefix() {
  local pkg link name
  # Only a folder this script made (it leaves a mark) or an empty one is emptied.
  [[ "$PREFIX" == /?* && "$PREFIX" != *..* ]] || die "the prefix must be an absolute path: '$PREFIX'"
  if [[ -d "$PREFIX" && ! -f "$PREFIX/.dgr-gpu-prefix" && -n "$(ls -A "$PREFIX")" ]]; then
    die "$PREFIX exists and was not made by launch/gpu-check.sh: choose another DGR_GPU_PREFIX"
  fi
  rm -rf "$PREFIX"
  mkdir -p "$PREFIX"
  touch "$PREFIX/.dgr-gpu-prefix"
  for pkg in "${DEB_PACKAGES[@]}"; do
    dpkg-deb -x "${DEB_FILE[$pkg]}" "$PREFIX"
  done
  # libz.so -> /lib/x86_64-linux-gnu/libz.so.1.2.13 and the like.
  while IFS= read -r -d '' link; do
    ln -sfn "$PREFIX$(readlink "$link")" "$link"
  done < <(find "$PREFIX" -type l -lname '/*' -print0)
  find "$PREFIX" -path '*/pkgconfig/*.pc' -type f \
    -exec sed -i "s|^prefix=/usr\$|prefix=$PREFIX/usr|" {} +
  # Debian names the Open MPI programs *.openmpi and links the plain names through
  # update-alternatives, which dpkg-deb -x does not run.
  mkdir -p "$SHIM"
  for name in mpicc mpicxx mpic++ mpiexec mpirun; do
    write_shim "$name" "$name.openmpi"
  done
  # h5pcc says itself: when the tree moved, set its prefix. It calls the MPI wrapper by name, and
  # names -lcurl -lcrypto -lsz -lz without a folder: they are in the prefix too.
  local ldflags="-L$PREFIX/usr/lib/$ARCH_DIR -L$PREFIX/lib/$ARCH_DIR -Wl,-rpath-link,$LIB_PATH"
  sed -e "s|^prefix=\"/usr\"\$|prefix=\"$PREFIX/usr\"|" \
      -e "s|^CCBASE=\"mpicc.openmpi\"\$|CCBASE=\"$SHIM/mpicc\"|" \
      -e "s|^CLINKERBASE=\"mpicc.openmpi\"\$|CLINKERBASE=\"$SHIM/mpicc\"|" \
      -e "s|^H5BLD_LDFLAGS=\" *\"\$|H5BLD_LDFLAGS=\"$ldflags\"|" \
      "$PREFIX/usr/bin/h5pcc.openmpi" >"$SHIM/h5pcc"
  chmod +x "$SHIM/h5pcc"
  local line
  for line in "prefix=\"$PREFIX/usr\"" "CLINKERBASE=\"$SHIM/mpicc\"" "H5BLD_LDFLAGS=\"$ldflags\""; do
    grep -qxF "$line" "$SHIM/h5pcc" || die "h5pcc: could not set $line"
  done
  echo "unpacked ${#DEB_PACKAGES[@]} packages into $PREFIX ($(du -sh "$PREFIX" | cut -f1))"
}

# configure_args TORCH_PREFIX BUILD_DIR: CMake's arguments, dependencies from the prefix first.
CONFIGURE_ARGS=()
configure_args() {
  local torch_prefix="$1" build_dir="$2" lib="$PREFIX/usr/lib/$ARCH_DIR"
  # The prefix first: a torch installed among other libraries must not bring their copies.
  local prefix_path="$PREFIX/usr;$lib/cmake"
  [[ -n "$torch_prefix" ]] && prefix_path="$prefix_path;$torch_prefix"
  # -rpath-link: the linker finds the libraries that libmpi and libhdf5 load in the prefix.
  local link_flags="-Wl,-rpath-link,$LIB_PATH"
  CONFIGURE_ARGS=(-S "$ROOT" -B "$ROOT/$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release
    "-DCMAKE_PREFIX_PATH=$prefix_path"
    -DCCACHE_PROGRAM=CCACHE_PROGRAM-NOTFOUND
    "-DMPI_C_COMPILER=$SHIM/mpicc" "-DMPI_CXX_COMPILER=$SHIM/mpicxx"
    "-DMPIEXEC_EXECUTABLE=$SHIM/mpiexec"
    "-DHDF5_C_COMPILER_EXECUTABLE=$SHIM/h5pcc"
    "-DCMAKE_EXE_LINKER_FLAGS=$link_flags" "-DCMAKE_SHARED_LINKER_FLAGS=$link_flags"
    "-DDGR_SHARED_DATA_DIR=$DEPS/data"
    # GoogleTest's discovery runs each test program; at build time it would run without the
    # prefix's libraries (glog's gflags, Open MPI's), so it runs under ctest, which has them.
    -DCMAKE_GTEST_DISCOVER_TESTS_DISCOVERY_MODE=PRE_TEST)
  # CMake 4 refuses configs that ask for policies older than 3.5; Debian 12's are that old.
  local cmake_major
  cmake_major="$(cmake --version 2>/dev/null | sed -n '1s/[^0-9]*\([0-9]*\).*/\1/p')"
  if [[ "${cmake_major:-3}" -ge 4 ]]; then
    CONFIGURE_ARGS+=(-DCMAKE_POLICY_VERSION_MINIMUM=3.5)
  fi
}

# check_cache BUILD_DIR: the dependencies CMake found must come from the prefix. Prints one line
# per entry; returns 1 when one does not.
check_cache() {
  local cache="$ROOT/$1/CMakeCache.txt" var value bad=0
  for var in "${PREFIX_CACHE_VARS[@]}"; do
    value="$(sed -n "s/^$var:[A-Z]*=//p" "$cache" | head -n 1)"
    if [[ "$value" == "$PREFIX"/* ]]; then
      echo "  $var = $value"
    else
      echo "  $var = ${value:-(not set)}   <- not in the prefix"
      bad=1
    fi
  done
  return "$bad"
}

# ---------------------------------------------------------------------------------------------
# --fetch

fetch() {
  command -v apt-get >/dev/null || die "--fetch needs apt-get (a Debian 12 machine)"
  local arch
  arch="$(dpkg --print-architecture)"
  [[ "$arch" == amd64 ]] || die "--fetch needs an amd64 machine (the GPU machine is x86-64); this is $arch"
  local data_src="${DGR_DATA:-$ROOT/../shared/data}" file dir
  for file in "${DATA_FILES[@]}"; do
    [[ -s "$data_src/$file" ]] || die "data file $data_src/$file not found (set DGR_DATA to the folder of the data sets)"
  done

  local t0 tmp pkg missing=()
  t0="$(date +%s)"
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/dgr-gpu-fetch.XXXXXX")"
  # shellcheck disable=SC2064  # expand now: tmp is local
  trap "rm -rf '$tmp'" EXIT
  local apt=(apt-get -q -o APT::Sandbox::User=root download)
  if ! (cd "$tmp" && "${apt[@]}" "${DEB_PACKAGES[@]}") >"$tmp/apt.log" 2>&1; then
    if grep -q "Unable to locate package\|has no installation candidate" "$tmp/apt.log" &&
       [[ $(id -u) -eq 0 ]]; then
      log "apt-get download failed; updating the package lists once"
      apt-get update -qq >/dev/null 2>&1 || true
    fi
    # One at a time; what the archive does not give is taken from apt's cache.
    for pkg in "${DEB_PACKAGES[@]}"; do
      (cd "$tmp" && "${apt[@]}" "$pkg") >>"$tmp/apt.log" 2>&1 && continue
      local cached=()
      mapfile -t cached < <(ls -v /var/cache/apt/archives/"${pkg}"_*_{amd64,all}.deb 2>/dev/null)
      if [[ ${#cached[@]} -gt 0 ]]; then
        cp "${cached[-1]}" "$tmp/"
        log "$pkg: from apt's cache ($(basename "${cached[-1]}"))"
      fi
    done
  fi
  index_debs "$tmp"
  for pkg in "${DEB_PACKAGES[@]}"; do
    [[ -n "${DEB_FILE[$pkg]:-}" ]] || missing+=("$pkg")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    tail -n 5 "$tmp/apt.log" >&2
    die "could not fetch ${#missing[@]} package(s): ${missing[*]}"
  fi

  mkdir -p "$DEPS"
  rm -f "$DEPS"/*.deb
  rm -rf "$DEPS/data"
  for pkg in "${DEB_PACKAGES[@]}"; do
    mv "${DEB_FILE[$pkg]}" "$DEPS/"
  done
  for dir in "${DATA_DIRS[@]}"; do
    mkdir -p "$DEPS/data/$(dirname "$dir")"
    cp -R "$data_src/$dir" "$DEPS/data/$dir"
  done
  chmod -R u+w "$DEPS/data"

  local deb_bytes data_bytes total_bytes
  deb_bytes="$(du -cb "$DEPS"/*.deb | tail -n 1 | cut -f1)"
  data_bytes="$(du -sb "$DEPS/data" | cut -f1)"
  total_bytes="$(du -sb "$DEPS" | cut -f1)"
  printf '%s: %d packages, %.1f MiB; data %.1f MiB; total %.1f MiB (limit %d MiB); %d s\n' \
    "$DEPS" "${#DEB_PACKAGES[@]}" "$(mib "$deb_bytes")" "$(mib "$data_bytes")" \
    "$(mib "$total_bytes")" "$MAX_MIB" "$(($(date +%s) - t0))"
  if [[ "$total_bytes" -gt $((MAX_MIB * 1024 * 1024)) ]]; then
    die "$DEPS is over $MAX_MIB MiB: the working tree that travels to the GPU machine must stay small"
  fi
  echo "next: launch/gpu-check.sh --dry-run here, then launch/gpu-check.sh on the GPU machine"
}

mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

# ---------------------------------------------------------------------------------------------
# --dry-run

print_gpu_commands() {
  local P='<prefix>'
  cat <<EOF
commands of a GPU run (prefix: ${DGR_GPU_PREFIX:-/tmp/dgr-gpu-deps}; <torch> = python3 -c 'import torch; print(torch.utils.cmake_prefix_path)', <nccl> = the nvidia.nccl package's folder):
  nvidia-smi; python3 -c 'import torch; ...'; nvcc --version; g++ --version; cmake --version
  dpkg-deb -x <each of the ${#DEB_PACKAGES[@]} .deb files> $P   (+ the fixes above)
  cmake -S . -B $BUILD_DIR -G Ninja -DCMAKE_BUILD_TYPE=Release '-DCMAKE_PREFIX_PATH=$P/usr;$P/usr/lib/$ARCH_DIR/cmake;<torch>' \\
        -DCCACHE_PROGRAM=CCACHE_PROGRAM-NOTFOUND -DMPI_C_COMPILER=$P/bin/mpicc -DMPI_CXX_COMPILER=$P/bin/mpicxx \\
        -DMPIEXEC_EXECUTABLE=$P/bin/mpiexec -DHDF5_C_COMPILER_EXECUTABLE=$P/bin/h5pcc \\
        -DCMAKE_EXE_LINKER_FLAGS=-Wl,-rpath-link,<prefix lib dirs> -DCMAKE_SHARED_LINKER_FLAGS=-Wl,-rpath-link,<prefix lib dirs> \\
        -DDGR_SHARED_DATA_DIR=.gpu-deps/data -DCMAKE_GTEST_DISCOVER_TESTS_DISCOVERY_MODE=PRE_TEST \\
        -DDGR_WITH_NCCL=ON -DNCCL_INCLUDE_DIR=<nccl>/include \\
        -DNCCL_LIBRARY=$P/nccl/libnccl.so -DCUDAToolkit_ROOT=<nvcc's folder>/.. -DCMAKE_CUDA_ARCHITECTURES=90
  ninja -C $BUILD_DIR -j <cores> -k 0 ${TARGETS[*]}   (those the configured tree has)
  $BUILD_DIR/bin/dgr version
  ctest --test-dir $BUILD_DIR ${CTEST_ARGS[*]}
  $BUILD_DIR/bench/train_step_bench --arch bart-large --device cuda --precision bf16 ${STEP_BENCH_SHAPE[*]} --peak-tflops <bf16 peak>
  $BUILD_DIR/bench/train_step_bench --arch bart-large --device cuda --precision fp32 ${STEP_BENCH_SHAPE[*]} --peak-tflops <TF32 peak>
      (peaks from the GPU's name: H100 SXM and H200 790 (measured bf16 rate) and 495 TFLOP/s; none, and no MFU, for a GPU not known)
  $BUILD_DIR/bench/beam_search_bench --device=cuda --data=.gpu-deps/data
  (the programs run with OPAL_PREFIX, PMIX_MCA_mca_base_component_path and LD_LIBRARY_PATH set to the prefix)
EOF
}

dry_run() {
  local t0 t1
  t0="$(date +%s)"
  check_deps
  command -v cmake >/dev/null || die "cmake not found"
  command -v ninja >/dev/null || die "ninja not found"
  local prefix
  prefix="$(mktemp -d "${TMPDIR:-/tmp}/dgr-gpu-dry.XXXXXX")"
  set_prefix "$prefix"
  if [[ "${DGR_GPU_KEEP:-0}" != 1 ]]; then
    # shellcheck disable=SC2064  # expand now
    trap "rm -rf '$prefix' '$ROOT/$DRY_BUILD_DIR'" EXIT
  fi
  unpack_prefix
  # The MPI wrapper must answer from the prefix.
  local showme
  showme="$("$SHIM/mpicxx" -showme:compile)" || die "the unpacked mpicxx does not run"
  [[ "$showme" == *"-I$PREFIX/"* ]] || die "the unpacked mpicxx names headers outside the prefix: $showme"
  echo "mpicxx -showme:compile: $showme"

  # The local torch (CPU): no NCCL. Without one, the torch-free part is configured.
  local torch_args=()
  if [[ ! -f /usr/lib/$ARCH_DIR/cmake/Torch/TorchConfig.cmake &&
        ! -f /usr/share/cmake/Torch/TorchConfig.cmake ]]; then
    log "no local torch (libtorch-dev): configuring with -DDGR_WITH_TORCH=OFF"
    torch_args=(-DDGR_WITH_TORCH=OFF)
  fi
  configure_args "" "$DRY_BUILD_DIR"
  rm -rf "${ROOT:?}/$DRY_BUILD_DIR"
  echo "\$ cmake ${CONFIGURE_ARGS[*]} ${torch_args[*]}"
  local log_file="$PREFIX/configure.log" rc=0
  cmake "${CONFIGURE_ARGS[@]}" "${torch_args[@]}" >"$log_file" 2>&1 || rc=$?
  t1="$(date +%s)"
  if [[ $rc -ne 0 ]]; then
    tail -n 40 "$log_file" >&2
    die "configure failed (exit $rc) after $((t1 - t0)) s"
  fi
  grep -E '^-- dgr [0-9.]+:' "$log_file" || true
  grep -qE '^-- dgr [0-9.]+:.*parallel: TRUE' "$log_file" ||
    die "the HDF5 found is not the parallel one (see the line above)"
  echo "dependencies found:"
  check_cache "$DRY_BUILD_DIR" || die "some dependencies were not found in the unpacked packages (above)"
  print_gpu_commands
  local took=$((t1 - t0))
  echo "dry run ok: ${#DEB_PACKAGES[@]} packages unpacked and configured against in $took s"
  [[ $took -gt 60 ]] && echo "note: the configure step took over 60 s on this machine"
  return 0
}

# ---------------------------------------------------------------------------------------------
# The GPU run.

START="$(date +%s)"
BUDGET="${DGR_GPU_CHECK_BUDGET:-540}"
PHASES=()
declare -A STATUS=() SECONDS_TAKEN=() LOG_OF=() LOG_FROM=()

remaining() { echo $((START + BUDGET - $(date +%s))); }

# phase NAME LOG LIMIT CMD...: runs CMD (a program, or a function of this script) with its output
# appended to $OUT_DIR/LOG, for at most LIMIT seconds or what is left of the budget.
phase() {
  local name="$1" log_name="$2" limit="$3"
  shift 3
  local log_file="$OUT_DIR/$log_name" left t0 rc
  PHASES+=("$name")
  LOG_OF[$name]="$log_name"
  touch "$log_file"
  LOG_FROM[$name]=$(($(wc -l <"$log_file") + 1))
  left="$(remaining)"
  if [[ $left -lt 10 ]]; then
    STATUS[$name]="skipped: the budget of $BUDGET s is spent"
    SECONDS_TAKEN[$name]=0
    return 1
  fi
  [[ $limit -gt $left ]] && limit=$left
  echo "===== $name: $* (limit ${limit} s)" >>"$log_file"
  log "$name (limit ${limit} s)"
  t0="$(date +%s)"
  set +e
  if declare -F "$1" >/dev/null; then
    (set -e; "$@") >>"$log_file" 2>&1
  else
    timeout -k 10 "$limit" "$@" >>"$log_file" 2>&1
  fi
  rc=$?
  set -e
  SECONDS_TAKEN[$name]=$(($(date +%s) - t0))
  case $rc in
    0) STATUS[$name]=ok ;;
    124|137) STATUS[$name]="TIMEOUT after $limit s" ;;
    *) STATUS[$name]="FAILED (exit $rc)" ;;
  esac
  echo "===== $name: ${STATUS[$name]} in ${SECONDS_TAKEN[$name]} s" >>"$log_file"
  log "$name: ${STATUS[$name]} (${SECONDS_TAKEN[$name]} s)"
  write_report
  [[ $rc -eq 0 ]]
}

# skip NAME LOG REASON
skip() {
  PHASES+=("$1")
  LOG_OF[$1]="$2"
  STATUS[$1]="skipped: $3"
  SECONDS_TAKEN[$1]=0
  log "$1: skipped ($3)"
  write_report
}

# phase_lines NAME: the output of phase NAME (its part of the log).
phase_lines() {
  local f="$OUT_DIR/${LOG_OF[$1]}"
  [[ -f "$f" && -n "${LOG_FROM[$1]:-}" ]] || return 0
  tail -n +"${LOG_FROM[$1]}" "$f" | sed -n "/^===== $1: /,/^===== $1: /p" | sed '1d;$d'
}

GPU_LINE="(not read)"
TORCH_LINE="(not read)"
TORCH_PREFIX=""
NCCL_ROOT=""
NVCC=""
NVCC_LINE="not found"
BUILD_STAMP=""
MISSING_TARGETS=()

gpu_env() {
  echo "--- nvidia-smi"
  nvidia-smi || echo "(nvidia-smi failed)"
  echo "--- python3"
  echo "$TORCH_LINE"
  echo "torch CMake prefix: ${TORCH_PREFIX:-not found}"
  echo "nvidia.nccl: ${NCCL_ROOT:-not found}"
  echo "--- tools"
  local tool
  for tool in nvcc g++ cmake ninja; do
    echo "$tool: $(command -v "$tool" || echo 'not on PATH')"
    if command -v "$tool" >/dev/null; then "$tool" --version 2>&1 | head -n 4 || true; fi
  done
  echo "cores: $(nproc)"
  free -g || true
  df -h "$ROOT" || true
}

# find_toolchain: the GPU, torch (version, CUDA, CMake prefix) and NCCL through one python3, and
# nvcc (also under /usr/local/cuda).
find_toolchain() {
  GPU_LINE="$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null |
              head -n 1)" || true
  GPU_LINE="${GPU_LINE:-no GPU seen by nvidia-smi}"
  local facts=()
  mapfile -t facts < <(python3 - <<'PY' 2>/dev/null
import torch
ok = torch.cuda.is_available()
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuda available: {ok}"
      + (f" ({torch.cuda.get_device_name(0)})" if ok else ""))
print(torch.utils.cmake_prefix_path)
try:
    import nvidia.nccl as m
    print(list(m.__path__)[0])
except Exception:
    print("")
PY
  )
  TORCH_LINE="${facts[0]:-python3 cannot import torch}"
  TORCH_PREFIX="${facts[1]:-}"
  NCCL_ROOT="${facts[2]:-}"
  NVCC="$(command -v nvcc || true)"
  if [[ -z "$NVCC" && -x /usr/local/cuda/bin/nvcc ]]; then
    NVCC=/usr/local/cuda/bin/nvcc
    export PATH="/usr/local/cuda/bin:$PATH"
  fi
  if [[ -n "$NVCC" ]]; then
    NVCC_LINE="$NVCC ($("$NVCC" --version 2>/dev/null | sed -n 's/.*release \([0-9.]*\).*/\1/p'))"
  fi
}

# nccl_links: libnccl from pip may be named libnccl.so.2 only; find_library wants libnccl.so.
nccl_links() {
  [[ -f "$NCCL_ROOT/include/nccl.h" ]] || { echo "no nccl.h under $NCCL_ROOT/include"; return 1; }
  local lib
  lib="$(find "$NCCL_ROOT/lib" -maxdepth 1 -name 'libnccl.so*' | sort | head -n 1)"
  [[ -n "$lib" ]] || { echo "no libnccl.so* under $NCCL_ROOT/lib"; return 1; }
  mkdir -p "$PREFIX/nccl"
  ln -sfn "$(readlink -f "$lib")" "$PREFIX/nccl/libnccl.so"
  ln -sfn "$(readlink -f "$lib")" "$PREFIX/nccl/libnccl.so.2"
  echo "nccl: $NCCL_ROOT/include/nccl.h, $PREFIX/nccl/libnccl.so -> $(readlink -f "$lib")"
}

prepare() {
  unpack_prefix
  nccl_links
}

# peak_tflops PRECISION: the GPU's peak for bf16, or for fp32 matrix products (TF32 tensor
# cores: train_step_bench turns TF32 on for CUDA), from nvidia-smi's name; 0 when not known.
# H100 SXM and H200 bf16: 790, the rate an 8192^3 bf16 product reaches on them (the figure the
# MFU target of docs/benchmarks.md is stated against; the datasheet's dense peak is 989).
# DGR_GPU_PEAK_TFLOPS_BF16 / _FP32 set them.
peak_tflops() {
  local bf16=0 fp32=0
  case "$GPU_LINE" in
    *H200*|*"H100 80GB HBM3"*|*"H100 SXM"*) bf16=790; fp32=495 ;;
    *"H100 NVL"*) bf16=835; fp32=418 ;;
    *"H100 PCIe"*) bf16=756; fp32=378 ;;
  esac
  case "$1" in
    bf16) echo "${DGR_GPU_PEAK_TFLOPS_BF16:-$bf16}" ;;
    *) echo "${DGR_GPU_PEAK_TFLOPS_FP32:-$fp32}" ;;
  esac
}

target_exists() { ninja -C "$ROOT/$BUILD_DIR" -t query "$1" >/dev/null 2>&1; }
# target_output TARGET: the file a CMake target builds (the input of ninja's phony target).
target_output() {
  ninja -C "$ROOT/$BUILD_DIR" -t query "$1" 2>/dev/null |
    awk '/^  input: phony/ { getline; sub(/^ +/, ""); print; exit }'
}

# target_built TARGET: the build step passed, or, after a failed one, the target's file was
# written by it (ninja -n cannot tell: with globbed sources it stops at re-running CMake).
target_built() {
  [[ "${STATUS[build]:-}" == ok ]] && return 0
  [[ "${STATUS[build]:-}" == skipped* ]] && return 1
  local file
  file="$(target_output "$1")"
  [[ -n "$file" && -f "$ROOT/$BUILD_DIR/$file" && "$ROOT/$BUILD_DIR/$file" -nt "$BUILD_STAMP" ]]
}

# ran NAME: phase NAME was run (not skipped).
ran() { [[ -n "${STATUS[$1]:-}" && "${STATUS[$1]}" != skipped* && "${STATUS[$1]}" != MISSING* ]]; }

# section TITLE NAME PATTERN: the lines of phase NAME's output that match PATTERN, in a block.
section() {
  ran "$2" || return 0
  printf '\n## %s\n\n```\n' "$1"
  local context=()
  [[ "${4:-0}" -gt 0 ]] && context=(-A "$4")
  phase_lines "$2" | grep -E "${context[@]}" "$3" | head -n 60 || true
  printf '```\n'
}

write_report() {
  local f="$OUT_DIR/gpu-report.md" name
  {
    echo "# dgr GPU check"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); host: $(uname -m), $(nproc) cores"
    echo "- GPU: $GPU_LINE"
    echo "- $TORCH_LINE"
    echo "- nvcc: $NVCC_LINE"
    echo "- torch CMake prefix: ${TORCH_PREFIX:-not found}; NCCL: ${NCCL_ROOT:-not found}"
    echo "- peaks for the MFU (TFLOP/s, dense, 0 = not known): bf16 $(peak_tflops bf16), fp32 as TF32 $(peak_tflops fp32)"
    echo "- elapsed: $(($(date +%s) - START)) s of a budget of $BUDGET s"
    echo
    echo "| step | status | seconds | log |"
    echo "|---|---|---|---|"
    for name in "${PHASES[@]}"; do
      echo "| $name | ${STATUS[$name]} | ${SECONDS_TAKEN[$name]} | ${LOG_OF[$name]} |"
    done
    if [[ ${#MISSING_TARGETS[@]} -gt 0 ]]; then
      echo
      echo "Targets absent from the configured tree: ${MISSING_TARGETS[*]}."
    fi
    section "Configure" configure '^-- dgr [0-9.]+:|^-- Found (MPI|HDF5|CUDA|Torch)|NCCL|CMake Error' 4
    [[ "${STATUS[build]:-}" == ok ]] ||
      section "Build errors (first lines) and the last step reached" build \
        'error:|FAILED:|undefined reference|ninja: build stopped'
    if ran build; then
      phase_lines build | grep -E '^\[[0-9]+/[0-9]+\]' | tail -n 1 | sed 's/^/last build step: /'
    fi
    section "dgr version" version '.'
    section "ctest -L gpu" ctest '\[ +(OK|SKIPPED|PASSED|FAILED) +\]|tests passed|tests failed|Total Test time|No tests were found|The following tests|^[[:space:]]+[0-9]+ - |Not Run|\*\*\*'
    section "train_step_bench, bf16" train_step_bf16 '^\{|unknown option|what\(\)|rror:'
    section "train_step_bench, fp32" train_step_fp32 '^\{|unknown option|what\(\)|rror:'
    section "beam_search_bench --device=cuda" beam_search '^Benchmark|^-{10,}|^BM_|what\(\)|rror:'
  } >"$f.tmp"
  mv "$f.tmp" "$f"
}

gpu_run() {
  mkdir -p "$OUT_DIR"
  rm -f "$OUT_DIR"/{gpu-report.md,env.log,configure.log,build.log,version.log,ctest.log} \
        "$OUT_DIR"/{train_step.log,beam_search.log}
  set_prefix "${DGR_GPU_PREFIX:-/tmp/dgr-gpu-deps}"
  find_toolchain
  phase env env.log 60 gpu_env || true
  if ! phase deps env.log 30 check_deps; then
    skip configure configure.log "packages missing from $DEPS (env.log)"
    write_report
    return 1
  fi
  index_debs "$DEPS"  # the phase ran in a subshell
  local ok_prepare=1
  phase prepare env.log 120 prepare || ok_prepare=0

  local jobs="${DGR_GPU_JOBS:-$(nproc)}"
  if [[ $ok_prepare -eq 0 ]]; then
    skip configure configure.log "prepare failed"
  elif [[ -z "$TORCH_PREFIX" ]]; then
    skip configure configure.log "python3 has no torch"
  else
    configure_args "$TORCH_PREFIX" "$BUILD_DIR"
    CONFIGURE_ARGS+=(-DDGR_WITH_NCCL=ON "-DNCCL_INCLUDE_DIR=$NCCL_ROOT/include"
                     "-DNCCL_LIBRARY=$PREFIX/nccl/libnccl.so" -DCMAKE_CUDA_ARCHITECTURES=90)
    [[ -n "$NVCC" ]] && CONFIGURE_ARGS+=("-DCUDAToolkit_ROOT=$(dirname "$(dirname "$NVCC")")"
                                         "-DCMAKE_CUDA_COMPILER=$NVCC")
    export TORCH_CUDA_ARCH_LIST=9.0
    phase configure configure.log 150 cmake "${CONFIGURE_ARGS[@]}" || true
  fi

  local built=() t
  if [[ "${STATUS[configure]:-}" == ok ]]; then
    { echo "dependencies found:"; check_cache "$BUILD_DIR" || true; } >>"$OUT_DIR/configure.log"
    for t in "${TARGETS[@]}"; do
      if target_exists "$t"; then built+=("$t"); else MISSING_TARGETS+=("$t"); fi
    done
    if [[ ${#built[@]} -gt 0 ]]; then
      BUILD_STAMP="$ROOT/$BUILD_DIR/.gpu-check-build-start"
      touch "$BUILD_STAMP"
      sleep 1  # file times of one second apart
      phase build build.log 360 ninja -C "$ROOT/$BUILD_DIR" -j "$jobs" -k 0 "${built[@]}" || true
    else
      skip build build.log "none of ${TARGETS[*]} is a target"
    fi
  else
    skip build build.log "configure did not succeed"
  fi

  # run_if NAME LOG LIMIT TARGET CMD...: runs the step when TARGET was built.
  run_if() {
    local name="$1" log_name="$2" limit="$3" target="$4"
    shift 4
    if [[ " ${MISSING_TARGETS[*]} " == *" $target "* ]]; then
      skip "$name" "$log_name" "target $target absent"
      STATUS[$name]="MISSING: target $target absent"
    elif [[ "${STATUS[configure]:-}" != ok ]] || ! target_built "$target"; then
      skip "$name" "$log_name" "$target was not built by this run"
    else
      phase "$name" "$log_name" "$limit" "${RUN_ENV[@]}" "$@" || true
    fi
  }
  cd "$ROOT"
  run_if version version.log 30 dgr "$BUILD_DIR/bin/dgr" version
  run_if ctest ctest.log 150 dgr_gpu_tests \
    ctest --test-dir "$BUILD_DIR" "${CTEST_ARGS[@]}"
  local precision
  local peak=()
  for precision in bf16 fp32; do
    # The MFU needs the GPU's peak; without one the line has no "mfu".
    peak=()
    [[ "$(peak_tflops "$precision")" != 0 ]] && peak=(--peak-tflops "$(peak_tflops "$precision")")
    run_if "train_step_$precision" train_step.log 90 train_step_bench \
      "$BUILD_DIR/bench/train_step_bench" --arch bart-large --device cuda --precision "$precision" \
      "${STEP_BENCH_SHAPE[@]}" "${peak[@]}"
  done
  run_if beam_search beam_search.log 150 beam_search_bench \
    "$BUILD_DIR/bench/beam_search_bench" --device=cuda "--data=$DEPS/data"
  write_report

  local name failed=0
  for name in "${PHASES[@]}"; do
    [[ "${STATUS[$name]}" == ok ]] || failed=1
  done
  log "report: $OUT_DIR/gpu-report.md"
  return "$failed"
}

case "$MODE" in
  fetch) fetch ;;
  dry) dry_run ;;
  gpu) gpu_run ;;
esac
