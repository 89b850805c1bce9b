"""ctypes binding of the dma runtime (runtime/include/dma_runtime.h).

The runtime is a small C library over the CUDA driver API that loads kernel
bundles (dma-compile output) and launches them; this module finds the
library, mirrors its structs and turns its error codes into exceptions.
"""

import ctypes
import os
from pathlib import Path

DMA_F32, DMA_F16, DMA_BF16, DMA_BOOL, DMA_I32, DMA_I64 = range(6)


class Tensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("dtype", ctypes.c_int32),
        ("ndim", ctypes.c_int32),
        ("sizes", ctypes.c_int64 * 4),
        ("strides", ctypes.c_int64 * 4),
    ]


class Options(ctypes.Structure):
    _fields_ = [
        ("causal", ctypes.c_int32),
        ("scale", ctypes.c_float),
        ("softcap", ctypes.c_float),
        ("q_tile", ctypes.c_int32),
        ("k_tile", ctypes.c_int32),
        ("backward_q_tile", ctypes.c_int32),
        ("backward_k_tile", ctypes.c_int32),
        ("deterministic", ctypes.c_int32),
    ]


def _candidates():
    env = os.environ.get("DMA_RUNTIME_LIB")
    if env:
        yield Path(env)
    here = Path(__file__).resolve().parent
    yield here / "libdma_runtime.so"
    root = here.parent.parent
    for build in ("build-runtime", "build/runtime", "build"):
        yield root / build / "libdma_runtime.so"


_lib = None


def load_first(candidates, how_to_get):
    """The first existing library of `candidates`, loaded; RuntimeError
    listing what was tried and `how_to_get` when there is none."""
    tried = []
    for path in candidates:
        tried.append(str(path))
        if path.exists():
            return ctypes.CDLL(str(path))
    raise RuntimeError(f"{how_to_get} (tried: {', '.join(tried)})")


def library():
    """The loaded runtime library (RuntimeError if it cannot be found)."""
    global _lib
    if _lib is not None:
        return _lib
    lib = load_first(
        _candidates(),
        "the dma runtime library was not found; build it with `cmake -S "
        "runtime -B build-runtime && cmake --build build-runtime` or set "
        "DMA_RUNTIME_LIB")
    P = ctypes.POINTER(Tensor)
    lib.dma_runtime_open.restype = ctypes.c_void_p
    lib.dma_runtime_open.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]
    lib.dma_runtime_close.argtypes = [ctypes.c_void_p]
    lib.dma_attention_variant.restype = ctypes.c_int
    lib.dma_attention_variant.argtypes = [P] * 11 + [
        ctypes.POINTER(Options), ctypes.c_char_p, ctypes.c_size_t,
        ctypes.c_char_p, ctypes.c_size_t]
    lib.dma_attention_backward.restype = ctypes.c_int
    lib.dma_attention_backward.argtypes = [ctypes.c_void_p] + [P] * 17 + [
        ctypes.POINTER(Options), ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    lib.dma_attention_forward.restype = ctypes.c_int
    lib.dma_attention_forward.argtypes = [ctypes.c_void_p] + [P] * 11 + [
        ctypes.POINTER(Options), ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    c = ctypes
    lib.dma_value_bias.restype = c.c_int
    lib.dma_value_bias.argtypes = [c.c_void_p] + [P] * 5 + [
        c.c_int32, c.c_void_p, c.c_char_p, c.c_size_t]
    lib.dma_value_bias_backward.restype = c.c_int
    lib.dma_value_bias_backward.argtypes = [c.c_void_p] + [P] * 10 + [
        c.c_int32, c.c_void_p, c.c_char_p, c.c_size_t]
    lib.dma_value_bias_backward_scratch.restype = c.c_int64
    lib.dma_value_bias_backward_scratch.argtypes = [c.c_int64] * 4
    lib.dma_topk_shared.restype = c.c_int
    lib.dma_topk_shared.argtypes = [c.c_void_p, P, P, P, c.c_void_p,
                                    c.c_char_p, c.c_size_t]
    lib.dma_topk_per_query.restype = c.c_int
    lib.dma_topk_per_query.argtypes = [c.c_void_p, P, P, c.c_int64, P, P, P,
                                       c.c_void_p, c.c_char_p, c.c_size_t]
    _lib = lib
    return lib


class Runtime:
    """An open kernel bundle."""

    def __init__(self, bundle_dir):
        self.bundle_dir = str(bundle_dir)
        lib = library()
        err = ctypes.create_string_buffer(4096)
        self._handle = lib.dma_runtime_open(self.bundle_dir.encode(), err, len(err))
        if not self._handle:
            raise RuntimeError(err.value.decode())

    def close(self):
        if self._handle:
            library().dma_runtime_close(self._handle)
            self._handle = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    @staticmethod
    def variant(tensors, options):
        """The bundle variant these arguments need (ValueError if invalid)."""
        err = ctypes.create_string_buffer(4096)
        name = ctypes.create_string_buffer(512)
        rc = library().dma_attention_variant(
            *tensors, ctypes.byref(options), name, len(name), err, len(err))
        if rc != 0:
            raise ValueError(err.value.decode())
        return name.value.decode()

    def call(self, function, *args):
        """Calls runtime entry point `function` with this bundle, `args`,
        and an error buffer; raises LookupError for a missing variant and
        ValueError for any other error."""
        err = ctypes.create_string_buffer(4096)
        rc = getattr(library(), function)(self._handle, *args, err, len(err))
        if rc != 0:
            message = err.value.decode()
            if message.startswith("no variant"):
                raise LookupError(message)
            raise ValueError(message)

    def backward(self, tensors, options, stream):
        self.call("dma_attention_backward", *tensors, ctypes.byref(options),
                  stream)

    def forward(self, tensors, options, stream):
        self.call("dma_attention_forward", *tensors, ctypes.byref(options),
                  stream)
