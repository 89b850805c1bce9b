"""What a Python autograd.Function costs per forward + backward on this host
(the floor under a Python node), next to dma (its C++ autograd node, and
the autograd.Function it replaces) and SDPA."""
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import dma_attention as dma  # noqa: E402
from dma_attention import _autograd, _native  # noqa: E402
from bench_host import _inputs, _sdpa, per_call_us  # noqa: E402


class Empty(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, b):
        return torch.empty_like(q)

    @staticmethod
    def backward(ctx, g):
        return g, None, None, None


class Saving(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, b):
        o = torch.empty_like(q)
        lse = torch.empty(q.shape[:3], device=q.device)
        ctx.save_for_backward(q, k, v, o, lse, b, None, None, None, None, None)
        ctx.mark_non_differentiable(lse)
        ctx.set_materialize_grads(False)
        return o, lse

    @staticmethod
    def backward(ctx, g, _):
        s = ctx.saved_tensors
        return (torch.empty_like(s[0]), torch.empty_like(s[1]),
                torch.empty_like(s[2]), torch.empty_like(s[5]))


def main():
    q, k, v, bias, keep = _inputs(1, 128, 2, 2, 64, 64)
    leaves = [x.detach().requires_grad_() for x in (q, k, v, bias)]
    do = torch.randn_like(q)
    rows = {
        "Function, empty fwd/bwd": lambda: torch.autograd.grad(
            Empty.apply(*leaves), leaves[:1], do),
        "Function, saves 11, 4 grads": lambda: torch.autograd.grad(
            Saving.apply(*leaves)[0], leaves, do),
        "dma attention": lambda: torch.autograd.grad(
            dma.attention(*leaves[:3], bias=leaves[3], keep=keep,
                          causal=True), leaves, do),
        "dma, via autograd.Function": lambda: torch.autograd.grad(
            _autograd.attention(*leaves[:3], leaves[3], None, keep, None,
                                True, None, 0.0, None, 0, 0)[0], leaves, do),
    }
    sdpa = _sdpa("default", 2, 2)
    do_t = do.transpose(1, 2)
    rows["SDPA"] = lambda: torch.autograd.grad(sdpa(*leaves[:3]), leaves[:3],
                                               do_t)
    print(f"C++ autograd node: {'yes' if _native.available else _native.reason}")
    for name, fn in rows.items():
        print(f"{name:32s} {per_call_us(fn):7.1f} us")


if __name__ == "__main__":
    main()
