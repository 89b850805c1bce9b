"""transformers' Doge on dma's kernels against HF's own eager Doge (GPU).

    python3 benchmarks/gpu/check_doge.py [--json FILE]

Small random DogeForCausalLM models (head dim 64, GQA 8/4, A drawn at
random: HF initialises A = 0, where every key's score is exp(0) = 1 and the
top-k is all ties, which torch.topk breaks arbitrarily):

- logits and the gradients of every parameter against HF eager, float32
  models (dma's attention then runs in bf16; the scores and top-k stay
  float32, so both keep the same keys): top-k active (L > keep window),
  inactive (L <= window), and left padding (real tokens only);
- teacher-forced decoding over HF's DynamicCache (prefill, then one token
  per step) against the full forward of the same sequence, bf16;
- greedy `generate()` of 512 new tokens runs, bf16;
- bad input: a non-Doge model, a sliding-window config, a 4D mask.

Prints PASS/FAIL per check and `N passed, N failed` last.
"""

import argparse
import copy
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))
from dma_attention.integrations import doge  # noqa: E402

from transformers import DogeConfig, DogeForCausalLM  # noqa: E402

results = []


def report(name, ok, **figures):
    results.append(dict(check=name, ok=bool(ok), **figures))
    text = "  ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in figures.items())
    print(("PASS " if ok else "FAIL ") + name + "  " + text, flush=True)


def config(window, layers=2, **kw):
    cfg = DogeConfig(vocab_size=1024, hidden_size=512, intermediate_size=1024,
                     num_hidden_layers=layers, num_attention_heads=8,
                     num_key_value_heads=4, keep_window_size=window,
                     max_position_embeddings=4096, **kw)
    cfg._attn_implementation = "eager"
    return cfg


def random_doge(cfg, dtype, seed=0):
    torch.manual_seed(seed)
    model = DogeForCausalLM(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("self_attn.A"):
                p.copy_(torch.randn_like(p))
    return model.to("cuda", dtype)


def rel(a, b):
    return ((a.float() - b.float()).norm() / b.float().norm().clamp_min(1e-30)).item()


def parity(name, window, L, padded=False, B=2, tol=2e-2):
    """Logits and every parameter's gradient, ours against HF eager (f32)."""
    hf = random_doge(config(window), torch.float32)
    ours = doge.enable(copy.deepcopy(hf))
    g = torch.Generator(device="cpu").manual_seed(1)
    ids = torch.randint(0, 1024, (B, L), generator=g).cuda()
    mask = torch.ones(B, L, dtype=torch.long, device="cuda")
    if padded:
        mask[1, : L // 3] = 0                      # left padding in row 1
    real = mask.bool()
    out = {}
    for tag, model in (("hf", hf), ("dma", ours)):
        model.zero_grad()
        logits = model(input_ids=ids, attention_mask=mask).logits
        loss = logits.float()[real].logsumexp(-1).mean()
        loss.backward()
        out[tag] = (logits.detach()[real],
                    {n: p.grad.detach().clone()
                     for n, p in model.named_parameters()
                     if p.grad is not None})
    err = rel(out["dma"][0], out["hf"][0])
    missing = sorted(set(out["hf"][1]) - set(out["dma"][1]))
    grad_errs = {n: rel(out["dma"][1][n], g)
                 for n, g in out["hf"][1].items() if n in out["dma"][1]}
    worst = max(grad_errs, key=grad_errs.get)
    report(f"parity {name} (L={L}, window={window}, padded={padded})",
           err < tol and grad_errs[worst] < tol and not missing,
           logits_rel=err, worst_grad=worst, worst_grad_rel=grad_errs[worst],
           params_without_grad=len(missing))


def teacher_forced(window, L=384, prefill=256):
    """Prefill, then one token per step through HF's cache: the logits of
    every step against the full forward (bf16)."""
    from transformers import DynamicCache
    model = doge.enable(random_doge(config(window), torch.bfloat16)).eval()
    g = torch.Generator(device="cpu").manual_seed(2)
    ids = torch.randint(0, 1024, (1, L), generator=g).cuda()
    with torch.no_grad():
        full = model(input_ids=ids).logits
        cache = DynamicCache(config=model.config)
        steps = [model(input_ids=ids[:, :prefill], past_key_values=cache,
                       use_cache=True).logits]
        for i in range(prefill, L):
            steps.append(model(input_ids=ids[:, i:i + 1], past_key_values=cache,
                               use_cache=True).logits)
    err = rel(torch.cat(steps, 1), full)
    report(f"teacher-forced decoding (window={window}, prefill={prefill}, "
           f"{L - prefill} steps)", err < 2e-2, logits_rel=err)


def generate(window, new_tokens=512):
    model = doge.enable(random_doge(config(window), torch.bfloat16)).eval()
    ids = torch.randint(0, 1024, (2, 64)).cuda()
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                             max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                             do_sample=False)
    report(f"greedy generate ({new_tokens} new tokens, window={window})",
           out.shape == (2, 64 + new_tokens), shape=tuple(out.shape))


def refusals():
    def raises(name, kind, text, fn):
        try:
            fn()
        except kind as e:
            report(f"refuses {name}", text in str(e), error=str(e)[:90])
            return
        report(f"refuses {name}", False, error="none raised")

    raises("a non-Doge model", TypeError, "not a Doge model",
           lambda: doge.enable(torch.nn.Linear(2, 2)))
    raises("a sliding-window config", ValueError, "sliding_window",
           lambda: doge.enable(DogeForCausalLM(config(64, layers=1,
                                                      sliding_window=128))))
    model = doge.enable(random_doge(config(64, layers=1), torch.bfloat16))
    ids = torch.zeros(1, 8, dtype=torch.long, device="cuda")
    raises("a 4D attention mask", ValueError, "2D attention_mask",
           lambda: model(input_ids=ids,
                         attention_mask=torch.ones(1, 1, 8, 8, device="cuda")))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json")
    args = ap.parse_args()
    import transformers
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, "
          f"{torch.cuda.get_device_name()}", flush=True)
    parity("top-k active", window=64, L=256)
    parity("top-k active, padded", window=64, L=256, padded=True)
    parity("no top-k", window=512, L=256)
    teacher_forced(window=128)
    generate(window=128)
    refusals()
    failed = sum(not r["ok"] for r in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
