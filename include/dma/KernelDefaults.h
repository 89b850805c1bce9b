//===- KernelDefaults.h - the generated kernels' default tiles ---*- C++ -*-===//
//
// One definition of the tiles a call gets when it names none, shared by the
// runtime (which picks the bundle variant of a call), dma-compile (which
// names the variants it writes), the GPU pipeline's and passes' option
// defaults (Pipelines.h, Passes.td) and the Python package (through the
// runtime's dma_attention_backward_default_k_tile). Plain C++: the runtime
// builds without MLIR.
//
//===----------------------------------------------------------------------===//

#ifndef DMA_KERNELDEFAULTS_H
#define DMA_KERNELDEFAULTS_H

#include <cstdint>
#include <string_view>

namespace dma_defaults {

/// The forward's query rows and keys per tile on mma.sync, every mask form
/// (the fastest measured on an H100, docs/performance.md; the per-query
/// top-k's too since its candidate walk runs two 16-row tiles per warp,
/// run 45).
constexpr int kForwardQTile = 128, kForwardKTile = 32;

/// The compute capability (major * 10 + minor) whose bundles carry the
/// forwards on the warpgroup MMA (sm_90a: dma-compile --mma auto).
constexpr int kWgmmaArch = 90;

/// Whether a forward of `mask` ("none", "mask", "keep" or "keep_rows") runs
/// on the warpgroup MMA where `mma` is "auto" (sm_90a): without a mask and
/// with the per-query top-k; the shared top-k and the block-skipped dense
/// masks measured faster on mma.sync at every tile (shared top-k 0.55
/// against 0.60-0.76 ms at L = 16384; sliding window 0.78 against 0.84 /
/// 0.94 ms, random blocks 0.58 against 0.64 / 0.76 at L = 8192; runs
/// 67-69).
inline bool wgmmaByDefault(std::string_view mask) {
  return mask == "none" || mask == "keep_rows";
}

/// The forward's keys per tile when a call names none, on a device of
/// compute capability `arch` (0: unknown, mma.sync's): on sm_90a's
/// warpgroup MMA 128 at d = dv = 128 (dense causal L = 16384: 5.2-5.9 ms
/// against 5.7-6.1 at 64 and 6.5 at 32; L = 4096: 0.41 against 0.45 and
/// 0.52), 64 for the other head dims (d = 64: 0.26 against 0.30 ms at 128;
/// d = 192, 256: 128 keys do not fit shared memory twice) and the
/// per-query top-k (0.32 against 0.39 ms at 32, 0.90 at 128: its candidate
/// list shares the shared memory), runs 67-68, docs/performance.md.
inline int forwardKTile(int arch, std::string_view mask, int64_t d,
                        int64_t dv) {
  if (arch != kWgmmaArch || !wgmmaByDefault(mask))
    return kForwardKTile;
  if (mask == "keep_rows")
    return 64;
  return d == 128 && dv == 128 ? 128 : 64;
}

/// K/V tiles in flight in the forward's cp.async pipeline (2: double
/// buffering; 3 and 4 measured no faster on an H100, docs/performance.md).
constexpr int kStages = 2;

/// Keys per chunk the per-query backward orders by score (dma-gather-keys'
/// rank-chunk; recorded in the manifest of the variants that use it).
constexpr int kRankChunk = 512;

/// The backward's queries per step (64: the warp-grid loop).
constexpr int kBackwardQTile = 64;

/// The backward's keys per CTA: 128 while K and V of the tile fit shared
/// memory next to the query tiles (d + dv <= 256), else 64; lowered to the
/// largest multiple of 16 whose warps (one per 16 keys) split dQ's d / 8
/// column tiles evenly (d = 80: 80, d = 96: 96).
inline int backwardKTile(int64_t d, int64_t dv) {
  int cap = d + dv <= 256 ? 128 : 64;
  for (int k = cap; k > 16; k -= 16)
    if ((d / 8) % (k / 16) == 0)
      return k;
  return 16;
}

/// Key tiles per CTA of the block-summary state kernel (its grid's y is
/// ceil(key tiles / this); the runtime launches it).
constexpr int kMaskSummaryTilesPerCTA = 16;

} // namespace dma_defaults

#endif
