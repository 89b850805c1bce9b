"""value_bias and topk: generated kernels for CUDA tensors, else the
array-op reference (_reference.py).

value_bias: bf16/f16 values on CUDA run the generated kernels (forward and
backward); CPU tensors and numpy arrays run the CPU pipeline (libdma_cpu);
float32 values on CUDA run PyTorch ops. topk: scores on CUDA run the
generated kernels, others the CPU pipeline (dma.topk's heap lowering).
_reference.py keeps array-op versions of both, for tests.
"""

import numbers

from . import _reference


def _is_torch(x):
    return type(x).__module__.startswith("torch")


def _gpu_value_bias_applies(value):
    if not (_is_torch(value) and value.is_cuda):
        return False
    import torch
    # The kernels move 8 values per access: D % 8 == 0.
    return (value.dtype in (torch.bfloat16, torch.float16)
            and value.shape[-1] % 8 == 0)


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
    Returns [B, Hkv, Lk] in float32. Torch tensors that require grad get
    gradients for value, weight, a and dt_bias.
    """
    if form not in ("log", "exp"):
        raise ValueError(f"form is 'log' or 'exp', got {form!r}")
    _check_value_bias_shapes(value, weight, a, dt_bias)
    if _is_torch(value) and value.is_cuda and not _gpu_value_bias_applies(value):
        # float32 values (or D % 8 != 0) on the GPU: PyTorch ops.
        return _reference.value_bias(value, weight, a, dt_bias, form)
    if _is_torch(value):
        import torch
        if torch.is_grad_enabled() and any(
                t is not None and t.requires_grad
                for t in (value, weight, a, dt_bias)):
            return _ValueBias.apply(value, weight, a, dt_bias, form, bundle)
    return _value_bias_forward(value, weight, a, dt_bias, form, bundle)


def _value_bias_forward(value, weight, a, dt_bias, form, bundle):
    if _gpu_value_bias_applies(value):
        from . import _gpu
        return _gpu.value_bias(value, weight, a, dt_bias, form, bundle)
    from . import _cpu
    return _cpu.value_bias(value, weight, a, dt_bias, form)


def _value_bias_backward(grad, value, weight, a, dt_bias, form, bundle):
    """(d value, d weight, d a, d dt_bias) of value_bias."""
    if _gpu_value_bias_applies(value):
        from . import _gpu
        return _gpu.value_bias_backward(grad, value, weight, a, dt_bias, form,
                                        bundle)
    from . import _cpu
    return _cpu.value_bias_grad(grad, value, weight, a, dt_bias, form)


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
    from . import _cpu
    return _cpu.topk(score, keep, selection, padding)


def _make_value_bias_function():
    import torch

    class ValueBias(torch.autograd.Function):
        """value_bias with the generated (CUDA) or CPU-pipeline backward."""

        @staticmethod
        def forward(ctx, value, weight, a, dt_bias, form, bundle):
            ctx.form, ctx.bundle = form, bundle
            ctx.save_for_backward(value, weight, a, dt_bias)
            return _value_bias_forward(value, weight, a, dt_bias, form, bundle)

        @staticmethod
        def backward(ctx, grad):
            value, weight, a, dt_bias = ctx.saved_tensors
            dv, dw, da, ddt = _value_bias_backward(
                grad.contiguous(), value, weight, a, dt_bias, ctx.form,
                ctx.bundle)
            wanted = ctx.needs_input_grad
            return (dv if wanted[0] else None, dw if wanted[1] else None,
                    da if wanted[2] else None,
                    ddt if dt_bias is not None and wanted[3] else None,
                    None, None)

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
