//===- MaskSummaryKernel.h - dma.tile.mask_summary on the GPU ---*- C++ -*-===//
//
// The kernel convert-dma-tiles-to-gpu emits for dma.tile.mask_summary
// (dma-block-skip's summary of a dense mask): per (query tile, mask head,
// mask batch) CTA, the state of every key tile (0 empty, 1 partial, 2
// full), the ascending list of the non-empty ones (-1 after) and its
// length, into contiguous i32 buffers [Mb, Mh, nQT, nKT] and [Mb, Mh, nQT].
// The attention kernels read them to walk only the listed key tiles and to
// skip the per-element mask on full ones.
//
//===----------------------------------------------------------------------===//

#ifndef DMA_CONVERSION_DMATOGPU_MASKSUMMARYKERNEL_H
#define DMA_CONVERSION_DMATOGPU_MASKSUMMARYKERNEL_H

#include "dma/Conversion/DMAToGPU/ForwardKernel.h"
#include "dma/KernelDefaults.h"

namespace mlir::dma {

/// Threads per CTA of the state kernel (a warp per key tile at a time)
/// and the key tiles each CTA takes.
inline constexpr int64_t kMaskSummaryThreads = 128;
inline constexpr int64_t kMaskSummaryTilesPerCTA =
    dma_defaults::kMaskSummaryTilesPerCTA;

/// Parameters of both kernels: mask, mask_state, mask_tiles, mask_count
/// (pointers), Lq (the query rows the tiles cover), Lk, mask_heads, then the
/// mask's element strides (b, h, q, k; 0 for a broadcast dimension).
SmallVector<KernelParam> maskSummaryKernelParams();

/// The state kernel of `qTile` x `kTile` blocks: mask_state. Grid
/// (ceil(Lq / qTile), ceil(nKT / kMaskSummaryTilesPerCTA), Mh * Mb),
/// kMaskSummaryThreads threads, no dynamic shared memory.
gpu::GPUFuncOp emitMaskStateKernel(OpBuilder &b, Location loc,
                                   gpu::GPUModuleOp module, StringRef name,
                                   int64_t qTile, int64_t kTile);
/// The list kernel (after the state kernel): mask_tiles and mask_count.
/// Grid (ceil(Lq / qTile), Mh, Mb), 32 threads.
gpu::GPUFuncOp emitMaskListKernel(OpBuilder &b, Location loc,
                                  gpu::GPUModuleOp module, StringRef name,
                                  int64_t qTile, int64_t kTile);

} // namespace mlir::dma

#endif
