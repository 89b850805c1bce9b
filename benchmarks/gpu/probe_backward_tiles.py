"""Per-query top-k forward + backward under other backward tiles.

Times the B1 H32/8 D128 bf16 causal per-query layer (w = 1024, key bias)
at L = 4096 with the runtime's default backward tiles and with each tile
given on the command line ($DMA_BACKWARD_TILES, one fresh process each, so
no launch plan is shared). The bundle must hold the variants asked for
(dma-compile --keep-tiles, or they fall back to other tiles).

    python3 benchmarks/gpu/probe_backward_tiles.py [32x128 ...]
"""

import os
import subprocess
import sys

CHILD = r"""
import sys
sys.path.insert(0, "benchmarks/gpu")
import torch
from bench import W, dma, inputs, timed
from bench_host import fwd_bwd
L = int(sys.argv[1])
q, k, v, bias, _ = inputs(L, seed=1)
rep = dma.topk(bias[:, :, 0].float(), W, "per_query")
run = fwd_bwd(lambda q, k, v, b: dma.attention(q, k, v, bias=b, keep_rows=rep,
                                               causal=True), (q, k, v, bias))
print(f"{timed(run):.3f}")
"""


def main():
    tiles = sys.argv[1:] or ["32x128"]
    for L in (4096,):
        for spec in [None] + tiles:
            env = dict(os.environ)
            env.pop("DMA_BACKWARD_TILES", None)
            if spec:
                env["DMA_BACKWARD_TILES"] = spec
            out = subprocess.run([sys.executable, "-c", CHILD, str(L)],
                                 env=env, capture_output=True, text=True)
            ms = out.stdout.strip().splitlines()[-1] if out.returncode == 0 \
                else "failed: " + out.stderr.strip().splitlines()[-1]
            print(f"fwd+bwd per-query L={L} backward tiles "
                  f"{spec or 'default'}: {ms} ms", flush=True)


if __name__ == "__main__":
    main()
