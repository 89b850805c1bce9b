"""The GPU path: torch CUDA tensors -> launch plans of the runtime.

A call is looked up by its *signature* (the shapes, strides, dtypes and
devices of its tensors, and its options) in a dictionary of call objects.
The first call of a signature builds one: every argument check (the same
errors as the runtime's), the kernel variants (found in a bundle or
compiled into the cache, then loaded) and a runtime plan. Every call then
allocates its outputs from PyTorch's caching allocator, packs the data
pointers and makes one C call that enqueues the whole sequence on the
current stream (forward: one kernel; backward: a memset, Delta, the
backward and the conversion kernel), with no synchronisation, so it can be
captured in a CUDA graph.
"""

import ctypes
import math
import os

import torch

from . import _bundles, _native
from ._runtime import (DMA_BF16, DMA_BOOL, DMA_F16, DMA_F32, DMA_I32,
                       DMA_I64, Options, Runtime, Tensor, library)

_DTYPES = {torch.float32: DMA_F32, torch.float16: DMA_F16,
           torch.bfloat16: DMA_BF16, torch.bool: DMA_BOOL,
           torch.int32: DMA_I32, torch.int64: DMA_I64}
_DTYPE_NAMES = {torch.bfloat16: "bf16", torch.float16: "f16"}
_runtimes = {}  # (bundle directory, manifest stamp) -> Runtime
_calls = {}     # signature -> call object (_Forward, _ValueBias, ...)

try:  # the current stream's handle without a Stream object (fast)
    _raw_stream = torch._C._cuda_getCurrentRawStream
except AttributeError:  # pragma: no cover - older PyTorch
    def _raw_stream(index):
        return torch.cuda.current_stream(index).cuda_stream


def _sig(t):
    """What a plan depends on of an optional tensor."""
    return None if t is None else (t.shape, t.stride(), t.dtype, t.device)


def _ptr(t):
    return 0 if t is None else t.data_ptr()


def clear_plans():
    """Drops every cached call plan (the next call of each signature
    builds its plan again, e.g. after a bundle was recompiled)."""
    _calls.clear()
    _runtimes.clear()


def _struct(t, name, device):
    """The runtime's view of tensor `t` (None stays None): checks its type,
    device, dtype and rank."""
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
    return _struct_of(t.shape, t.stride(), t.dtype, t.data_ptr())


def _struct_of(shape, strides, dtype, data=0):
    s = Tensor()
    s.data = data
    s.dtype = _DTYPES[dtype]
    s.ndim = len(shape)
    for i, (n, st) in enumerate(zip(shape, strides)):
        s.sizes[i] = n
        s.strides[i] = st
    return s


def _contiguous_struct(shape, dtype):
    strides, step = [], 1
    for n in reversed(shape):
        strides.insert(0, step)
        step *= n
    return _struct_of(shape, strides, dtype)


def _refs(structs):
    return [None if s is None else ctypes.byref(s) for s in structs]


def _chip(device):
    major, minor = torch.cuda.get_device_capability(device)
    return f"sm_{major}{minor}" + ("a" if major == 9 else "")


def _arch(device):
    """The compute capability the runtime's default tiles follow (sm_90a's
    bundles hold the forwards on the warpgroup MMA, at their own tiles)."""
    major, minor = torch.cuda.get_device_capability(device)
    return 10 * major + minor


def _runtime_for(variant, device, bundle):
    directory = _bundles.find(variant, _chip(device), bundle)
    # Reopen a bundle whose manifest changed (a variant compiled into it).
    key = (directory, _bundles.manifest_stamp(directory))
    runtime = _runtimes.get(key)
    if runtime is None:
        runtime = _runtimes[key] = Runtime(directory)
    return runtime


def _poisoned():
    # DMA_POISON_OUTPUTS=1 fills outputs with NaN first (correctness checks
    # that must see every element written); read when a plan is built.
    return os.environ.get("DMA_POISON_OUTPUTS") == "1"


def _empty(like, shape, dtype, poison):
    """A new tensor on `like`'s device (new_empty: cheaper argument
    parsing than torch.empty with dtype and device)."""
    if poison and dtype.is_floating_point:
        return like.new_full(shape, float("nan"), dtype=dtype)
    return like.new_empty(shape, dtype=dtype)


def _scale(scale):
    """The runtime's scale: NaN asks for 1/sqrt(D); 0 is a legal scale."""
    if scale is None:
        return math.nan
    if not scale == scale:
        raise ValueError("scale must be a number (None for 1/sqrt(D))")
    return float(scale)


#===----------------------------------------------------------------------===#
# Attention
#===----------------------------------------------------------------------===#

_FORWARD_NAMES = ("q", "k", "v", "bias", "mask", "keep", "keep_score",
                  "keep_threshold", "keep_tiebreak")


def _forward_signature(tensors, causal, scale, softcap, bundle, q_tile,
                       k_tile):
    return ("fwd", *map(_sig, tensors), bool(causal), scale, softcap, bundle,
            q_tile, k_tile)


class _Forward:
    """The forward of one signature: its plan, output shapes and (built on
    the first backward) the backward plans."""

    def __init__(self, tensors, causal, scale, softcap, bundle, q_tile,
                 k_tile):
        q, _, v = tensors[:3]
        self.device = q.device
        self.index = q.device.index
        self.dtype = q.dtype
        B, Lq, H, _ = q.shape
        self.o_shape = (B, Lq, H, v.shape[-1])
        self.lse_shape = (B, H, Lq)
        self.poison = _poisoned()
        self.bundle = bundle
        self.options = Options(int(bool(causal)), _scale(scale),
                               float(softcap), int(q_tile), int(k_tile),
                               arch=_arch(q.device))
        self.structs = [_struct(t, n, self.device)
                        for n, t in zip(_FORWARD_NAMES, tensors)]
        outputs = [_contiguous_struct(self.o_shape, q.dtype),
                   _contiguous_struct(self.lse_shape, torch.float32)]
        self.structs += outputs
        self.variant = Runtime.variant(_refs(self.structs), self.options)
        runtime = _runtime_for(self.variant, self.device, bundle)
        self.plan = runtime.plan("dma_attention_forward_plan", self.index,
                                 *_refs(self.structs),
                                 ctypes.byref(self.options))
        self.backwards = {}
        self.natives = {}

    def __call__(self, tensors):
        q = tensors[0]
        o = _empty(q, self.o_shape, self.dtype, self.poison)
        lse = _empty(q, self.lse_shape, torch.float32, self.poison)
        # A dense mask's block summary (dma-block-skip) lives in the
        # workspace: from PyTorch's caching allocator, like O.
        workspace = (q.new_empty(self.plan.workspace_bytes, dtype=torch.uint8)
                     if self.plan.workspace_bytes else None)
        self.plan.launch([_ptr(t) for t in tensors] +
                         [o.data_ptr(), lse.data_ptr(), _ptr(workspace)],
                         _raw_stream(self.index))
        return o, lse

    def native(self, deterministic):
        """The C++ autograd plans (dma_attention._C) of this forward and
        its backward, or None: no extension, or no backward variant (the
        Python autograd.Function then says so at backward time)."""
        plans = self.natives.get(deterministic)
        if plans is None:
            plans = False
            if _native.available:
                try:
                    plans = _native.plans(self, self.backward(deterministic))
                except LookupError:
                    pass
            self.natives[deterministic] = plans
        return plans or None

    def backward(self, deterministic):
        """The backward of this forward (dO contiguous, like O)."""
        call = self.backwards.get(deterministic)
        if call is None:
            call = self.backwards[deterministic] = _Backward(self,
                                                             deterministic)
        return call


def backward_tiles(d, dv):
    """The backward's (q_tile, k_tile) for head dims d and dv: the
    runtime's default (64 queries by dma_attention_backward_default_k_tile
    keys), or $DMA_BACKWARD_TILES (e.g. "64x64", for tuning)."""
    spec = os.environ.get("DMA_BACKWARD_TILES")
    if not spec:
        return 64, library().dma_attention_backward_default_k_tile(d, dv)
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


class _Backward:
    """dQ, dK, dV, dBias of a forward's signature: one plan (memset of the
    float32 sums, Delta, backward, conversion) and its workspace size."""

    def __init__(self, forward, deterministic):
        f = forward
        self.device, self.index = f.device, f.index
        q, k, v, bias = f.structs[:4]
        shape = lambda s: tuple(s.sizes[i] for i in range(s.ndim))
        self.shapes = [shape(q), shape(k), shape(v),
                       None if bias is None else shape(bias)]
        self.dtype = f.dtype
        tiles = backward_tiles(q.sizes[3], v.sizes[3])
        self.options = Options(f.options.causal, f.options.scale,
                               f.options.softcap, 0, 0, *tiles,
                               int(bool(deterministic)), f.options.arch)
        variant = backward_variant(f.variant, tiles, deterministic)
        runtime = _runtime_for(variant, self.device, f.bundle)
        grad_o = _contiguous_struct(f.o_shape, f.dtype)
        grads = [None if s is None else _contiguous_struct(s, self.dtype)
                 for s in self.shapes]
        # dma_attention_backward_plan's order: grad_o, q, k, v, o, lse,
        # the bias and mask operands, then the gradients.
        structs = ([grad_o] + f.structs[:3] + f.structs[9:11] +
                   f.structs[3:9] + grads)
        self.plan = runtime.plan("dma_attention_backward_plan", self.index,
                                 *_refs(structs), ctypes.byref(self.options))

    def __call__(self, grad_o, q, k, v, o, lse, bias, mask, keep, score,
                 threshold, tiebreak):
        dq, dk, dv = q.new_empty(self.shapes[0]), k.new_empty(
            self.shapes[1]), v.new_empty(self.shapes[2])
        grads = [dq, dk, dv, None if bias is None else
                 bias.new_empty(self.shapes[3], dtype=self.dtype)]
        workspace = q.new_empty(self.plan.workspace_bytes, dtype=torch.uint8)
        self.plan.launch(
            [grad_o.data_ptr(), q.data_ptr(), k.data_ptr(), v.data_ptr(),
             o.data_ptr(), lse.data_ptr(), _ptr(bias), _ptr(mask), _ptr(keep),
             _ptr(score), _ptr(threshold), _ptr(tiebreak)] +
            [_ptr(g) for g in grads] + [workspace.data_ptr()],
            _raw_stream(self.index))
        return grads


def forward_call(q, k, v, bias, mask, keep, keep_rows, causal, scale, softcap,
                 bundle, q_tile=0, k_tile=0):
    """(the _Forward of these arguments, their tensor tuple)."""
    rows = keep_rows if keep_rows is not None else (None, None, None)
    if len(rows) != 3:
        raise ValueError("keep_rows is (score, threshold, tiebreak)")
    tensors = (q, k, v, bias, mask, keep, *rows)
    key = _forward_signature(tensors, causal, scale, softcap, bundle, q_tile,
                             k_tile)
    call = _calls.get(key)
    if call is None:
        call = _calls[key] = _Forward(tensors, causal, scale, softcap, bundle,
                                      q_tile, k_tile)
    return call, tensors


def attention(q, k, v, bias, mask, keep, keep_rows, causal, scale, softcap,
              bundle, q_tile=0, k_tile=0):
    call, tensors = forward_call(q, k, v, bias, mask, keep, keep_rows, causal,
                                 scale, softcap, bundle, q_tile, k_tile)
    return call(tensors)


def attention_with_grad(q, k, v, bias, mask, keep, keep_rows, causal, scale,
                        softcap, bundle, q_tile, k_tile, deterministic):
    """(O, LSE) with O's gradient through the C++ autograd node, or None
    when the node cannot serve this call (see _Forward.native)."""
    call, tensors = forward_call(q, k, v, bias, mask, keep, keep_rows, causal,
                                 scale, softcap, bundle, q_tile, k_tile)
    plans = call.native(bool(deterministic))
    if plans is None:
        return None
    return _native.attention(plans, _raw_stream(call.index), tensors)


def dense_grad_o(grad_o):
    """dO as the backward plan takes it: contiguous, 16-byte aligned."""
    grad_o = grad_o.contiguous()
    return grad_o if grad_o.data_ptr() % 16 == 0 else grad_o.clone()


def attention_backward(grad_o, q, k, v, o, lse, bias, mask, keep, keep_rows,
                       causal, scale, softcap, bundle, deterministic=False):
    """dQ, dK, dV, dBias (None without a bias) through the generated
    backward kernels (`deterministic`: bitwise reproducible, in a fixed
    order of CTAs)."""
    call, tensors = forward_call(q, k, v, bias, mask, keep, keep_rows, causal,
                                 scale, softcap, bundle)
    rows = tensors[6:]
    return call.backward(bool(deterministic))(
        dense_grad_o(grad_o), q, k, v, o, lse, bias, mask, keep, *rows)


#===----------------------------------------------------------------------===#
# Mask generation
#===----------------------------------------------------------------------===#

def _aligned16(t):
    """`t` contiguous with 16-byte aligned data (the value-bias kernels
    move 8 elements per access)."""
    if t is None:
        return None
    t = t.contiguous()
    return t if t.data_ptr() % 16 == 0 else t.clone()


def _f32(t, device):
    """A parameter as the kernels take it: float32, contiguous, aligned."""
    if t is None:
        return None
    return _aligned16(t.detach().to(device, torch.float32))


def _vector_rows(t):
    """Whether the value-bias kernels can read `t` as it is: the last
    dimension contiguous, every other stride 16-byte aligned."""
    if t.stride(-1) != 1 and t.shape[-1] > 1:
        return False
    return all(n == 1 or (st * t.element_size()) % 16 == 0
               for n, st in zip(t.shape[:-1], t.stride()[:-1]))


def _is_f32_on(t, device):
    return t is None or (t.dtype == torch.float32 and t.device == device
                         and t.is_contiguous())


class _ValueBias:
    """value_bias of one signature: the forward plan and, on the first
    backward, its plan."""

    def __init__(self, value, weight, a, dt_bias, form, bundle):
        self.device, self.index = value.device, value.device.index
        B, Lk, Hkv, D = value.shape
        self.score_shape = (B, Hkv, Lk)
        self.form, self.bundle = form, bundle
        self.exp = int(form == "exp")
        # Parameters not already float32 on the device are converted on
        # every call (the kernels read float32).
        self.direct = all(_is_f32_on(t, self.device)
                          for t in (weight, a, dt_bias))
        params = [_f32(t, self.device) for t in (weight, dt_bias, a)]
        # The kernels read value with its strides: rows of 8 elements at
        # 16-byte aligned strides (a transposed [B, Hkv, L, D] view does);
        # other layouts are copied on every call.
        self.copy_value = not _vector_rows(value)
        if self.copy_value:
            value = value.contiguous()
        self.inputs = [_struct(value, "value", self.device)] + [
            _struct(t, n, self.device)
            for n, t in zip(("weight", "dt_bias", "a"), params)]
        score = _contiguous_struct(self.score_shape, torch.float32)
        self.variant_keys = (f"dtype={_DTYPE_NAMES[value.dtype]},d={D},"
                             f"form={form},dt_bias={int(dt_bias is not None)}")
        runtime = _runtime_for("kind=value_bias," + self.variant_keys,
                               self.device, bundle)
        self.plan = runtime.plan("dma_value_bias_plan", self.index,
                                 *_refs(self.inputs + [score]), self.exp)
        self._backward = None

    def params(self, weight, a, dt_bias):
        if self.direct:
            return weight, a, dt_bias
        return (_f32(weight, self.device), _f32(a, self.device),
                _f32(dt_bias, self.device))

    def value(self, value):
        if self.copy_value:
            value = value.contiguous()
        return value if value.data_ptr() % 16 == 0 else value.clone()

    def __call__(self, value, weight, a, dt_bias):
        weight, a, dt_bias = self.params(weight, a, dt_bias)
        value = self.value(value)
        score = weight.new_empty(self.score_shape)  # float32, on the device
        self.plan.launch([value.data_ptr(), weight.data_ptr(), _ptr(dt_bias),
                          a.data_ptr(), score.data_ptr()],
                         _raw_stream(self.index))
        return score

    def backward(self, grad, value, weight, a, dt_bias):
        """(d value, d weight, d a, d dt_bias or None) in their inputs'
        dtypes."""
        if self._backward is None:
            B, Hkv, Lk = self.score_shape
            D = self.inputs[0].sizes[3]
            value_dtype = value.dtype
            grads = [_contiguous_struct((B, Lk, Hkv, D), value_dtype),
                     _contiguous_struct((Hkv, Hkv * D), torch.float32),
                     None if dt_bias is None else
                     _contiguous_struct((Hkv,), torch.float32),
                     _contiguous_struct((Hkv,), torch.float32)]
            grad_struct = _contiguous_struct(self.score_shape, torch.float32)
            runtime = _runtime_for(
                "kind=value_bias_bwd," + self.variant_keys + ",step=dt",
                self.device, self.bundle)
            self._backward = runtime.plan(
                "dma_value_bias_backward_plan", self.index, *_refs(
                    [grad_struct] + [self.inputs[0], self.inputs[1],
                                     self.inputs[2], self.inputs[3]] + grads),
                self.exp)
        plan = self._backward
        dev = self.device
        weight32, a32, dt32 = self.params(weight, a, dt_bias)
        value = self.value(value)
        grad = grad.detach().to(torch.float32).contiguous()
        Hkv = self.score_shape[1]
        dv = torch.empty(value.shape, dtype=value.dtype, device=dev)
        dw = torch.empty(weight32.shape, dtype=torch.float32, device=dev)
        ddt = (None if dt_bias is None else
               torch.empty((Hkv,), dtype=torch.float32, device=dev))
        da = torch.empty((Hkv,), dtype=torch.float32, device=dev)
        workspace = torch.empty(plan.workspace_bytes, dtype=torch.uint8,
                                device=dev)
        plan.launch([grad.data_ptr(), value.data_ptr(), weight32.data_ptr(),
                     _ptr(dt32), a32.data_ptr(), dv.data_ptr(), dw.data_ptr(),
                     _ptr(ddt), da.data_ptr(), workspace.data_ptr()],
                    _raw_stream(self.index))
        like = lambda g, t: None if t is None else g.to(t.dtype)
        return dv, like(dw, weight), like(da, a), like(ddt, dt_bias)


def _value_bias_key(value, weight, a, dt_bias, form, bundle):
    return ("value_bias", _sig(value), _sig(weight), _sig(a), _sig(dt_bias),
            form, bundle)


def value_bias_lookup(value, weight, a, dt_bias, form, bundle=None):
    """The cached call of these arguments' signature, or None."""
    return _calls.get(_value_bias_key(value, weight, a, dt_bias, form, bundle))


def value_bias_call(value, weight, a, dt_bias, form, bundle=None):
    key = _value_bias_key(value, weight, a, dt_bias, form, bundle)
    call = _calls.get(key)
    if call is None:
        call = _calls[key] = _ValueBias(value, weight, a, dt_bias, form,
                                        bundle)
    return call


def value_bias(value, weight, a, dt_bias, form, bundle=None):
    """The per-key score [B, Hkv, Lk] (float32) through the generated
    value-bias kernel; value is bf16 or f16 on a CUDA device."""
    return value_bias_call(value, weight, a, dt_bias, form, bundle)(
        value, weight, a, dt_bias)


def value_bias_backward(grad, value, weight, a, dt_bias, form, bundle=None):
    """(d value, d weight, d a, d dt_bias or None) of value_bias through the
    generated backward kernels, each in its input's dtype."""
    return value_bias_call(value, weight, a, dt_bias, form, bundle).backward(
        grad, value, weight, a, dt_bias)


class _TopK:
    """topk of one signature (shared: keep positions; per_query: the
    masked score, threshold and tiebreak)."""

    def __init__(self, score, keep, selection, padding, bundle):
        self.device, self.index = score.device, score.device.index
        B, H, L = score.shape
        self.shape = (B, H, L)
        self.keep, self.selection = int(keep), selection
        self.direct = _is_f32_on(score, self.device)
        score32 = _struct(score.detach().to(torch.float32).contiguous(),
                          "score", self.device)
        pad = None if padding is None else _struct(
            padding.to(self.device, torch.bool).contiguous(), "padding",
            self.device)
        self.pad_direct = padding is None or (
            padding.dtype == torch.bool and padding.is_contiguous()
            and padding.device == self.device)
        padded = int(padding is not None)
        if selection == "shared":
            out = _contiguous_struct((B, H, self.keep), torch.int32)
            runtime = _runtime_for(
                f"kind=topk,selection=shared,padding={padded}", self.device,
                bundle)
            self.plan = runtime.plan("dma_topk_shared_plan", self.index,
                                     *_refs([score32, pad, out]))
        else:
            outs = [_contiguous_struct(self.shape, torch.float32),
                    _contiguous_struct(self.shape, torch.float32),
                    _contiguous_struct(self.shape, torch.int32)]
            runtime = _runtime_for(
                f"kind=topk,selection=per_query,padding={padded}",
                self.device, bundle)
            self.plan = runtime.plan(
                "dma_topk_per_query_plan", self.index, ctypes.byref(score32),
                None if pad is None else ctypes.byref(pad),
                ctypes.c_int64(self.keep), *_refs(outs))

    def __call__(self, score, padding):
        dev = self.device
        if not self.direct:
            score = score.detach().to(torch.float32).contiguous()
        if not self.pad_direct:
            padding = padding.to(dev, torch.bool).contiguous()
        B, H, L = self.shape
        # new_empty of the float32 score: cheaper than torch.empty's
        # dtype/device parsing on every call.
        if self.selection == "shared":
            out = score.new_empty((B, H, self.keep), dtype=torch.int32)
            self.plan.launch([score.data_ptr(), _ptr(padding),
                              out.data_ptr()], _raw_stream(self.index))
            return out
        masked = score.new_empty(self.shape)
        threshold = score.new_empty(self.shape)
        tiebreak = score.new_empty(self.shape, dtype=torch.int32)
        self.plan.launch([score.data_ptr(), _ptr(padding), masked.data_ptr(),
                          threshold.data_ptr(), tiebreak.data_ptr()],
                         _raw_stream(self.index))
        return masked, threshold, tiebreak


def topk_lookup(score, keep, selection, padding, bundle=None):
    """The cached call of these arguments' signature, or None."""
    return _calls.get(("topk", _sig(score), keep, selection, _sig(padding),
                       bundle))


def topk(score, keep, selection, padding, bundle=None):
    """dma.topk through the generated kernels (score on a CUDA device)."""
    key = ("topk", _sig(score), keep, selection, _sig(padding), bundle)
    call = _calls.get(key)
    if call is None:
        call = _calls[key] = _TopK(score, keep, selection, padding, bundle)
    return call(score, padding)


def value_bias_scratch(B, Lk, Hkv, D):
    """Float32 elements of the value-bias backward's scratch."""
    return library().dma_value_bias_backward_scratch(B, Lk, Hkv, D)
