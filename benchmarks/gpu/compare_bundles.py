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
    rows = []
    for L in (4096, 16384):
        q, k, v, bias, keep = inputs(L)
        cases = [(f"fwd shared top-k L={L}",
                  lambda bun: dma.attention(q, k, v, bias=bias, keep=keep,
                                            causal=True, bundle=bun))]
        if L == 4096:
            rows_mask = dma.topk(bias[:, :, 0].float(), 1024, "per_query")
            cases += [
                (f"fwd per-query top-k L={L}",
                 lambda bun: dma.attention(q, k, v, bias=bias,
                                           keep_rows=rows_mask, causal=True,
                                           bundle=bun)),
                (f"fwd dense L={L}",
                 lambda bun: dma.attention(q, k, v, causal=True, bundle=bun)),
                (f"fwd+bwd shared top-k L={L}", None)]
        score = bias[:, :, 0].float().contiguous()
        cases.append((f"topk shared w=1024 L={L}",
                      lambda bun, score=score: dma.topk(score, 1024,
                                                        bundle=bun)))
        for name, fn in cases:
            if fn is None:
                run = {bun: fwd_bwd(
                    lambda q_, k_, v_, b_, bun=bun: dma.attention(
                        q_, k_, v_, bias=b_, keep=keep, causal=True,
                        bundle=bun), (q, k, v, bias)) for bun in (a, b)}
                try:
                    run[a](), run[b]()
                except LookupError as e:
                    print(f"{name:32s} skipped: {e}", flush=True)
                    continue
                times = {bun: timed(run[bun]) for bun in (a, b, a, b)}
            else:
                try:  # a bundle holding some variants only (a subset)
                    with torch.no_grad():
                        fn(a), fn(b)
                except LookupError as e:
                    print(f"{name:32s} skipped: {e}", flush=True)
                    continue
                with torch.no_grad():
                    times = {}
                    for bun in (a, b, a, b):  # alternate: clocks drift
                        times[bun] = min(times.get(bun, 1e9),
                                         timed(lambda: fn(bun)))
            rows.append((name, times[a], times[b]))
            print(f"{name:32s} A {times[a]:8.3f} ms  B {times[b]:8.3f} ms  "
                  f"B/A {times[b] / times[a]:5.3f}", flush=True)


if __name__ == "__main__":
    main()
