"""The example DMA layer on the GPU (the second half of `make demo`).

The layer of dma_layer.mlir (B = 1, L = 512, H = 8, Hkv = 2, D = 64,
w = 128): per-key score from the values, the 128 best keys per KV head,
causal attention over them with the score as bias, in bf16 through the
generated kernels (a kernel bundle from $DMA_KERNEL_DIR, or compiled on
demand when dma-compile is installed), checked against an fp64 reference.
Without torch or a CUDA GPU it says so and exits 0: the CPU half of the
demo has already run.

    python3 examples/dma-layer/gpu_demo.py
"""

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))

try:
    import torch
except ImportError:
    torch = None

B, L, H, HKV, D, W = 1, 512, 8, 2, 64, 128


def reference(q, k, v, bias, keep):
    """fp64 causal softmax attention over the kept keys, with the bias."""
    q, k, v, bias = (x.double() for x in (q, k, v, bias))
    g = H // HKV
    kept = torch.zeros(B, HKV, L, dtype=torch.bool, device=q.device)
    kept.scatter_(2, keep.clamp(min=0).long(), keep >= 0)
    s = torch.einsum("bihd,bjhd->bhij", q,
                     k.repeat_interleave(g, 2)) / math.sqrt(D)
    s = s + bias.repeat_interleave(g, 1)
    causal = torch.ones(L, L, dtype=torch.bool, device=q.device).tril()
    vis = causal & kept.repeat_interleave(g, 1)[:, :, None, :]
    s = s.masked_fill(~vis, -math.inf)
    p = torch.softmax(s, -1).nan_to_num(0.0)
    return torch.einsum("bhij,bjhd->bihd", p, v.repeat_interleave(g, 2))


def main():
    if torch is None or not torch.cuda.is_available():
        print("GPU demo: no CUDA GPU with PyTorch here, skipped (the CPU demo "
              "above is the check on this machine)")
        return 0
    import dma_attention as dma
    gen = torch.Generator(device="cuda").manual_seed(0)
    rnd = lambda *s: torch.randn(*s, device="cuda", generator=gen)
    v = rnd(B, L, HKV, D).bfloat16()
    q = rnd(B, L, H, D).bfloat16()
    k = rnd(B, L, HKV, D).bfloat16()
    weight = rnd(HKV, HKV * D) * 0.1
    a = -rnd(HKV).abs()
    b_dt = rnd(HKV)
    score = dma.value_bias(v, weight, a, b_dt)          # [B, Hkv, L] f32
    keep = dma.topk(score, W, "shared")                 # [B, Hkv, W] int32
    bias = score[:, :, None, :].bfloat16()              # [B, Hkv, 1, L]
    o = dma.attention(q, k, v, bias=bias, keep=keep, causal=True)
    torch.cuda.synchronize()
    ref = reference(q, k, v, bias, keep)
    err = ((o.double() - ref).norm() / ref.norm()).item()
    ok = err < 1e-2 and not o.isnan().any()
    print(f"GPU demo on {torch.cuda.get_device_name()}: O {tuple(o.shape)} "
          f"bf16, mean |O| {o.float().abs().mean():.4f}, relative error "
          f"{err:.2e} -> {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
