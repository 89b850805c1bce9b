"""ctypes binding of the dma runtime (runtime/include/dma_runtime.h).

The runtime is a small C library over the CUDA driver API that loads kernel
bundles (dma-compile output) and launches them; this module finds the
library, mirrors its structs, wraps its launch plans and turns its error
codes into exceptions.
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
        ("scale", ctypes.c_float),  # NaN: the default 1/sqrt(D)
        ("softcap", ctypes.c_float),
        ("q_tile", ctypes.c_int32),
        ("k_tile", ctypes.c_int32),
        ("backward_q_tile", ctypes.c_int32),
        ("backward_k_tile", ctypes.c_int32),
        ("deterministic", ctypes.c_int32),
        # Compute capability (major * 10 + minor) the default tiles follow.
        ("arch", ctypes.c_int32),
    ]


def _candidates():
    env = os.environ.get("DMA_RUNTIME_LIB")
    if env:
        yield Path(env)
    here = Path(__file__).resolve().parent
    yield here / "libdma_runtime.so"  # inside an installed package
    root = here.parent.parent
    for build in ("build-runtime", "build/runtime", "build"):
        yield root / build / "libdma_runtime.so"


def load_first(candidates, how_to_get, loader=ctypes.CDLL):
    """The first existing library of `candidates`, loaded; RuntimeError
    listing what was tried and `how_to_get` when there is none."""
    tried = []
    for path in candidates:
        tried.append(str(path))
        if path.exists():
            return loader(str(path)), path
    raise RuntimeError(f"{how_to_get} (tried: {', '.join(tried)})")


_lib = None
_launch = None
library_path = None


def library():
    """The loaded runtime library (RuntimeError if it cannot be found)."""
    global _lib, _launch, library_path
    if _lib is not None:
        return _lib
    lib, library_path = load_first(
        _candidates(),
        "the dma runtime library was not found; install the package with "
        "`pip install --no-build-isolation ./python`, or build it with "
        "`cmake -S runtime -B build-runtime && cmake --build build-runtime`, "
        "or set DMA_RUNTIME_LIB")
    c = ctypes
    P = c.POINTER(Tensor)
    err = [c.c_char_p, c.c_size_t]
    lib.dma_runtime_open.restype = c.c_void_p
    lib.dma_runtime_open.argtypes = [c.c_char_p] + err
    lib.dma_runtime_close.argtypes = [c.c_void_p]
    lib.dma_attention_variant.restype = c.c_int
    lib.dma_attention_variant.argtypes = [P] * 11 + [
        c.POINTER(Options), c.c_char_p, c.c_size_t] + err
    plan = c.c_void_p
    for name, tensors, extra in (
            ("dma_attention_forward_plan", 11, [c.POINTER(Options)]),
            ("dma_attention_backward_plan", 16, [c.POINTER(Options)]),
            ("dma_value_bias_plan", 5, [c.c_int32]),
            ("dma_value_bias_backward_plan", 9, [c.c_int32]),
            ("dma_topk_shared_plan", 3, [])):
        fn = getattr(lib, name)
        fn.restype = plan
        fn.argtypes = [c.c_void_p, c.c_int] + [P] * tensors + extra + err
    lib.dma_topk_per_query_plan.restype = plan
    lib.dma_topk_per_query_plan.argtypes = [c.c_void_p, c.c_int, P, P,
                                            c.c_int64, P, P, P] + err
    lib.dma_plan_slots.restype = c.c_int
    lib.dma_plan_slots.argtypes = [plan]
    lib.dma_plan_workspace_bytes.restype = c.c_int64
    lib.dma_plan_workspace_bytes.argtypes = [plan]
    lib.dma_plan_destroy.argtypes = [plan]
    lib.dma_attention_backward_default_k_tile.restype = c.c_int
    lib.dma_attention_backward_default_k_tile.argtypes = [c.c_int64] * 2
    lib.dma_value_bias_backward_scratch.restype = c.c_int64
    lib.dma_value_bias_backward_scratch.argtypes = [c.c_int64] * 4
    # The launch keeps the GIL (a PyDLL function): a plan's pointer array
    # is filled and read under it, so threads sharing a plan cannot mix
    # their pointers. It only enqueues work, so holding the GIL is brief.
    _launch = ctypes.PyDLL(str(library_path)).dma_plan_launch
    _launch.restype = c.c_int
    _launch.argtypes = [plan, c.POINTER(c.c_void_p), c.c_void_p] + err
    _lib = lib
    return lib


class Runtime:
    """An open kernel bundle."""

    def __init__(self, bundle_dir):
        self.bundle_dir = str(bundle_dir)
        lib = library()
        err = ctypes.create_string_buffer(4096)
        self._handle = lib.dma_runtime_open(self.bundle_dir.encode(), err,
                                            len(err))
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

    def plan(self, builder, device, *args):
        """A Plan from runtime function `builder` (a dma_*_plan) for CUDA
        device `device` with `args`; LookupError for a variant the bundle
        lacks, ValueError for any other error."""
        err = ctypes.create_string_buffer(4096)
        handle = getattr(library(), builder)(self._handle, device, *args, err,
                                             len(err))
        if not handle:
            raise error_of(err.value.decode())
        return Plan(handle)


def launch_address():
    """dma_plan_launch's address (dma_attention._C calls it directly)."""
    library()
    return ctypes.cast(_launch, ctypes.c_void_p).value


def error_of(message):
    return (LookupError if message.startswith("no variant") else
            ValueError)(message)


class Plan:
    """A launch plan (dma_plan): `launch(pointers, stream)` enqueues it
    with one data pointer per slot (0 for absent tensors)."""

    __slots__ = ("_handle", "_pointers", "_error", "slots", "workspace_bytes")

    def __init__(self, handle):
        lib = library()
        self._handle = handle
        self.slots = lib.dma_plan_slots(handle)
        self.workspace_bytes = lib.dma_plan_workspace_bytes(handle)
        self._pointers = (ctypes.c_void_p * self.slots)()
        self._error = ctypes.create_string_buffer(1024)

    @property
    def handle(self):
        """The dma_plan pointer as an integer (for dma_attention._C)."""
        return self._handle

    def launch(self, pointers, stream):
        self._pointers[:] = pointers
        if _launch(self._handle, self._pointers, stream, self._error, 1024):
            raise error_of(self._error.value.decode())

    def __del__(self):
        try:
            if self._handle and _lib is not None:
                _lib.dma_plan_destroy(self._handle)
                self._handle = None
        except Exception:
            pass
