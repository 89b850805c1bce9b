"""The C++ autograd node of the CUDA attention (dma_attention._C).

`pip install` builds it (csrc/autograd.cpp, a torch C++ extension) when
torch is importable at build time; in a checkout,
`cd python && python3 setup.py build_ext --inplace` does. With it, a
forward that needs a gradient attaches a C++ Node to O and the backward
runs without entering Python (the cost of a Python autograd.Function is
most of a small call's). Without it (or with DMA_NATIVE_AUTOGRAD=0) the
CUDA path uses _autograd.AttentionFunction, with the same results.
"""

import os

_C = None
reason = "DMA_NATIVE_AUTOGRAD=0"
if os.environ.get("DMA_NATIVE_AUTOGRAD", "1") != "0":
    try:
        from . import _C
        reason = None
    except ImportError as e:  # not built: the Python autograd.Function
        reason = f"dma_attention._C is not built ({e})"

available = _C is not None


def plans(forward, backward):
    """The C++ plans of a _gpu._Forward and one of its _Backward."""
    from ._runtime import launch_address
    b = backward
    return _C.plans(launch_address(), forward.plan.handle, b.plan.handle,
                    b.plan.workspace_bytes, list(forward.o_shape),
                    list(forward.lse_shape), list(b.shapes[0]),
                    list(b.shapes[1]), list(b.shapes[2]),
                    list(b.shapes[3] or ()), forward.poison,
                    (forward.plan, b.plan), forward.plan.workspace_bytes)


def attention(plans, stream, tensors):
    """(O, LSE); O carries the C++ backward node when grad is wanted."""
    return _C.attention(plans, stream, *tensors)
