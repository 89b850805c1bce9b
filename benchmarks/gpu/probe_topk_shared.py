"""The shared top-k kernel of another bundle against the default one (or
against a third bundle's).

dma.topk(s, 1024, "shared") on s = randn(1, 8, L) at L = 4096 and 16384:
GPU time per call under the torch profiler (20 calls) with OLD_BUNDLE's
kernel and with the default bundle's, and whether each keeps exactly
torch.topk's index set.

    python3 benchmarks/gpu/probe_topk_shared.py OLD_BUNDLE [NEW_BUNDLE]
"""
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from probe_mask_kernels import gpu_us  # noqa: E402
from profile_mask import dma  # noqa: E402

old = sys.argv[1]
new = sys.argv[2] if len(sys.argv) > 2 else None
for L in (4096, 16384):
    s = torch.randn(1, 8, L, device="cuda")
    for bundle in (old, new):
        a = dma.topk(s, 1024, "shared", bundle=bundle)
        us = gpu_us(lambda: dma.topk(s, 1024, "shared", bundle=bundle))
        ref = torch.topk(s, 1024, dim=-1).indices.sort(-1).values
        print(f"L={L} topk shared {'old' if bundle == old else 'new'}: {us:.1f} us GPU, equal to torch.topk: {torch.equal(a.long(), ref)}")
