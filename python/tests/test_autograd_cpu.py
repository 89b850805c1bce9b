"""torch.autograd through `attention` on CPU tensors (the CPU pipeline's
forward and backward), with torch.autograd.gradcheck.

The CPU path computes in float32, so gradcheck's float64 inputs are rounded
there: the finite differences use eps = 1e-3 and the comparison 1e-3
tolerances (float32 rounding over 2 eps is ~1e-4; the central difference's
own error is O(eps^2)).
"""

import numpy as np
import pytest
import torch

import dma_attention as dma
import oracle

GRADCHECK = dict(eps=1e-3, atol=1e-3, rtol=1e-3)


def inputs(B=1, Lq=5, Lk=6, H=2, Hkv=1, D=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    mk = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)
    return mk(B, Lq, H, D), mk(B, Lk, Hkv, D), mk(B, Lk, Hkv, D)


@pytest.mark.parametrize("form", ["none", "mask", "keep", "keep_rows"])
def test_gradcheck(form):
    q, k, v = inputs(seed=3)
    bias = torch.randn(1, 1, 1, 6, dtype=torch.float64)
    kw = {}
    score = np.random.default_rng(1).standard_normal((1, 1, 6)).astype(np.float32)
    if form == "mask":
        m = np.random.default_rng(2).random((1, 2, 5, 6)) < 0.7
        m[0, 0, 2] = False                                 # an empty row
        kw["mask"] = torch.from_numpy(m)
    elif form == "keep":
        kw["keep"] = torch.from_numpy(dma.topk(score, 3))
    elif form == "keep_rows":
        kw["keep_rows"] = tuple(torch.from_numpy(x)
                                for x in dma.topk(score, 3, "per_query"))
    args = [t.requires_grad_() for t in (q, k, v, bias)]

    def fn(q, k, v, bias):
        return dma.attention(q, k, v, bias=bias, causal=True, softcap=3.0,
                             **kw)
    assert torch.autograd.gradcheck(fn, args, **GRADCHECK)


def test_gradients_only_where_asked():
    q, k, v = inputs()
    bias = torch.randn(1, 2, 5, 6, dtype=torch.float64, requires_grad=True)
    o = dma.attention(q, k, v, bias=bias)
    o.sum().backward()
    assert bias.grad is not None and bias.grad.shape == bias.shape
    assert q.grad is None and k.grad is None


def test_forward_of_torch_cpu_tensors_matches_the_oracle():
    q, k, v = inputs(B=2, Lq=9, Lk=9, H=4, Hkv=2, D=8, seed=5)
    o, lse = dma.attention(q.float(), k.float(), v.float(), causal=True,
                           return_lse=True)
    assert isinstance(o, torch.Tensor) and o.dtype == torch.float32
    ro, rlse = oracle.attention(q.numpy(), k.numpy(), v.numpy(), causal=True)
    assert oracle.rel_err(o.numpy(), ro) < 1e-5
    assert oracle.rel_err(lse.numpy(), rlse) < 1e-5
    # bfloat16 in, bfloat16 out (computed in float32).
    ob = dma.attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), causal=True)
    assert ob.dtype == torch.bfloat16
    assert oracle.rel_err(ob.float().numpy(), ro) < 1e-2


def test_no_grad_mode_takes_the_plain_path():
    q, k, v = inputs()
    q.requires_grad_()
    with torch.no_grad():
        o = dma.attention(q, k, v)
    assert not o.requires_grad


def test_deterministic_is_accepted_and_the_cpu_backward_always_is():
    # The CPU backward sums in a fixed order: deterministic=True changes
    # nothing there, and two runs give the same bits.
    q, k, v = (x.float() for x in inputs(B=1, Lq=7, Lk=9, H=4, Hkv=2, D=8))
    grads = []
    for deterministic in (False, True, True):
        leaves = [x.clone().requires_grad_() for x in (q, k, v)]
        dma.attention(*leaves, causal=True,
                      deterministic=deterministic).sum().backward()
        grads.append([x.grad for x in leaves])
    for a, b in zip(grads[0], grads[1]):
        assert torch.equal(a, b)
    for a, b in zip(grads[1], grads[2]):
        assert torch.equal(a, b)
