"""The CPU backward (libdma_cpu's dma.attention_grad) against central
differences of the fp64 oracle's forward, on tiny cases.

The loss is sum(O * G) for a fixed random G, so dLoss/dX is what the
backward returns for dO = G.
"""

import numpy as np
import pytest

import dma_attention as dma
from dma_attention import _cpu
import oracle


def numeric_grad(f, x, eps=1e-6):
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        up = f()
        x[i] = old - eps
        down = f()
        x[i] = old
        g[i] = (up - down) / (2 * eps)
    return g


@pytest.mark.parametrize("mask,causal,bias_shape,softcap", [
    ("none", True, (1, 2, 1, 5), 0.0),     # key bias broadcast over batch
    ("keep", False, (2, 4, 3, 5), 0.0),    # full bias
    ("mask", True, None, 2.0),             # soft cap, an empty row
    ("keep_rows", True, (2, 1, 3, 5), 0.0),
])
def test_gradients_match_finite_differences(mask, causal, bias_shape, softcap):
    rng = np.random.default_rng(7)
    B, Lq, Lk, H, Hkv, D = 2, 3, 5, 4, 2, 4
    q = rng.standard_normal((B, Lq, H, D))
    k = rng.standard_normal((B, Lk, Hkv, D))
    v = rng.standard_normal((B, Lk, Hkv, D))
    bias = None if bias_shape is None else rng.standard_normal(bias_shape)
    # Inputs rounded to f32 first: the oracle sees what the kernel sees.
    q, k, v = (x.astype(np.float32).astype(np.float64) for x in (q, k, v))
    if bias is not None:
        bias = bias.astype(np.float32).astype(np.float64)
    kw = {}
    score = rng.standard_normal((B, Hkv, Lk)).astype(np.float32)
    if mask == "mask":
        kw["mask"] = rng.random((B, H, Lq, Lk)) < 0.7
        kw["mask"][0, 0, 1] = False
    elif mask == "keep":
        kw["keep"] = dma.topk(score, 3, "shared")
    elif mask == "keep_rows":
        kw["keep_rows"] = dma.topk(score, 2, "per_query")
    G = rng.standard_normal((B, Lq, H, D))

    def loss():
        o, _ = oracle.attention(q, k, v, bias, causal=causal, softcap=softcap,
                                **kw)
        return float((o * G).sum())

    o, lse = dma.attention(q.astype(np.float32), k.astype(np.float32),
                           v.astype(np.float32), bias=bias, causal=causal,
                           softcap=softcap, return_lse=True, **kw)
    dq, dk, dv, db = _cpu.attention_grad(
        G, q, k, v, o, lse, bias, kw.get("mask"), kw.get("keep"),
        kw.get("keep_rows"), causal, None, softcap)
    for got, x in ((dq, q), (dk, k), (dv, v), (db, bias)):
        if x is None:
            assert got is None
            continue
        want = numeric_grad(loss, x)
        assert not np.isnan(got).any()
        assert oracle.rel_err(got, want) < 1e-4, (got, want)
