"""Dynamic Mask Attention with generated kernels.

    o = dma_attention.attention(q, k, v, bias=None, mask=None, keep=None,
                                keep_rows=None, causal=False, scale=None,
                                softcap=0.0)

q [B, Lq, H, D], k [B, Lk, Hkv, D], v [B, Lk, Hkv, Dv] (the FlashAttention
layout); bias broadcasts as [{B|1}, {H|Hkv|1}, {Lq|1}, Lk]; at most one of
`mask` (bool, broadcast like the bias), `keep` (int32 [{B|1}, {Hkv|H|1}, W],
ascending kept positions, -1 padded: the shared top-k) and `keep_rows`
(score, threshold, tiebreak: the per-query top-k of `topk(..., "per_query")`).
`value_bias` and `topk` build the bias and the masks from the values
(generated kernels on CUDA, `_mask.py`). CUDA tensors run the generated
GPU kernels (a kernel bundle from `bundle=`, $DMA_KERNEL_DIR, or compiled
on demand); CPU tensors and numpy arrays run
through the CPU pipeline. Torch tensors that require grad get gradients for
q, k, v and bias (torch.autograd; generated backward kernels on CUDA, the
CPU pipeline's backward on CPU). The semantics are docs/semantics.md.
"""

from . import _cpu
from ._mask import topk, value_bias

__all__ = ["attention", "value_bias", "topk"]


def _is_torch(x):
    return type(x).__module__.startswith("torch")


def attention(q, k, v, bias=None, mask=None, keep=None, keep_rows=None,
              causal=False, scale=None, softcap=0.0, return_lse=False,
              bundle=None, q_tile=None, k_tile=None, deterministic=False):
    """Softmax attention over the visible keys; returns O (and LSE).

    `q_tile`/`k_tile` pick the GPU kernel's tile (multiples of 16 up to 128;
    default 128 x 64); the CPU path ignores them. `deterministic=True` makes
    the GPU backward bitwise reproducible (its CTAs add into shared gradient
    rows in a fixed order; slower); the CPU backward always is.
    """
    for name, t in (("q_tile", q_tile), ("k_tile", k_tile)):
        if t is not None and (not isinstance(t, int) or t < 16 or t > 128
                              or t % 16):
            raise ValueError(f"{name} must be a multiple of 16 in [16, 128], "
                             f"got {t!r}")
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not (_is_torch(t) or type(t).__module__ == "numpy"):
            raise TypeError(f"{name} must be a torch tensor or a numpy array, "
                            f"got {type(t).__name__}")
    if softcap is None or softcap < 0:
        raise ValueError(f"softcap must be >= 0, got {softcap}")
    if scale is not None and not scale == scale:
        raise ValueError("scale must be a number")
    if sum(x is not None for x in (mask, keep, keep_rows)) > 1:
        raise ValueError("give at most one of mask, keep and keep_rows")
    differentiable = _is_torch(q) and _torch_grad_enabled() and any(
        _is_torch(t) and t.requires_grad for t in (q, k, v, bias))
    if differentiable:
        from . import _autograd
        o, lse = _autograd.attention(q, k, v, bias, mask, keep, keep_rows,
                                     causal, scale, softcap, bundle,
                                     q_tile or 0, k_tile or 0,
                                     bool(deterministic))
    elif _is_torch(q) and q.is_cuda:
        from . import _gpu
        o, lse = _gpu.attention(q, k, v, bias, mask, keep, keep_rows, causal,
                                scale, softcap, bundle, q_tile or 0,
                                k_tile or 0)
    else:
        o, lse = _cpu.attention(q, k, v, bias, mask, keep, keep_rows, causal,
                                scale, softcap)
    return (o, lse) if return_lse else o


def _torch_grad_enabled():
    import torch
    return torch.is_grad_enabled()
