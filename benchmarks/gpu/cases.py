"""The GPU test matrix (check.py) and benchmark configs (bench.py), as data.

`python3 benchmarks/gpu/cases.py --variants` prints the kernel variants they
need, one `dma-compile --variant` spec per line (no torch needed), so the
bundle can be built where the compiler is.
"""

import sys
from dataclasses import dataclass, field
import os

# The forwards' mma the bundle is compiled with (dma-compile --mma, as
# scripts/gpu-bundle.sh passes $MMA): its default variants are named by the
# tiles the runtime picks on the GPU the checks run on (sm_90a).
MMA = os.environ.get("MMA", "auto")


def default_tiles(mask, d, dv):
    """The runtime's forward tiles when a call names none on an H100
    (sm_90a), include/dma/KernelDefaults.h's forwardKTile repeated here so
    the case list needs neither torch nor the runtime library: 128 x 32 on
    mma.sync, for the shared top-k and for dense masks; on the warpgroup
    MMA 128 x 128 at
    d = dv = 128, 128 x 64 otherwise and for the per-query top-k."""
    if MMA == "mma_sync" or mask in ("keep", "mask"):
        return (128, 32)
    if mask == "keep_rows":
        return (128, 64)
    return (128, 128) if d == 128 and dv == 128 else (128, 64)


def backward_k_tile(d, dv):
    """The backward's default keys per CTA: include/dma/KernelDefaults.h's
    rule, repeated here so the case list needs neither torch nor the
    runtime library."""
    cap = 128 if d + dv <= 256 else 64
    return next((k for k in range(cap, 16, -16) if (d // 8) % (k // 16) == 0),
                16)


# Other tile sizes: checked on a few cases and timed by bench.py --tiles.
OTHER_TILES = [(64, 64), (128, 64), (64, 32), (128, 32)]


@dataclass
class Case:
    B: int
    Lq: int
    Lk: int
    H: int
    Hkv: int
    D: int
    dtype: str = "bf16"
    mask: str = "none"      # none | keep | mask | keep_rows
    bias: str = "none"      # none | key | full
    causal: bool = False
    softcap: float = 0.0
    w: int = 0              # keep window of the top-k masks
    seed: int = 0
    tiles: tuple = (0, 0)   # (q_tile, k_tile); 0 = the runtime's default
    deterministic: bool = False  # the deterministic backward

    @property
    def name(self):
        s = (f"{self.dtype}_b{self.B}q{self.Lq}k{self.Lk}h{self.H}kv{self.Hkv}"
             f"d{self.D}_{self.mask}")
        if self.mask in ("keep", "keep_rows"):
            s += f"{self.w}"
        s += f"_bias{self.bias}" + ("_causal" if self.causal else "")
        s += "_cap" if self.softcap else ""
        s += "_det" if self.deterministic else ""
        return s + (f"_t{self.tiles[0]}x{self.tiles[1]}" if self.tiles[0] else "")

    def variant(self):
        default = default_tiles(self.mask, self.D, self.D)
        return self.base_variant() + (
            f",q_tile={self.tiles[0] or default[0]},"
            f"k_tile={self.tiles[1] or default[1]}")

    def backward_variant(self):
        """The backward's variant (the runtime's default backward tiles)."""
        return ("kind=bwd," + self.base_variant() +
                (",deterministic=1" if self.deterministic else "") +
                f",q_tile=64,k_tile={backward_k_tile(self.D, self.D)}")

    def base_variant(self):
        # A "full" bias with one query row is per key by shape.
        bias = "key" if self.bias == "full" and self.Lq == 1 else self.bias
        return (f"dtype={self.dtype},d={self.D},dv={self.D},mask={self.mask},"
                f"bias={bias},causal={int(self.causal)},"
                f"softcap={int(self.softcap > 0)}")


SHAPES = [  # B, Lq, Lk, H, Hkv, D
    (1, 1, 1, 1, 1, 64),        # length 1
    (2, 7, 7, 4, 4, 64),        # H = Hkv, length 7
    (1, 129, 129, 4, 2, 128),   # GQA, length 129
    (2, 1, 300, 4, 1, 128),     # MQA, decoding (Lq = 1)
    (1, 200, 77, 4, 2, 64),     # Lq > Lk: causal rows with no key
    (1, 130, 520, 2, 2, 128),   # Lq < Lk
    (1, 1000, 1000, 8, 2, 128), # longer, several key tiles per CTA
]


def check_cases(quick=False):
    cases = []
    n = 0
    for dtype in ("bf16", "f16"):
        for shape in SHAPES:
            for mask in ("none", "keep", "mask", "keep_rows"):
                for causal in (False, True):
                    B, Lq, Lk, H, Hkv, D = shape
                    bias = ("none", "key", "full")[n % 3]
                    w = max(1, Lk // 3) if n % 2 == 0 else Lk + 5
                    cases.append(Case(B, Lq, Lk, H, Hkv, D, dtype, mask, bias,
                                      causal, 5.0 if n % 7 == 3 else 0.0, w,
                                      seed=n))
                    n += 1
    # Every other tile size on the shapes whose edges cut tiles.
    for i, tiles in enumerate(OTHER_TILES):
        for j, shape in enumerate(SHAPES[2:]):
            mask = ("none", "keep", "mask", "keep_rows")[(i + j) % 4]
            cases.append(Case(*shape, ("bf16", "f16")[j % 2], mask,
                              ("key", "none", "full")[j % 3], j % 2 == 0,
                              0.0, max(1, shape[2] // 3), seed=100 + n + j,
                              tiles=tiles))
        n += len(SHAPES)
    cases += head_dim_cases()
    if quick:  # a subset for compute-sanitizer
        cases = [c for c in cases if c.Lq * c.Lk <= 130 * 520][::5]
    return cases


def head_dim_cases():
    """The other head dims models use (64 and 128 are in SHAPES): forward
    and backward at each (d = 256: forward only, its backward waits for
    the Hopper lowering), in the DMA layer's forms."""
    return [Case(2, 200, 200, 4, 2, 80, "bf16", "keep", "key", True, w=64,
                 seed=300),
            Case(1, 130, 170, 4, 1, 96, "f16", "none", "none", True, seed=301),
            Case(1, 150, 150, 4, 2, 96, "bf16", "keep_rows", "key", True,
                 w=50, seed=302),
            Case(1, 100, 100, 2, 2, 192, "bf16", "keep", "key", True, w=40,
                 seed=303),
            Case(1, 90, 90, 2, 1, 192, "bf16", "none", "none", False,
                 seed=304),
            Case(1, 70, 70, 2, 2, 256, "bf16", "none", "key", True, seed=305),
            # Per-query candidates past the kernel's shared slots (4096 at
            # d = 128): the last query tiles walk their keys contiguously.
            Case(1, 4500, 4500, 2, 1, 128, "bf16", "keep_rows", "key", True,
                 w=4300, seed=306)]


def backward_cases(quick=False):
    """The forward matrix's cases at the default tiles, for gradients."""
    cases = [c for c in check_cases() if c.tiles == (0, 0) and c.D != 256]
    if quick:
        cases = [c for c in cases if c.Lq * c.Lk <= 130 * 520][::5]
    return cases


def deterministic_cases(quick=False):
    """Every third gradient case again with the deterministic backward (the
    quick subset is drawn from the same cases, so one bundle serves both)."""
    import dataclasses
    cases = [dataclasses.replace(c, deterministic=True)
             for c in backward_cases()[::3]]
    if quick:
        cases = [c for c in cases if c.Lq * c.Lk <= 130 * 520][::3]
    return cases


def bench_variants():
    out = []
    for tiles in [(0, 0)] + OTHER_TILES:
        for mask in ("keep", "keep_rows", "none"):
            out.append(Case(1, 1, 1, 32, 8, 128, "bf16", mask, "key", True,
                            tiles=tiles).variant())
        out.append(Case(1, 1, 1, 32, 8, 128, "bf16", "none", "none", True,
                        tiles=tiles).variant())
    for mask, bias in (("keep", "key"), ("none", "none"), ("none", "key")):
        c = Case(1, 1, 1, 32, 8, 128, "bf16", mask, bias, True)
        out.append(c.backward_variant())
        # Other backward tiles, for DMA_BACKWARD_TILES=64x64 comparisons.
        out.append(c.backward_variant().replace("k_tile=128", "k_tile=64"))
        c.deterministic = True
        out.append(c.backward_variant())
    # bench_block_skip.py: structured dense masks, forward and backward.
    c = Case(1, 1, 1, 32, 8, 128, "bf16", "mask", "none", False)
    out += [c.variant(), c.backward_variant()]
    return out


def wgmma_variants():
    """probe_wgmma.py's forwards at the key tiles wgmma is timed at."""
    out = []
    for tiles in ((128, 32), (128, 64), (128, 128)):
        out.append(Case(1, 1, 1, 32, 8, 128, "bf16", "none", "none", True,
                        tiles=tiles).variant())
        out.append(Case(1, 1, 1, 16, 4, 64, "bf16", "none", "none", True,
                        tiles=tiles).variant())
        for mask in ("keep", "keep_rows"):
            out.append(Case(1, 1, 1, 32, 8, 128, "bf16", mask, "key", True,
                            tiles=tiles).variant())
        out.append(Case(1, 1, 1, 32, 8, 128, "bf16", "mask", "none", False,
                        tiles=tiles).variant())
    return out


def host_variants():
    """The variants of host_checks.py (a DMA layer at D = 64, shared and
    per-query, forward and backward) and bench_host.py."""
    out = []
    for mask in ("keep", "keep_rows"):
        c = Case(1, 1, 1, 4, 2, 64, "bf16", mask, "key", True)
        out += [c.variant(), c.backward_variant()]
    # check_hidden_nan: every form without a bias, causal or not.
    for mask in ("mask", "keep", "keep_rows"):
        for causal in (False, True):
            c = Case(1, 1, 1, 4, 2, 64, "bf16", mask, "none", causal)
            out += [c.variant(), c.backward_variant()]
    return out


if __name__ == "__main__":
    if "--wgmma-variants" in sys.argv:
        print("\n".join(wgmma_variants()))
    elif "--variants" in sys.argv:
        names = ({c.variant() for c in check_cases()} |
                 {c.backward_variant() for c in backward_cases()} |
                 {c.backward_variant() for c in deterministic_cases()} |
                 set(bench_variants()) | set(host_variants()) |
                 set(wgmma_variants()))
        print("\n".join(sorted(names)))
