"""The GPU path: torch CUDA tensors -> the runtime -> generated kernels."""

import ctypes
import os

import torch

from . import _bundles
from ._runtime import (DMA_BF16, DMA_BOOL, DMA_F16, DMA_F32, DMA_I32,
                       DMA_I64, Options, Runtime, Tensor)

_DTYPES = {torch.float32: DMA_F32, torch.float16: DMA_F16,
           torch.bfloat16: DMA_BF16, torch.bool: DMA_BOOL,
           torch.int32: DMA_I32, torch.int64: DMA_I64}
_runtimes = {}


def _tensor(t, name, device):
    if t is None:
        return None
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor, got {type(t).__name__}")
    if t.device != device:
        raise ValueError(f"{name} is on {t.device} but q is on {device}")
    if t.dtype not in _DTYPES:
        raise TypeError(f"{name} has unsupported dtype {t.dtype}")
    if t.dim() > 4:
        raise ValueError(f"{name} has {t.dim()} dimensions (at most 4)")
    s = Tensor()
    s.data = t.data_ptr()
    s.dtype = _DTYPES[t.dtype]
    s.ndim = t.dim()
    for i in range(t.dim()):
        s.sizes[i] = t.shape[i]
        s.strides[i] = t.stride(i)
    return s


def _chip(device):
    major, minor = torch.cuda.get_device_capability(device)
    return f"sm_{major}{minor}" + ("a" if major == 9 else "")


def _runtime_for(variant, device, bundle):
    directory = _bundles.find(variant, _chip(device), bundle)
    # Reopen a bundle whose manifest changed (a variant compiled into it).
    key = (directory, _bundles.manifest_stamp(directory))
    runtime = _runtimes.get(key)
    if runtime is None:
        runtime = _runtimes[key] = Runtime(directory)
    return runtime


def _inputs(q, k, v, bias, mask, keep, keep_rows, o, lse):
    rows = keep_rows if keep_rows is not None else (None, None, None)
    if len(rows) != 3:
        raise ValueError("keep_rows is (score, threshold, tiebreak)")
    return [("q", q), ("k", k), ("v", v), ("bias", bias), ("mask", mask),
            ("keep", keep), ("keep_score", rows[0]),
            ("keep_threshold", rows[1]), ("keep_tiebreak", rows[2]),
            ("o", o), ("lse", lse)]


def _pointers(named, device):
    structs = [_tensor(t, n, device) for n, t in named]
    return structs, [ctypes.byref(s) if s is not None else None
                     for s in structs]


def attention(q, k, v, bias, mask, keep, keep_rows, causal, scale, softcap,
              bundle, q_tile=0, k_tile=0):
    device = q.device
    B, Lq, H, _ = q.shape
    Dv = v.shape[-1]
    # The kernel writes every element of O and LSE (empty rows too), so the
    # outputs start uninitialised; DMA_POISON_OUTPUTS=1 fills them with NaN
    # first, for correctness checks that must see every element written.
    if os.environ.get("DMA_POISON_OUTPUTS") == "1":
        o = torch.full((B, Lq, H, Dv), float("nan"), dtype=q.dtype,
                       device=device)
        lse = torch.full((B, H, Lq), float("nan"), dtype=torch.float32,
                         device=device)
    else:
        o = torch.empty((B, Lq, H, Dv), dtype=q.dtype, device=device)
        lse = torch.empty((B, H, Lq), dtype=torch.float32, device=device)
    _, pointers = _pointers(_inputs(q, k, v, bias, mask, keep, keep_rows, o,
                                    lse), device)
    options = Options(int(bool(causal)), float(scale or 0.0), float(softcap),
                      int(q_tile), int(k_tile))
    runtime = _runtime_for(Runtime.variant(pointers, options), device, bundle)
    with torch.cuda.device(device):
        stream = torch.cuda.current_stream(device).cuda_stream
        runtime.forward(pointers, options, stream)
    return o, lse


def backward_tiles(d, dv):
    """The backward's (q_tile, k_tile) for head dims d and dv: the
    runtime's default (64 x 128, or 64 x 64 when d + dv > 256), or
    $DMA_BACKWARD_TILES (e.g. "64x64", for tuning)."""
    spec = os.environ.get("DMA_BACKWARD_TILES")
    if not spec:
        return 64, 128 if d + dv <= 256 else 64
    try:
        q, k = (int(x) for x in spec.split("x"))
    except ValueError:
        raise ValueError(f"DMA_BACKWARD_TILES must look like 64x64, got {spec!r}")
    return q, k


def backward_variant(forward_variant, tiles, deterministic=False):
    """The backward's bundle variant for a forward variant name."""
    q, k = tiles
    return ("kind=bwd," + forward_variant.split(",q_tile=")[0] +
            (",deterministic=1" if deterministic else "") +
            f",q_tile={q},k_tile={k}")


def attention_backward(grad_o, q, k, v, o, lse, bias, mask, keep, keep_rows,
                       causal, scale, softcap, bundle, deterministic=False):
    """dQ, dK, dV, dBias (None without a bias) through the generated
    backward kernels (`deterministic`: bitwise reproducible, in a fixed
    order of CTAs)."""
    device = q.device
    grad_o = grad_o.contiguous()
    delta = torch.empty(lse.shape, dtype=torch.float32, device=device)
    dq = torch.zeros(q.shape, dtype=torch.float32, device=device)
    dk = torch.zeros(k.shape, dtype=torch.float32, device=device)
    dv = torch.zeros(v.shape, dtype=torch.float32, device=device)
    dbias = (None if bias is None else
             torch.zeros(bias.shape, dtype=torch.float32, device=device))
    named = _inputs(q, k, v, bias, mask, keep, keep_rows, o, lse)
    _, forward_pointers = _pointers(named, device)
    tiles = backward_tiles(q.shape[-1], v.shape[-1])
    options = Options(int(bool(causal)), float(scale or 0.0), float(softcap),
                      0, 0, *tiles, int(bool(deterministic)))
    variant = backward_variant(Runtime.variant(forward_pointers, options),
                               tiles, deterministic)
    runtime = _runtime_for(variant, device, bundle)
    # dma_attention_backward's order: grad_o, q, k, v, o, lse, the bias and
    # mask operands, then the outputs.
    named = ([("grad_o", grad_o)] + named[:3] + [("o", o), ("lse", lse)] +
             named[3:9] + [("delta", delta), ("grad_q_accum", dq),
                           ("grad_k_accum", dk), ("grad_v_accum", dv),
                           ("grad_bias_accum", dbias)])
    _, pointers = _pointers(named, device)
    with torch.cuda.device(device):
        stream = torch.cuda.current_stream(device).cuda_stream
        runtime.backward(pointers, options, stream)
    return (dq.to(q.dtype), dk.to(k.dtype), dv.to(v.dtype),
            None if bias is None else dbias.to(bias.dtype))


_DTYPE_NAMES = {torch.bfloat16: "bf16", torch.float16: "f16"}


def _stream(device):
    return torch.cuda.current_stream(device).cuda_stream


def _rows16(t):
    """`t` contiguous with 16-byte aligned data (the value-bias kernels
    move 8 elements per access)."""
    if t is None:
        return None
    t = t.contiguous()
    return t if t.data_ptr() % 16 == 0 else t.clone()


def value_bias(value, weight, a, dt_bias, form, bundle=None):
    """The per-key score [B, Hkv, Lk] (float32) through the generated
    value-bias kernel; value is bf16 or f16 on a CUDA device."""
    device = value.device
    B, Lk, Hkv, D = value.shape
    value = _rows16(value.detach())
    f32 = [None if t is None else _rows16(t.detach().to(device, torch.float32))
           for t in (weight, dt_bias, a)]
    score = torch.empty((B, Hkv, Lk), dtype=torch.float32, device=device)
    variant = (f"kind=value_bias,dtype={_DTYPE_NAMES[value.dtype]},d={D},"
               f"form={form},dt_bias={int(dt_bias is not None)}")
    runtime = _runtime_for(variant, device, bundle)
    _, (pv, pw, pdt, pa, ps) = _pointers(
        [("value", value.detach()), ("weight", f32[0]), ("dt_bias", f32[1]),
         ("a", f32[2]), ("score", score)], device)
    with torch.cuda.device(device):
        runtime.call("dma_value_bias", pv, pw, pdt, pa, ps,
                     int(form == "exp"), _stream(device))
    return score


def value_bias_backward(grad, value, weight, a, dt_bias, form, bundle=None):
    """(d value, d weight, d a, d dt_bias or None) of value_bias through the
    generated backward kernels, each in its input's dtype."""
    from ._runtime import library
    device = value.device
    B, Lk, Hkv, D = value.shape
    value = _rows16(value.detach())
    f32 = [None if t is None else _rows16(t.detach().to(device, torch.float32))
           for t in (weight, dt_bias, a)]
    grad = grad.detach().to(torch.float32).contiguous()
    dv = torch.empty(value.shape, dtype=value.dtype, device=device)
    dw = torch.empty(f32[0].shape, dtype=torch.float32, device=device)
    ddt = None if dt_bias is None else torch.empty(
        (Hkv,), dtype=torch.float32, device=device)
    da = torch.empty((Hkv,), dtype=torch.float32, device=device)
    scratch = torch.empty(
        (library().dma_value_bias_backward_scratch(B, Lk, Hkv, D),),
        dtype=torch.float32, device=device)
    variant = (f"kind=value_bias_bwd,dtype={_DTYPE_NAMES[value.dtype]},d={D},"
               f"form={form},dt_bias={int(dt_bias is not None)},step=dt")
    runtime = _runtime_for(variant, device, bundle)
    _, ptrs = _pointers(
        [("grad", grad), ("value", value.detach()), ("weight", f32[0]),
         ("dt_bias", f32[1]), ("a", f32[2]), ("grad_value", dv),
         ("grad_weight", dw), ("grad_dt_bias", ddt), ("grad_a", da),
         ("scratch", scratch)], device)
    with torch.cuda.device(device):
        runtime.call("dma_value_bias_backward", *ptrs, int(form == "exp"),
                     _stream(device))
    like = lambda g, t: None if t is None else g.to(t.dtype)
    return dv, like(dw, weight), like(da, a), like(ddt, dt_bias)


def topk(score, keep, selection, padding, bundle=None):
    """dma.topk through the generated kernels (score on a CUDA device)."""
    device = score.device
    score = score.detach().to(torch.float32).contiguous()
    B, H, L = score.shape
    if padding is not None:
        padding = padding.to(device, torch.bool).contiguous()
    padded = int(padding is not None)
    if selection == "shared":
        out = torch.empty((B, H, keep), dtype=torch.int32, device=device)
        runtime = _runtime_for(f"kind=topk,selection=shared,padding={padded}",
                               device, bundle)
        _, (ps, pp, po) = _pointers(
            [("score", score), ("padding", padding), ("keep", out)], device)
        with torch.cuda.device(device):
            runtime.call("dma_topk_shared", ps, pp, po, _stream(device))
        return out
    masked = torch.empty_like(score)
    threshold = torch.empty_like(score)
    tiebreak = torch.empty((B, H, L), dtype=torch.int32, device=device)
    # One dma-compile variant writes the three steps; look up the first.
    runtime = _runtime_for(
        f"kind=topk,selection=per_query,padding={padded},step=rank", device,
        bundle)
    _, (ps, pp, pm, pt, pk) = _pointers(
        [("score", score), ("padding", padding), ("masked_score", masked),
         ("threshold", threshold), ("tiebreak", tiebreak)], device)
    with torch.cuda.device(device):
        runtime.call("dma_topk_per_query", ps, pp, int(keep), pm, pt, pk,
                     _stream(device))
    return masked, threshold, tiebreak
