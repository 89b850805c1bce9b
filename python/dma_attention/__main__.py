"""`python -m dma_attention`: what the package found, and a GPU self-test.

Prints the runtime library, the kernel bundles (shipped, $DMA_KERNEL_DIR),
the compiler, the CPU path's library and the GPU, then runs one attention
forward + backward (shared top-k, key bias, causal, GQA) on the GPU against
a float64 reference and prints one PASS/FAIL line. Exit status 0 when the
self-test passes (or there is no GPU to run it on), 1 when it fails.
"""

import json
import math
import os
import sys
from pathlib import Path

from . import _bundles


def _describe_bundle(path):
    try:
        m = json.loads((Path(path) / "manifest.json").read_text())
        return (f"{path} (chip {m.get('chip')}, {len(m.get('variants', []))} "
                f"kernels, {m.get('compiler')})")
    except (OSError, ValueError) as e:
        return f"{path} (unreadable: {e})"


def _report():
    import dma_attention
    print(f"dma_attention at {Path(dma_attention.__file__).parent}")
    try:
        from . import _runtime
        _runtime.library()
        print(f"runtime: {_runtime.library_path}")
    except RuntimeError as e:
        print(f"runtime: not found ({e})")
    shipped = _bundles.shipped_bundles()
    for b in shipped:
        print(f"bundle (shipped): {_describe_bundle(b)}")
    if not shipped:
        print("bundle (shipped): none")
    env = os.environ.get("DMA_KERNEL_DIR")
    if env:
        print(f"bundle ($DMA_KERNEL_DIR): {_describe_bundle(env)}")
    exe = _bundles.compiler()
    print(f"compiler: {exe or 'none (kernels come from bundles only)'}")
    try:
        from . import _native
        print("autograd on CUDA: " + (
            "C++ node (dma_attention._C)" if _native.available else
            f"torch.autograd.Function ({_native.reason})"))
    except ImportError:  # no torch: the numpy-only CPU path
        print("autograd on CUDA: none (PyTorch is not installed)")
    try:
        from . import _cpu
        _cpu.library()
        print("CPU path: libdma_cpu found")
    except (RuntimeError, OSError) as e:
        print(f"CPU path: unavailable ({str(e).splitlines()[0]})")


def _reference(q, k, v, bias, keep, causal):
    """Float64 attention of the spec (GQA, key bias, shared top-k)."""
    import torch
    B, Lq, H, D = q.shape
    Lk, Hkv = k.shape[1], k.shape[2]
    g = H // Hkv
    qd = q.double().transpose(1, 2)
    kd = k.double().transpose(1, 2).repeat_interleave(g, 1)
    vd = v.double().transpose(1, 2).repeat_interleave(g, 1)
    s = qd @ kd.transpose(-1, -2) / math.sqrt(D)
    s = s + bias.double().repeat_interleave(g, 1)
    kept = torch.zeros(B, Hkv, Lk + 1, dtype=torch.bool, device=q.device)
    kept.scatter_(2, keep.long() % (Lk + 1), True)
    visible = kept[:, :, :Lk].repeat_interleave(g, 1)[:, :, None, :]
    i = torch.arange(Lq, device=q.device)[:, None]
    j = torch.arange(Lk, device=q.device)[None, :]
    if causal:
        visible = visible & (j <= i + Lk - Lq)
    s = s.masked_fill(~visible, -math.inf)
    p = torch.softmax(s, -1).nan_to_num(0.0)
    return (p @ vd).transpose(1, 2)


def _self_test():
    import torch
    import dma_attention as dma
    if not torch.cuda.is_available():
        print("self-test: skipped (PyTorch sees no CUDA GPU)")
        return True
    dev = torch.device("cuda")
    name = torch.cuda.get_device_name(dev)
    major, minor = torch.cuda.get_device_capability(dev)
    print(f"GPU: {name} (sm_{major}{minor}), torch {torch.__version__}")
    g = torch.Generator(device="cpu").manual_seed(0)
    B, L, H, Hkv, D, W = 2, 200, 4, 2, 64, 96
    bf = torch.bfloat16
    q, k, v = (torch.randn(B, L, h, D, generator=g).to(bf).to(dev)
               for h in (H, Hkv, Hkv))
    bias = torch.randn(B, Hkv, 1, L, generator=g).to(bf).to(dev)
    try:
        keep = dma.topk(bias[:, :, 0].float(), W)
        leaves = [x.clone().requires_grad_() for x in (q, k, v)]
        o = dma.attention(*leaves, bias=bias, keep=keep, causal=True)
        do = torch.randn(o.shape, generator=g).to(bf).to(dev)
        o.backward(do)
        torch.cuda.synchronize()
    except Exception as e:
        print(f"self-test: FAIL ({type(e).__name__}: {e})")
        return False
    ref_leaves = [x.double().requires_grad_() for x in (q, k, v)]
    ref = _reference(*ref_leaves, bias, keep, True)
    ref.backward(do.double())
    errors = {}
    for n, got, want in [("o", o, ref)] + [
            (n, x.grad, r.grad) for n, x, r in zip("qkv", leaves, ref_leaves)]:
        errors[n] = ((got.double() - want).norm() / want.norm()).item()
    ok = errors["o"] < 1e-2 and all(errors[n] < 2e-2 for n in "qkv")
    print(("self-test: PASS" if ok else "self-test: FAIL") +
          f" (attention forward + backward, B{B} L{L} H{H}/{Hkv} D{D} bf16, "
          f"shared top-k {W}, key bias, causal; relative error against "
          f"float64: " + ", ".join(f"{n} {e:.1e}" for n, e in errors.items())
          + ")")
    return ok


def main():
    _report()
    try:
        import torch  # noqa: F401
    except ImportError:
        print("self-test: skipped (PyTorch is not installed)")
        return 0
    return 0 if _self_test() else 1


if __name__ == "__main__":
    sys.exit(main())
