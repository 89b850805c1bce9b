"""value_bias's gradients on the CPU pipeline (dma.value_bias_grad) against
float64 autograd of the formula, and torch.autograd.gradcheck (eps and
tolerances 1e-3: the CPU path computes in float32, as in
test_autograd_cpu.py)."""

import pytest
import torch

import dma_attention as dma

GRADCHECK = dict(eps=1e-3, atol=1e-3, rtol=1e-3)


def formula(v, w, a, b_dt, form):
    B, Lk, Hkv, D = v.shape
    dt = v.reshape(B, Lk, Hkv * D) @ w.t()
    if b_dt is not None:
        dt = dt + b_dt
    sp = torch.where(dt > 20, dt, torch.log1p(torch.exp(dt.clamp(max=20))))
    s = (sp * a).permute(0, 2, 1)
    return torch.exp(s) if form == "exp" else s


def leaves(seed, B=2, Lk=7, Hkv=3, D=4, dtype=torch.float64, with_dt=True):
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(B, Lk, Hkv, D, generator=g, dtype=dtype)
    w = torch.randn(Hkv, Hkv * D, generator=g, dtype=dtype) * 0.7
    a = -torch.rand(Hkv, generator=g, dtype=dtype) - 0.2
    b = torch.randn(Hkv, generator=g, dtype=dtype) if with_dt else None
    # One dt far above 20 (softplus' derivative is exactly 1 there).
    v[0, 0] = 40.0 / (w[0].abs().sum() + 1e-9) * w[0].sign().reshape(Hkv, D)
    return [x.requires_grad_() if x is not None else None for x in (v, w, a, b)]


@pytest.mark.parametrize("form", ["log", "exp"])
@pytest.mark.parametrize("with_dt", [True, False])
def test_gradients_match_float64_autograd(form, with_dt):
    ours = leaves(1, dtype=torch.float32, with_dt=with_dt)
    ref = [x.detach().double().requires_grad_() if x is not None else None
           for x in ours]
    ds = torch.randn(2, 3, 7, generator=torch.Generator().manual_seed(2))
    dma.value_bias(*ours[:3], ours[3], form=form).backward(ds)
    formula(*ref, form).backward(ds.double())
    for got, want in zip(ours, ref):
        if want is None:
            continue
        err = ((got.grad.double() - want.grad).norm() / want.grad.norm()).item()
        assert err < 1e-4, err
        assert got.grad.dtype == torch.float32


@pytest.mark.parametrize("form", ["log", "exp"])
def test_gradcheck(form):
    v, w, a, b = leaves(3, B=1, Lk=4, Hkv=2, D=2)
    assert torch.autograd.gradcheck(
        lambda v, w, a, b: dma.value_bias(v, w, a, b, form=form),
        (v, w, a, b), **GRADCHECK)


def test_only_requested_gradients():
    v, w, a, b = leaves(4, dtype=torch.float32)
    w.requires_grad_(False)
    dma.value_bias(v, w, a, b).sum().backward()
    assert w.grad is None and v.grad is not None and b.grad is not None


def test_bad_gradient_shapes_are_reported():
    from dma_attention import _cpu
    v, w, a, b = (x.detach().float() for x in leaves(5, dtype=torch.float32))
    with pytest.raises(ValueError, match="grad must be"):
        _cpu.value_bias_grad(torch.zeros(2, 3, 6), v, w, a, b, "log")
