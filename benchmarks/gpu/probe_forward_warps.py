"""Forwards that keep two 16-row tiles per warp through a few spilled
bytes (dma-compile's kTwoRowTilesSpillLimit) against the same variant at
8 warps (one row tile each), from W8_BUNDLE (`dma-compile --warps 8`):
f16 dense and bf16 shared top-k with key bias, non-causal, B1 H32/8 D128,
L = 4096 and 16384, medians of do_bench.

    python3 benchmarks/gpu/probe_forward_warps.py W8_BUNDLE
"""
import sys, torch
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from bench import timed
import dma_attention as dma
w8 = sys.argv[1]
for L in (4096, 16384):
    g = torch.Generator(device="cuda").manual_seed(0)
    for dt in (torch.float16, torch.bfloat16):
        q = torch.randn(1, L, 32, 128, device="cuda", dtype=dt, generator=g)
        k = torch.randn(1, L, 8, 128, device="cuda", dtype=dt, generator=g)
        v = torch.randn(1, L, 8, 128, device="cuda", dtype=dt, generator=g)
        kw = {}
        if dt == torch.bfloat16:
            kw = dict(bias=torch.randn(1, 8, 1, L, device="cuda", dtype=dt),
                      keep=torch.randperm(L, device="cuda")[:1024].sort().values.int().expand(1, 8, 1024).contiguous())
        name = "f16 dense non-causal" if dt == torch.float16 else "bf16 shared top-k key bias non-causal"
        for b in (w8, None):
            ms = timed(lambda: dma.attention(q, k, v, bundle=b, **kw))
            print(f"L={L} {name} {'8 warps' if b else 'shipped (4 warps)'}: {ms:.3f} ms")
