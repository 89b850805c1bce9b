#!/usr/bin/env bash
# Installs the build into a scratch prefix, builds test/Embedding against it
# with find_package(DMA), and runs the consumer.
set -euo pipefail
build_dir="$1"; consumer_src="$2"; cxx="$3"; mlir_dir="$4"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cmake --install "$build_dir" --prefix "$scratch/prefix" > "$scratch/install.log"
cmake -S "$consumer_src" -B "$scratch/build" -G Ninja \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld \
  -DCMAKE_PREFIX_PATH="$scratch/prefix" -DMLIR_DIR="$mlir_dir" > "$scratch/configure.log" \
  || { cat "$scratch/configure.log"; exit 1; }
cmake --build "$scratch/build" > "$scratch/build.log" || { cat "$scratch/build.log"; exit 1; }
"$scratch/build/consumer"
