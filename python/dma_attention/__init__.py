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
GPU kernels (a kernel bundle from `bundle=`, $DMA_KERNEL_DIR, the bundle
shipped in the package, or compiled on demand); CPU tensors and numpy
arrays run through the CPU pipeline. Torch tensors that require grad get
gradients for q, k, v and bias (torch.autograd; generated backward kernels
on CUDA, the CPU pipeline's backward on CPU); torch.compile traces all of
it as custom ops. The semantics are docs/semantics.md.

On CUDA a call costs one dictionary look-up, its output allocations and one
C call (`_gpu.py`; with a gradient, a C++ autograd node, `_native.py`): the checks, kernel loading and parameter layout are a
*plan* built by the first call of each shape, dtype, stride and option
combination. `python -m dma_attention` says what the package found.
"""

from . import _cpu
from ._mask import topk, value_bias

__all__ = ["attention", "value_bias", "topk", "clear_plans"]

try:
    import torch as _torch
    _compiling = getattr(getattr(_torch, "compiler", None), "is_compiling",
                         None) or (lambda: False)
except ImportError:  # numpy-only use of the CPU path
    _torch = None


def attention(q, k, v, bias=None, mask=None, keep=None, keep_rows=None,
              causal=False, scale=None, softcap=0.0, return_lse=False,
              bundle=None, q_tile=None, k_tile=None, deterministic=False):
    """Softmax attention over the visible keys; returns O (and LSE).

    `scale` defaults to 1/sqrt(D) (None); any other number, 0 included, is
    used as given. `q_tile`/`k_tile` pick the GPU kernel's tile (multiples
    of 16 up to 128; default 128 x 32 on mma.sync; on an H100 (sm_90a, the
    warpgroup MMA) 128 x 128 at head dims 128, 128 x 64 at others and for
    the per-query top-k, 128 x 32 for the shared top-k and dense masks);
    the CPU path
    ignores them. `deterministic=True` makes the GPU backward
    bitwise reproducible (its CTAs add into shared gradient rows in a fixed
    order; slower); the CPU backward always is.
    """
    if _torch is not None and isinstance(q, _torch.Tensor):
        if _compiling():
            _check(q, k, v, mask, keep, keep_rows, scale, softcap, q_tile,
                   k_tile)
            from . import _autograd
            o, lse = _autograd.traced(q, k, v, bias, mask, keep, keep_rows,
                                      causal, scale, softcap, bundle,
                                      q_tile or 0, k_tile or 0, deterministic)
        elif q.is_cuda:
            o, lse = _cuda(q, k, v, bias, mask, keep, keep_rows, causal, scale,
                           softcap, bundle, q_tile or 0, k_tile or 0,
                           deterministic)
        else:
            _check(q, k, v, mask, keep, keep_rows, scale, softcap, q_tile,
                   k_tile)
            o, lse = _cpu_torch(q, k, v, bias, mask, keep, keep_rows, causal,
                                scale, softcap, deterministic)
    else:
        _check(q, k, v, mask, keep, keep_rows, scale, softcap, q_tile, k_tile)
        o, lse = _cpu.attention(q, k, v, bias, mask, keep, keep_rows, causal,
                                scale, softcap)
    return (o, lse) if return_lse else o


def _cuda(q, k, v, bias, mask, keep, keep_rows, causal, scale, softcap,
          bundle, q_tile, k_tile, deterministic):
    from . import _gpu
    if _torch.is_grad_enabled() and (
            q.requires_grad or k.requires_grad or v.requires_grad or
            (bias is not None and bias.requires_grad)):
        from . import _autograd
        try:
            # The C++ autograd node when built (_native.py), else a
            # torch.autograd.Function.
            out = _gpu.attention_with_grad(q, k, v, bias, mask, keep,
                                           keep_rows, causal, scale, softcap,
                                           bundle, q_tile, k_tile,
                                           deterministic)
            if out is not None:
                return out
            return _autograd.attention(q, k, v, bias, mask, keep, keep_rows,
                                       causal, scale, softcap, bundle, q_tile,
                                       k_tile, deterministic)
        except (TypeError, ValueError, LookupError):
            # A first call of its signature: say what is wrong the way the
            # checks below do, before the runtime's own words.
            _check(q, k, v, mask, keep, keep_rows, scale, softcap, q_tile,
                   k_tile)
            raise
    try:
        return _gpu.attention(q, k, v, bias, mask, keep, keep_rows, causal,
                              scale, softcap, bundle, q_tile, k_tile)
    except (TypeError, ValueError, LookupError):
        _check(q, k, v, mask, keep, keep_rows, scale, softcap, q_tile, k_tile)
        raise


def _cpu_torch(q, k, v, bias, mask, keep, keep_rows, causal, scale, softcap,
               deterministic):
    if _torch.is_grad_enabled() and any(
            isinstance(t, _torch.Tensor) and t.requires_grad
            for t in (q, k, v, bias)):
        from . import _autograd
        return _autograd.attention(q, k, v, bias, mask, keep, keep_rows,
                                   causal, scale, softcap, None, 0, 0,
                                   deterministic)
    return _cpu.attention(q, k, v, bias, mask, keep, keep_rows, causal, scale,
                          softcap)


def _check(q, k, v, mask, keep, keep_rows, scale, softcap, q_tile, k_tile):
    """The option checks every path shares (the CUDA path runs them when a
    call fails, so its hot path does not pay for them)."""
    for name, t in (("q_tile", q_tile), ("k_tile", k_tile)):
        if t is not None and t != 0 and (
                not isinstance(t, int) or t < 16 or t > 128 or t % 16):
            raise ValueError(f"{name} must be a multiple of 16 in [16, 128], "
                             f"got {t!r}")
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not (_is_torch(t) or type(t).__module__ == "numpy"):
            raise TypeError(f"{name} must be a torch tensor or a numpy array, "
                            f"got {type(t).__name__}")
    if softcap is None or softcap < 0:
        raise ValueError(f"softcap must be >= 0, got {softcap}")
    if scale is not None and not scale == scale:
        raise ValueError("scale must be a number (None for 1/sqrt(D))")
    if sum(x is not None for x in (mask, keep, keep_rows)) > 1:
        raise ValueError("give at most one of mask, keep and keep_rows")
    if keep_rows is not None and len(keep_rows) != 3:
        raise ValueError("keep_rows is (score, threshold, tiebreak)")


def _is_torch(x):
    return type(x).__module__.startswith("torch")


def clear_plans():
    """Forgets every cached launch plan and open bundle (the next call of
    each signature builds its plan again, e.g. after recompiling a
    bundle)."""
    import sys
    gpu = sys.modules.get(__name__ + "._gpu")
    if gpu is not None:
        gpu.clear_plans()
