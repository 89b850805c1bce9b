"""GPU checks of the generated mask-generation kernels (check.py runs them).

* value_bias: against float64 on the same rounded inputs (relative error
  under 1e-5: the kernel computes in f32), both forms, with and without
  dt_bias, bf16 and f16, D 64 and 128; and its gradients (the generated
  backward, dma.value_bias_grad) against float64 autograd.
* topk shared and per-query: exactly equal to the reference selection
  (_reference.topk, a heap pass in numpy) on the same f32 scores: ties
  (scores on a coarse grid), NaN scores, key padding, w >= Lk, w = 1,
  lengths that are not multiples of the CTA size.

Each check returns (name, ok, details).
"""

import math

import torch

import dma_attention as dma
from dma_attention import _reference

DTYPE = {"bf16": torch.bfloat16, "f16": torch.float16}


def _rel(out, ref):
    return ((out.double() - ref).norm() / ref.norm().clamp_min(1e-30)).item()


def _value_bias_inputs(B, Lk, Hkv, D, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(B, Lk, Hkv, D, generator=g).to(DTYPE[dtype])
    w = torch.randn(Hkv, Hkv * D, generator=g) / (Hkv * D) ** 0.5
    a = -torch.rand(Hkv, generator=g) - 0.1
    b_dt = torch.randn(Hkv, generator=g)
    return v, w, a, b_dt


def _value_bias_f64(v, w, a, b_dt, form):
    B, Lk, Hkv, D = v.shape
    dt = v.double().reshape(B, Lk, Hkv * D) @ w.double().t()
    if b_dt is not None:
        dt = dt + b_dt.double()
    sp = torch.where(dt > 20, dt, torch.log1p(torch.exp(dt.clamp(max=20))))
    s = (sp * a.double()).permute(0, 2, 1)
    return torch.exp(s) if form == "exp" else s


def _value_bias_matrix(quick, seed):
    """(name suffix, inputs, form) over shapes x dtypes x forms x dt_bias."""
    shapes = [(2, 300, 2, 64), (1, 1000, 4, 128), (1, 300, 12, 64)]
    if not quick:
        shapes.append((1, 4099, 8, 128))
    for B, Lk, Hkv, D in shapes:
        for dtype in ("bf16", "f16"):
            for form in ("log", "exp"):
                for with_dt in (True, False):
                    seed += 1
                    v, w, a, b_dt = _value_bias_inputs(B, Lk, Hkv, D, dtype, seed)
                    name = (f"{dtype}_b{B}k{Lk}kv{Hkv}d{D}_{form}"
                            f"{'_dtbias' if with_dt else ''}")
                    yield name, (v, w, a, b_dt if with_dt else None), form, seed


def value_bias_checks(device, quick):
    for name, inputs, form, _ in _value_bias_matrix(quick, 0):
        v, w, a, b_dt = inputs
        got = dma.value_bias(v.to(device), w.to(device), a.to(device),
                             None if b_dt is None else b_dt.to(device),
                             form=form)
        err = _rel(got.cpu(), _value_bias_f64(v, w, a, b_dt, form))
        yield ("value_bias_" + name,
               err < 1e-5 and not got.isnan().any().item(), {"err": err})


def value_bias_grad_checks(device, quick):
    """The generated backward (dma.value_bias_grad) against float64
    autograd of the formula: dV comes back in the value's dtype (the spec's
    gradient tolerance), dW, db_dt and dA in float32 (1e-4)."""
    for name, inputs, form, seed in _value_bias_matrix(quick, 100):
        B, Lk, Hkv, _ = inputs[0].shape
        names = ("value", "weight", "a", "dt_bias")
        ours = [t.to(device).requires_grad_() if t is not None else None
                for t in inputs]
        ref = [t.double().requires_grad_() if t is not None else None
               for t in inputs]
        ds = torch.randn(B, Hkv, Lk, generator=torch.Generator().manual_seed(seed))
        dma.value_bias(*ours[:3], ours[3], form=form).backward(ds.to(device))
        _value_bias_f64(*ref[:3], ref[3], form).backward(ds.double())
        errors = {n: _rel(x.grad.cpu(), r.grad)
                  for n, x, r in zip(names, ours, ref) if r is not None}
        tol = {torch.bfloat16: 2e-2, torch.float16: 1e-2}[inputs[0].dtype]
        ok = errors["value"] < tol and all(
            errors[n] < 1e-4 for n in errors if n != "value")
        yield "value_bias_grad_" + name, ok, errors


def _scores(B, H, L, seed, ties, nan):
    g = torch.Generator().manual_seed(seed)
    if ties:  # a coarse grid: many equal scores, -0.0 among them
        s = torch.randint(-6, 7, (B, H, L), generator=g) * 0.5
        s[s == 0] = -0.0
    else:
        s = torch.randn(B, H, L, generator=g)
    if nan:
        s[:, :, 5::11] = float("nan")
    return s.float()


def _same(got, want):
    got = got.cpu()
    want = torch.as_tensor(want).cpu()
    if got.dtype.is_floating_point:
        return bool(((got == want) | (got.isnan() & want.isnan())).all())
    return bool((got == want).all())


def per_query_reference(score, w, padding):
    """The per-query top-k of _reference.topk, vectorized in torch (on the
    score's device) for rows too long for its Python heap: each prefix's
    w-th best allowed key by global rank (score descending, index
    ascending: a stable sort), kept only when the prefix has more than w."""
    B, H, L = score.shape
    s = score.float()
    allowed = ~s.isnan()
    if padding is not None:
        allowed &= padding.to(s.device, torch.bool)[:, None, :]
    masked = torch.where(allowed, s, torch.full_like(s, float("nan")))
    thr = torch.full_like(s, -math.inf)
    tie = torch.full((B, H, L), 2**31 - 1, dtype=torch.int32, device=s.device)
    key = torch.where(allowed, s, torch.full_like(s, -math.inf))
    order = torch.sort(key, dim=-1, descending=True, stable=True).indices
    rank = torch.empty_like(order)
    rank.scatter_(-1, order,
                  torch.arange(L, device=s.device).expand(B, H, L).contiguous())
    big = torch.iinfo(torch.int64).max
    j = torch.arange(L, device=s.device)
    for c0 in range(0, L, 512):
        c = torch.arange(c0, min(L, c0 + 512), device=s.device)
        visible = (j[None, :] <= c[:, None])[None, None] & allowed[:, :, None, :]
        ranks = torch.where(visible, rank[:, :, None, :], big)
        count = visible.sum(-1)
        wth = ranks.topk(min(w, L), dim=-1, largest=False).values[..., -1]
        pos = order.gather(-1, wth.clamp(max=L - 1).flatten(2)).view_as(wth)
        keep = count > w
        thr[:, :, c] = torch.where(keep, s.gather(-1, pos), thr[:, :, c])
        tie[:, :, c] = torch.where(keep, pos.to(torch.int32), tie[:, :, c])
    return masked, thr, tie


def _mismatch(got, want):
    """How many elements differ and the first that does."""
    bad = ~((got == want) | (got.isnan() & want.isnan())) \
        if got.dtype.is_floating_point else got != want
    n = int(bad.sum())
    if not n:
        return {}
    first = tuple(int(i) for i in bad.nonzero()[0])
    return {"mismatches": n, "first": str(first),
            "got": float(got[first]), "want": float(want[first])}


def topk_checks(device, quick):
    shapes = [(1, 1, 7, 3), (2, 2, 300, 64), (1, 3, 2500, 1000),
              (1, 2, 1000, 1500), (1, 1, 50, 1), (1, 2, 700, 256),
              (1, 2, 1000, 257), (2, 1, 3000, 40)]
    if not quick:
        shapes += [(1, 2, 16384, 1024), (1, 2, 8192, 300)]
    seed = 0
    for B, H, L, w in shapes:
        for ties, nan, padded in ((False, False, False), (True, True, False),
                                  (True, False, True)):
            seed += 1
            s = _scores(B, H, L, seed, ties, nan)
            pad = None
            if padded:
                pad = torch.rand(B, L, generator=torch.Generator().manual_seed(seed)) < 0.8
            tag = (f"b{B}h{H}k{L}w{w}{'_ties' if ties else ''}"
                   f"{'_nan' if nan else ''}{'_padded' if padded else ''}")
            got = dma.topk(s.to(device), w, "shared",
                           None if pad is None else pad.to(device))
            want = _reference.topk(s, w, "shared", pad)
            yield "topk_shared_" + tag, _same(got, want), {}
            if L > 9000:
                continue  # the vectorized reference's memory
            got = dma.topk(s.to(device), w, "per_query",
                           None if pad is None else pad.to(device))
            # The reference's per-query heap pass is Python: long rows
            # use the vectorized one (checked against it on the short).
            want = (_reference.topk(s, w, "per_query", pad) if L <= 3000 else
                    per_query_reference(s.to(device), w, pad))
            want = [x.to(device) for x in want]
            details = {}
            for name, x, y in zip(("masked_score", "threshold", "tiebreak"),
                                  got, want):
                d = _mismatch(x, y)
                if d:
                    details = dict(output=name, **d)
                    break
            yield "topk_per_query_" + tag, not details, details
            if L <= 3000 and seed % 3 == 1:
                fast = per_query_reference(s.to(device), w, pad)
                slow = [x.to(device) for x in want]
                agree = all(_same(x, y) for x, y in zip(fast, slow))
                yield "topk_per_query_reference_" + tag, agree, {}


def mask_checks(device, quick):
    """Every mask-generation check: (name, ok, details)."""
    yield from value_bias_checks(device, quick)
    yield from value_bias_grad_checks(device, quick)
    yield from topk_checks(device, quick)
