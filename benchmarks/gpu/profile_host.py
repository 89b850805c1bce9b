"""Where a tiny call's host time goes (the per-call rows of bench_host.py).

Times, per call at B1 L128 H2 D64 with a shared top-k of 64 and a key bias,
the forward without autograd, the forward under autograd, the backward
alone (torch.autograd.grad of a kept graph) and SDPA's, then prints a
cProfile of the forward + backward loop (the functions that cost most).

    python3 benchmarks/gpu/profile_host.py
"""

import cProfile
import pstats
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import dma_attention as dma  # noqa: E402
from bench_host import _inputs, _sdpa, per_call_us  # noqa: E402


def main():
    q, k, v, bias, keep = _inputs(1, 128, 2, 2, 64, 64)
    leaves = [x.detach().requires_grad_() for x in (q, k, v, bias)]
    do = torch.randn_like(q)

    def forward(q, k, v, b):
        return dma.attention(q, k, v, bias=b, keep=keep, causal=True)

    with torch.no_grad():
        print(f"forward, no grad:        {per_call_us(lambda: forward(*leaves)):7.1f} us")
    print(f"forward under autograd:  {per_call_us(lambda: forward(*leaves)):7.1f} us")

    def backward_only():
        o = forward(*leaves)
        return lambda: torch.autograd.grad(o, leaves, do, retain_graph=True)
    print(f"backward alone:          {per_call_us(backward_only()):7.1f} us")
    step = lambda: torch.autograd.grad(forward(*leaves), leaves, do)
    print(f"forward + backward:      {per_call_us(step):7.1f} us")
    sdpa = _sdpa("default", 2, 2)
    sl = leaves[:3]
    do_t = do.transpose(1, 2)  # SDPA's output is [B, H, L, D]
    print(f"SDPA forward + backward: "
          f"{per_call_us(lambda: torch.autograd.grad(sdpa(*sl), sl, do_t)):7.1f} us")
    with torch.no_grad():
        print(f"SDPA forward:            {per_call_us(lambda: sdpa(*sl)):7.1f} us")
    # Launch-bound or not: the same loop's kernels under the profiler.
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as p:
        for _ in range(20):
            step()
        torch.cuda.synchronize()
    print(p.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(300):
        step()
    torch.cuda.synchronize()
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
