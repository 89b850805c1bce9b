"""The value_bias and per-query top-k kernels of another bundle against the
default one's, on the same inputs, in one process.

value_bias(v, w, a, b_dt) on v = randn(1, L, 8, 128) bf16 and
topk(s, 1024, "per_query") on its scores, at L = 4096, 8192 and 16384:
GPU time per call under the torch profiler (20 calls) with OLD_BUNDLE's
kernels and with the default bundle's, and whether the outputs agree
(top-k: identical thresholds, tiebreaks and masked scores; value_bias:
the largest difference).

    python3 benchmarks/gpu/probe_mask_kernels.py OLD_BUNDLE
"""
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from profile_mask import dma, profiled  # noqa: E402


def gpu_us(fn, calls=20):
    """GPU time per call of fn() (all its kernels), under the profiler."""
    p = profiled(fn, calls)
    return sum(e.device_time_total for e in p.key_averages()) / calls


def tensors(x):
    return x if isinstance(x, (tuple, list)) else (x,)


def identical(x, y):
    return all(torch.equal(torch.nan_to_num(a), torch.nan_to_num(b))
               for a, b in zip(tensors(x), tensors(y)))


def main():
    old = sys.argv[1]
    g = torch.Generator(device="cuda").manual_seed(5)
    for L in (4096, 8192, 16384):
        v = torch.randn(1, L, 8, 128, device="cuda", generator=g,
                        dtype=torch.bfloat16)
        w = torch.randn(8, 1024, device="cuda", generator=g) / 32
        a = -torch.rand(8, device="cuda", generator=g)
        b = torch.randn(8, device="cuda", generator=g)
        s = {}
        for name, bundle in (("old", old), ("new", None)):
            s[name] = dma.value_bias(v, w, a, b, bundle=bundle)
            us = gpu_us(lambda: dma.value_bias(v, w, a, b, bundle=bundle))
            print(f"L={L} value_bias {name}: {us:.1f} us GPU")
        print(f"L={L} value_bias max |old - new|: "
              f"{(s['old'] - s['new']).abs().max().item():.3g}")
        score = s["old"]
        out = {}
        for name, bundle in (("old", old), ("new", None)):
            out[name] = dma.topk(score, 1024, "per_query", bundle=bundle)
            us = gpu_us(lambda: dma.topk(score, 1024, "per_query",
                                         bundle=bundle))
            print(f"L={L} topk per_query {name}: {us:.1f} us GPU")
        same = identical(out["old"], out["new"])
        print(f"L={L} topk per_query outputs identical: {same}")
        # Ties: scores rounded to a few values keep many equal keys.
        tied = (score * 4).round() / 4
        a_, b_ = (dma.topk(tied, 1024, "per_query", bundle=bd)
                  for bd in (old, None))
        same = identical(a_, b_)
        print(f"L={L} topk per_query on tied scores identical: {same}")


if __name__ == "__main__":
    main()
