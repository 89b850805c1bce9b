"""The same attention calls on the kernels of two bundles, in one process:
what a code-generation change costs or saves (e.g. the forward's hidden-key
zero-fill and keep-list checks against the bundle of the revision before).

    python3 benchmarks/gpu/compare_bundles.py BUNDLE_A BUNDLE_B

Rows: the anchors' shape (B1 H32/8 D128 bf16, causal, key bias, w = 1024),
forward, shared top-k at 4096 and 16384, per-query top-k at 4096, dense at
4096, forward + backward of the shared top-k at 4096, and the shared
top-k (w = 1024) itself; medians of triton's do_bench, A and B
alternating. Rows whose variants one bundle lacks are skipped.

    python3 benchmarks/gpu/compare_bundles.py --masks BUNDLE_A BUNDLE_B

times instead bench_block_skip.py's structured dense masks (sliding
window, document, random blocks at 10% and 50%; L = 4096 and 8192),
forward and forward + backward.
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


def mask_cases(a, b):
    """name -> (bundle -> the call to time): the structured dense masks."""
    from bench_block_skip import structured_mask
    cases = {}
    for L in (4096, 8192):
        q, k, v, _, _ = inputs(L)
        for kind in ("sliding window 1024", "document", "random blocks 10%",
                     "random blocks 50%"):
            m4 = structured_mask(kind, L)[None, None]
            cases[f"fwd {kind} L={L}"] = (
                lambda bun, m4=m4, q=q, k=k, v=v: lambda: dma.attention(
                    q, k, v, mask=m4, bundle=bun))
            cases[f"fwd+bwd {kind} L={L}"] = (
                lambda bun, m4=m4, q=q, k=k, v=v: fwd_bwd(
                    lambda q_, k_, v_: dma.attention(q_, k_, v_, mask=m4,
                                                     bundle=bun),
                    (q, k, v)))
    return cases


def tensors(out):
    return [out] if torch.is_tensor(out) else [t for t in out
                                                if torch.is_tensor(t)]


def compare(a, b, cases):
    for name, make in cases.items():
        try:  # a bundle holding some variants only (a subset)
            run = {bun: make(bun) for bun in (a, b)}
            outs = run[a](), run[b]()
        except LookupError as e:
            print(f"{name:32s} skipped: {e}", flush=True)
            continue
        # The same function on both: the outputs (and gradients) agree up
        # to the order of float additions.
        diff = max((x.float() - y.float()).abs().max().item()
                   for x, y in zip(tensors(outs[0]), tensors(outs[1])))
        times = {}
        for bun in (a, b, a, b):  # alternate: clocks drift
            times[bun] = min(times.get(bun, 1e9), timed(run[bun]))
        print(f"{name:32s} A {times[a]:8.3f} ms  B {times[b]:8.3f} ms  "
              f"B/A {times[b] / times[a]:5.3f}  max |A-B| {diff:.2e}",
              flush=True)


def main():
    masks = "--masks" in sys.argv
    a, b = [x for x in sys.argv[1:] if x != "--masks"][:2]
    # A variant missing from bundle= would come from $DMA_KERNEL_DIR (the
    # search path) and the row would time one kernel twice: without it, a
    # subset bundle's missing variants raise LookupError and the row is
    # skipped.
    os.environ.pop("DMA_KERNEL_DIR", None)
    if masks:
        return compare(a, b, mask_cases(a, b))
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
        compare(a, b, cases)


if __name__ == "__main__":
    main()
