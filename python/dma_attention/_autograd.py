"""Autograd for `attention`: gradients for q, k, v and bias.

The forward keeps O and LSE; the backward runs the generated backward
kernels on CUDA tensors (dQ and dBias summed in float32, dK and dV per key)
and the CPU pipeline's dma.attention_grad on CPU tensors. The mask forms
carry no gradient, and neither does LSE (it is returned detached).
"""

import torch


class AttentionFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, bias, mask, keep, keep_score, keep_threshold,
                keep_tiebreak, causal, scale, softcap, bundle, q_tile, k_tile):
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
        ctx.options = (causal, scale, softcap, bundle)
        ctx.mark_non_differentiable(lse)
        return o, lse

    @staticmethod
    def backward(ctx, grad_o, grad_lse):
        (q, k, v, bias, mask, keep, keep_score, keep_threshold, keep_tiebreak,
         o, lse) = ctx.saved_tensors
        causal, scale, softcap, bundle = ctx.options
        rows = (None if keep_score is None else
                (keep_score, keep_threshold, keep_tiebreak))
        if q.is_cuda:
            from . import _gpu
            dq, dk, dv, dbias = _gpu.attention_backward(
                grad_o, q, k, v, o, lse, bias, mask, keep, rows, causal,
                scale, softcap, bundle)
        else:
            from . import _cpu
            dq, dk, dv, dbias = _cpu.attention_grad(
                grad_o, q, k, v, o, lse, bias, mask, keep, rows, causal,
                scale, softcap)
        needs = ctx.needs_input_grad
        return ((dq if needs[0] else None, dk if needs[1] else None,
                 dv if needs[2] else None,
                 dbias if needs[3] else None) + (None,) * 11)


def attention(q, k, v, bias, mask, keep, keep_rows, causal, scale, softcap,
              bundle, q_tile, k_tile):
    rows = keep_rows if keep_rows is not None else (None, None, None)
    if len(rows) != 3:
        raise ValueError("keep_rows is (score, threshold, tiebreak)")
    return AttentionFunction.apply(q, k, v, bias, mask, keep, *rows, causal,
                                   scale, softcap, bundle, q_tile, k_tile)
