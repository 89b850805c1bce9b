"""Per-query top-k kernels of other bundles, side by side in one process.

Times the B1 H32/8 D128 bf16 causal per-query layer (w = 1024, key bias)
at each length for every spec, beside the shared top-k forward at the same
w (the default bundle):

* `fwd:BUNDLE:QxK`: the forward with tile QxK from BUNDLE (e.g. a bundle
  compiled with `dma-compile --warps 4` for two 16-row tiles per warp);
* `fwdbwd:BUNDLE`: forward + backward with BUNDLE's kernels (e.g. a bundle
  compiled with `dma-compile --rank-chunk 1024`).

Variants BUNDLE lacks come from $DMA_KERNEL_DIR. Each row also prints the
largest difference of its output (forward) or dQ (fwd+bwd) from the first
spec of its kind, so a faster variant that computes something else shows.

    python3 benchmarks/gpu/probe_per_query.py [--lengths 4096,16384] SPEC...
"""

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import W, dma, inputs, timed  # noqa: E402
from bench_host import fwd_bwd  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lengths", default="4096,8192,16384")
    ap.add_argument("specs", nargs="+", help="fwd:BUNDLE:QxK or fwdbwd:BUNDLE")
    args = ap.parse_args()
    for L in map(int, args.lengths.split(",")):
        q, k, v, bias, keep = inputs(L)
        score = bias[:, :, 0].float().contiguous()
        rows = dma.topk(score, W, "per_query")
        shared = timed(lambda: dma.attention(q, k, v, bias=bias, keep=keep,
                                             causal=True))
        print(f"L={L} shared top-k fwd (default bundle): {shared:.3f} ms",
              flush=True)
        first = {}
        for spec in args.specs:
            kind, rest = spec.split(":", 1)
            if kind == "fwd":
                bundle, tiles = rest.rsplit(":", 1)
                qt, kt = map(int, tiles.split("x"))

                def run(bundle=bundle, qt=qt, kt=kt):
                    return dma.attention(q, k, v, bias=bias, keep_rows=rows,
                                         causal=True, bundle=bundle,
                                         q_tile=qt, k_tile=kt)
                result = lambda out: out  # noqa: E731
            else:
                torch.manual_seed(0)  # the same dO for every spec
                run = fwd_bwd(lambda q, k, v, b, bundle=rest: dma.attention(
                    q, k, v, bias=b, keep_rows=rows, causal=True,
                    bundle=bundle), (q, k, v, bias))
                result = lambda grads: grads[0]  # noqa: E731
            out = result(run()).float()
            err = (out - first.setdefault(kind, out)).abs().max().item()
            print(f"L={L} per-query {spec}: {timed(run):.3f} ms "
                  f"(max diff to the first {kind} spec {err:.2e})",
                  flush=True)


if __name__ == "__main__":
    main()
