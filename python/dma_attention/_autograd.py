"""Autograd for `attention`: gradients for q, k, v and bias.

The forward keeps O and LSE; the backward runs the generated backward
kernels on CUDA tensors (dQ and dBias summed in float32, dK and dV per key;
`deterministic=True` adds them in a fixed order, bitwise reproducible)
and the CPU pipeline's dma.attention_grad on CPU tensors. The mask forms
carry no gradient, and neither does LSE (it is returned detached).
"""

import torch


class AttentionFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, bias, mask, keep, keep_score, keep_threshold,
                keep_tiebreak, causal, scale, softcap, bundle, q_tile, k_tile,
                deterministic):
        rows = (None if keep_score is None else
                (keep_score, keep_threshold, keep_tiebreak))
        if q.is_cuda:
            from . import _gpu
            o, lse = _gpu.attention(q, k, v, bias, mask, keep, rows, causal,
                                    scale, softcap, bundle, q_tile, k_tile)
        else:
            from . import _cpu
            o, lse = _cpu.attention(q, k, v, bias, mask, keep, rows, causal,
                                    scale, softcap)
        ctx.save_for_backward(q, k, v, bias, mask, keep, keep_score,
                              keep_threshold, keep_tiebreak, o, lse)
        ctx.options = (causal, scale, softcap, bundle, deterministic)
        ctx.mark_non_differentiable(lse)
        return o, lse

    @staticmethod
    def backward(ctx, grad_o, grad_lse):
        (q, k, v, bias, mask, keep, keep_score, keep_threshold, keep_tiebreak,
         o, lse) = ctx.saved_tensors
        causal, scale, softcap, bundle, deterministic = ctx.options
        rows = (None if keep_score is None else
                (keep_score, keep_threshold, keep_tiebreak))
        if q.is_cuda:
            from . import _gpu
            dq, dk, dv, dbias = _gpu.attention_backward(
                grad_o, q, k, v, o, lse, bias, mask, keep, rows, causal,
                scale, softcap, bundle, deterministic)
        else:
            from . import _cpu
            dq, dk, dv, dbias = _cpu.attention_grad(
                grad_o, q, k, v, o, lse, bias, mask, keep, rows, causal,
                scale, softcap)
        needs = ctx.needs_input_grad
        return ((dq if needs[0] else None, dk if needs[1] else None,
                 dv if needs[2] else None,
                 dbias if needs[3] else None) + (None,) * 12)


# torch.library custom ops (PyTorch >= 2.4): `attention` on torch tensors
# becomes torch.ops.dma_attention.forward / .backward with fake (meta)
# implementations and a registered autograd formula, so torch.compile can
# trace through it instead of breaking the graph at an autograd.Function.
custom_ops = hasattr(torch, "library") and hasattr(torch.library, "custom_op")

if custom_ops:
    from typing import Optional

    from torch import Tensor

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
            o, lse = _gpu.attention(q, k, v, bias, mask, keep, rows, causal,
                                    scale or None, softcap, bundle, q_tile,
                                    k_tile)
        else:
            from . import _cpu
            o, lse = _cpu.attention(q, k, v, bias, mask, keep, rows, causal,
                                    scale or None, softcap)
        return o, lse

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
                scale or None, softcap, bundle, deterministic)
        else:
            from . import _cpu
            dq, dk, dv, db = _cpu.attention_grad(
                grad_o, q, k, v, o, lse, bias, mask, keep, rows, causal,
                scale or None, softcap)
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


def attention(q, k, v, bias, mask, keep, keep_rows, causal, scale, softcap,
              bundle, q_tile, k_tile, deterministic=False):
    rows = keep_rows if keep_rows is not None else (None, None, None)
    if len(rows) != 3:
        raise ValueError("keep_rows is (score, threshold, tiebreak)")
    if custom_ops:
        return torch.ops.dma_attention.forward(
            q, k, v, bias, mask, keep, *rows, bool(causal),
            float(scale or 0.0), float(softcap),
            None if bundle is None else str(bundle), int(q_tile), int(k_tile),
            bool(deterministic))
    return AttentionFunction.apply(q, k, v, bias, mask, keep, *rows, causal,
                                   scale, softcap, bundle, q_tile, k_tile,
                                   bool(deterministic))
