//===- ForwardKernel.h - the generated attention forward kernel -*- C++ -*-===//
//
// The GPU forward kernel that convert-dma-tiles-to-gpu generates from the
// tiled IR, described by a configuration read off that IR, and its launch
// ABI (kernel parameters, grid, block, dynamic shared memory), which the
// kernel bundle's manifest records for the runtime.
//
//===----------------------------------------------------------------------===//

#ifndef DMA_CONVERSION_DMATOGPU_FORWARDKERNEL_H
#define DMA_CONVERSION_DMATOGPU_FORWARDKERNEL_H

#include "dma/Dialect/DMA/IR/DMAOps.h"
#include "dma/Conversion/DMAToGPU/KernelABI.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"

#include <string>

namespace mlir::dma {

/// Everything the generated forward kernel is specialised on.
struct ForwardKernelConfig {
  int64_t blockM = 64, blockN = 64; // query rows / keys per tile
  int64_t headDim = 128, valueDim = 128;
  Type element;               // bf16 or f16: q, k, v, o
  bool causal = false;
  double scale = 1.0, softcap = 0.0;
  MaskKind mask = MaskKind::None;
  bool gathered = false;      // keys walk a shared top-k list
  /// Dense mask summarised by dma-block-skip (dma.tile.mask_summary): the
  /// forward walks each query tile's listed key tiles and the backward
  /// skips the empty (query tile, key tile) blocks; full blocks skip the
  /// per-element mask read.
  bool blockSkip = false;
  /// Per-query top-k: each CTA collects its query tile's candidate keys
  /// (dma.tile.candidates) into shared memory and walks them; a tile with
  /// more candidates than `candidateSlots()` walks its keys contiguously.
  bool candidates = false;
  /// Per-query backward (dma.tile.ranked_keys): each key tile is a slice of
  /// its chunk of `rankChunk` keys sorted by score, and walks only the query
  /// tiles with rows keeping its best key; 0: contiguous key tiles.
  int64_t rankChunk = 0;
  Type biasElement;           // null: no bias
  bool biasPerKey = false;    // bias rows broadcast ([.., .., 1, Lk])
  Type keepElement;           // i32/i64 of the shared list
  Type rowsScoreElement;      // per-query: score/threshold element type
  Type tiebreakElement;       // per-query: tiebreak element type

  /// Warps per CTA; each owns blockM / warps query rows (a multiple of 16:
  /// more rows per warp reuse each K/V fragment for more mma's, fewer rows
  /// leave more registers). 0: the default, `defaultWarps()`.
  int64_t warpCount = 0;
  /// K/V buffers in shared memory: tile t + stages - 1 is being copied
  /// (cp.async) while tile t is computed.
  int64_t stages = 2;
  /// The forward's accumulator fragments (#dma.mma, from
  /// dma-assign-layouts): which rows and columns each thread's values of S,
  /// P and O are. Its warps are warpCount.
  MmaLayoutAttr fragments;
  /// 16-byte chunks per XOR-swizzle group of the shared Q, K and V tiles
  /// (#dma.shared's swizzle).
  int64_t swizzle = 8;
  /// Hopper's warpgroup MMA (#dma.mma<..., wgmma>, sm_90a): each warpgroup
  /// of 4 warps computes 64 rows of S = Q K^T and O += P V by
  /// wgmma.mma_async, Q, K and V read from shared memory through matrix
  /// descriptors, so their tiles are stored in column blocks of
  /// `blockCols` (#dma.shared's block_cols: 64, one 128-byte swizzle
  /// row).
  bool wgmma = false;
  int64_t blockCols = 0;
  /// The backward's atomics add column pairs in one instruction (sm_90).
  bool vectorAtomics = false;
  /// The backward adds into dQ (per query tile) and into dK, dV and a
  /// per-key dBias (per key tile) in a fixed CTA order, handed on through
  /// semaphores: bitwise reproducible gradients.
  bool deterministic = false;

  int64_t defaultWarps() const;
  int64_t warps() const { return warpCount ? warpCount : defaultWarps(); }
  int64_t rowTilesPerWarp() const { return blockM / 16 / warps(); }
  int64_t threads() const { return 32 * warps(); }
  /// Bytes of dynamic shared memory per CTA.
  int64_t sharedBytes() const;
  /// Shared-memory slots of the candidate list (0 without candidates): as
  /// many as keep two CTAs per SM (8192 down to 1024).
  int64_t candidateSlots() const;
  /// Bytes of the candidate list and its scan's scratch (a packed count
  /// per warp and key step of a round, up to 8 x 32, and the round total).
  int64_t candidateBytes() const {
    return candidates ? candidateSlots() * 4 + (8 * 32 + 1) * 4 : 0;
  }
  /// Bytes of the block-skip state of the tiles in flight (a full flag per
  /// buffer).
  int64_t blockSkipBytes() const { return blockSkip ? stages * 4 : 0; }
  /// A short name of the variant (part of kernel and file names).
  std::string variantName() const;
  /// Checks the configuration is one the generator supports.
  LogicalResult verify(function_ref<InFlightDiagnostic()> emitError) const;
};

/// The column blocks of Q, K and V for wgmma: 64 16-bit columns, the
/// 128-byte rows of its swizzled shared-memory layout.
inline constexpr int64_t kWgmmaBlockCols = 64;

/// Whether the warpgroup MMA can compute `config`'s forward: 64 or 128
/// query rows (one or two warpgroups) and head dims in whole column blocks.
inline bool wgmmaFits(const ForwardKernelConfig &config) {
  return (config.blockM == 64 || config.blockM == 128) &&
         config.headDim % kWgmmaBlockCols == 0 &&
         config.valueDim % kWgmmaBlockCols == 0;
}

/// Whether mma=auto puts `config`'s forward on the warpgroup MMA where it
/// fits (KernelDefaults.h's wgmmaByDefault: every mask form but the shared
/// top-k).
bool wgmmaByDefault(const ForwardKernelConfig &config);

/// The block-skip summary's buffers (dma.tile.mask_summary's outputs,
/// contiguous i32): mask_state, mask_tiles, mask_count.
inline void addMaskSummaryParams(SmallVector<KernelParam> &p) {
  for (const char *n : {"mask_state", "mask_tiles", "mask_count"})
    p.push_back({n, KernelParam::Pointer});
}

/// The kernel's parameters for `config`: tensor pointers, then sizes, then
/// strides (in elements; size-1 broadcast dimensions pass stride 0).
SmallVector<KernelParam> forwardKernelParams(const ForwardKernelConfig &config);

/// Creates the empty `gpu.func @name` (a kernel) of `config` in `module`:
/// its parameters and launch interface. The grid is (ceil(Lq / blockM), H,
/// B), the block `threads()` wide, with `sharedBytes()` of dynamic shared
/// memory. convert-dma-tiles-to-gpu fills its body from the tiled forward,
/// one conversion pattern per tile op (ForwardPatterns.cpp).
gpu::GPUFuncOp createForwardKernel(OpBuilder &b, Location loc,
                                   gpu::GPUModuleOp module, StringRef name,
                                   const ForwardKernelConfig &config);

} // namespace mlir::dma

#endif
