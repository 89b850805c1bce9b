#!/usr/bin/env bash
# Nsight Compute on the shared top-k at L = 4096 (B1 Hkv8, w = 1024), per
# SASS instruction: where its warps stall (warp-state samples by source
# line), for finding the latency chain of a kernel that runs on 8 SMs.
#   OUT=dir bash benchmarks/gpu/ncu_topk_source.sh   (GPU machine, after run.sh's runtime build)
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:-gpu-results}"
ncu --kernel-name regex:topk_shared --launch-skip 3 --launch-count 1 \
    --section SourceCounters --section WarpStateStats --section SpeedOfLight \
    --import-source no -f -o "$out/topk-shared" \
    python3 -c "
import sys; sys.path.insert(0, 'python')
import torch, dma_attention as dma
s = torch.randn(1, 8, 4096, device='cuda')
for _ in range(5): dma.topk(s, 1024)
torch.cuda.synchronize()" > "$out/ncu-topk-run.log" 2>&1
ncu --import "$out/topk-shared.ncu-rep" --page details > "$out/ncu-topk-details.txt"
ncu --import "$out/topk-shared.ncu-rep" --page source --csv --print-source sass \
    > "$out/ncu-topk-sass.csv"
rm -f "$out/topk-shared.ncu-rep"
