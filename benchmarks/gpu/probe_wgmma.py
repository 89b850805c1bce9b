"""The forward on sm_90a's warpgroup MMA (wgmma) against the mma.sync one and
the dense peers, in one process, on the same inputs.

    python3 benchmarks/gpu/probe_wgmma.py SYNC_BUNDLE WGMMA_BUNDLE [--json F]

SYNC_BUNDLE holds the forwards compiled for mma.sync (`dma-compile`, the
default), WGMMA_BUNDLE the same variants compiled with `--mma wgmma` plus
the larger key tiles wgmma is timed at (128 x 64, 128 x 128). Rows: dense
causal D = 128 (B1 H32/8, L = 4096 and 16384), dense causal D = 64 (B8
H16/4, L = 2048), the shared top-k (w = 1024, key bias, L = 16384) and the
per-query top-k (w = 1024, key bias, L = 4096), forward, at each tile; the
peers are SDPA's FlashAttention-2 and cuDNN backends (dense causal). Every
wgmma output is compared with the mma.sync kernel's on the same inputs
(and the dense ones with SDPA) before it is timed.
"""

import argparse
import json
import os
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "python"))
sys.path.insert(0, str(HERE))
import dma_attention as dma  # noqa: E402
from bench import timed, warm_up_gpu  # noqa: E402

TILES = [(128, 32), (128, 64), (128, 128)]


def make_inputs(B, L, H, Hkv, D, seed=0):
    g = torch.Generator(device="cuda").manual_seed(seed)
    shape = lambda h: (B, L, h, D)  # noqa: E731
    q = torch.randn(*shape(H), device="cuda", generator=g, dtype=torch.bfloat16)
    k = torch.randn(*shape(Hkv), device="cuda", generator=g, dtype=torch.bfloat16)
    v = torch.randn(*shape(Hkv), device="cuda", generator=g, dtype=torch.bfloat16)
    bias = torch.randn(B, Hkv, 1, L, device="cuda", generator=g,
                       dtype=torch.bfloat16)
    return q, k, v, bias


def sdpa(q, k, v, backend):
    from torch.nn.attention import SDPBackend, sdpa_kernel
    chosen = {"fa2": SDPBackend.FLASH_ATTENTION,
              "cudnn": SDPBackend.CUDNN_ATTENTION}[backend]
    g = q.shape[2] // k.shape[2]
    qt = q.transpose(1, 2)
    kt = k.transpose(1, 2).repeat_interleave(g, dim=1)
    vt = v.transpose(1, 2).repeat_interleave(g, dim=1)

    def run():
        with sdpa_kernel(chosen):
            return F.scaled_dot_product_attention(qt, kt, vt, is_causal=True)
    return run


def rel(a, b):
    a, b = a.float(), b.float()
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sync_bundle")
    ap.add_argument("wgmma_bundle")
    ap.add_argument("--json")
    ap.add_argument("--tiles", default=",".join(f"{q}x{k}" for q, k in TILES),
                    help="the wgmma tiles to time, e.g. 64x64,128x64")
    ap.add_argument("--mask-bundle",
                    help="the bundle of the top-k kernels (default: "
                         "WGMMA_BUNDLE)")
    ap.add_argument("--cases", default="",
                    help="only the rows whose name contains one of these "
                         "comma-separated words")
    args = ap.parse_args()
    tiles_list = [tuple(int(x) for x in t.split("x"))
                  for t in args.tiles.split(",")]
    # A variant a bundle lacks must fail, not come from $DMA_KERNEL_DIR.
    os.environ.pop("DMA_KERNEL_DIR", None)
    warm_up_gpu()
    rows, failures = [], []

    def record(case, system, ms, flops, err=None):
        t = flops / (ms * 1e-3) / 1e12
        rows.append(dict(case=case, system=system, ms=ms, tflops=t, err=err))
        e = "" if err is None else f"  rel. diff {err:.1e}"
        print(f"{case:40s} {system:24s} {ms:8.3f} ms {t:7.1f} TFLOP/s{e}",
              flush=True)

    configs = [
        ("dense D128 L4096", (1, 4096, 32, 8, 128), {}),
        ("dense D128 L16384", (1, 16384, 32, 8, 128), {}),
        ("dense D64 B8 H16/4 L2048", (8, 2048, 16, 4, 64), {}),
        ("shared top-k w1024 keybias L16384", (1, 16384, 32, 8, 128), "keep"),
        ("per-query top-k w1024 keybias L4096", (1, 4096, 32, 8, 128),
         "keep_rows"),
        # Dense masks walked by block lists (not causal, as
        # bench_block_skip.py calls them).
        ("mask sliding window 1024 L8192", (1, 8192, 32, 8, 128),
         "sliding window 1024"),
        ("mask random blocks 10% L8192", (1, 8192, 32, 8, 128),
         "random blocks 10%"),
    ]
    wanted = [w for w in args.cases.split(",") if w]
    masks = args.mask_bundle or args.wgmma_bundle
    for case, (B, L, H, Hkv, D), form in configs:
        if wanted and not any(w in case for w in wanted):
            continue
        q, k, v, bias = make_inputs(B, L, H, Hkv, D)
        kw, causal = {}, True
        if form and form.startswith(("sliding", "random")):
            from bench_block_skip import structured_mask
            kw["mask"] = structured_mask(form, L)[None, None]
            causal = False
        elif form:
            score = bias[:, :, 0].float().contiguous()
            kw["bias"] = bias
            if form == "keep":
                kw["keep"] = dma.topk(score, 1024, "shared",
                                      bundle=masks)
            else:
                kw["keep_rows"] = dma.topk(score, 1024, "per_query",
                                           bundle=masks)
        flops = 4 * B * H * L * L * D / 2  # dense causal work (every row)

        def call(bundle, tiles):
            return lambda: dma.attention(q, k, v, causal=causal, bundle=bundle,
                                         q_tile=tiles[0], k_tile=tiles[1],
                                         **kw)
        reference = call(args.sync_bundle, TILES[0])()
        if not form:
            peer = sdpa(q, k, v, "cudnn")
            err = rel(reference, peer().transpose(1, 2))
            record(case, "dma mma.sync 128x32", timed(call(args.sync_bundle,
                                                          TILES[0])),
                   flops, err)
            record(case, "SDPA FA2", timed(sdpa(q, k, v, "fa2")), flops)
            record(case, "SDPA cuDNN", timed(peer), flops)
        else:
            record(case, "dma mma.sync 128x32",
                   timed(call(args.sync_bundle, TILES[0])), flops)
        for tiles in tiles_list:
            name = f"dma wgmma {tiles[0]}x{tiles[1]}"
            try:
                run = call(args.wgmma_bundle, tiles)
                out = run()
            except LookupError as e:
                print(f"{case:40s} {name:24s} skipped: {e}", flush=True)
                continue
            err = rel(out, reference)
            bad = not torch.isfinite(out.float()).all() or err > 1e-2
            if bad:
                failures.append(f"{case} {name}: rel. diff {err:.2e}")
            record(case, name + (" WRONG" if bad else ""), timed(run), flops,
                   err)
    if args.json:
        Path(args.json).write_text(json.dumps(dict(rows=rows,
                                                   failures=failures),
                                              indent=1))
    print(f"{len(failures)} wrong outputs" + "".join(f"\n  {f}"
                                                     for f in failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
