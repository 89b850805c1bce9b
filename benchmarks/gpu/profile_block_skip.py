"""Per-kernel GPU times of one dma forward and backward with a structured
dense mask (bench_block_skip.py's inputs), from torch.profiler: how much of
the call the block summary (state + list kernels) takes.

    python3 benchmarks/gpu/profile_block_skip.py [--length 8192]
"""

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402
from bench import dma  # noqa: E402
from bench_block_skip import structured_mask  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--length", type=int, default=8192)
    L = ap.parse_args().length
    bench.warm_up_gpu()
    q, k, v, _, _ = bench.inputs(L, seed=3)
    q.requires_grad_()
    for kind in ("random blocks 10%", "random blocks 50%", "document"):
        m4 = structured_mask(kind, L)[None, None]
        do = torch.randn_like(q)

        def step():
            o = dma.attention(q, k, v, mask=m4)
            o.backward(do)
        for _ in range(3):
            step()
        torch.cuda.synchronize()
        with torch.profiler.profile(
                activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
            for _ in range(5):
                step()
            torch.cuda.synchronize()
        times = {}
        for e in prof.key_averages():
            if e.device_type == torch.autograd.DeviceType.CUDA:
                times[e.key] = e.device_time_total / 5 / 1000
        print(f"{kind} L={L}: per call (ms)")
        for name, ms in sorted(times.items(), key=lambda x: -x[1])[:8]:
            print(f"  {ms:8.3f}  {name[:70]}")


if __name__ == "__main__":
    main()
