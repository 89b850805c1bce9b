#!/usr/bin/env bash
# Nsight Compute on the shared top-k at L = 4096 (B1 Hkv8, w = 1024): where
# its fixed cost goes (warp stall reasons, per source line).
#   bash benchmarks/gpu/ncu_topk.sh   (on the GPU machine, after run.sh's runtime build)
set -euo pipefail
cd "$(dirname "$0")/../.."
ncu --kernel-name regex:topk_shared --launch-skip 3 --launch-count 1 \
    --section SpeedOfLight --section WarpStateStats --section LaunchStats \
    --section Occupancy --section SchedulerStats \
    python3 -c "
import sys; sys.path.insert(0, 'python')
import torch, dma_attention as dma
s = torch.randn(1, 8, 4096, device='cuda')
for _ in range(5): dma.topk(s, 1024)
torch.cuda.synchronize()"
