#!/usr/bin/env bash
# Nsight Compute on the per-query top-k backward at L = 4096 (B1 H32/8 D128
# bf16 causal, key bias, w = 1024): the details page and warp-state samples
# per SASS instruction. Writes $OUT/ncu-bwd-pq-{details.txt,sass.csv,run.log}.
#   OUT=dir bash benchmarks/gpu/ncu_backward.sh   (GPU machine, after run.sh's runtime build)
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:-gpu-results}"
source benchmarks/gpu/ncu_source.sh
ncu_source bwd-pq "attention_bwd_.*keeprows" 2 "
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
torch.cuda.synchronize()"
