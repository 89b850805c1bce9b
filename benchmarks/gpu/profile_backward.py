"""One dense causal forward + backward (B = 1, H = 32, Hkv = 8, D = 128,
bf16) through the generated kernels, for a profiler to look at the backward
kernel, e.g.

    ncu --kernel-name regex:dma_attention_bwd_bf --launch-count 1 \\
        --section SpeedOfLight --section WarpStateStats \\
        python3 benchmarks/gpu/profile_backward.py [L]
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
import dma_attention as dma  # noqa: E402

L = int(sys.argv[1]) if len(sys.argv) > 1 else 4096
g = torch.Generator(device="cuda").manual_seed(0)
q, k, v = (torch.randn(1, L, h, 128, device="cuda", generator=g,
                       dtype=torch.bfloat16).requires_grad_()
           for h in (32, 8, 8))
o = dma.attention(q, k, v, causal=True)
o.backward(torch.randn_like(o))
torch.cuda.synchronize()
print("done")
