#!/usr/bin/env bash
# Nsight Compute on the per-query top-k backward at L = 4096 (B1 H32/8 D128
# bf16 causal, key bias, w = 1024): the details page and warp-state samples
# per SASS instruction.
#   OUT=dir bash benchmarks/gpu/ncu_backward.sh   (GPU machine, after run.sh's runtime build)
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:-gpu-results}"
ncu --kernel-name "regex:attention_bwd_.*keeprows" --launch-skip 2 --launch-count 1 \
    --section SourceCounters --section WarpStateStats --section SpeedOfLight \
    --section Occupancy --section LaunchStats --import-source no -f -o "$out/bwd-pq" \
    python3 -c "
import sys; sys.path.insert(0, 'python')
import torch, dma_attention as dma
g = torch.Generator(device='cuda').manual_seed(3)
L, bf = 4096, torch.bfloat16
q, k, v = (torch.randn(1, L, h, 128, device='cuda', generator=g, dtype=bf).requires_grad_()
           for h in (32, 8, 8))
s = torch.randn(1, 8, L, device='cuda', generator=g)
m = dma.topk(s, 1024, 'per_query')
bias = s[:, :, None].to(bf).requires_grad_()
for _ in range(4):
    o = dma.attention(q, k, v, bias=bias, causal=True, keep_rows=m)
    o.sum().backward()
torch.cuda.synchronize()" > "$out/ncu-bwd-run.log" 2>&1
ncu --import "$out/bwd-pq.ncu-rep" --page details > "$out/ncu-bwd-pq-details.txt"
ncu --import "$out/bwd-pq.ncu-rep" --page source --csv --print-source sass > "$out/ncu-bwd-pq-sass.csv"
rm -f "$out/bwd-pq.ncu-rep"
