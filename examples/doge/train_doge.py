"""Train transformers' Doge (the DMA authors' model) on dma's kernels, next
to the same model on HF's eager and sdpa attention.

    python3 examples/doge/train_doge.py [--seq 1024] [--batch 2] [--keep 256]
        [--steps 50] [--impls dma,eager,sdpa] [--json FILE]

One random DogeForCausalLM (bf16, head dim 64, GQA 8/4, `--layers`
layers, A drawn at random: HF's A = 0 makes every key's score tie) is
copied per implementation and trained from the same weights on the same
random tokens (fixed seed) with AdamW. `dma` is the copy after
`dma_attention.integrations.doge.enable(model)`: value_bias, the per-query
top-k and attention are generated kernels, and no L x L tensor exists;
HF's eager and sdpa build the dynamic mask as [B, H, L, L] tensors.

Prints each loss curve, the largest difference of dma's and sdpa's curves
from eager's, each step time (median over the steps after 3 warm-up
steps) and peak memory; exits 1 when dma's curve is further from eager's
than max(0.05, 2x sdpa's) (bf16 tie-breaking among equal scores differs
between torch.topk and dma's lower-index rule). An implementation that
runs out of memory is reported as OOM.
"""

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
from dma_attention.integrations import doge  # noqa: E402

from transformers import DogeConfig, DogeForCausalLM  # noqa: E402


def build(args):
    cfg = DogeConfig(vocab_size=args.vocab, hidden_size=512,
                     intermediate_size=1024, num_hidden_layers=args.layers,
                     num_attention_heads=8, num_key_value_heads=4,
                     keep_window_size=args.keep,
                     max_position_embeddings=max(args.seq, 2048))
    cfg._attn_implementation = "eager"
    torch.manual_seed(0)
    model = DogeForCausalLM(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("self_attn.A"):
                p.copy_(torch.randn_like(p))
    return model.to("cuda", torch.bfloat16)


def variant(base, impl):
    model = copy.deepcopy(base)
    if impl == "dma":
        return doge.enable(model)
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation(impl)
    else:
        model.config._attn_implementation = impl
    return model


def train(model, data, steps):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses, times = [], []
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    for step in range(steps):
        ids = data[step]
        t0 = time.perf_counter()
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        losses.append(loss.item())
    return dict(losses=losses,
                step_ms=1e3 * statistics.median(times[3:] or times),
                peak_gib=torch.cuda.max_memory_allocated() / 2**30)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--keep", type=int, default=256)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--impls", default="dma,eager,sdpa")
    ap.add_argument("--json")
    args = ap.parse_args()
    base = build(args).cpu()
    g = torch.Generator(device="cpu").manual_seed(1)
    data = torch.randint(0, args.vocab, (args.steps, args.batch, args.seq),
                         generator=g).cuda()
    runs = {}
    for impl in args.impls.split(","):
        model = variant(base, impl).cuda()
        try:
            runs[impl] = train(model, data, args.steps)
        except torch.cuda.OutOfMemoryError:
            runs[impl] = dict(oom=True)
        del model
        torch.cuda.empty_cache()
    print(f"Doge B{args.batch} L{args.seq} keep {args.keep}, {args.layers} "
          f"layers, {args.steps} steps ({torch.cuda.get_device_name()})")
    for impl, r in runs.items():
        if r.get("oom"):
            print(f"  {impl:6s} OOM")
            continue
        print(f"  {impl:6s} step {r['step_ms']:8.2f} ms  peak "
              f"{r['peak_gib']:6.2f} GiB  loss {r['losses'][0]:.4f} -> "
              f"{r['losses'][-1]:.4f}")
    ok = True
    ref = runs.get("eager")
    if ref and not ref.get("oom"):
        diffs = {impl: max(abs(a - b) for a, b in zip(r["losses"], ref["losses"]))
                 for impl, r in runs.items() if impl != "eager" and not r.get("oom")}
        for impl, d in diffs.items():
            print(f"  max |loss({impl}) - loss(eager)| = {d:.4f}")
        if "dma" in diffs:
            limit = max(0.05, 2 * diffs.get("sdpa", 0.0))
            ok = diffs["dma"] <= limit
            print(f"{'PASS' if ok else 'FAIL'} dma's loss curve within "
                  f"{limit:.3f} of eager's")
    for impl in ("eager", "sdpa"):
        if impl in runs and "dma" in runs and not runs[impl].get("oom") \
                and not runs["dma"].get("oom"):
            print(f"  dma is {runs[impl]['step_ms'] / runs['dma']['step_ms']:.2f}x "
                  f"faster than HF {impl}")
    if args.json:
        Path(args.json).write_text(json.dumps(dict(args=vars(args), runs=runs),
                                              indent=1))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
