#!/usr/bin/env bash
# Nsight Compute on the attention forward of the per-query and the shared
# top-k at L = 4096 (B1 H32/8 D128 bf16 causal, key bias, w = 1024): the
# details page and warp-state samples per SASS instruction, for comparing
# where the two kernels' cycles go. Writes
# $OUT/ncu-fwd-{per_query,shared}-{details.txt,sass.csv,run.log}.
#   OUT=dir bash benchmarks/gpu/ncu_forward.sh   (GPU machine, after run.sh's runtime build)
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:-gpu-results}"
source benchmarks/gpu/ncu_source.sh
for sel in per_query shared; do
  name=$([ $sel = shared ] && echo "keep_keybias" || echo "keeprows_keybias")
  ncu_source "fwd-$sel" "attention_fwd.*_${name}_causal" 2 "
import sys; sys.path.insert(0, 'python')
import torch, dma_attention as dma
g = torch.Generator(device='cuda').manual_seed(3)
L, bf = 4096, torch.bfloat16
q = torch.randn(1, L, 32, 128, device='cuda', generator=g, dtype=bf)
k = torch.randn(1, L, 8, 128, device='cuda', generator=g, dtype=bf)
v = torch.randn(1, L, 8, 128, device='cuda', generator=g, dtype=bf)
s = torch.randn(1, 8, L, device='cuda', generator=g)
m = dma.topk(s, 1024, '$sel')
kk = {'keep': m} if '$sel' == 'shared' else {'keep_rows': m}
with torch.no_grad():
    for _ in range(4): dma.attention(q, k, v, bias=s[:, :, None].to(bf), causal=True, **kk)
torch.cuda.synchronize()"
done
