"""Per-kernel GPU time of the mask-generation kernels (torch.profiler), for
tuning: value_bias forward and backward and the shared top-k at the
benchmark's L = 16384, Hkv = 8, D = 128.

    python3 benchmarks/gpu/profile_mask.py
"""

import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
import dma_attention as dma  # noqa: E402

L, HKV, D, W = 16384, 8, 128, 1024
g = torch.Generator(device="cuda").manual_seed(0)
v = torch.randn(1, L, HKV, D, device="cuda", generator=g, dtype=torch.bfloat16)
w = (torch.randn(HKV, HKV * D, device="cuda", generator=g) / 32).requires_grad_()
a = (-torch.rand(HKV, device="cuda", generator=g)).requires_grad_()
b = torch.randn(HKV, device="cuda", generator=g).requires_grad_()
vg = v.clone().requires_grad_()


def step():
    s = dma.value_bias(vg, w, a, b)
    dma.topk(s.detach(), W)
    s.backward(torch.ones_like(s))


for _ in range(3):
    step()
torch.cuda.synchronize()
with profile(activities=[ProfilerActivity.CUDA]) as prof:
    for _ in range(10):
        step()
    torch.cuda.synchronize()
print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=15))
