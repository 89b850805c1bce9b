"""value_bias and topk: generated kernels for CUDA tensors, else the
array-op reference (_reference.py).

On CUDA, bf16/f16 values run the generated value-bias kernel and scores run
the generated top-k kernels; float32 values, CPU tensors and numpy arrays
take the reference. When gradients are needed, value_bias's backward (into
value, weight, dt_bias and a) is the reference's through torch autograd, on
the same device.
"""

import numbers

from . import _reference


def _is_torch(x):
    return type(x).__module__.startswith("torch")


def _gpu_value_bias_applies(value):
    if not (_is_torch(value) and value.is_cuda):
        return False
    import torch
    return value.dtype in (torch.bfloat16, torch.float16)


def _check_value_bias_shapes(value, weight, a, dt_bias):
    if len(value.shape) != 4:
        raise ValueError(f"value must be [B, Lk, Hkv, D], got {tuple(value.shape)}")
    B, Lk, Hkv, D = value.shape
    if tuple(weight.shape) != (Hkv, Hkv * D):
        raise ValueError(f"weight must be [{Hkv}, {Hkv * D}], got {tuple(weight.shape)}")
    for name, t in (("a", a), ("dt_bias", dt_bias)):
        if t is not None and tuple(t.shape) != (Hkv,):
            raise ValueError(f"{name} must be [{Hkv}], got {tuple(t.shape)}")


def value_bias(value, weight, a, dt_bias=None, form="log", bundle=None):
    """score[b, h, j] = A[h] * softplus(W[h] . V[b, j] + b_dt[h]) (or exp of it).

    value [B, Lk, Hkv, D], weight [Hkv, Hkv*D], a [Hkv], dt_bias [Hkv].
    Returns [B, Hkv, Lk] in float32.
    """
    if form not in ("log", "exp"):
        raise ValueError(f"form is 'log' or 'exp', got {form!r}")
    _check_value_bias_shapes(value, weight, a, dt_bias)
    if not _gpu_value_bias_applies(value):
        return _reference.value_bias(value, weight, a, dt_bias, form)
    import torch
    from . import _gpu
    if torch.is_grad_enabled() and any(
            t is not None and t.requires_grad
            for t in (value, weight, a, dt_bias)):
        return _ValueBias.apply(value, weight, a, dt_bias, form, bundle)
    return _gpu.value_bias(value, weight, a, dt_bias, form, bundle)


def topk(score, keep, selection="shared", padding=None, bundle=None):
    """Keep the `keep` best keys of each (batch, KV head); ties to lower index.

    score [B, Hkv, Lk]; padding [B, Lk] (True = key exists). NaN scores and
    padded keys are never kept.
    shared -> int32 [B, Hkv, keep]: ascending positions, -1 padded.
    per_query -> (masked score, threshold, tiebreak), each [B, Hkv, Lk]:
    query i (of Lq) keeps key j <= c = i + Lk - Lq (or Lk - 1 without
    causality) iff s[j] > thr[c] or (s[j] == thr[c] and j <= tie[c]).
    """
    if not isinstance(keep, numbers.Integral) or keep < 1:
        raise ValueError(f"keep must be >= 1 (an integer), got {keep!r}")
    if selection not in ("shared", "per_query"):
        raise ValueError(f"selection is 'shared' or 'per_query', got {selection!r}")
    if len(score.shape) != 3:
        raise ValueError(f"score must be [B, Hkv, Lk], got {tuple(score.shape)}")
    if padding is not None and tuple(padding.shape) != (score.shape[0], score.shape[2]):
        raise ValueError(f"padding must be [{score.shape[0]}, {score.shape[2]}], "
                         f"got {tuple(padding.shape)}")
    if _is_torch(score) and score.is_cuda:
        from . import _gpu
        return _gpu.topk(score, keep, selection, padding, bundle)
    return _reference.topk(score, keep, selection, padding)


def _make_value_bias_function():
    import torch

    class ValueBias(torch.autograd.Function):
        """Generated forward; the reference's backward (torch autograd)."""

        @staticmethod
        def forward(ctx, value, weight, a, dt_bias, form, bundle):
            from . import _gpu
            ctx.form = form
            ctx.save_for_backward(value, weight, a, dt_bias)
            return _gpu.value_bias(value, weight, a, dt_bias, form, bundle)

        @staticmethod
        def backward(ctx, grad):
            value, weight, a, dt_bias = ctx.saved_tensors
            inputs = [t.detach().requires_grad_(t.requires_grad)
                      if t is not None else None
                      for t in (value, weight, a, dt_bias)]
            wanted = [t for t in inputs if t is not None and t.requires_grad]
            with torch.enable_grad():
                s = _reference.value_bias(*inputs[:3], inputs[3], ctx.form)
                got = iter(torch.autograd.grad(s, wanted, grad))
            grads = [next(got) if t is not None and t.requires_grad else None
                     for t in inputs]
            return (*grads, None, None)

    return ValueBias


class _LazyFunction:
    """Builds the autograd.Function on first use (torch is optional)."""

    def __init__(self, make):
        self._make, self._fn = make, None

    def apply(self, *args):
        if self._fn is None:
            self._fn = self._make()
        return self._fn.apply(*args)


_ValueBias = _LazyFunction(_make_value_bias_function)
