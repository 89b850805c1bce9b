#!/usr/bin/env bash
# Builds the kernel bundle the GPU scripts need (the shipped variants plus
# those of benchmarks/gpu/cases.py) into gpu-bundle/ (git-ignored), for
# carrying to the GPU machine.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-gpu-bundle}"
args=()
while read -r v; do args+=(--variant "$v"); done < <(python3 benchmarks/gpu/cases.py --variants)
# Full [B, H, Lq, Lk] biases load per element and may spill a few bytes.
# STAGES=3 scripts/gpu-bundle.sh gpu-bundle-s3 builds the same variants with
# three K/V buffers in flight (for comparing; the runtime takes any bundle).
# HEAD_DIMS=64,128 scripts/gpu-bundle.sh ships only those head dims' shipped
# variants (the cases' own variants of other dims are always built).
# MMA=mma_sync compiles every forward for mma.sync (default auto: sm_90a's warpgroup MMA where
# it fits and is faster, dma-compile --mma); cases.py names the default tiles by it.
# DMA_COMPILE=/path/to/dma-compile uses another build of the compiler (a copy
# kept while build/ is rebuilt, to compare the PTX of two versions).
dims=()
[ -n "${HEAD_DIMS:-}" ] && dims=(--head-dims "$HEAD_DIMS")
${DMA_COMPILE:-build/bin/dma-compile} -o "$out" --shipped "${dims[@]}" --allow-spills --stages "${STAGES:-2}" --mma "${MMA:-auto}" "${args[@]}" | tail -n 1
