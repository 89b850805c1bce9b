"""The same attention calls on the kernels of two bundles, in one process:
what a code-generation change costs or saves (e.g. the forward's hidden-key
zero-fill and keep-list checks against the bundle of the revision before).

    python3 benchmarks/gpu/compare_bundles.py BUNDLE_A BUNDLE_B

Rows: the anchors' shape (B1 H32/8 D128 bf16, causal, key bias, w = 1024),
forward, shared top-k at 4096 and 16384, per-query top-k at 4096, dense at
4096, forward + backward of the shared top-k at 4096, and the shared
top-k (w = 1024) itself; medians of triton's do_bench, A and B
alternating. Rows whose variants one bundle lacks are skipped.
"""

import os
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "python"))
sys.path.insert(0, str(HERE))
import dma_attention as dma  # noqa: E402
from bench import fwd_bwd, inputs, timed  # noqa: E402


def main():
    a, b = sys.argv[1], sys.argv[2]
    # A variant missing from bundle= would come from $DMA_KERNEL_DIR (the
    # search path) and the row would time one kernel twice: without it, a
    # subset bundle's missing variants raise LookupError and the row is
    # skipped.
    os.environ.pop("DMA_KERNEL_DIR", None)
    rows = []
    for L in (4096, 16384):
        q, k, v, bias, keep = inputs(L)
        score = bias[:, :, 0].float().contiguous()

        def forward(bun, **kw):
            return lambda: dma.attention(q, k, v, causal=True, bundle=bun,
                                         **kw)
        # name -> (bundle -> the call to time)
        cases = {f"fwd shared top-k L={L}":
                 lambda bun: forward(bun, bias=bias, keep=keep)}
        if L == 4096:
            rows_mask = dma.topk(score, 1024, "per_query", bundle=b)
            cases[f"fwd per-query top-k L={L}"] = lambda bun: forward(
                bun, bias=bias, keep_rows=rows_mask)
            cases[f"fwd dense L={L}"] = forward
            cases[f"fwd+bwd shared top-k L={L}"] = lambda bun: fwd_bwd(
                lambda q_, k_, v_, b_: dma.attention(
                    q_, k_, v_, bias=b_, keep=keep, causal=True, bundle=bun),
                (q, k, v, bias))
        cases[f"topk shared w=1024 L={L}"] = (
            lambda bun: lambda: dma.topk(score, 1024, bundle=bun))
        for name, make in cases.items():
            try:  # a bundle holding some variants only (a subset)
                run = {bun: make(bun) for bun in (a, b)}
                run[a](), run[b]()
            except LookupError as e:
                print(f"{name:32s} skipped: {e}", flush=True)
                continue
            times = {}
            for bun in (a, b, a, b):  # alternate: clocks drift
                times[bun] = min(times.get(bun, 1e9), timed(run[bun]))
            rows.append((name, times[a], times[b]))
            print(f"{name:32s} A {times[a]:8.3f} ms  B {times[b]:8.3f} ms  "
                  f"B/A {times[b] / times[a]:5.3f}", flush=True)


if __name__ == "__main__":
    main()
