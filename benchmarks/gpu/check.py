"""GPU correctness of the generated kernels against an fp64 reference.

Runs the matrix of cases.py (bf16 and f16; Lq != Lk, Lq = 1, GQA/MQA, every
mask form, bias per key and full, causal on and off, soft cap, rows with no
visible key) through dma_attention.attention with poisoned (NaN) outputs, and
compares with the spec computed in float64 on the same rounded inputs:
relative error of O and LSE under the spec's tolerance (bf16 1e-2, f16
5e-3), no NaN, rows with no visible key exactly O = 0 and LSE = -inf. Then the gradients
(backward_cases) and the mask-generation kernels (mask_checks.py).

    python3 benchmarks/gpu/check.py [--quick] [--json FILE]

Needs DMA_KERNEL_DIR (a bundle with the variants of cases.py) and the
runtime (DMA_RUNTIME_LIB); prints one line per case and a summary last.
"""

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import dma_attention as dma  # noqa: E402

# Outputs start as NaN, so an element the kernel never writes fails.
os.environ["DMA_POISON_OUTPUTS"] = "1"
from cases import backward_cases, check_cases, deterministic_cases  # noqa: E402
from host_checks import host_checks  # noqa: E402
from mask_checks import mask_checks  # noqa: E402

TOL = {"bf16": 1e-2, "f16": 5e-3}
GRAD_TOL = {"bf16": 2e-2, "f16": 1e-2}
DTYPE = {"bf16": torch.bfloat16, "f16": torch.float16}


def heads_of(t, H):
    """Broadcast dim 1 (heads) of a [b, hx, ...] tensor to H query heads."""
    hx = t.shape[1]
    return t.repeat_interleave(H // hx, dim=1) if hx != H else t


def make_inputs(c, device):
    g = torch.Generator(device="cpu").manual_seed(c.seed)
    dt = DTYPE[c.dtype]

    def randn(*shape, scale=1.0):
        return (torch.randn(*shape, generator=g) * scale).to(dt).to(device)

    q = randn(c.B, c.Lq, c.H, c.D)
    k = randn(c.B, c.Lk, c.Hkv, c.D)
    v = randn(c.B, c.Lk, c.Hkv, c.D)
    inputs = dict(q=q, k=k, v=v, bias=None, mask=None, keep=None, keep_rows=None)
    if c.bias == "key":
        inputs["bias"] = randn(c.B, c.Hkv, 1, c.Lk)
    elif c.bias == "full":
        inputs["bias"] = randn(c.B, c.H, c.Lq, c.Lk)
    if c.mask == "mask" and c.seed % 2:
        # Blocks of 160 x 96 entries on or off (half each, drawn per batch
        # and head), some rows off: the block summary's kernels see empty,
        # partial and full tiles at every tile shape.
        on = torch.rand(c.B, c.Hkv, (c.Lq + 159) // 160, (c.Lk + 95) // 96,
                        generator=g) < 0.5
        m = on.repeat_interleave(160, 2).repeat_interleave(96, 3)
        m = m[:, :, :c.Lq, :c.Lk].contiguous()
        m[:, :, 3::50, :] = False
        inputs["mask"] = m.to(device)
    elif c.mask == "mask":
        m = torch.rand(c.B, c.Hkv, c.Lq, c.Lk, generator=g) < 0.6
        m[:, :, 1::4, :] = False  # rows with no visible key
        inputs["mask"] = m.to(device)
    elif c.mask == "keep":
        keep = torch.full((c.B, c.Hkv, c.w), -1, dtype=torch.int32)
        for b in range(c.B):
            for h in range(c.Hkv):
                n = min(c.w, c.Lk) * (3 if h % 2 else 4) // 4
                pos = torch.randperm(c.Lk, generator=g)[:n].sort().values
                keep[b, h, :n] = pos.to(torch.int32)
        inputs["keep"] = keep.to(device)
    elif c.mask == "keep_rows":
        score = (torch.randint(-4, 5, (c.B, c.Hkv, c.Lk), generator=g) * 0.5)
        score[:, :, 6::7] = float("nan")  # never-kept keys
        inputs["keep_rows"] = dma.topk(score.to(device), c.w, "per_query")
    return inputs


def reference(c, inp, scale):
    """The spec in float64: O [B, Lq, H, D] and LSE [B, H, Lq]."""
    H, Lq, Lk = c.H, c.Lq, c.Lk
    q = inp["q"].double()
    k = heads_of(inp["k"].double().transpose(1, 2), H)   # [B, H, Lk, D]
    v = heads_of(inp["v"].double().transpose(1, 2), H)
    s = torch.einsum("bihd,bhjd->bhij", q, k) * scale
    if c.softcap:
        s = c.softcap * torch.tanh(s / c.softcap)
    if inp["bias"] is not None:
        s = s + heads_of(inp["bias"].double(), H)
    i = torch.arange(Lq, device=q.device)[:, None]
    j = torch.arange(Lk, device=q.device)[None, :]
    visible = torch.ones(c.B, H, Lq, Lk, dtype=torch.bool, device=q.device)
    if c.causal:
        visible &= (j <= i + Lk - Lq)
    if inp["mask"] is not None:
        visible &= heads_of(inp["mask"], H)
    if inp["keep"] is not None:
        kept = torch.zeros(c.B, inp["keep"].shape[1], Lk + 1, dtype=torch.bool,
                           device=q.device)
        idx = inp["keep"].long().clamp(min=-1) % (Lk + 1)  # -1 -> Lk (dropped)
        kept.scatter_(2, idx, True)
        visible &= heads_of(kept[:, :, :Lk], H)[:, :, None, :]
    if inp["keep_rows"] is not None:
        rs, thr, tie = (heads_of(t, H) for t in inp["keep_rows"])
        entry = (i + Lk - Lq if c.causal else torch.full_like(i, Lk - 1))
        entry = entry.clamp(0, Lk - 1)[:, 0]
        t = thr[:, :, entry][..., None]            # [B, H, Lq, 1]
        tb = tie[:, :, entry].long()[..., None]
        sj = rs.double()[:, :, None, :]            # [B, H, 1, Lk]
        visible &= (sj > t) | ((sj == t) & (j <= tb))
    s = s.masked_fill(~visible, -math.inf)
    m = s.amax(-1, keepdim=True)
    empty = torch.isinf(m) & (m < 0)
    p = torch.exp(s - torch.where(empty, torch.zeros_like(m), m))
    l = p.sum(-1, keepdim=True)
    o = torch.where(empty, torch.zeros_like(l), 1 / l.clamp_min(1e-300)) * (p @ v)
    lse = torch.where(empty, torch.full_like(m, -math.inf), m + torch.log(l))
    return o.transpose(1, 2), lse[..., 0], empty[..., 0]


def rel_err(out, ref):
    finite = torch.isfinite(ref)
    if not torch.equal(torch.isinf(out) & ~finite, torch.isinf(ref)):
        return math.inf
    if torch.isnan(out).any():
        return math.inf
    d = (out.double() - ref)[finite]
    n = ref[finite].norm()
    return (d.norm() / n).item() if n > 0 else d.norm().item()


def check_backward(c, device):
    """Gradients of q, k, v and bias through torch.autograd (the generated
    backward kernels) against autograd of the float64 reference on the same
    rounded inputs; dO random in the input dtype."""
    inp = make_inputs(c, device)
    scale = 1.0 / math.sqrt(c.D)
    names = ["q", "k", "v"] + (["bias"] if inp["bias"] is not None else [])
    def run():
        leaves = {n: inp[n].detach().clone().requires_grad_() for n in names}
        o = dma.attention(leaves["q"], leaves["k"], leaves["v"],
                          bias=leaves.get("bias"), mask=inp["mask"],
                          keep=inp["keep"], keep_rows=inp["keep_rows"],
                          causal=c.causal, softcap=c.softcap,
                          deterministic=c.deterministic)
        g = torch.Generator(device="cpu").manual_seed(c.seed + 7)
        do = torch.randn(o.shape, generator=g).to(o.dtype).to(device)
        o.backward(do)
        torch.cuda.synchronize()
        return leaves, do
    ours, do = run()
    ref_in = dict(inp)
    ref = {n: inp[n].detach().double().requires_grad_() for n in names}
    ref_in.update(ref)
    ro, _, _ = reference(c, ref_in, scale)
    ro.backward(do.double())
    errors = {}
    for n in names:
        got, want = ours[n].grad, ref[n].grad
        if got is None or torch.isnan(got).any():
            errors[n] = math.inf
        else:
            errors[n] = rel_err(got.double(), want)
    if c.deterministic:
        # Reproducible: a second run gives the same bits (else "inf").
        again, _ = run()
        same = all(torch.equal(ours[n].grad, again[n].grad) for n in names)
        errors["repeat"] = 0.0 if same else math.inf
    return errors


def check_compile(device):
    """torch.compile traces attention (a torch.library custom op on
    PyTorch >= 2.4) without graph breaks; forward and gradients equal eager."""
    from dma_attention import _autograd
    if not _autograd.custom_ops:
        return {"skipped_reason": "torch < 2.4"}, True
    c = backward_cases()[40]
    inp = make_inputs(c, device)

    def layer(q, k, v, bias):
        return dma.attention(q, k, v, bias=bias, mask=inp["mask"],
                             keep=inp["keep"], keep_rows=inp["keep_rows"],
                             causal=c.causal, softcap=c.softcap)
    results = []
    for fn in (layer, torch.compile(layer, fullgraph=True)):
        leaves = [inp[n].detach().clone().requires_grad_()
                  if inp[n] is not None else None
                  for n in ("q", "k", "v", "bias")]
        o = fn(*leaves)
        o.float().square().sum().backward()
        results.append([o] + [x.grad for x in leaves if x is not None])
    # The same kernels run either way; only the fused loss around them may
    # round differently.
    diffs = [((a.float() - b.float()).norm() / b.float().norm()).item()
             for a, b in zip(*results)]
    return {"on": c.name, "max_rel_diff": max(diffs)}, max(diffs) < 1e-2


def report(entry, ok):
    """One line per case: PASS/FAIL, its name and its figures."""
    print(("PASS " if ok else "FAIL ") + entry["case"] + "  " +
          "  ".join(f"{k}={v:.2e}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in entry.items() if k not in ("case", "ok")),
          flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-compile", action="store_true",
                    help="skip the torch.compile check (under sanitizers)")
    ap.add_argument("--json")
    args = ap.parse_args()
    device = torch.device("cuda")
    results, failed = [], 0
    start = time.time()
    for c in check_cases(args.quick):
        inp = make_inputs(c, device)
        scale = 1.0 / math.sqrt(c.D)
        entry = {"case": c.name}
        try:
            o, lse = dma.attention(inp["q"], inp["k"], inp["v"], bias=inp["bias"],
                                   mask=inp["mask"], keep=inp["keep"],
                                   keep_rows=inp["keep_rows"], causal=c.causal,
                                   softcap=c.softcap, return_lse=True,
                                   q_tile=c.tiles[0] or None,
                                   k_tile=c.tiles[1] or None)
            torch.cuda.synchronize()
            ro, rlse, empty = reference(c, inp, scale)
            eo, else_ = rel_err(o, ro), rel_err(lse, rlse)
            empty_ok = bool((o.transpose(1, 2)[empty] == 0).all()) and bool(
                torch.isneginf(lse[empty]).all())
            ok = eo < TOL[c.dtype] and else_ < TOL[c.dtype] and empty_ok
            entry.update(o_err=eo, lse_err=else_, empty_rows=int(empty.sum()),
                         empty_ok=empty_ok, ok=ok)
        except Exception as e:  # report and go on
            ok = False
            entry.update(ok=False, error=f"{type(e).__name__}: {e}")
        failed += not ok
        results.append(entry)
        report(entry, ok)
    for c in backward_cases(args.quick) + deterministic_cases(args.quick):
        entry = {"case": "grad_" + c.name}
        try:
            errors = check_backward(c, device)
            ok = all(e < GRAD_TOL[c.dtype] for e in errors.values())
            entry.update({f"d{n}_err": e for n, e in errors.items()}, ok=ok)
        except Exception as e:  # report and go on
            ok = False
            entry.update(ok=False, error=f"{type(e).__name__}: {e}")
        failed += not ok
        results.append(entry)
        report(entry, ok)
    checks = mask_checks(device, args.quick)
    while True:
        try:
            name, ok, details = next(checks)
            entry = dict(case=name, ok=ok, **details)
        except StopIteration:
            break
        except Exception as e:  # report; the generator cannot go on
            ok, entry = False, {"case": "mask checks", "ok": False,
                                "error": f"{type(e).__name__}: {e}"}
            checks = iter(())
        failed += not ok
        results.append(entry)
        report(entry, ok)
    # The host path: plans, edge cases, and (not under the sanitizers)
    # CUDA graph capture and torch.compile of a whole layer.
    for check in host_checks(quick=args.no_compile):
        try:
            for name, ok, details in check(device):
                entry = dict(case=name, ok=ok, **details)
                failed += not ok
                results.append(entry)
                report(entry, ok)
        except Exception as e:  # report and go on with the next check
            entry = {"case": check.__name__, "ok": False,
                     "error": f"{type(e).__name__}: {e}"}
            failed += 1
            results.append(entry)
            report(entry, False)
    try:
        info, ok = ({"skipped_reason": "--no-compile"}, True) if args.no_compile \
            else check_compile(device)
    except Exception as e:  # report and go on
        info, ok = {"error": f"{type(e).__name__}: {e}"}, False
    failed += not ok
    results.append(dict(case="torch.compile", ok=ok, **info))
    print(("PASS " if ok else "FAIL ") + "torch.compile(fullgraph=True) " +
          json.dumps(info), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    print(f"{len(results) - failed} passed, {failed} failed "
          f"({time.time() - start:.1f} s)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
