"""GPU benchmark: the generated kernels against PyTorch SDPA and FlexAttention.

The configs of shared/perf/anchors.md: B = 1, H = 32, Hkv = 8, D = 128, bf16,
causal, a per-key bias [B, Hkv, 1, L] and the w = 1024 highest-bias keys per
KV head kept (shared by all queries), at L = 4096, 16384 and 32768; the
per-query top-k at 4096; and dense (no mask) at 16384. Peers run in the same
process on the same inputs: SDPA's FlashAttention-2 backend (dense causal, no
bias or mask), FlexAttention (BlockMask from the kept keys, bias through
score_mod; L = 4096 only: its block mask takes minutes to build at 32k), and
the "gather floor" (SDPA over the w kept keys, non-causal). Medians of
triton.testing.do_bench; TFLOP/s counts the dense causal work 2*B*H*L*L*D.

The mask rows time the generated value_bias and top-k kernels against the
same functions in PyTorch ops (value_bias) and torch.topk + sort (shared
top-k; PyTorch has no per-query form).

    python3 benchmarks/gpu/bench.py [--json FILE] [--quick] [--mask-only]
                                    [--backward-only]
"""

import argparse
import json
import math
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from triton.testing import do_bench

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import dma_attention as dma  # noqa: E402
from bench_host import fwd_bwd  # noqa: E402

B, H, HKV, D, W = 1, 32, 8, 128, 1024


def timed(fn):
    fn()
    torch.cuda.synchronize()
    return do_bench(fn, warmup=25, rep=100, return_mode="median")


def tflops(L, ms, factor=1.0):
    """Dense causal TFLOP/s; factor 3.5 for forward + backward."""
    return factor * 4 * B * H * L * L * D / 2 / (ms * 1e-3) / 1e12


def sdpa_dense(q, k, v, backend="fa2"):
    """SDPA dense causal with the FlashAttention-2 ("fa2") or the cuDNN
    ("cudnn", FlashAttention-3-class on Hopper) backend."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    chosen = {"fa2": SDPBackend.FLASH_ATTENTION,
              "cudnn": SDPBackend.CUDNN_ATTENTION}[backend]
    qt, kt, vt = (x.transpose(1, 2) for x in (q, k, v))
    kt = kt.repeat_interleave(H // HKV, dim=1)
    vt = vt.repeat_interleave(H // HKV, dim=1)

    def run():
        with sdpa_kernel(chosen):
            return F.scaled_dot_product_attention(qt, kt, vt, is_causal=True)
    return run


def gather_floor(q, k, v, keep):
    """SDPA FA2 of all queries against the w kept keys (non-causal)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    idx = keep[0].long()  # [Hkv, W]
    kg = torch.stack([k[0, idx[h], h] for h in range(HKV)], 0)[None]
    vg = torch.stack([v[0, idx[h], h] for h in range(HKV)], 0)[None]
    kg = kg.repeat_interleave(H // HKV, dim=1)
    vg = vg.repeat_interleave(H // HKV, dim=1)
    qt = q.transpose(1, 2)

    def run():
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            return F.scaled_dot_product_attention(qt, kg, vg)
    return run


def flex_callable(L, bias, kept_bool):
    """FlexAttention with the block mask built once: run(q, k, v)."""
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention
    g = H // HKV

    def mask_mod(b, h, qi, kv):
        return kept_bool[b, h // g, qi, kv] if kept_bool.dim() == 4 else (
            kept_bool[b, h // g, kv] & (kv <= qi))

    def score_mod(score, b, h, qi, kv):
        return score + bias[b, h // g, 0, kv].float()

    block_mask = create_block_mask(mask_mod, B, H, L, L, device="cuda")
    # Static shapes, as the peer runs at its best: a callable compiled with
    # dynamic=None turns dynamic after the first new shape and runs ~3x
    # slower (bench rows of earlier runs measured exactly that).
    compiled = torch.compile(flex_attention, dynamic=False)

    def run(q, k, v):
        qt, kt, vt = (x.transpose(1, 2) for x in (q, k, v))
        return compiled(qt, kt, vt, score_mod=score_mod,
                        block_mask=block_mask, enable_gqa=True)
    return run


def flex(q, k, v, bias, kept_bool):
    run = flex_callable(q.shape[1], bias, kept_bool)
    return lambda: run(q, k, v)


def inputs(L, seed=0):
    g = torch.Generator(device="cuda").manual_seed(seed)
    q = torch.randn(B, L, H, D, device="cuda", generator=g, dtype=torch.bfloat16)
    k = torch.randn(B, L, HKV, D, device="cuda", generator=g, dtype=torch.bfloat16)
    v = torch.randn(B, L, HKV, D, device="cuda", generator=g, dtype=torch.bfloat16)
    bias = torch.randn(B, HKV, 1, L, device="cuda", generator=g,
                       dtype=torch.bfloat16)
    keep = bias[:, :, 0].float().topk(W, dim=-1).indices.sort(-1).values
    return q, k, v, bias, keep.to(torch.int32).contiguous()


def recorder(rows, widths=(34, 34)):
    """record(case, system, ms, L, factor=1.0): appends a row to `rows`,
    prints it and returns ms; factor 3.5 counts forward + backward."""
    def record(case, system, ms, L, factor=1.0):
        t = tflops(L, ms, factor)
        rows.append(dict(case=case, system=system, ms=ms, tflops=t))
        print(f"{case:{widths[0]}s} {system:{widths[1]}s} {ms:9.3f} ms "
              f"{t:7.1f} TFLOP/s", flush=True)
        return ms
    return record


def warm_up_gpu():
    """Brings the GPU's clocks up before the first timed row."""
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    for _ in range(200):
        a @ a
    torch.cuda.synchronize()


def by_case(rows):
    """The rows grouped by case, in order."""
    groups = {}
    for r in rows:
        groups.setdefault(r["case"], []).append(r)
    return groups


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--backward-only", action="store_true",
                    help="only the forward + backward rows")
    ap.add_argument("--mask-only", action="store_true",
                    help="only the mask-generation rows (value_bias, topk)")
    ap.add_argument("--host-only", action="store_true",
                    help="only the host-path rows (bench_host.py)")
    ap.add_argument("--tiles", default="0x0,128x32,64x64,128x64,64x32",
                    help="kernel tiles to time (q_tile x k_tile, 0x0 = the "
                         "runtime's default); the first is the one the "
                         "summary compares")
    args = ap.parse_args()
    tiles = [tuple(int(x) for x in t.split("x")) for t in args.tiles.split(",")]

    def ours_timed(case, L, label, fn):
        """Times fn(q_tile, k_tile) for every tile size; records each."""
        for i, (qt, kt) in enumerate(tiles):
            name = label if i == 0 else f"{label} [{qt}x{kt}]"
            record(case, name, timed(lambda: fn(qt or None, kt or None)), L)
    rows = []
    record = recorder(rows)
    warm_up_gpu()

    # The host path: per-call cost, medium shapes, mask generation's share.
    if not (args.mask_only or args.backward_only):
        from bench_host import host_rows
        host_rows(record, timed)
    if args.host_only:
        args.mask_only = args.backward_only = True

    # Mask generation: the generated value_bias and top-k kernels against
    # the same functions in PyTorch ops.
    mask_lengths = [4096] if args.quick else [4096, 16384]
    if args.backward_only and not args.mask_only or args.host_only:
        mask_lengths = []
    for L in mask_lengths:
        from dma_attention import _reference
        _, _, v, _, _ = inputs(L, seed=5)
        g = torch.Generator(device="cuda").manual_seed(5)
        w = torch.randn(HKV, HKV * D, device="cuda", generator=g) / (HKV * D) ** 0.5
        a = -torch.rand(HKV, device="cuda", generator=g)
        b_dt = torch.randn(HKV, device="cuda", generator=g)
        case = f"mask value_bias L={L}"
        record(case, "dma (generated)",
               timed(lambda: dma.value_bias(v, w, a, b_dt)), L)
        record(case, "PyTorch ops (matmul, softplus)",
               timed(lambda: _reference.value_bias(v, w, a, b_dt)), L)
        case = f"mask value_bias fwd+bwd L={L}"
        leaves = (v, w, a, b_dt)
        record(case, "dma (generated)",
               timed(fwd_bwd(lambda *x: dma.value_bias(*x), leaves)), L)
        record(case, "PyTorch ops (autograd)",
               timed(fwd_bwd(lambda *x: _reference.value_bias(*x), leaves)), L)
        score = dma.value_bias(v, w, a, b_dt)
        case = f"mask topk shared L={L} w={W}"
        record(case, "dma (generated)", timed(lambda: dma.topk(score, W)), L)
        record(case, "torch.topk + sort",
               timed(lambda: score.topk(W, dim=-1).indices.sort(-1).values), L)
        if L == 4096:
            case = f"mask topk per-query L={L} w={W}"
            record(case, "dma (generated)",
                   timed(lambda: dma.topk(score, W, "per_query")), L)
        del v, score
        torch.cuda.empty_cache()
    if args.mask_only:
        args.backward_only = True

    lengths = [4096] if args.quick else [4096, 16384, 32768]
    if args.backward_only:
        lengths = []
    for L in lengths:
        q, k, v, bias, keep = inputs(L)
        case = f"shared top-k L={L} w={W}"
        ours = lambda qt, kt: dma.attention(q, k, v, bias=bias, keep=keep,
                                            causal=True, q_tile=qt, k_tile=kt)
        o = ours(*(t or None for t in tiles[0]))
        if not torch.isfinite(o).all():
            raise SystemExit(f"non-finite output in {case}")
        ours_timed(case, L, "dma (generated)", ours)
        record(case, "SDPA FA2 dense causal", timed(sdpa_dense(q, k, v)), L)
        record(case, "SDPA cuDNN dense causal",
               timed(sdpa_dense(q, k, v, "cudnn")), L)
        record(case, "gather floor (SDPA, w keys)",
               timed(gather_floor(q, k, v, keep)), L)
        if L == 4096:
            kept = torch.zeros(B, HKV, L, dtype=torch.bool, device="cuda")
            kept.scatter_(2, keep.long(), True)
            record(case, "FlexAttention (BlockMask+bias)",
                   timed(flex(q, k, v, bias, kept)), L)
        del q, k, v, bias, keep
        torch.cuda.empty_cache()

    # Per-query top-k at 4096: each query keeps its own top 1024.
    L = 4096
    if not args.backward_only:
        q, k, v, bias, _ = inputs(L, seed=1)
        rowsrep = dma.topk(bias[:, :, 0].float(), W, "per_query")
        case = f"per-query top-k L={L} w={W}"
        ours_timed(case, L, "dma (generated)",
                   lambda qt, kt: dma.attention(q, k, v, bias=bias,
                                                keep_rows=rowsrep, causal=True,
                                                q_tile=qt, k_tile=kt))
        # The same visible set as a dense [B, Hkv, L, L] mask for FlexAttention.
        s, thr, tie = rowsrep
        i = torch.arange(L, device="cuda")
        visible = (s[:, :, None, :] > thr[:, :, :, None]) | (
            (s[:, :, None, :] == thr[:, :, :, None]) &
            (i[None, None, None, :] <= tie[:, :, :, None]))
        visible &= i[None, None, None, :] <= i[None, None, :, None]
        record(case, "FlexAttention (BlockMask+bias)", timed(flex(q, k, v, bias, visible)), L)
        del visible

        if not args.quick:
            L = 16384
            q, k, v, bias, _ = inputs(L, seed=2)
            case = f"dense L={L}"
            ours_timed(case, L, "dma (generated), no bias",
                       lambda qt, kt: dma.attention(q, k, v, causal=True,
                                                    q_tile=qt, k_tile=kt))
            ours_timed(case, L, "dma (generated), key bias",
                       lambda qt, kt: dma.attention(q, k, v, bias=bias, causal=True,
                                                    q_tile=qt, k_tile=kt))
            record(case, "SDPA FA2 dense causal", timed(sdpa_dense(q, k, v)), L)
            record(case, "SDPA cuDNN dense causal",
                   timed(sdpa_dense(q, k, v, "cudnn")), L)

    # Forward + backward (gradients of q, k, v and the bias).
    for L in ([] if args.mask_only else [4096] if args.quick else [4096, 16384]):
        q, k, v, bias, keep = inputs(L, seed=3)
        case = f"fwd+bwd shared top-k L={L} w={W}"
        ours = fwd_bwd(lambda q, k, v, b: dma.attention(
            q, k, v, bias=b, keep=keep, causal=True), (q, k, v, bias))
        record(case, "dma (generated)", timed(ours), L, 3.5)
        det = fwd_bwd(lambda q, k, v, b: dma.attention(
            q, k, v, bias=b, keep=keep, causal=True, deterministic=True),
            (q, k, v, bias))
        record(case, "dma (generated), deterministic", timed(det), L, 3.5)
        record(case, "SDPA FA2 dense causal",
               timed(fwd_bwd(lambda q, k, v: sdpa_dense(q, k, v)(), (q, k, v))),
               L, 3.5)
        record(case, "SDPA cuDNN dense causal",
               timed(fwd_bwd(lambda q, k, v: sdpa_dense(q, k, v, "cudnn")(),
                             (q, k, v))), L, 3.5)
        if L == 4096:
            kept = torch.zeros(B, HKV, L, dtype=torch.bool, device="cuda")
            kept.scatter_(2, keep.long(), True)
            record(case, "FlexAttention (BlockMask+bias; no dbias)",
                   timed(fwd_bwd(flex_callable(L, bias, kept), (q, k, v))),
                   L, 3.5)
        del q, k, v, bias, keep
        torch.cuda.empty_cache()
    if not args.quick and not args.mask_only:
        L = 16384
        q, k, v, bias, _ = inputs(L, seed=4)
        case = f"fwd+bwd dense L={L}"
        record(case, "dma (generated), no bias",
               timed(fwd_bwd(lambda q, k, v: dma.attention(q, k, v, causal=True),
                             (q, k, v))), L, 3.5)
        record(case, "dma (generated), deterministic",
               timed(fwd_bwd(lambda q, k, v: dma.attention(
                   q, k, v, causal=True, deterministic=True), (q, k, v))),
               L, 3.5)
        record(case, "SDPA FA2 dense causal",
               timed(fwd_bwd(lambda q, k, v: sdpa_dense(q, k, v)(), (q, k, v))),
               L, 3.5)
        record(case, "SDPA cuDNN dense causal",
               timed(fwd_bwd(lambda q, k, v: sdpa_dense(q, k, v, "cudnn")(),
                             (q, k, v))), L, 3.5)
        del q, k, v, bias

    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    print("\nsummary (ratio = peer time / dma time):")
    for case, rs in by_case(rows).items():
        ours = [r for r in rs if r["system"].startswith("dma")][0]
        if len(rs) == 1:
            continue
        for r in rs:
            if not r["system"].startswith("dma"):
                print(f"  {case:30s} vs {r['system']:32s} x{r['ms'] / ours['ms']:.2f}")


if __name__ == "__main__":
    main()
