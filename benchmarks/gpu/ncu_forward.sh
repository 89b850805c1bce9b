#!/usr/bin/env bash
# Nsight Compute on the attention forward of the per-query and the shared
# top-k at L = 4096 (B1 H32/8 D128 bf16 causal, key bias, w = 1024): the
# details page and warp-state samples per SASS instruction, for comparing
# where the two kernels' cycles go.
#   OUT=dir bash benchmarks/gpu/ncu_forward.sh   (GPU machine, after run.sh's runtime build)
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:-gpu-results}"
for sel in per_query shared; do
  name=$([ $sel = shared ] && echo "keep_keybias" || echo "keeprows_keybias")
  ncu --kernel-name "regex:attention_fwd.*_${name}_causal" --launch-skip 2 --launch-count 1 \
      --section SourceCounters --section WarpStateStats --section SpeedOfLight \
      --section Occupancy --section LaunchStats --import-source no -f -o "$out/fwd-$sel" \
      python3 -c "
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
torch.cuda.synchronize()" > "$out/ncu-fwd-$sel-run.log" 2>&1
  ncu --import "$out/fwd-$sel.ncu-rep" --page details > "$out/ncu-fwd-$sel-details.txt"
  ncu --import "$out/fwd-$sel.ncu-rep" --page source --csv --print-source sass \
      > "$out/ncu-fwd-$sel-sass.csv"
  rm -f "$out/fwd-$sel.ncu-rep" "$out/ncu-fwd-$sel-run.log"
done
