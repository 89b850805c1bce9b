"""The CPU path: arrays -> kernels compiled by --dma-cpu-pipeline.

numpy arrays or CPU torch tensors go to libdma_cpu (include/dma-c/CPU.h), a
C library over the compiler that writes a one-op function for the call's
shapes, compiles it once through --dma-cpu-pipeline (MLIR ExecutionEngine)
and runs it. It computes in float32; the output takes q's dtype. Shape
errors come from the dialect's verifier, word for word, as ValueError.
"""

import ctypes
import math
import os
from pathlib import Path

import numpy as np

from ._runtime import DMA_BOOL, DMA_F32, DMA_I32, Options, Tensor, load_first

_lib = None


def _candidates():
    env = os.environ.get("DMA_CPU_LIB")
    if env:
        yield Path(env)
    here = Path(__file__).resolve().parent
    yield here / "libdma_cpu.so"
    yield here.parent.parent / "build" / "lib" / "libdma_cpu.so"


def library():
    """libdma_cpu, loaded once (RuntimeError saying how to get it)."""
    global _lib
    if _lib is not None:
        return _lib
    lib, _ = load_first(
        _candidates(),
        "the CPU path needs libdma_cpu.so, the compiler's C library; build "
        "the project with `make build` or set DMA_CPU_LIB")
    P = ctypes.POINTER(Tensor)
    lib.dma_cpu_attention.restype = ctypes.c_int
    lib.dma_cpu_attention.argtypes = [P] * 11 + [
        ctypes.POINTER(Options), ctypes.c_char_p, ctypes.c_size_t]
    lib.dma_cpu_attention_grad.restype = ctypes.c_int
    lib.dma_cpu_attention_grad.argtypes = [P] * 16 + [
        ctypes.POINTER(Options), ctypes.c_char_p, ctypes.c_size_t]
    lib.dma_cpu_value_bias.restype = ctypes.c_int
    lib.dma_cpu_value_bias.argtypes = [P] * 5 + [
        ctypes.c_int32, ctypes.c_char_p, ctypes.c_size_t]
    lib.dma_cpu_value_bias_grad.restype = ctypes.c_int
    lib.dma_cpu_value_bias_grad.argtypes = [P] * 9 + [
        ctypes.c_int32, ctypes.c_char_p, ctypes.c_size_t]
    lib.dma_cpu_topk.restype = ctypes.c_int
    lib.dma_cpu_topk.argtypes = [P, P, ctypes.c_int32, ctypes.c_int64, P, P,
                                 P, ctypes.c_char_p, ctypes.c_size_t]
    _lib = lib
    return lib


def _is_torch(x):
    return type(x).__module__.startswith("torch")


def _to_numpy(x, name):
    if x is None:
        return None
    if _is_torch(x):
        if x.device.type != "cpu":
            raise ValueError(f"{name} is on {x.device}; the CPU path takes CPU "
                             "tensors (or give every tensor on one CUDA device)")
        x = x.detach()
        if x.dtype.is_floating_point and x.dtype != _torch().float64:
            x = x.float()
        return x.numpy()
    if isinstance(x, np.ndarray):
        return x
    raise TypeError(f"{name} must be a numpy array or a torch tensor, got "
                    f"{type(x).__name__}")


def _torch():
    import torch
    return torch


def _float(x, name):
    if x is None:
        return None
    if not (np.issubdtype(x.dtype, np.floating)):
        raise TypeError(f"{name} must be a floating-point array, got {x.dtype}")
    return np.ascontiguousarray(x, dtype=np.float32)


def _int32(x, name):
    if x is None:
        return None
    if not np.issubdtype(x.dtype, np.integer):
        raise TypeError(f"{name} must be an integer array, got {x.dtype}")
    if x.size and (x.max() > np.iinfo(np.int32).max or
                   x.min() < np.iinfo(np.int32).min):
        raise ValueError(f"{name} has entries outside int32")
    return np.ascontiguousarray(x, dtype=np.int32)


def _bool(x, name):
    if x is None:
        return None
    if x.dtype != np.bool_:
        raise TypeError(f"{name} must be a boolean array, got {x.dtype}")
    return np.ascontiguousarray(x)


def _struct(a, dtype):
    if a is None:
        return None
    if a.ndim > 4:
        raise ValueError(f"arrays have at most 4 dimensions, got {a.ndim}")
    s = Tensor()
    s.data = a.ctypes.data if a.size else None
    s.dtype = dtype
    s.ndim = a.ndim
    for i in range(a.ndim):
        s.sizes[i] = a.shape[i]
        s.strides[i] = a.strides[i] // a.itemsize if a.shape[i] > 1 else 1
    return s


def _ref(s):
    return ctypes.byref(s) if s is not None else None


def _check_rank(a, rank, name, layout):
    if a is not None and a.ndim != rank:
        raise ValueError(f"{name} must be {layout}, got shape {tuple(a.shape)}")


def _inputs(q, k, v, bias, mask, keep, keep_rows):
    qn, kn, vn = (_float(_to_numpy(x, n), n) for x, n in
                  ((q, "q"), (k, "k"), (v, "v")))
    _check_rank(qn, 4, "q", "[B, Lq, H, D]")
    _check_rank(kn, 4, "k", "[B, Lk, Hkv, D]")
    _check_rank(vn, 4, "v", "[B, Lk, Hkv, Dv]")
    b = _float(_to_numpy(bias, "bias"), "bias")
    _check_rank(b, 4, "bias", "[{B|1}, {H|Hkv|1}, {Lq|1}, Lk]")
    m = _bool(_to_numpy(mask, "mask"), "mask")
    _check_rank(m, 4, "mask", "[{B|1}, {H|Hkv|1}, {Lq|1}, Lk]")
    kp = _int32(_to_numpy(keep, "keep"), "keep")
    _check_rank(kp, 3, "keep", "[{B|1}, {Hkv|H|1}, W]")
    rows = (None, None, None)
    if keep_rows is not None:
        if len(keep_rows) != 3:
            raise ValueError("keep_rows is (score, threshold, tiebreak)")
        rows = (_float(_to_numpy(keep_rows[0], "keep score"), "keep score"),
                _float(_to_numpy(keep_rows[1], "keep threshold"),
                       "keep threshold"),
                _int32(_to_numpy(keep_rows[2], "keep tiebreak"),
                       "keep tiebreak"))
        for r, n in zip(rows, ("score", "threshold", "tiebreak")):
            _check_rank(r, 3, f"keep {n}", "[{B|1}, {Hkv|H|1}, Lk]")
    return qn, kn, vn, b, m, kp, rows


def _options(causal, scale, softcap):
    # The C API's scale: NaN asks for 1/sqrt(D); 0 is a legal scale (uniform
    # attention), so None must not become 0.
    return Options(int(bool(causal)),
                   float("nan") if scale is None else float(scale),
                   float(softcap), 0, 0)


def _call(fn, *args):
    err = ctypes.create_string_buffer(8192)
    if fn(*args, err, len(err)) != 0:
        raise ValueError(err.value.decode())


def _like(result, x):
    """`result` (float32 numpy) as the kind and dtype of `x`."""
    if _is_torch(x):
        return _torch().from_numpy(result).to(x.dtype)
    return result.astype(x.dtype if np.issubdtype(x.dtype, np.floating)
                         else np.float32, copy=False)


def attention(q, k, v, bias, mask, keep, keep_rows, causal, scale, softcap):
    qn, kn, vn, b, m, kp, rows = _inputs(q, k, v, bias, mask, keep, keep_rows)
    B, Lq, H, _ = qn.shape
    o = np.full((B, Lq, H, vn.shape[3]), np.nan, dtype=np.float32)
    lse = np.full((B, H, Lq), np.nan, dtype=np.float32)
    structs = [_struct(qn, DMA_F32), _struct(kn, DMA_F32), _struct(vn, DMA_F32),
               _struct(b, DMA_F32), _struct(m, DMA_BOOL), _struct(kp, DMA_I32),
               _struct(rows[0], DMA_F32), _struct(rows[1], DMA_F32),
               _struct(rows[2], DMA_I32), _struct(o, DMA_F32),
               _struct(lse, DMA_F32)]
    options = _options(causal, scale, softcap)
    _call(library().dma_cpu_attention, *[_ref(s) for s in structs],
          ctypes.byref(options))
    out = _like(o, q)
    lse_out = _torch().from_numpy(lse) if _is_torch(q) else lse
    return out, lse_out


def attention_grad(grad_o, q, k, v, o, lse, bias, mask, keep, keep_rows,
                   causal, scale, softcap):
    """dQ, dK, dV, dBias (None without a bias) of `attention` on the CPU."""
    qn, kn, vn, b, m, kp, rows = _inputs(q, k, v, bias, mask, keep, keep_rows)
    gn = _float(_to_numpy(grad_o, "grad_o"), "grad_o")
    on = _float(_to_numpy(o, "o"), "o")
    ln = _float(_to_numpy(lse, "lse"), "lse")
    dq = np.full(qn.shape, np.nan, dtype=np.float32)
    dk = np.full(kn.shape, np.nan, dtype=np.float32)
    dv = np.full(vn.shape, np.nan, dtype=np.float32)
    db = None if b is None else np.full(b.shape, np.nan, dtype=np.float32)
    structs = [_struct(gn, DMA_F32), _struct(qn, DMA_F32),
               _struct(kn, DMA_F32), _struct(vn, DMA_F32),
               _struct(on, DMA_F32), _struct(ln, DMA_F32),
               _struct(b, DMA_F32), _struct(m, DMA_BOOL),
               _struct(kp, DMA_I32), _struct(rows[0], DMA_F32),
               _struct(rows[1], DMA_F32), _struct(rows[2], DMA_I32),
               _struct(dq, DMA_F32), _struct(dk, DMA_F32),
               _struct(dv, DMA_F32), _struct(db, DMA_F32)]
    options = _options(causal, scale, softcap)
    _call(library().dma_cpu_attention_grad, *[_ref(s) for s in structs],
          ctypes.byref(options))
    return (_like(dq, q), _like(dk, k), _like(dv, v),
            None if db is None else _like(db, bias))


def _value_bias_inputs(value, weight, a, dt_bias):
    return [None if t is None else _float(_to_numpy(t, n), n)
            for n, t in (("value", value), ("weight", weight), ("a", a),
                         ("dt_bias", dt_bias))]


def value_bias(value, weight, a, dt_bias, form):
    """dma.value_bias through the CPU pipeline: float32 [B, Hkv, Lk], the
    kind of `value` (numpy or torch)."""
    vn, wn, an, bn = _value_bias_inputs(value, weight, a, dt_bias)
    B, Lk, Hkv, _ = vn.shape
    score = np.full((B, Hkv, Lk), np.nan, dtype=np.float32)
    _call(library().dma_cpu_value_bias, _ref(_struct(vn, DMA_F32)),
          _ref(_struct(wn, DMA_F32)), _ref(_struct(bn, DMA_F32)),
          _ref(_struct(an, DMA_F32)), _ref(_struct(score, DMA_F32)),
          int(form == "exp"))
    return _torch().from_numpy(score) if _is_torch(value) else score


def value_bias_grad(grad, value, weight, a, dt_bias, form):
    """(d value, d weight, d a, d dt_bias or None) of value_bias for the
    score's gradient, through the CPU pipeline, each like its input."""
    vn, wn, an, bn = _value_bias_inputs(value, weight, a, dt_bias)
    gn = _float(_to_numpy(grad, "grad"), "grad")
    outs = [np.full(x.shape, np.nan, dtype=np.float32)
            for x in (vn, wn, an)]
    ddt = None if bn is None else np.full(bn.shape, np.nan, dtype=np.float32)
    _call(library().dma_cpu_value_bias_grad, _ref(_struct(gn, DMA_F32)),
          _ref(_struct(vn, DMA_F32)), _ref(_struct(wn, DMA_F32)),
          _ref(_struct(bn, DMA_F32)), _ref(_struct(an, DMA_F32)),
          _ref(_struct(outs[0], DMA_F32)), _ref(_struct(outs[1], DMA_F32)),
          _ref(_struct(ddt, DMA_F32)), _ref(_struct(outs[2], DMA_F32)),
          int(form == "exp"))
    return (_like(outs[0], value), _like(outs[1], weight), _like(outs[2], a),
            None if ddt is None else _like(ddt, dt_bias))


def topk(score, keep, selection, padding):
    """dma.topk through the CPU pipeline, in the kind of `score` (numpy or
    torch): int32 kept positions, or (masked score, threshold, tiebreak)."""
    sn = _float(_to_numpy(score, "score"), "score")
    pn = _bool(_to_numpy(padding, "padding"), "padding")
    B, H, L = sn.shape
    per_query = selection == "per_query"
    if per_query:
        outs = [np.full((B, H, L), np.nan, dtype=np.float32),
                np.full((B, H, L), np.nan, dtype=np.float32),
                np.full((B, H, L), -7, dtype=np.int32)]
        types = (DMA_F32, DMA_F32, DMA_I32)
    else:
        outs = [np.full((B, H, keep), -7, dtype=np.int32)]
        types = (DMA_I32,)
    structs = [_struct(o, t) for o, t in zip(outs, types)]
    structs += [None] * (3 - len(structs))
    _call(library().dma_cpu_topk, _ref(_struct(sn, DMA_F32)),
          _ref(_struct(pn, DMA_BOOL)), int(per_query), int(keep),
          *[_ref(x) for x in structs])
    if _is_torch(score):
        outs = [_torch().from_numpy(o) for o in outs]
    return tuple(outs) if per_query else outs[0]
