"""value_bias and topk: generated kernels for CUDA tensors, else the
CPU pipeline (or the array-op reference, _reference.py).

value_bias: bf16/f16 values on CUDA (head dim a multiple of 8) run the
generated kernels (forward and backward) through launch plans cached by
signature, like `attention`; CPU tensors and numpy arrays run the CPU
pipeline (libdma_cpu); float32 values on CUDA run PyTorch ops. topk: scores
on CUDA run the generated kernels, others the CPU pipeline (dma.topk's heap
lowering). Under torch.compile both are torch.library custom ops
(dma_attention::value_bias with its backward, ::topk_shared,
::topk_per_query), so a traced DMA layer has no graph break.
"""

import numbers

from . import _reference

try:
    import torch as _torch
    _compiling = getattr(getattr(_torch, "compiler", None), "is_compiling",
                         None) or (lambda: False)
except ImportError:
    _torch = None


def _is_torch(x):
    return type(x).__module__.startswith("torch")


def _cuda_tensor(x):
    return _torch is not None and isinstance(x, _torch.Tensor) and x.is_cuda


def _gpu_value_bias_applies(value):
    # The kernels move 8 values per access: D % 8 == 0.
    return (_cuda_tensor(value)
            and value.dtype in (_torch.bfloat16, _torch.float16)
            and value.shape[-1] % 8 == 0)


def _check_value_bias(value, weight, a, dt_bias, form):
    if form not in ("log", "exp"):
        raise ValueError(f"form is 'log' or 'exp', got {form!r}")
    if len(value.shape) != 4:
        raise ValueError(f"value must be [B, Lk, Hkv, D], got {tuple(value.shape)}")
    B, Lk, Hkv, D = value.shape
    if tuple(weight.shape) != (Hkv, Hkv * D):
        raise ValueError(f"weight must be [{Hkv}, {Hkv * D}], got {tuple(weight.shape)}")
    for name, t in (("a", a), ("dt_bias", dt_bias)):
        if t is not None and tuple(t.shape) != (Hkv,):
            raise ValueError(f"{name} must be [{Hkv}], got {tuple(t.shape)}")


def _needs_grad(*tensors):
    return _torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in tensors)


def value_bias(value, weight, a, dt_bias=None, form="log", bundle=None):
    """score[b, h, j] = A[h] * softplus(W[h] . V[b, j] + b_dt[h]) (or exp of it).

    value [B, Lk, Hkv, D], weight [Hkv, Hkv*D], a [Hkv], dt_bias [Hkv].
    Returns [B, Hkv, Lk] in float32. Torch tensors that require grad get
    gradients for value, weight, a and dt_bias.
    """
    if _cuda_tensor(value) and not _compiling():
        from . import _gpu
        call = _gpu.value_bias_lookup(value, weight, a, dt_bias, form, bundle)
        if call is None:
            _check_value_bias(value, weight, a, dt_bias, form)
            if not _gpu_value_bias_applies(value):
                # float32 values (or D % 8 != 0) on the GPU: PyTorch ops.
                return _reference.value_bias(value, weight, a, dt_bias, form)
            call = _gpu.value_bias_call(value, weight, a, dt_bias, form,
                                        bundle)
        if _needs_grad(value, weight, a, dt_bias):
            return _ValueBiasGPU.apply(call, value, weight, a, dt_bias)
        return call(value, weight, a, dt_bias)
    _check_value_bias(value, weight, a, dt_bias, form)
    if _is_torch(value):
        if _compiling() and custom_ops:
            return _torch.ops.dma_attention.value_bias(value, weight, a,
                                                       dt_bias, form, bundle)
        if _needs_grad(value, weight, a, dt_bias):
            return _ValueBiasCPU.apply(value, weight, a, dt_bias, form)
    from . import _cpu
    return _cpu.value_bias(value, weight, a, dt_bias, form)


def topk(score, keep, selection="shared", padding=None, bundle=None):
    """Keep the `keep` best keys of each (batch, KV head); ties to lower index.

    score [B, Hkv, Lk]; padding [B, Lk] (True = key exists). NaN scores and
    padded keys are never kept.
    shared -> int32 [B, Hkv, keep]: ascending positions, -1 padded.
    per_query -> (masked score, threshold, tiebreak), each [B, Hkv, Lk]:
    query i (of Lq) keeps key j <= c = i + Lk - Lq (or Lk - 1 without
    causality) iff s[j] > thr[c] or (s[j] == thr[c] and j <= tie[c]).
    """
    if _cuda_tensor(score) and not _compiling():
        from . import _gpu
        call = _gpu.topk_lookup(score, keep, selection, padding, bundle)
        if call is not None:
            return call(score, padding)
    if not isinstance(keep, numbers.Integral) or keep < 1:
        raise ValueError(f"keep must be >= 1 (an integer), got {keep!r}")
    if selection not in ("shared", "per_query"):
        raise ValueError(f"selection is 'shared' or 'per_query', got {selection!r}")
    if len(score.shape) != 3:
        raise ValueError(f"score must be [B, Hkv, Lk], got {tuple(score.shape)}")
    if padding is not None and tuple(padding.shape) != (score.shape[0], score.shape[2]):
        raise ValueError(f"padding must be [{score.shape[0]}, {score.shape[2]}], "
                         f"got {tuple(padding.shape)}")
    if _is_torch(score) and _compiling() and custom_ops:
        # The top-k choice carries no gradient (nor do its outputs).
        if selection == "shared":
            return _torch.ops.dma_attention.topk_shared(score.detach(),
                                                        int(keep), padding,
                                                        bundle)
        return _torch.ops.dma_attention.topk_per_query(score.detach(),
                                                       int(keep), padding,
                                                       bundle)
    if _cuda_tensor(score):
        from . import _gpu
        return _gpu.topk(score, int(keep), selection, padding, bundle)
    from . import _cpu
    return _cpu.topk(score, keep, selection, padding)


if _torch is not None:
    class _ValueBiasGPU(_torch.autograd.Function):
        """value_bias through a CUDA launch plan, with its backward plan."""

        @staticmethod
        def forward(ctx, call, value, weight, a, dt_bias):
            ctx.call = call
            ctx.save_for_backward(value, weight, a, dt_bias)
            return call(value, weight, a, dt_bias)

        @staticmethod
        def backward(ctx, grad):
            value, weight, a, dt_bias = ctx.saved_tensors
            dv, dw, da, ddt = ctx.call.backward(grad, value, weight, a,
                                                dt_bias)
            wanted = ctx.needs_input_grad
            return (None, dv if wanted[1] else None,
                    dw if wanted[2] else None, da if wanted[3] else None,
                    ddt if dt_bias is not None and wanted[4] else None)

    class _ValueBiasCPU(_torch.autograd.Function):
        """value_bias through the CPU pipeline, forward and backward."""

        @staticmethod
        def forward(ctx, value, weight, a, dt_bias, form):
            from . import _cpu
            ctx.form = form
            ctx.save_for_backward(value, weight, a, dt_bias)
            return _cpu.value_bias(value, weight, a, dt_bias, form)

        @staticmethod
        def backward(ctx, grad):
            from . import _cpu
            value, weight, a, dt_bias = ctx.saved_tensors
            dv, dw, da, ddt = _cpu.value_bias_grad(
                grad.contiguous(), value, weight, a, dt_bias, ctx.form)
            wanted = ctx.needs_input_grad
            return (dv if wanted[0] else None, dw if wanted[1] else None,
                    da if wanted[2] else None,
                    ddt if dt_bias is not None and wanted[3] else None, None)


# torch.compile: custom ops with fake implementations (PyTorch >= 2.4).
custom_ops = (_torch is not None and hasattr(_torch, "library")
              and hasattr(_torch.library, "custom_op"))

if custom_ops:
    from typing import Optional

    from torch import Tensor

    def _value_bias_eager(value, weight, a, dt_bias, form, bundle):
        if _gpu_value_bias_applies(value):
            from . import _gpu
            return _gpu.value_bias(value, weight, a, dt_bias, form, bundle)
        if value.is_cuda:
            return _reference.value_bias(value, weight, a, dt_bias, form)
        from . import _cpu
        return _cpu.value_bias(value, weight, a, dt_bias, form)

    @_torch.library.custom_op("dma_attention::value_bias", mutates_args=())
    def _value_bias_op(value: Tensor, weight: Tensor, a: Tensor,
                       dt_bias: Optional[Tensor], form: str,
                       bundle: Optional[str]) -> Tensor:
        return _value_bias_eager(value, weight, a, dt_bias, form, bundle)

    @_value_bias_op.register_fake
    def _(value, weight, a, dt_bias, form, bundle):
        B, Lk, Hkv, _ = value.shape
        return value.new_empty((B, Hkv, Lk), dtype=_torch.float32)

    @_torch.library.custom_op("dma_attention::value_bias_backward",
                              mutates_args=())
    def _value_bias_backward_op(
            grad: Tensor, value: Tensor, weight: Tensor, a: Tensor,
            dt_bias: Optional[Tensor], form: str, bundle: Optional[str]
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        if _gpu_value_bias_applies(value):
            from . import _gpu
            dv, dw, da, ddt = _gpu.value_bias_backward(
                grad, value, weight, a, dt_bias, form, bundle)
        elif value.is_cuda:
            with _torch.enable_grad():
                leaves = [t.detach().requires_grad_() if t is not None
                          else None for t in (value, weight, a, dt_bias)]
                out = _reference.value_bias(*leaves, form)
                grads = _torch.autograd.grad(
                    out, [t for t in leaves if t is not None], grad)
            dv, dw, da = grads[:3]
            ddt = grads[3] if dt_bias is not None else None
        else:
            from . import _cpu
            dv, dw, da, ddt = _cpu.value_bias_grad(grad.contiguous(), value,
                                                   weight, a, dt_bias, form)
        return dv, dw, da, ddt if ddt is not None else a.new_empty(0)

    @_value_bias_backward_op.register_fake
    def _(grad, value, weight, a, dt_bias, form, bundle):
        return (_torch.empty_like(value), _torch.empty_like(weight),
                _torch.empty_like(a),
                _torch.empty_like(dt_bias) if dt_bias is not None
                else a.new_empty(0))

    def _value_bias_setup(ctx, inputs, output):
        value, weight, a, dt_bias, form, bundle = inputs
        ctx.save_for_backward(value, weight, a, dt_bias)
        ctx.form, ctx.bundle = form, bundle

    def _value_bias_grad(ctx, grad):
        value, weight, a, dt_bias = ctx.saved_tensors
        dv, dw, da, ddt = _value_bias_backward_op(
            grad.contiguous(), value, weight, a, dt_bias, ctx.form,
            ctx.bundle)
        return dv, dw, da, ddt if dt_bias is not None else None, None, None

    _value_bias_op.register_autograd(_value_bias_grad,
                                     setup_context=_value_bias_setup)

    def _topk_eager(score, keep, selection, padding, bundle):
        if score.is_cuda:
            from . import _gpu
            return _gpu.topk(score, keep, selection, padding, bundle)
        from . import _cpu
        return _cpu.topk(score, keep, selection, padding)

    @_torch.library.custom_op("dma_attention::topk_shared", mutates_args=())
    def _topk_shared_op(score: Tensor, keep: int, padding: Optional[Tensor],
                        bundle: Optional[str]) -> Tensor:
        return _topk_eager(score, keep, "shared", padding, bundle)

    @_topk_shared_op.register_fake
    def _(score, keep, padding, bundle):
        B, H, _ = score.shape
        return score.new_empty((B, H, keep), dtype=_torch.int32)

    @_torch.library.custom_op("dma_attention::topk_per_query",
                              mutates_args=())
    def _topk_per_query_op(score: Tensor, keep: int,
                           padding: Optional[Tensor], bundle: Optional[str]
                           ) -> tuple[Tensor, Tensor, Tensor]:
        return _topk_eager(score, keep, "per_query", padding, bundle)

    @_topk_per_query_op.register_fake
    def _(score, keep, padding, bundle):
        shape = tuple(score.shape)
        return (score.new_empty(shape, dtype=_torch.float32),
                score.new_empty(shape, dtype=_torch.float32),
                score.new_empty(shape, dtype=_torch.int32))
