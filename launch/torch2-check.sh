#!/usr/bin/env bash
# Builds and tests dgr against torch 2.x on a CPU machine. Debian 12 ships libtorch 1.13 only;
# Debian 13 ships libtorch 2.6 (CPU) and a CUDA 12.4 build of it with NCCL 2.22. This script makes
# a Debian 13 root with debootstrap (once; later runs reuse it), installs dgr's dependencies there,
# bind-mounts the folder that holds the repository and ../shared into it at the same path, then
# builds and tests. No GPU is needed for either mode.
#
#   launch/torch2-check.sh [--cuda] [--root DIR] [--jobs N] [--no-tests] [-- CTEST_ARGS...]
#     (default)   libtorch-dev 2.6, CPU: configures build/torch2 (Release), builds every target
#                 and runs ctest (every test, or the given CTEST_ARGS, e.g. -L unit) and
#                 `dgr version`. About 600 MB of packages; the build takes as long as the usual one.
#     --cuda      libtorch-cuda-dev 2.6 (CUDA 12.4), nvidia-cuda-toolkit, libnccl-dev and g++-13
#                 (CUDA 12.4's newest host compiler): configures build/torch2-cuda with
#                 DGR_WITH_NCCL=ON, builds dgr and dgr_gpu_tests and checks that dgr links
#                 libtorch_cuda, cudart and NCCL. A compile and link check: nothing runs
#                 (launch/gpu-check.sh does that on a GPU). About 2 GB of packages. Debian's
#                 nvidia-cudnn package downloads cuDNN from NVIDIA when it is installed; a local
#                 placeholder package stands in for it, and since libtorch_cuda needs
#                 libcudnn.so.9, the programs link with its symbols left open and cannot start.
#     --root DIR  the Debian 13 root (default /var/tmp/dgr-torch2-root, with --cuda
#                 /var/tmp/dgr-torch2-cuda-root). Never deleted by this script: while it runs, the
#                 repository is mounted inside it.
#     --jobs N    build jobs (default: all cores)
#     --no-tests  build only
#
# Needs root (debootstrap, chroot, mount) and Debian's archive. Exit status: 0 when the build
# and the tests passed, 1 otherwise, 2 for bad arguments.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SUITE=trixie
MIRROR="${DGR_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

# dgr's dependencies under their Debian 13 names (launch/setup.sh lists the Debian 12 ones).
COMMON_PACKAGES=(
  cmake ninja-build pkg-config ccache git python3
  libopenblas0-openmp libopenmpi-dev openmpi-bin libhdf5-openmpi-dev
  libyaml-cpp-dev libgoogle-glog-dev
  libsdsl-dev libdivsufsort-dev libutf8proc-dev libstemmer-dev
  libcli11-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
)
CPU_PACKAGES=(g++ libtorch-dev)
CUDA_PACKAGES=(g++-13 libtorch-cuda-dev nvidia-cuda-toolkit libnccl-dev)

log() { echo "[torch2-check] $*" >&2; }
die() {
  echo "torch2-check: $*" >&2
  exit 1
}
usage_error() {
  echo "torch2-check.sh: $* (see --help)" >&2
  exit 2
}

CUDA=0
CHROOT_DIR=""
JOBS="$(nproc)"
TESTS=1
CTEST_EXTRA=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --cuda) CUDA=1; shift ;;
    --root)
      [[ $# -ge 2 ]] || usage_error "--root needs a folder"
      CHROOT_DIR="$2"; shift 2 ;;
    --root=*) CHROOT_DIR="${1#*=}"; shift ;;
    --jobs)
      [[ $# -ge 2 ]] || usage_error "--jobs needs a number"
      JOBS="$2"; shift 2 ;;
    --jobs=*) JOBS="${1#*=}"; shift ;;
    --no-tests) TESTS=0; shift ;;
    --) shift; CTEST_EXTRA=("$@"); break ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) usage_error "unknown option '$1'" ;;
  esac
done
[[ "$JOBS" =~ ^[1-9][0-9]*$ ]] || usage_error "--jobs is '$JOBS': expected a positive whole number"
if [[ $CUDA -eq 1 ]]; then
  CHROOT_DIR="${CHROOT_DIR:-/var/tmp/dgr-torch2-cuda-root}"
  BUILD_DIR=build/torch2-cuda
  PACKAGES=("${COMMON_PACKAGES[@]}" "${CUDA_PACKAGES[@]}")
else
  CHROOT_DIR="${CHROOT_DIR:-/var/tmp/dgr-torch2-root}"
  BUILD_DIR=build/torch2
  PACKAGES=("${COMMON_PACKAGES[@]}" "${CPU_PACKAGES[@]}")
fi
[[ "$CHROOT_DIR" == /?* && "$CHROOT_DIR" != *..* ]] ||
  usage_error "--root must be an absolute path: '$CHROOT_DIR'"
[[ $(id -u) -eq 0 ]] || die "needs root (debootstrap, chroot and mount)"

# The repository's parent folder is mounted at the same path inside the root, so ../shared stays
# beside it and the paths in the build folder and in compiler messages are the host's.
PARENT="$(dirname "$ROOT")"
[[ "$PARENT" != / ]] || die "the repository must not sit directly under /: its folder is mounted"
MOUNTS=()

unmount_all() {
  local i
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
    umount -R "${MOUNTS[$i]}" 2>/dev/null || umount -lR "${MOUNTS[$i]}" 2>/dev/null || true
  done
  MOUNTS=()
}
trap unmount_all EXIT

# mount_into SOURCE TARGET [OPTIONS...]: mounts SOURCE at TARGET (a path inside the root) unless
# something is mounted there already; what it mounts, unmount_all undoes.
mount_into() {
  local source="$1" target="$CHROOT_DIR$2"
  shift 2
  mkdir -p "$target"
  if mountpoint -q "$target"; then
    die "$target is already mounted (another run of this script?): unmount it first"
  fi
  mount "$@" "$source" "$target"
  MOUNTS+=("$target")
}

in_root() { chroot "$CHROOT_DIR" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
  LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive OMPI_ALLOW_RUN_AS_ROOT=1 \
  OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "$@"; }

# root_has PACKAGE: whether the root has PACKAGE installed.
root_has() { in_root dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# make_root: a minimal Debian 13 under $CHROOT_DIR, made with the host's debootstrap (installed
# from Debian 12 when missing). A root left half made by an interrupted run is finished by
# debootstrap's own check (it lacks /etc/debian_version until the end).
make_root() {
  if [[ -f "$CHROOT_DIR/etc/debian_version" && -x "$CHROOT_DIR/usr/bin/apt-get" ]]; then
    log "reusing the Debian $(cat "$CHROOT_DIR/etc/debian_version") root in $CHROOT_DIR"
    return
  fi
  if ! command -v debootstrap >/dev/null; then
    log "installing debootstrap"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap \
      >/dev/null
  fi
  log "making a Debian $SUITE root in $CHROOT_DIR (debootstrap, minbase)"
  mkdir -p "$CHROOT_DIR"
  debootstrap --variant=minbase --components=main,contrib,non-free "$SUITE" "$CHROOT_DIR" \
    "$MIRROR" >"$CHROOT_DIR.debootstrap.log" 2>&1 ||
    die "debootstrap failed: see $CHROOT_DIR.debootstrap.log"
}

# cudnn_placeholder: an empty package named nvidia-cudnn, installed before libtorch-cuda (which
# depends on it): the real one downloads cuDNN from outside Debian when it is installed.
cudnn_placeholder() {
  root_has nvidia-cudnn && return
  log "installing a placeholder nvidia-cudnn package (no cuDNN; dgr does not use it)"
  local pkg="$CHROOT_DIR/tmp/nvidia-cudnn-placeholder"
  rm -rf "$pkg"
  mkdir -p "$pkg/DEBIAN"
  cat >"$pkg/DEBIAN/control" <<'EOF'
Package: nvidia-cudnn
Version: 9.0.0.312~cuda12
Architecture: all
Maintainer: dgr <dgr@localhost>
Description: placeholder for a compile-only root (launch/torch2-check.sh)
 Satisfies libtorch-cuda's dependency without downloading cuDNN.
EOF
  in_root dpkg-deb --build /tmp/nvidia-cudnn-placeholder /tmp/nvidia-cudnn.deb >/dev/null
  in_root dpkg -i /tmp/nvidia-cudnn.deb >/dev/null
}

install_packages() {
  local missing=() pkg
  for pkg in "${PACKAGES[@]}"; do
    root_has "$pkg" || missing+=("$pkg")
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    log "all ${#PACKAGES[@]} packages present in the root"
    return
  fi
  [[ $CUDA -eq 1 ]] && cudnn_placeholder
  log "installing ${missing[*]}"
  in_root apt-get update -qq
  in_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  in_root apt-get clean
}

configure_and_build() {
  local args=(-S "$ROOT" -B "$ROOT/$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release
              -DCMAKE_EXPORT_COMPILE_COMMANDS=ON)
  local targets=()
  if [[ $CUDA -eq 1 ]]; then
    # libtorch_cuda needs libcudnn.so.9, which Debian does not ship (see the placeholder above):
    # the programs link with that library's symbols left open, so they cannot start here.
    # Debian 13's libgtest.a was compiled by g++-14 and calls __cxa_call_terminate, which only
    # the system's libstdc++ (GCC 14's) has, not GCC 13's: the link names the system's.
    args+=(-DCMAKE_C_COMPILER=gcc-13 -DCMAKE_CXX_COMPILER=g++-13
           -DCMAKE_CUDA_HOST_COMPILER=g++-13 -DDGR_WITH_NCCL=ON
           -DCMAKE_EXE_LINKER_FLAGS=-Wl,--allow-shlib-undefined
           -DCMAKE_SHARED_LINKER_FLAGS=-Wl,--allow-shlib-undefined
           -DCMAKE_CXX_STANDARD_LIBRARIES=/usr/lib/x86_64-linux-gnu/libstdc++.so.6)
    targets=(dgr dgr_gpu_tests)
  fi
  if [[ ! -f "$ROOT/$BUILD_DIR/CMakeCache.txt" ]]; then
    log "configuring $BUILD_DIR"
    in_root cmake "${args[@]}" >"$ROOT/$BUILD_DIR.configure.log" 2>&1 ||
      die "configure failed: see $BUILD_DIR.configure.log"
  fi
  grep -s -m1 "^-- dgr " "$ROOT/$BUILD_DIR.configure.log" >&2 || true
  log "building $BUILD_DIR ${targets[*]:-(every target)} with $JOBS jobs"
  in_root ninja -C "$ROOT/$BUILD_DIR" -j "$JOBS" "${targets[@]}"
}

# check_cuda_links: dgr's own references all resolved (the link passed), and it loads torch's
# CUDA library, the CUDA runtime and NCCL. It is not started: libcudnn.so.9 is missing.
check_cuda_links() {
  local dgr="$ROOT/$BUILD_DIR/bin/dgr" libs lib
  libs="$(in_root ldd "$dgr" || true)"
  for lib in libtorch_cuda libcudart libnccl; do
    grep -q "$lib.* => /" <<<"$libs" || die "$BUILD_DIR/bin/dgr does not link $lib"
  done
  log "bin/dgr links libtorch_cuda, libcudart and libnccl; missing at load time only: $(
    grep "not found" <<<"$libs" | awk '{print $1}' | tr '\n' ' ')"
}

make_root
mount_into proc /proc -t proc
mount_into /dev /dev --rbind
mount_into "$PARENT" "$PARENT" --bind
install_packages
configure_and_build
if [[ $CUDA -eq 1 ]]; then
  check_cuda_links
  log "done"
  exit 0
fi
in_root "$ROOT/$BUILD_DIR/bin/dgr" version >&2
if [[ $TESTS -eq 1 ]]; then
  log "ctest ${CTEST_EXTRA[*]:-(every test)}"
  in_root ctest --test-dir "$ROOT/$BUILD_DIR" -j "$JOBS" --output-on-failure \
    --timeout 600 --no-tests=error "${CTEST_EXTRA[@]}"
fi
log "done"
