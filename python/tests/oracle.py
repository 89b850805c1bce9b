"""An fp64 numpy oracle of docs/semantics.md (forward), for the Python tests.

Written from the spec, independently of the compiler: the visible set from
causality (bottom-right) and the mask form, the soft cap before the bias,
empty rows O = 0 and LSE = -inf.
"""

import numpy as np


def _head_map(h, H, heads):
    return h // (H // heads)


def visible(B, Lq, Lk, H, causal, mask=None, keep=None, keep_rows=None):
    """Boolean [B, H, Lq, Lk]: which keys each query row sees."""
    i = np.arange(Lq)[:, None]
    j = np.arange(Lk)[None, :]
    vis = np.ones((B, H, Lq, Lk), dtype=bool)
    if causal:
        vis &= (j <= i + (Lk - Lq))[None, None]
    for b in range(B):
        for h in range(H):
            if mask is not None:
                m = mask[b % mask.shape[0], _head_map(h, H, mask.shape[1])]
                vis[b, h] &= np.broadcast_to(m, (Lq, Lk))
            if keep is not None:
                lst = keep[b % keep.shape[0], _head_map(h, H, keep.shape[1])]
                kept = np.zeros(Lk, dtype=bool)
                kept[lst[(lst >= 0) & (lst < Lk)]] = True
                vis[b, h] &= kept[None, :]
            if keep_rows is not None:
                s, thr, tie = (x[b % x.shape[0], _head_map(h, H, x.shape[1])]
                               for x in keep_rows)
                c = (np.arange(Lq) + (Lk - Lq)) if causal else np.full(Lq, Lk - 1)
                c = np.clip(c, 0, Lk - 1)
                with np.errstate(invalid="ignore"):
                    kept = (s[None, :] > thr[c][:, None]) | (
                        (s[None, :] == thr[c][:, None]) &
                        (np.arange(Lk)[None, :] <= tie[c][:, None]))
                vis[b, h] &= kept
    return vis


def attention(q, k, v, bias=None, mask=None, keep=None, keep_rows=None,
              causal=False, scale=None, softcap=0.0):
    """O [B, Lq, H, Dv] and LSE [B, H, Lq] in float64."""
    q, k, v = (np.asarray(x, dtype=np.float64) for x in (q, k, v))
    B, Lq, H, D = q.shape
    Lk, Hkv = k.shape[1], k.shape[2]
    scale = 1.0 / np.sqrt(D) if scale is None else scale
    vis = visible(B, Lq, Lk, H, causal, mask, keep, keep_rows)
    o = np.zeros((B, Lq, H, v.shape[3]))
    lse = np.full((B, H, Lq), -np.inf)
    for b in range(B):
        for h in range(H):
            g = _head_map(h, H, Hkv)
            s = scale * q[b, :, h] @ k[b, :, g].T
            if softcap > 0:
                s = softcap * np.tanh(s / softcap)
            if bias is not None:
                bb = np.asarray(bias, dtype=np.float64)
                s = s + np.broadcast_to(
                    bb[b % bb.shape[0], _head_map(h, H, bb.shape[1])], (Lq, Lk))
            s = np.where(vis[b, h], s, -np.inf)
            m = s.max(axis=1, initial=-np.inf)
            rows = np.isfinite(m)
            p = np.zeros_like(s)
            p[rows] = np.exp(s[rows] - m[rows, None])
            total = p.sum(axis=1)
            p[rows] /= total[rows, None]
            o[b, :, h] = p @ v[b, :, g]
            lse[b, h, rows] = m[rows] + np.log(total[rows])
    return o, lse


def rel_err(x, ref):
    x, ref = np.asarray(x, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    finite = np.isfinite(ref)
    if not np.array_equal(np.isfinite(x), finite) or not np.array_equal(
            x[~finite], ref[~finite]):
        return np.inf
    den = np.linalg.norm(ref[finite])
    num = np.linalg.norm(x[finite] - ref[finite])
    return num / den if den > 0 else num
