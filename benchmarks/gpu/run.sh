#!/usr/bin/env bash
# One call on the GPU machine: build the runtime, check correctness (and a
# subset under compute-sanitizer), then benchmark. The kernel bundle is built
# beforehand on the build machine (scripts/gpu-bundle.sh -> gpu-bundle/) and
# carried along. Results land in $OUT (or ./gpu-results).
#
#   benchmarks/gpu/run.sh [check] [package] [sanitize] [train] [bench] [host] [perquery] [blockskip] [wgmma] [doge] | all
#
# package: `pip install --no-build-isolation ./python` with the carried
# bundle (DMA_BUNDLE_DIR), then `python -m dma_attention` outside the
# checkout with none of the variables below: the installed package alone.
# host: only bench.py's host-path rows (per-call cost, medium shapes, mask
# generation's share). perquery: bench_per_query.py (the per-query top-k
# against FlexAttention and SDPA, and against the shared top-k).
# blockskip: bench_block_skip.py (structured dense masks against
# FlexAttention's BlockMask). wgmma: probe_wgmma.py, the forwards of
# $DMA_KERNEL_DIR (compiled with --mma wgmma) against those of
# $SYNC_BUNDLE (default gpu-bundle-sync, mma.sync) and SDPA.
# doge: transformers' Doge on dma (check_doge.py: parity with HF eager,
# decoding, generate), bench_doge_decode.py (per token at caches 4k-128k),
# then examples/doge/train_doge.py: the loss curve
# against HF eager and sdpa, and step time / peak memory at L 4096, 16384.
set -uo pipefail
cd "$(dirname "$0")/../.."
steps=" ${*:-all} "
# Whether step $1 was asked for ("all" asks for every step but host).
want() { [[ "$steps" == *" $1 "* || ( "$steps" == *" all "* && "$1" != host && "$1" != perquery && "$1" != blockskip && "$1" != wgmma && "$1" != doge ) ]]; }
out="${OUT:-gpu-results}"
mkdir -p "$out"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"

cmake -S runtime -B build-runtime -G Ninja -DCMAKE_BUILD_TYPE=Release > "$out/runtime-build.log" 2>&1 \
  && cmake --build build-runtime >> "$out/runtime-build.log" 2>&1 \
  || { cat "$out/runtime-build.log"; exit 1; }
# The C++ autograd node (dma_attention._C) beside the package's sources.
(cd python && python3 setup.py -q build_ext --inplace) > "$out/extension-build.log" 2>&1 \
  || { tail -n 30 "$out/extension-build.log"; exit 1; }
export DMA_RUNTIME_LIB="$PWD/build-runtime/libdma_runtime.so"
export DMA_KERNEL_DIR="${DMA_KERNEL_DIR:-$PWD/gpu-bundle}"
export PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}"

status=0
if want check; then
  ctest --test-dir build-runtime --output-on-failure 2>&1 | tail -n 3
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
  python3 benchmarks/gpu/check.py --json "$out/check.json" 2>&1 | tee "$out/check.log" | tail -n 25
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
  python3 examples/dma-layer/gpu_demo.py 2>&1 | tee "$out/demo.log"
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
fi
if want package; then
  DMA_BUNDLE_DIR="$DMA_KERNEL_DIR" DMA_REQUIRE_BUNDLE=1 \
    python3 -m pip install --no-build-isolation --no-deps --force-reinstall \
      ./python > "$out/package-install.log" 2>&1
  [ $? = 0 ] || { status=1; tail -n 20 "$out/package-install.log"; }
  (cd /tmp && env -u PYTHONPATH -u DMA_RUNTIME_LIB -u DMA_KERNEL_DIR \
     python3 -m dma_attention) 2>&1 | tee "$out/package.log"
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
  # torch is here: the install must have built the C++ autograd node.
  grep -q "autograd on CUDA: C++ node" "$out/package.log" || status=1
  python3 -m pip uninstall -y dma_attention > /dev/null 2>&1
fi
if want sanitize; then
  compute-sanitizer --tool memcheck --error-exitcode 1 --print-limit 20 python3 benchmarks/gpu/check.py --quick --no-compile \
    > "$out/memcheck.log" 2>&1
  [ $? = 0 ] || status=1
  tail -n 4 "$out/memcheck.log"
  # Shared-memory races (cp.async buffers, the backward's dS tile).
  compute-sanitizer --tool racecheck --error-exitcode 1 --print-limit 20 python3 benchmarks/gpu/check.py --quick --no-compile \
    > "$out/racecheck.log" 2>&1
  [ $? = 0 ] || status=1
  tail -n 4 "$out/racecheck.log"
  # Barriers: named barriers (the warpgroups' ping-pong) and bar.sync.
  compute-sanitizer --tool synccheck --error-exitcode 1 --print-limit 20 python3 benchmarks/gpu/check.py --quick --no-compile \
    > "$out/synccheck.log" 2>&1
  [ $? = 0 ] || status=1
  tail -n 4 "$out/synccheck.log"
fi
if want train; then
  python3 examples/training/train_dma_llama.py --json "$out/train.json" 2>&1 | tee "$out/train.log" | tail -n 32
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
fi
if want host; then
  python3 benchmarks/gpu/bench.py --host-only --json "$out/bench-host.json" 2>&1 | tee "$out/bench-host.log" | tail -n 40
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
fi
if want perquery; then
  python3 benchmarks/gpu/bench_per_query.py --json "$out/bench-per-query.json" 2>&1 | tee "$out/bench-per-query.log" | tail -n 30
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
fi
if want blockskip; then
  python3 benchmarks/gpu/bench_block_skip.py --json "$out/bench-block-skip.json" 2>&1 | tee "$out/bench-block-skip.log" | tail -n 40
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
fi
if want wgmma; then
  python3 benchmarks/gpu/probe_wgmma.py "${SYNC_BUNDLE:-gpu-bundle-sync}" "$DMA_KERNEL_DIR" \
    --json "$out/probe-wgmma.json" 2>&1 | tee "$out/probe-wgmma.log" | tail -n 40
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
fi
if want doge; then
  python3 benchmarks/gpu/check_doge.py --json "$out/check-doge.json" 2>&1 | tee "$out/check-doge.log" | tail -n 20
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
  python3 benchmarks/gpu/bench_doge_decode.py --json "$out/bench-doge-decode.json" 2>&1 | tee "$out/bench-doge-decode.log" | tail -n 6
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
  for shape in "1024 256 50" "4096 1024 12" "16384 1024 6"; do
    set -- $shape
    python3 examples/doge/train_doge.py --seq "$1" --keep "$2" --steps "$3" \
      --json "$out/train-doge-L$1.json" 2>&1 | tee -a "$out/train-doge.log" | tail -n 12
    [ "${PIPESTATUS[0]}" = 0 ] || status=1
  done
fi
if want bench; then
  python3 benchmarks/gpu/bench.py --json "$out/bench.json" 2>&1 | tee "$out/bench.log" | tail -n 30
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
fi
exit $status
