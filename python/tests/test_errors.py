"""Wrong input raises TypeError or ValueError saying what is wrong."""

import numpy as np
import pytest

import dma_attention as dma


def arrays(B=1, Lq=4, Lk=6, H=2, Hkv=1, D=8):
    rng = np.random.default_rng(0)
    return (rng.standard_normal((B, Lq, H, D)).astype(np.float32),
            rng.standard_normal((B, Lk, Hkv, D)).astype(np.float32),
            rng.standard_normal((B, Lk, Hkv, D)).astype(np.float32))


def test_not_an_array():
    q, k, v = arrays()
    with pytest.raises(TypeError, match="q must be a torch tensor or a numpy array"):
        dma.attention(q.tolist(), k, v)


def test_wrong_rank():
    q, k, v = arrays()
    with pytest.raises(ValueError, match=r"q must be \[B, Lq, H, D\]"):
        dma.attention(q[0], k, v)


def test_head_dims_differ():
    q, k, v = arrays()
    with pytest.raises(ValueError, match=r"k head dim \(4\) must equal q head dim \(8\)"):
        dma.attention(q, k[..., :4], v)


def test_heads_not_a_multiple():
    q, k, v = arrays(H=3, Hkv=2)
    with pytest.raises(ValueError, match="invalid arguments"):
        dma.attention(q, k, v)


def test_bias_broadcast():
    q, k, v = arrays()
    with pytest.raises(ValueError, match="invalid arguments: .*bias"):
        dma.attention(q, k, v, bias=np.zeros((1, 2, 4, 5), np.float32))


def test_mask_dtype():
    q, k, v = arrays()
    with pytest.raises(TypeError, match="mask must be a boolean array"):
        dma.attention(q, k, v, mask=np.ones((1, 1, 4, 6), np.float32))


def test_integer_inputs():
    q, k, v = arrays()
    with pytest.raises(TypeError, match="q must be a floating-point array"):
        dma.attention(q.astype(np.int32), k, v)


def test_two_mask_forms():
    q, k, v = arrays()
    with pytest.raises(ValueError, match="at most one of mask, keep and keep_rows"):
        dma.attention(q, k, v, mask=np.ones((1, 1, 4, 6), bool),
                      keep=np.zeros((1, 1, 2), np.int32))


def test_negative_softcap():
    q, k, v = arrays()
    with pytest.raises(ValueError, match="softcap must be >= 0"):
        dma.attention(q, k, v, softcap=-1.0)


def test_tile_sizes():
    q, k, v = arrays()
    with pytest.raises(ValueError, match="q_tile must be a multiple of 16"):
        dma.attention(q, k, v, q_tile=40)


def test_keep_rows_needs_three_parts():
    q, k, v = arrays()
    with pytest.raises(ValueError, match="keep_rows is"):
        dma.attention(q, k, v, keep_rows=(np.zeros((1, 1, 6), np.float32),))


def test_helpers_reject_bad_options():
    with pytest.raises(ValueError, match="keep must be >= 1"):
        dma.topk(np.zeros((1, 1, 4), np.float32), 0)
    with pytest.raises(ValueError, match="selection is 'shared' or 'per_query'"):
        dma.topk(np.zeros((1, 1, 4), np.float32), 2, "dense")
    with pytest.raises(ValueError, match="form is 'log' or 'exp'"):
        dma.value_bias(np.zeros((1, 4, 1, 8), np.float32),
                       np.zeros((1, 8), np.float32), np.ones(1, np.float32),
                       form="linear")
