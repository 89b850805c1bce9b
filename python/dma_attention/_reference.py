"""The mask-generation helpers, written from the spec with array ops.

`value_bias` and `topk` produce the inputs `attention` takes (the per-key
score as bias, the kept positions or per-query rows). They accept numpy
arrays or torch tensors (on any device) and return the same kind.
"""

import math


def _lib(x):
    if type(x).__module__.startswith("torch"):
        import torch
        return torch
    import numpy
    return numpy


def value_bias(value, weight, a, dt_bias=None, form="log"):
    """score[b, h, j] = A[h] * softplus(W[h] . V[b, j] + b_dt[h]) (or exp of it).

    value [B, Lk, Hkv, D], weight [Hkv, Hkv*D], a [Hkv], dt_bias [Hkv].
    Returns [B, Hkv, Lk] in float32.
    """
    if form not in ("log", "exp"):
        raise ValueError(f"form is 'log' or 'exp', got {form!r}")
    xp = _lib(value)
    B, Lk, Hkv, D = value.shape
    if tuple(weight.shape) != (Hkv, Hkv * D):
        raise ValueError(f"weight must be [{Hkv}, {Hkv * D}], got {tuple(weight.shape)}")
    v = value.reshape(B, Lk, Hkv * D)
    if xp.__name__ == "torch":
        v = v.float()
        dt = v @ weight.float().t()
        if dt_bias is not None:
            dt = dt + dt_bias.float()
        sp = xp.where(dt > 20, dt, xp.log1p(xp.exp(xp.clamp(dt, max=20))))
        s = (sp * a.float()).permute(0, 2, 1)
    else:
        dt = v.astype("float32") @ weight.astype("float32").T
        if dt_bias is not None:
            dt = dt + dt_bias.astype("float32")
        sp = xp.where(dt > 20, dt, xp.log1p(xp.exp(xp.minimum(dt, 20))))
        s = (sp * a.astype("float32")).transpose(0, 2, 1)
    s = xp.exp(s) if form == "exp" else s
    return s.contiguous() if xp.__name__ == "torch" else xp.ascontiguousarray(s)


def topk(score, keep, selection="shared", padding=None):
    """Keep the `keep` best keys of each (batch, KV head); ties to lower index.

    score [B, Hkv, Lk]; padding [B, Lk] (True = key exists). NaN scores and
    padded keys are never kept.
    shared -> int32 [B, Hkv, keep]: ascending positions, -1 padded.
    per_query -> (masked score, threshold, tiebreak), each [B, Hkv, Lk]:
    query i (of Lq) keeps key j <= c = i + Lk - Lq (or Lk - 1 without
    causality) iff s[j] > thr[c] or (s[j] == thr[c] and j <= tie[c]).
    """
    if keep < 1:
        raise ValueError(f"keep must be >= 1, got {keep}")
    xp = _lib(score)
    torch_like = xp.__name__ == "torch"
    import numpy as np
    s = score.detach().float().cpu().numpy() if torch_like else np.asarray(score, dtype=np.float32)
    B, H, L = s.shape
    allowed = ~np.isnan(s)
    if padding is not None:
        p = padding.cpu().numpy() if torch_like else np.asarray(padding)
        allowed &= p.astype(bool)[:, None, :]
    if selection == "shared":
        out = np.full((B, H, keep), -1, dtype=np.int32)
        for b in range(B):
            for h in range(H):
                idx = np.nonzero(allowed[b, h])[0]
                order = idx[np.lexsort((idx, -s[b, h, idx]))][:keep]
                order.sort()
                out[b, h, :len(order)] = order
        return xp.from_numpy(out).to(score.device) if torch_like else out
    if selection != "per_query":
        raise ValueError(f"selection is 'shared' or 'per_query', got {selection!r}")
    masked = np.where(allowed, s, np.nan).astype(np.float32)
    thr = np.full((B, H, L), -math.inf, dtype=np.float32)
    tie = np.full((B, H, L), np.iinfo(np.int32).max, dtype=np.int32)
    import heapq
    for b in range(B):
        for h in range(H):
            heap = []  # the best `keep` so far, worst on top: (score, -index)
            seen = 0   # allowed keys in the prefix
            for c in range(L):
                if allowed[b, h, c]:
                    seen += 1
                    item = (s[b, h, c], -c)
                    if len(heap) < keep:
                        heapq.heappush(heap, item)
                    elif item[0] > heap[0][0]:
                        heapq.heapreplace(heap, item)
                if seen > keep:
                    thr[b, h, c], tie[b, h, c] = heap[0][0], -heap[0][1]
    if torch_like:
        import torch
        dev = score.device
        return (torch.from_numpy(masked).to(dev), torch.from_numpy(thr).to(dev),
                torch.from_numpy(tie).to(dev))
    return masked, thr, tie
