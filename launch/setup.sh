#!/usr/bin/env bash
# Installs dgr's dependencies (Debian bookworm packages) and builds it with a CMake preset.
# Idempotent: packages already installed are not touched, an existing build is only refreshed.
# Works as root and, for a normal user, through sudo.
#
#   launch/setup.sh [--preset release|debug|asan] [--no-install] [--no-build]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PRESET="${DGR_PRESET:-release}"
INSTALL=1
BUILD=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --preset) PRESET="$2"; shift 2 ;;
    --preset=*) PRESET="${1#*=}"; shift ;;
    --no-install) INSTALL=0; shift ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done

# DESIGN section 3. libopenblas0-openmp: without it libtorch runs on the reference BLAS (~17x slower).
PACKAGES=(
  g++ cmake ninja-build pkg-config ccache git
  libtorch-dev libopenblas0-openmp
  libopenmpi-dev openmpi-bin
  libhdf5-openmpi-dev
  libyaml-cpp-dev libgoogle-glog-dev
  libsdsl-dev libdivsufsort-dev libutf8proc-dev libstemmer-dev
  libcli11-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # The SLURM test's one-node cluster (tests/integration/slurm_test.sh; it skips without them).
  # Their services stay down without /etc/slurm/slurm.conf; the test starts its own daemons.
  slurmctld slurmd slurm-client munge
  # launch/fuzz.sh: clang and its libFuzzer runtime (the fuzz preset).
  clang libclang-rt-14-dev
)

log() { echo "[setup] $*" >&2; }

install_packages() {
  local missing=()
  for pkg in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$pkg")
    fi
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    log "all ${#PACKAGES[@]} packages present"
    return
  fi
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { log "need root or sudo to install: ${missing[*]}"; exit 1; }
    sudo=(sudo)
  fi
  log "installing ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

build() {
  cd "$ROOT"
  if [[ ! -f "build/$PRESET/CMakeCache.txt" ]]; then
    log "configuring preset $PRESET"
    cmake --preset "$PRESET" >/dev/null
  fi
  log "building preset $PRESET"
  cmake --build --preset "$PRESET" -j "$(nproc)"
}

[[ $INSTALL -eq 1 ]] && install_packages
[[ $BUILD -eq 1 ]] && build
exit 0
