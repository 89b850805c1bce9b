"""Decode per token: transformers' Doge on dma against HF's Doge (eager and
sdpa) with the same cache, and against SDPA's dense decode (GPU).

    python3 benchmarks/gpu/bench_doge_decode.py [--caches 4096,32768,131072]
        [--batch 8] [--keep 2048] [--json FILE]

A 2-layer Doge with H32/8 D128 (hidden 4096), bf16. Each cache is filled
with random K/V rows (every implementation gets the same rows; the content
does not change the work), then one token per step is decoded (median of
20 steps after 3 warm-up steps; the cache grows by those 23 tokens). dma's
first step computes every cached key's score once and keeps it beside the
cache; later steps compute the new key's score, the shared top-w over the
cache's scores and attention over the w kept rows. Also per layer: the
attention alone (dma: topk + attention; SDPA dense: one
F.scaled_dot_product_attention over the whole cache) and the floor, the time
to read the w kept K/V rows once at the copy bandwidth measured here.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))
import dma_attention as dma  # noqa: E402
from dma_attention.integrations import doge  # noqa: E402

from transformers import DogeConfig, DynamicCache  # noqa: E402

from check_doge import random_doge  # noqa: E402  (same random A)

H, HKV, D = 32, 8, 128


def timed(fn, reps=20, warmup=3):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def gpu_timed(fn, reps=50, warmup=5):
    """Median GPU time (CUDA events) of fn, in ms."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times)


def copy_bandwidth():
    x = torch.empty(2**30, dtype=torch.uint8, device="cuda")
    y = torch.empty_like(x)
    ms = gpu_timed(lambda: y.copy_(x), reps=10)
    return 2 * x.numel() / (ms * 1e-3)          # bytes moved (read + written) per s


def model(keep, impl):
    cfg = DogeConfig(vocab_size=1024, hidden_size=H * D, intermediate_size=4096,
                     num_hidden_layers=2, num_attention_heads=H,
                     num_key_value_heads=HKV, keep_window_size=keep,
                     max_position_embeddings=1 << 18)
    cfg._attn_implementation = "eager" if impl == "dma" else impl
    m = random_doge(cfg, torch.bfloat16).eval()
    return doge.enable(m) if impl == "dma" else m


def filled_cache(cfg, rows):
    cache = DynamicCache(config=cfg)
    for layer, (k, v) in enumerate(rows):
        cache.update(k, v, layer)
    return cache


def decode_ms(m, rows, B):
    cache = filled_cache(m.config, rows)
    ids = torch.zeros(B, 1, dtype=torch.long, device="cuda")
    with torch.no_grad():
        return timed(lambda: m(input_ids=ids, past_key_values=cache,
                               use_cache=True))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--caches", default="4096,32768,131072")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--keep", type=int, default=2048)
    ap.add_argument("--impls", default="dma,sdpa,eager")
    ap.add_argument("--json")
    args = ap.parse_args()
    B, w = args.batch, args.keep
    bw = copy_bandwidth()
    print(f"{torch.cuda.get_device_name()}: copy bandwidth {bw / 1e12:.2f} TB/s; "
          f"Doge H{H}/{HKV} D{D}, 2 layers, B{B}, keep {w}", flush=True)
    models = {impl: model(w, impl) for impl in args.impls.split(",")}
    out = []
    for Lk in (int(x) for x in args.caches.split(",")):
        g = torch.Generator(device="cuda").manual_seed(Lk)
        rows = [tuple(torch.randn(B, HKV, Lk, D, device="cuda", generator=g,
                                  dtype=torch.bfloat16) for _ in range(2))
                for _ in range(2)]
        row = dict(cache=Lk)
        for impl, m in models.items():
            try:
                row[f"{impl}_ms"] = decode_ms(m, rows, B)
            except torch.cuda.OutOfMemoryError:
                row[f"{impl}_ms"] = None
            torch.cuda.empty_cache()
        # One layer's attention: dma (shared top-w of the cached scores +
        # attention over the kept rows) and SDPA dense over the cache.
        k, v = (t.transpose(1, 2) for t in rows[0])       # [B, Lk, Hkv, D]
        q = torch.randn(B, 1, H, D, device="cuda", dtype=torch.bfloat16)
        score = torch.randn(B, HKV, Lk, device="cuda")
        bias = score.to(torch.bfloat16)[:, :, None, :]

        def dma_step():
            keep = dma.topk(score, w, "shared")
            return dma.attention(q, k, v, bias=bias, keep=keep, causal=True)
        row["dma_layer_attention_us"] = 1e3 * gpu_timed(dma_step)
        row["dma_layer_topk_us"] = 1e3 * gpu_timed(
            lambda: dma.topk(score, w, "shared"))
        qh, kh, vh = q.transpose(1, 2), rows[0][0], rows[0][1]
        row["sdpa_dense_layer_us"] = 1e3 * gpu_timed(
            lambda: F.scaled_dot_product_attention(qh, kh, vh, enable_gqa=True))
        kept_bytes = 2 * B * HKV * min(w, Lk) * D * 2     # K and V rows, bf16
        row["floor_us"] = 1e6 * kept_bytes / bw           # read once
        out.append(row)
        line = "  ".join(f"{key}={val:.3f}" if isinstance(val, float) else
                         f"{key}={val}" for key, val in row.items())
        print(line, flush=True)
        del rows, k, v
        torch.cuda.empty_cache()
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
