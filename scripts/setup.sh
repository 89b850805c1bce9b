#!/usr/bin/env bash
# Installs exactly the Debian packages this project needs; packages already
# present are skipped, so running it twice costs nothing. Used by `make demo`
# and `make test` (and therefore by CI).
set -euo pipefail

PACKAGES=(
  llvm-22-dev libmlir-22-dev mlir-22-tools clang-22 lld-22   # the compiler stack
  cmake ninja-build make                                      # build
  libgtest-dev libbenchmark-dev                               # unit tests, CPU benchmark
  python3 python3-numpy python3-pytest python3-torch          # python package + its tests (autograd on CPU)
  libtorch-dev pybind11-dev                                   # the package's C++ autograd node (torch extension)
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1
  fi
fi
echo "setup: installing ${missing[*]}"
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
