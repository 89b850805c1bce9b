"""The per-query top-k rows (issue 12): dma against FlexAttention and SDPA.

B1 H32/8 D128 bf16 causal, a per-key bias, w = 1024, each query keeping the
top w of its visible keys (transformers' Doge). Peers at their best, in the
same process on the same inputs:

* FlexAttention: the per-query visible set as a BlockMask (mask_mod over a
  dense [B, Hkv, L, L] bool, built once), the bias through score_mod,
  `torch.compile(flex_attention, dynamic=False)`, one compiled callable per
  shape; the rows fail if Dynamo compiled anything while they were timed
  (a recompile with dynamic shapes ran ~3x slower in earlier runs).
* SDPA dense causal (FA2 and cuDNN): what attending to every key costs.
* Sanity: FlexAttention on the shared top-k at 4096 must be within 1.3x of
  SDPA FA2 dense, or the peer is measured wrong and the script fails.

At 16384 and 32768 the per-query forward is compared with the shared top-k
forward at the same w (target: within 1.3x).

    python3 benchmarks/gpu/bench_per_query.py [--json FILE] [--lengths ...]
"""

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402
from bench import B, H, HKV, W, dma, inputs, sdpa_dense, timed  # noqa: E402
from bench_host import fwd_bwd  # noqa: E402


def compiled_graphs():
    from torch._dynamo.utils import counters
    return sum(counters["stats"].values()) if "stats" in counters else 0


def flex_timed(fn):
    """timed(fn), failing if Dynamo compiled anything after the warm-up."""
    fn()
    torch.cuda.synchronize()
    before = compiled_graphs()
    ms = timed(fn)
    if compiled_graphs() != before:
        raise SystemExit("FlexAttention recompiled while timed: the peer "
                         "would be measured slow")
    return ms


def per_query_visible(rows, L):
    """The per-query top-k's visible set, causal, as [B, Hkv, L, L] bool."""
    s, thr, tie = rows
    i = torch.arange(L, device="cuda")
    vis = (s[:, :, None, :] > thr[:, :, :, None]) | (
        (s[:, :, None, :] == thr[:, :, :, None]) &
        (i[None, None, None, :] <= tie[:, :, :, None]))
    return vis & (i[None, None, None, :] <= i[None, None, :, None])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json")
    ap.add_argument("--lengths", default="4096,8192",
                    help="lengths with peers (fwd and fwd+bwd)")
    ap.add_argument("--long", default="16384,32768",
                    help="lengths compared with the shared top-k only")
    args = ap.parse_args()
    rows = []
    record = bench.recorder(rows, widths=(40, 36))
    bench.warm_up_gpu()

    # The peer's sanity check: FlexAttention on the shared top-k at 4096.
    L = 4096
    q, k, v, bias, keep = inputs(L)
    kept = torch.zeros(B, HKV, L, dtype=torch.bool, device="cuda")
    kept.scatter_(2, keep.long(), True)
    case = f"sanity: shared top-k L={L} w={W}"
    flex_ms = record(case, "FlexAttention (BlockMask+bias)",
                     flex_timed(bench.flex(q, k, v, bias, kept)), L)
    sdpa_ms = record(case, "SDPA FA2 dense causal",
                     timed(sdpa_dense(q, k, v)), L)
    print(f"  FlexAttention / SDPA dense = {flex_ms / sdpa_ms:.2f} "
          f"(must be <= 1.3)")
    if flex_ms > 1.3 * sdpa_ms:
        raise SystemExit("FlexAttention is measured slow: fix the peer")
    del q, k, v, bias, keep, kept

    for L in [int(x) for x in args.lengths.split(",") if x]:
        q, k, v, bias, _ = inputs(L, seed=1)
        rep = dma.topk(bias[:, :, 0].float(), W, "per_query")
        case = f"per-query top-k L={L} w={W}"
        ours = lambda: dma.attention(q, k, v, bias=bias, keep_rows=rep,
                                     causal=True)
        visible = per_query_visible(rep, L)
        flex_run = bench.flex_callable(L, bias, visible)
        o = ours().float()
        of = flex_run(q, k, v).transpose(1, 2).float()
        diff = ((o - of).norm() / of.norm()).item()
        print(f"  dma vs FlexAttention output: relative difference {diff:.1e}")
        if not diff < 2e-2:
            raise SystemExit(f"outputs disagree at L={L}: {diff}")
        record(case, "dma (generated)", timed(ours), L)
        record(case, "FlexAttention (BlockMask+bias)",
               flex_timed(lambda: flex_run(q, k, v)), L)
        record(case, "SDPA FA2 dense causal", timed(sdpa_dense(q, k, v)), L)
        record(case, "SDPA cuDNN dense causal",
               timed(sdpa_dense(q, k, v, "cudnn")), L)
        case = f"fwd+bwd per-query top-k L={L} w={W}"
        record(case, "dma (generated)", timed(fwd_bwd(
            lambda q, k, v, b: dma.attention(q, k, v, bias=b, keep_rows=rep,
                                             causal=True), (q, k, v, bias))),
               L, 3.5)
        record(case, "FlexAttention (BlockMask+bias; no dbias)",
               flex_timed(fwd_bwd(flex_run, (q, k, v))), L, 3.5)
        record(case, "SDPA FA2 dense causal",
               timed(fwd_bwd(lambda q, k, v: sdpa_dense(q, k, v)(),
                             (q, k, v))), L, 3.5)
        record(case, "SDPA cuDNN dense causal",
               timed(fwd_bwd(lambda q, k, v: sdpa_dense(q, k, v, "cudnn")(),
                             (q, k, v))), L, 3.5)
        del q, k, v, bias, rep, visible, flex_run
        torch.cuda.empty_cache()

    for L in [int(x) for x in args.long.split(",") if x]:
        q, k, v, bias, keep = inputs(L, seed=2)
        rep = dma.topk(bias[:, :, 0].float(), W, "per_query")
        case = f"per-query vs shared L={L} w={W}"
        record(case, "dma (generated), per-query", timed(
            lambda: dma.attention(q, k, v, bias=bias, keep_rows=rep,
                                  causal=True)), L)
        record(case, "dma (generated), shared", timed(
            lambda: dma.attention(q, k, v, bias=bias, keep=keep,
                                  causal=True)), L)
        record(case, "SDPA FA2 dense causal", timed(sdpa_dense(q, k, v)), L)
        del q, k, v, bias, keep, rep
        torch.cuda.empty_cache()

    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    print("\nsummary (ratio = other time / first dma row's time):")
    for case, rs in bench.by_case(rows).items():
        first = rs[0]
        for r in rs[1:]:
            print(f"  {case:36s} {r['system']:36s} x{r['ms'] / first['ms']:.2f}"
                  f"  (vs {first['system']})")


if __name__ == "__main__":
    main()
