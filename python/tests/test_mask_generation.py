"""value_bias and topk against loops written from docs/semantics.md."""

import math

import numpy as np

import dma_attention as dma


def test_value_bias_matches_the_formula():
    rng = np.random.default_rng(3)
    B, Lk, Hkv, D = 2, 9, 2, 4
    v = rng.standard_normal((B, Lk, Hkv, D)).astype(np.float32)
    w = rng.standard_normal((Hkv, Hkv * D)).astype(np.float32) * 5
    a = -np.abs(rng.standard_normal(Hkv)).astype(np.float32)
    b_dt = rng.standard_normal(Hkv).astype(np.float32)
    for form in ("log", "exp"):
        s = dma.value_bias(v, w, a, b_dt, form=form)
        assert s.shape == (B, Hkv, Lk)
        for b in range(B):
            for h in range(Hkv):
                for j in range(Lk):
                    dt = float(w[h] @ v[b, j].reshape(-1)) + float(b_dt[h])
                    sp = dt if dt > 20 else math.log1p(math.exp(dt))
                    want = a[h] * sp
                    want = math.exp(want) if form == "exp" else want
                    assert abs(s[b, h, j] - want) <= 1e-5 * max(1, abs(want))


def test_shared_topk_keeps_the_best_ascending_ties_low():
    score = np.array([[[1.0, 3.0, 3.0, 0.5, 3.0, np.nan]]], np.float32)
    keep = dma.topk(score, 2)
    assert keep.tolist() == [[[1, 2]]]
    assert dma.topk(score, 10).tolist() == [[[0, 1, 2, 3, 4, -1, -1, -1, -1, -1]]]
    padding = np.array([[True, False, True, True, True, True]])
    assert dma.topk(score, 2, padding=padding).tolist() == [[[2, 4]]]


def test_per_query_topk_rows_select_the_prefix_best():
    rng = np.random.default_rng(4)
    L, w = 12, 3
    score = rng.integers(0, 4, size=(1, 1, L)).astype(np.float32)  # many ties
    s, thr, tie = dma.topk(score, w, "per_query")
    for c in range(L):
        prefix = score[0, 0, :c + 1]
        order = sorted(range(c + 1), key=lambda j: (-prefix[j], j))[:w]
        kept = {j for j in range(c + 1)
                if s[0, 0, j] > thr[0, 0, c] or
                (s[0, 0, j] == thr[0, 0, c] and j <= tie[0, 0, c])}
        assert kept == set(order), c


def test_cpu_pipeline_topk_equals_the_reference():
    # dma.topk on numpy runs the compiled CPU lowering; the array-op
    # reference (_reference.py) must select exactly the same keys.
    from dma_attention import _reference
    rng = np.random.default_rng(11)
    for B, H, L, w in ((1, 1, 7, 3), (2, 3, 130, 17), (1, 2, 50, 60)):
        s = (rng.integers(-4, 5, (B, H, L)) * 0.5).astype(np.float32)
        s[:, :, 3::7] = np.nan
        pad = rng.random((B, L)) < 0.8
        for padding in (None, pad):
            got = dma.topk(s, w, "shared", padding=padding)
            assert np.array_equal(got, _reference.topk(s, w, "shared", padding))
            got = dma.topk(s, w, "per_query", padding=padding)
            want = _reference.topk(s, w, "per_query", padding)
            for x, y in zip(got, want):
                assert np.array_equal(x, y, equal_nan=True)
