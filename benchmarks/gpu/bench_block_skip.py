"""Dense boolean masks with structure (issue 13, item 4): dma's block
skipping against FlexAttention's BlockMask, in one process on one input.

B1 H32/8 D128 bf16, one [1, 1, L, L] bool mask shared by every head:

* sliding window: causal, each query sees its last 1024 keys;
* document: causal inside documents of 256 to 2048 tokens (block-diagonal);
* random blocks at 10% and 50%: 128 x 128 blocks kept at random (no
  causality).

dma gets the mask as a tensor (its summary kernel runs in every call and is
timed with it); FlexAttention gets a BlockMask built once from a mask_mod
over the same tensor (not timed, as its users build it once), compiled with
`torch.compile(flex_attention, dynamic=False)`; SDPA cuDNN dense causal is
the dense reference. Outputs are compared before timing.

    python3 benchmarks/gpu/bench_block_skip.py [--json FILE] [--lengths ...]
"""

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402
from bench import B, H, HKV, D, dma, sdpa_dense, timed  # noqa: E402
from bench_host import fwd_bwd  # noqa: E402
from bench_per_query import flex_timed  # noqa: E402


def structured_mask(kind, L, seed=0):
    g = torch.Generator(device="cuda").manual_seed(seed)
    i = torch.arange(L, device="cuda")
    causal = i[None, :] <= i[:, None]
    if kind == "sliding window 1024":
        return causal & (i[:, None] - i[None, :] < 1024)
    if kind == "document":
        lengths = torch.randint(256, 2049, (L // 256 + 1,), generator=g,
                                device="cuda")
        doc = torch.repeat_interleave(torch.arange(len(lengths), device="cuda"),
                                      lengths)[:L]
        return causal & (doc[:, None] == doc[None, :])
    density = {"random blocks 10%": 0.1, "random blocks 50%": 0.5}[kind]
    n = (L + 127) // 128
    blocks = torch.rand(n, n, generator=g, device="cuda") < density
    return blocks.repeat_interleave(128, 0).repeat_interleave(128, 1)[:L, :L]


def flex_callable(L, mask):
    from torch.nn.attention.flex_attention import (create_block_mask,
                                                   flex_attention)

    def mask_mod(b, h, qi, kv):
        return mask[qi, kv]

    block_mask = create_block_mask(mask_mod, 1, 1, L, L, device="cuda")
    compiled = torch.compile(flex_attention, dynamic=False)

    def run(q, k, v):
        qt, kt, vt = (x.transpose(1, 2) for x in (q, k, v))
        return compiled(qt, kt, vt, block_mask=block_mask, enable_gqa=True)
    return run


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json")
    ap.add_argument("--lengths", default="4096,8192")
    args = ap.parse_args()
    rows = []
    record = bench.recorder(rows, widths=(44, 32))
    bench.warm_up_gpu()
    for L in [int(x) for x in args.lengths.split(",") if x]:
        q, k, v, _, _ = bench.inputs(L, seed=3)
        for kind in ("sliding window 1024", "document", "random blocks 10%",
                     "random blocks 50%"):
            mask = structured_mask(kind, L)
            m4 = mask[None, None]
            density = mask.float().mean().item()
            ours = lambda: dma.attention(q, k, v, mask=m4)
            flex_run = flex_callable(L, mask)
            o = ours().float()
            of = flex_run(q, k, v).transpose(1, 2).float()
            # Rows with no visible key: dma gives 0, FlexAttention 0 too.
            diff = ((o - of).norm() / of.norm()).item()
            print(f"  {kind} L={L}: density {density:.3f}, dma vs "
                  f"FlexAttention relative difference {diff:.1e}")
            if not diff < 2e-2:
                raise SystemExit(f"outputs disagree: {kind} L={L}: {diff}")
            case = f"{kind} L={L}"
            record(case, "dma (generated, block skip)", timed(ours), L)
            record(case, "FlexAttention (BlockMask)",
                   flex_timed(lambda: flex_run(q, k, v)), L)
            record(case, "SDPA cuDNN dense causal",
                   timed(sdpa_dense(q, k, v, "cudnn")), L)
            case = f"fwd+bwd {kind} L={L}"
            record(case, "dma (generated, block skip)", timed(fwd_bwd(
                lambda q, k, v: dma.attention(q, k, v, mask=m4),
                (q, k, v))), L, 3.5)
            record(case, "FlexAttention (BlockMask)",
                   flex_timed(fwd_bwd(flex_run, (q, k, v))), L, 3.5)
            record(case, "SDPA cuDNN dense causal",
                   timed(fwd_bwd(lambda q, k, v: sdpa_dense(q, k, v, "cudnn")(),
                                 (q, k, v))), L, 3.5)
            del mask, m4, flex_run
        del q, k, v
        torch.cuda.empty_cache()
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    print("\nsummary (ratio = other time / dma's time):")
    for case, rs in bench.by_case(rows).items():
        for r in rs[1:]:
            print(f"  {case:44s} {r['system']:30s} x{r['ms'] / rs[0]['ms']:.2f}")


if __name__ == "__main__":
    main()
