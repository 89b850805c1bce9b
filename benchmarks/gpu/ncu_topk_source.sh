#!/usr/bin/env bash
# Nsight Compute on the shared top-k at L = 4096 (B1 Hkv8, w = 1024), per
# SASS instruction: where its warps stall (warp-state samples by source
# line), for finding the latency chain of a kernel that runs on 8 SMs.
# Writes $OUT/ncu-topk-{details.txt,sass.csv,run.log}.
#   OUT=dir bash benchmarks/gpu/ncu_topk_source.sh   (GPU machine, after run.sh's runtime build)
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:-gpu-results}"
source benchmarks/gpu/ncu_source.sh
ncu_source topk topk_shared 3 "
import sys; sys.path.insert(0, 'python')
import torch, dma_attention as dma
s = torch.randn(1, 8, 4096, device='cuda')
for _ in range(5): dma.topk(s, 1024)
torch.cuda.synchronize()"
