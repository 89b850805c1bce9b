"""Autograd for `attention`: gradients for q, k, v and bias.

Eager calls go through `AttentionFunction` (a torch.autograd.Function: the
cheapest way into the autograd graph). On CUDA its forward runs the call's
launch plan and keeps it on the context, so the backward finds its own plan
without a lookup. Under torch.compile the same work goes through the
torch.library custom ops dma_attention::forward / ::backward (PyTorch >=
2.4), which have fake (meta) implementations and a registered autograd
formula, so Dynamo traces a whole DMA layer without graph breaks. The
backward runs the generated backward kernels on CUDA tensors (dQ and dBias
summed in float32, `deterministic=True` in a fixed order) and the CPU
pipeline's dma.attention_grad on CPU tensors. The mask forms carry no
gradient, and neither does LSE (it is returned detached).
"""

import torch

_NO_GRADS = (None,) * 5  # mask, keep and the three keep-row tensors


class AttentionFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, options, q, k, v, bias, mask, keep, keep_score,
                keep_threshold, keep_tiebreak):
        causal, scale, softcap, bundle, q_tile, k_tile, deterministic = options
        rows = (None if keep_score is None else
                (keep_score, keep_threshold, keep_tiebreak))
        if q.is_cuda:
            from . import _gpu
            call, tensors = _gpu.forward_call(q, k, v, bias, mask, keep, rows,
                                              causal, scale, softcap, bundle,
                                              q_tile, k_tile)
            o, lse = call(tensors)
            ctx.backward_call = call.backward(bool(deterministic))
        else:
            from . import _cpu
            o, lse = _cpu.attention(q, k, v, bias, mask, keep, rows, causal,
                                    scale, softcap)
            ctx.backward_call = None
        ctx.save_for_backward(q, k, v, o, lse, bias, mask, keep, keep_score,
                              keep_threshold, keep_tiebreak)
        ctx.options = options
        ctx.mark_non_differentiable(lse)
        # LSE carries no gradient: no zeros for it in the backward.
        ctx.set_materialize_grads(False)
        return o, lse

    @staticmethod
    def backward(ctx, grad_o, grad_lse):
        saved = ctx.saved_tensors
        if grad_o is None:  # O was not used: no gradient flows
            return (None,) * 10
        if ctx.backward_call is not None:
            from . import _gpu
            dq, dk, dv, dbias = ctx.backward_call(_gpu.dense_grad_o(grad_o),
                                                  *saved)
        else:
            from . import _cpu
            q, k, v, o, lse, bias, mask, keep, s, t, tb = saved
            causal, scale, softcap = ctx.options[:3]
            dq, dk, dv, dbias = _cpu.attention_grad(
                grad_o, q, k, v, o, lse, bias, mask, keep,
                None if s is None else (s, t, tb), causal, scale, softcap)
        needs = ctx.needs_input_grad
        return ((None, dq if needs[1] else None, dk if needs[2] else None,
                 dv if needs[3] else None, dbias if needs[4] else None) +
                _NO_GRADS)


# torch.library custom ops (PyTorch >= 2.4) for torch.compile: scale is a
# float in the schema, NaN standing for "default" (1/sqrt(D)).
custom_ops = hasattr(torch, "library") and hasattr(torch.library, "custom_op")

if custom_ops:
    import math
    from typing import Optional

    from torch import Tensor

    def _scale_in(scale):
        return None if math.isnan(scale) else scale

    @torch.library.custom_op("dma_attention::forward", mutates_args=())
    def _forward_op(q: Tensor, k: Tensor, v: Tensor, bias: Optional[Tensor],
                    mask: Optional[Tensor], keep: Optional[Tensor],
                    keep_score: Optional[Tensor],
                    keep_threshold: Optional[Tensor],
                    keep_tiebreak: Optional[Tensor], causal: bool,
                    scale: float, softcap: float, bundle: Optional[str],
                    q_tile: int, k_tile: int,
                    deterministic: bool) -> tuple[Tensor, Tensor]:
        rows = (None if keep_score is None else
                (keep_score, keep_threshold, keep_tiebreak))
        if q.is_cuda:
            from . import _gpu
            return _gpu.attention(q, k, v, bias, mask, keep, rows, causal,
                                  _scale_in(scale), softcap, bundle, q_tile,
                                  k_tile)
        from . import _cpu
        return _cpu.attention(q, k, v, bias, mask, keep, rows, causal,
                              _scale_in(scale), softcap)

    @_forward_op.register_fake
    def _(q, k, v, bias, mask, keep, keep_score, keep_threshold,
          keep_tiebreak, causal, scale, softcap, bundle, q_tile, k_tile,
          deterministic):
        B, Lq, H, _ = q.shape
        return (q.new_empty((B, Lq, H, v.shape[-1])),
                q.new_empty((B, H, Lq), dtype=torch.float32))

    @torch.library.custom_op("dma_attention::backward", mutates_args=())
    def _backward_op(grad_o: Tensor, q: Tensor, k: Tensor, v: Tensor,
                     o: Tensor, lse: Tensor, bias: Optional[Tensor],
                     mask: Optional[Tensor], keep: Optional[Tensor],
                     keep_score: Optional[Tensor],
                     keep_threshold: Optional[Tensor],
                     keep_tiebreak: Optional[Tensor], causal: bool,
                     scale: float, softcap: float, bundle: Optional[str],
                     deterministic: bool
                     ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        rows = (None if keep_score is None else
                (keep_score, keep_threshold, keep_tiebreak))
        if q.is_cuda:
            from . import _gpu
            dq, dk, dv, db = _gpu.attention_backward(
                grad_o, q, k, v, o, lse, bias, mask, keep, rows, causal,
                _scale_in(scale), softcap, bundle, deterministic)
        else:
            from . import _cpu
            dq, dk, dv, db = _cpu.attention_grad(
                grad_o, q, k, v, o, lse, bias, mask, keep, rows, causal,
                _scale_in(scale), softcap)
        # Custom ops return tensors only: no bias -> an empty placeholder.
        return dq, dk, dv, db if db is not None else q.new_empty(0)

    @_backward_op.register_fake
    def _(grad_o, q, k, v, o, lse, bias, mask, keep, keep_score,
          keep_threshold, keep_tiebreak, causal, scale, softcap, bundle,
          deterministic):
        return (torch.empty_like(q), torch.empty_like(k), torch.empty_like(v),
                torch.empty_like(bias) if bias is not None else q.new_empty(0))

    def _setup_context(ctx, inputs, output):
        (q, k, v, bias, mask, keep, keep_score, keep_threshold, keep_tiebreak,
         causal, scale, softcap, bundle, _, _, deterministic) = inputs
        o, lse = output
        ctx.save_for_backward(q, k, v, bias, mask, keep, keep_score,
                              keep_threshold, keep_tiebreak, o, lse)
        ctx.options = (causal, scale, softcap, bundle, deterministic)
        ctx.mark_non_differentiable(lse)

    def _backward(ctx, grad_o, grad_lse):
        (q, k, v, bias, mask, keep, keep_score, keep_threshold, keep_tiebreak,
         o, lse) = ctx.saved_tensors
        causal, scale, softcap, bundle, deterministic = ctx.options
        dq, dk, dv, db = _backward_op(grad_o.contiguous(), q, k, v, o, lse,
                                      bias, mask, keep, keep_score,
                                      keep_threshold, keep_tiebreak, causal,
                                      scale, softcap, bundle, deterministic)
        return (dq, dk, dv, db if bias is not None else None) + (None,) * 12

    _forward_op.register_autograd(_backward, setup_context=_setup_context)


def traced(q, k, v, bias, mask, keep, keep_rows, causal, scale, softcap,
           bundle, q_tile, k_tile, deterministic):
    """`attention` as torch.compile traces it: the custom op."""
    rows = keep_rows if keep_rows is not None else (None, None, None)
    return torch.ops.dma_attention.forward(
        q, k, v, bias, mask, keep, *rows, bool(causal),
        float("nan") if scale is None else float(scale), float(softcap),
        None if bundle is None else str(bundle), int(q_tile), int(k_tile),
        bool(deterministic))


def attention(q, k, v, bias, mask, keep, keep_rows, causal, scale, softcap,
              bundle, q_tile, k_tile, deterministic=False):
    """Eager attention with autograd (CPU or CUDA tensors)."""
    rows = keep_rows if keep_rows is not None else (None, None, None)
    if len(rows) != 3:
        raise ValueError("keep_rows is (score, threshold, tiebreak)")
    options = (causal, scale, softcap, bundle, q_tile, k_tile,
               bool(deterministic))
    return AttentionFunction.apply(options, q, k, v, bias, mask, keep, *rows)
