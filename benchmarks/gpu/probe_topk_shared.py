"""The shared top-k kernel of another bundle against the default one (or
against a third bundle's).

dma.topk(s, 1024, "shared") on s = randn(1, 8, L) at L = 4096 and 16384:
GPU time per call under the torch profiler (20 calls) with OLD_BUNDLE's
kernel and with the default bundle's, and whether each keeps exactly
torch.topk's index set.

    python3 benchmarks/gpu/probe_topk_shared.py OLD_BUNDLE [NEW_BUNDLE]
"""
import sys, torch
from torch.profiler import ProfilerActivity, profile
import dma_attention as dma
old = sys.argv[1]
new = sys.argv[2] if len(sys.argv) > 2 else None
for L in (4096, 16384):
    s = torch.randn(1, 8, L, device="cuda")
    for bundle in (old, new):
        a = dma.topk(s, 1024, "shared", bundle=bundle)
        for _ in range(3): dma.topk(s, 1024, "shared", bundle=bundle)
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CUDA]) as p:
            for _ in range(20): dma.topk(s, 1024, "shared", bundle=bundle)
            torch.cuda.synchronize()
        us = sum(e.device_time_total for e in p.key_averages()) / 20
        ref = torch.topk(s, 1024, dim=-1).indices.sort(-1).values
        print(f"L={L} topk shared {'old' if bundle == old else 'new'}: {us:.1f} us GPU, equal to torch.topk: {torch.equal(a.long(), ref)}")
