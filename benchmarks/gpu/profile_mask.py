"""Where a DMA layer's mask generation time goes on the GPU: the kernels of
value_bias -> topk -> attention (B1 H32/8 D128, w = 1024) under the torch
profiler, per kernel, at L = 4096 and 16384, shared and per-query; then the
value_bias backward's kernels at L = 16384 (for tuning them).

    python3 benchmarks/gpu/profile_mask.py
"""

import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))
import dma_attention as dma  # noqa: E402


def profiled(step, calls=10):
    """The torch profiler over `calls` calls of step() after 3 warm-ups."""
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as p:
        for _ in range(calls):
            step()
        torch.cuda.synchronize()
    return p


def main():
    B, H, Hkv, D, W = 1, 32, 8, 128, 1024
    for L in (4096, 16384):
        g = torch.Generator(device="cuda").manual_seed(3)
        bf = torch.bfloat16
        q = torch.randn(B, L, H, D, device="cuda", generator=g, dtype=bf)
        k = torch.randn(B, L, Hkv, D, device="cuda", generator=g, dtype=bf)
        v = torch.randn(B, L, Hkv, D, device="cuda", generator=g, dtype=bf)
        w = torch.randn(Hkv, Hkv * D, device="cuda", generator=g) / (
            Hkv * D) ** 0.5
        a = -torch.rand(Hkv, device="cuda", generator=g)
        b_dt = torch.randn(Hkv, device="cuda", generator=g)
        for selection in ("shared", "per_query"):
            def layer():
                s = dma.value_bias(v, w, a, b_dt)
                m = dma.topk(s, W, selection)
                kk = ({"keep": m} if selection == "shared" else
                      {"keep_rows": m})
                return dma.attention(q, k, v, bias=s[:, :, None].to(q.dtype),
                                     causal=True, **kk)
            with torch.no_grad():
                p = profiled(layer)
            print(f"== L={L} {selection}: GPU time per layer call by kernel")
            total = 0.0
            for e in sorted(p.key_averages(), key=lambda e: -e.device_time_total):
                if e.device_time_total <= 0:
                    continue
                us = e.device_time_total / 10
                total += us
                print(f"  {us:9.1f} us  {e.key[:90]}")
            print(f"  {total:9.1f} us  total")


def value_bias_backward(L=16384, Hkv=8, D=128, W=1024):
    """value_bias forward + backward and the shared top-k, per kernel."""
    g = torch.Generator(device="cuda").manual_seed(0)
    v = torch.randn(1, L, Hkv, D, device="cuda", generator=g,
                    dtype=torch.bfloat16).requires_grad_()
    w = (torch.randn(Hkv, Hkv * D, device="cuda", generator=g) / 32
         ).requires_grad_()
    a = (-torch.rand(Hkv, device="cuda", generator=g)).requires_grad_()
    b = torch.randn(Hkv, device="cuda", generator=g).requires_grad_()

    def step():
        s = dma.value_bias(v, w, a, b)
        dma.topk(s.detach(), W)
        s.backward(torch.ones_like(s))

    p = profiled(step)
    print(f"== L={L}: value_bias forward + backward, shared top-k (10 calls)")
    print(p.key_averages().table(sort_by="cuda_time_total", row_limit=15))


if __name__ == "__main__":
    main()
    value_bias_backward()
