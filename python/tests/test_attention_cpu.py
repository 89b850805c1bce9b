"""dma_attention.attention on CPU arrays against the fp64 oracle.

The spec's matrix, shrunk to what compiles quickly: Lq = Lk and Lq != Lk
(Lq = 1 included), lengths 1, 7 and 129, H = Hkv, GQA and MQA, every bias
broadcast pattern, every mask form, causal on and off, empty rows, w >= Lk,
soft cap and scale. Outputs are poisoned (NaN) before the call, so an
unwritten element fails.
"""

import numpy as np
import pytest

import dma_attention as dma
import oracle

TOL = 1e-5

SHAPES = [  # B, Lq, Lk, H, Hkv, D, Dv
    (1, 1, 1, 1, 1, 8, 8),
    (2, 7, 7, 4, 4, 16, 16),
    (1, 129, 129, 4, 2, 32, 16),
    (2, 1, 40, 4, 1, 16, 16),
    (1, 20, 7, 2, 1, 8, 8),      # Lq > Lk: causal rows with no key
    (1, 9, 33, 2, 2, 16, 16),
]
BIAS = [None, "key", "full", "head_row", "batch_only"]
MASKS = ["none", "mask", "keep", "keep_rows"]


def bias_of(kind, B, Lq, Lk, H, Hkv, rng):
    shape = {"key": (B, Hkv, 1, Lk), "full": (B, H, Lq, Lk),
             "head_row": (1, H, Lq, Lk), "batch_only": (B, 1, 1, Lk)}[kind]
    return rng.standard_normal(shape).astype(np.float32)


def cases():
    n = 0
    for shape in SHAPES:
        for mask in MASKS:
            for causal in (False, True):
                yield pytest.param(shape, mask, causal, BIAS[n % len(BIAS)],
                                   5.0 if n % 5 == 2 else 0.0, n,
                                   id=f"{shape}-{mask}-causal{int(causal)}-"
                                      f"bias{BIAS[n % len(BIAS)]}-{n}")
                n += 1


@pytest.mark.parametrize("shape,mask,causal,bias_kind,softcap,seed", cases())
def test_matches_oracle(shape, mask, causal, bias_kind, softcap, seed):
    B, Lq, Lk, H, Hkv, D, Dv = shape
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((B, Lq, H, D)).astype(np.float32)
    k = rng.standard_normal((B, Lk, Hkv, D)).astype(np.float32)
    v = rng.standard_normal((B, Lk, Hkv, Dv)).astype(np.float32)
    bias = None if bias_kind is None else bias_of(bias_kind, B, Lq, Lk, H,
                                                  Hkv, rng)
    kw = {}
    w = max(1, Lk // 3) if seed % 2 == 0 else Lk + 4   # w >= Lk: keep all
    score = rng.standard_normal((B, Hkv, Lk)).astype(np.float32)
    if mask == "mask":
        kw["mask"] = rng.random((B, 1, Lq, Lk)) < 0.6
        kw["mask"][:, :, 0, :] = False                     # an empty row
    elif mask == "keep":
        kw["keep"] = dma.topk(score, w, "shared")
    elif mask == "keep_rows":
        kw["keep_rows"] = dma.topk(score, w, "per_query")
    scale = 0.3 if seed % 3 == 1 else None
    o, lse = dma.attention(q, k, v, bias=bias, causal=causal, scale=scale,
                           softcap=softcap, return_lse=True, **kw)
    ro, rlse = oracle.attention(q, k, v, bias, causal=causal, scale=scale,
                                softcap=softcap, **kw)
    assert o.dtype == np.float32 and o.shape == (B, Lq, H, Dv)
    assert not np.isnan(o).any() and not np.isnan(lse).any()
    assert oracle.rel_err(o, ro) < TOL
    assert oracle.rel_err(lse, rlse) < TOL
    empty = np.isneginf(rlse)                 # [B, H, Lq]
    assert (o.transpose(0, 2, 1, 3)[empty] == 0).all()


def test_zero_scale_is_uniform_attention():
    # scale=0 is a scale, not "the default": every visible key weighs the
    # same, so each output row is the mean of the values it sees.
    rng = np.random.default_rng(3)
    q = rng.standard_normal((1, 5, 2, 8)).astype(np.float32)
    k = rng.standard_normal((1, 6, 1, 8)).astype(np.float32)
    v = rng.standard_normal((1, 6, 1, 8)).astype(np.float32)
    o = dma.attention(q, k, v, scale=0.0)
    mean = np.broadcast_to(v.mean(axis=1, keepdims=True), (1, 5, 2, 8))
    assert oracle.rel_err(o, mean) < TOL
    assert oracle.rel_err(dma.attention(q, k, v),
                          oracle.attention(q, k, v)[0]) < TOL


def test_float16_and_float64_inputs_keep_their_dtype():
    rng = np.random.default_rng(1)
    q = rng.standard_normal((1, 5, 2, 8))
    k = rng.standard_normal((1, 6, 1, 8))
    for dtype in (np.float16, np.float64):
        o = dma.attention(q.astype(dtype), k.astype(dtype), k.astype(dtype))
        assert o.dtype == dtype
        ro, _ = oracle.attention(q.astype(dtype), k.astype(dtype),
                                 k.astype(dtype))
        assert oracle.rel_err(o, ro) < (5e-3 if dtype == np.float16 else TOL)


def test_non_contiguous_inputs():
    rng = np.random.default_rng(2)
    q = rng.standard_normal((1, 2, 6, 8)).astype(np.float32).transpose(0, 2, 1, 3)
    k = rng.standard_normal((1, 9, 1, 8)).astype(np.float32)
    o = dma.attention(q, k, k, causal=True)
    ro, _ = oracle.attention(q, k, k, causal=True)
    assert oracle.rel_err(o, ro) < TOL
