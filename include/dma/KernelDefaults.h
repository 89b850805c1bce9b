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

namespace dma_defaults {

/// The forward's query rows and keys per tile, every mask form (the fastest
/// measured on an H100, docs/performance.md; the per-query top-k's too since
/// its candidate walk runs two 16-row tiles per warp, run 45).
constexpr int kForwardQTile = 128, kForwardKTile = 32;

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
