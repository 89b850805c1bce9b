"""dma_attention._C's autograd node, on CPU tensors with a stand-in launch.

The extension only packs data pointers and calls the runtime's
dma_plan_launch; here a ctypes callback takes that function's place and
records what each plan was given, so the autograd mechanics are checked
without a GPU: which pointers go to which slot, which gradients come back,
no node without grad, errors from the launch, saved tensors' version
checks, and a plan that outlives its Python owner's other references.
The real kernels behind it are checked on the GPU (benchmarks/gpu/check.py).

    DMA_TORCH_EXT_DIR=<dir holding dma_attention/_C*.so> pytest ...
"""

import ctypes
import gc
import importlib.util
import os
from pathlib import Path

import pytest
import torch


def _load_extension():
    root = Path(os.environ["DMA_TORCH_EXT_DIR"]) / "dma_attention"
    found = sorted(root.glob("_C*.so"))
    assert found, f"no _C*.so under {root} (build it first)"
    spec = importlib.util.spec_from_file_location("dma_attention._C",
                                                  found[0])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_C = _load_extension()
FORWARD, BACKWARD, FAILING = 101, 202, 303  # stand-in plan handles
LAUNCH = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p,
                          ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p,
                          ctypes.c_void_p, ctypes.c_size_t)


class Recorder:
    """The launch stand-in: records (plan, slot pointers, stream); the
    forward writes 1s into O, the backward 2s into dQ and 3s into dK."""

    def __init__(self):
        self.calls = []
        self.fn = LAUNCH(self.launch)
        self.address = ctypes.cast(self.fn, ctypes.c_void_p).value

    def launch(self, plan, data, stream, error, size):
        slots = 12 if plan == FORWARD else 17
        pointers = [data[i] or 0 for i in range(slots)]
        self.calls.append((plan, pointers, stream))
        if plan == FAILING:
            ctypes.memmove(error, b"no kernel for this\0", 19)
            return 1
        if plan == FORWARD:
            self.fill(pointers[9], 1.0)
        else:
            self.fill(pointers[12], 2.0)
            self.fill(pointers[13], 3.0)
        return 0

    def fill(self, address, value):
        n = self.numel
        ctypes.memmove(address, (ctypes.c_float * n)(*([value] * n)), 4 * n)


B, L, H, D = 1, 4, 2, 8
SHAPE = [B, L, H, D]


@pytest.fixture
def recorder():
    r = Recorder()
    r.numel = B * L * H * D
    return r


def plans(recorder, forward=FORWARD, backward=BACKWARD, bias=True,
          owners=None):
    return _C.plans(recorder.address, forward, backward, 256, SHAPE,
                    [B, H, L], SHAPE, SHAPE, SHAPE,
                    [B, H, 1, L] if bias else [], False, owners)


def leaves(bias=True):
    g = torch.Generator().manual_seed(0)
    ts = [torch.randn(*SHAPE, generator=g) for _ in range(3)]
    if bias:
        ts.append(torch.randn(B, H, 1, L, generator=g))
    return [t.requires_grad_() for t in ts]


def test_forward_fills_slots_in_order_and_attaches_the_node(recorder):
    q, k, v, bias = leaves()
    keep = torch.zeros(B, H, 2, dtype=torch.int32)
    o, lse = _C.attention(plans(recorder), 77, q, k, v, bias, None, keep,
                          None, None, None)
    plan, ptr, stream = recorder.calls[-1]
    assert (plan, stream) == (FORWARD, 77)
    assert ptr[:6] == [q.data_ptr(), k.data_ptr(), v.data_ptr(),
                       bias.data_ptr(), 0, keep.data_ptr()]
    assert ptr[6:9] == [0, 0, 0]
    assert ptr[9:] == [o.data_ptr(), lse.data_ptr(), 0]  # no workspace
    assert o.shape == q.shape and lse.shape == (B, H, L)
    assert lse.dtype == torch.float32 and not lse.requires_grad
    assert torch.equal(o, torch.ones_like(o))
    assert o.grad_fn.name() == "DmaAttentionBackward"


def test_backward_gives_the_plans_gradients_to_their_inputs(recorder):
    q, k, v, bias = leaves()
    o, lse = _C.attention(plans(recorder), 5, q, k, v, bias, None, None,
                          None, None, None)
    grad = torch.randn_like(o)
    dq, dk, dv, db = torch.autograd.grad(o, [q, k, v, bias], grad)
    plan, ptr, stream = recorder.calls[-1]
    assert (plan, stream) == (BACKWARD, 5)  # the forward's stream
    assert ptr[1:7] == [q.data_ptr(), k.data_ptr(), v.data_ptr(),
                        o.data_ptr(), lse.data_ptr(), bias.data_ptr()]
    assert ptr[0] not in (0, o.data_ptr()) and ptr[16] != 0  # dO, workspace
    assert ptr[12:16] == [dq.data_ptr(), dk.data_ptr(), dv.data_ptr(),
                          db.data_ptr()]
    assert torch.equal(dq, torch.full_like(q, 2.0))
    assert torch.equal(dk, torch.full_like(k, 3.0))
    assert dv.shape == v.shape and db.shape == bias.shape


def test_only_inputs_that_require_grad_get_one(recorder):
    q, k, v = leaves(bias=False)
    o, _ = _C.attention(plans(recorder, bias=False), 0, q.detach(), k,
                        v.detach(), None, None, None, None, None, None)
    (dk,) = torch.autograd.grad(o, [k], torch.ones_like(o))
    assert torch.equal(dk, torch.full_like(k, 3.0))
    assert recorder.calls[-1][1][15] == 0  # no bias, no dBias


def test_no_node_without_grad(recorder):
    q, k, v, bias = leaves()
    with torch.no_grad():
        o, _ = _C.attention(plans(recorder), 0, q, k, v, bias, None, None,
                            None, None, None)
    assert o.grad_fn is None and not o.requires_grad
    o, _ = _C.attention(plans(recorder), 0, *(t.detach() for t in (q, k, v)),
                        None, None, None, None, None, None)
    assert o.grad_fn is None
    assert [c[0] for c in recorder.calls] == [FORWARD, FORWARD]


def test_a_failing_launch_raises_its_message(recorder):
    q, k, v = leaves(bias=False)
    with pytest.raises(RuntimeError, match="dma_attention: no kernel"):
        _C.attention(plans(recorder, forward=FAILING, bias=False), 0, q, k,
                     v, None, None, None, None, None, None)
    o, _ = _C.attention(plans(recorder, backward=FAILING, bias=False), 0, q,
                        k, v, None, None, None, None, None, None)
    with pytest.raises(RuntimeError, match="dma_attention: no kernel"):
        o.sum().backward()


def test_an_input_changed_in_place_is_caught(recorder):
    q, k, v, bias = leaves()
    o, _ = _C.attention(plans(recorder), 0, q, k, v, bias, None, None, None,
                        None, None)
    with torch.no_grad():
        k.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace"):
        o.sum().backward()


def test_graph_freed_after_backward_and_owners_kept(recorder):
    class Owner:
        pass
    owner = Owner()
    q, k, v, bias = leaves()
    p = plans(recorder, owners=owner)
    o, _ = _C.attention(p, 0, q, k, v, bias, None, None, None, None, None)
    del p  # the node keeps the plans, the plans their owner
    import weakref
    alive = weakref.ref(owner)
    del owner
    gc.collect()
    assert alive() is not None
    o.sum().backward()
    with pytest.raises(RuntimeError, match="backward through the graph"):
        o.sum().backward()  # saved tensors were released
    del o
    gc.collect()
    assert alive() is None


def test_plans_without_a_backward_refuse_a_graph(recorder):
    q, k, v = leaves(bias=False)
    with pytest.raises(RuntimeError, match="no backward"):
        _C.attention(plans(recorder, backward=0, bias=False), 0, q, k, v,
                     None, None, None, None, None, None)
