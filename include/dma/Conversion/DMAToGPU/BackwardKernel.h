//===- BackwardKernel.h - the generated attention backward ------*- C++ -*-===//
//
// The GPU kernels convert-dma-tiles-to-gpu generates from the tiled
// backward (dma-tile-attention's key-tile-outer form):
//
//  * the Delta kernel: Delta[b, h, i] = sum_d dO[b, i, h, d] * O[b, i, h, d];
//  * the main kernel: one CTA per (key tile or kept-key chunk, query head,
//    batch) walks every query tile that can see its keys, keeping dK and dV
//    for its keys in registers and adding them once at the end into f32
//    accumulators at the keys' original positions (one addition per element
//    and query head: exact without GQA, summed over the group's heads with
//    it), adding dQ into an f32 accumulator with atomics, and dBias
//    (reduced over the bias's broadcast dimensions) likewise.
//
// The kernel configuration is the forward's (ForwardKernelConfig): blockN
// keys per CTA, blockM queries per step, blockN / 16 warps. With 64-query
// steps the warps form a grid of 32-key by 32-query groups (the warp-grid
// loop); otherwise each warp owns 16 keys for every product (the key-rows
// loop).
//
//===----------------------------------------------------------------------===//

#ifndef DMA_CONVERSION_DMATOGPU_BACKWARDKERNEL_H
#define DMA_CONVERSION_DMATOGPU_BACKWARDKERNEL_H

#include "dma/Conversion/DMAToGPU/ForwardKernel.h"

namespace mlir::dma {

/// The most keys a ranked chunk may have on the GPU (each CTA sorts its
/// chunk in shared memory).
inline constexpr int64_t kMaxRankChunk = int64_t(1) << 16;

/// The backward's configuration checks (on top of the forward's).
LogicalResult verifyBackward(const ForwardKernelConfig &config,
                             function_ref<InFlightDiagnostic()> emitError);
/// Whether the main kernel uses the warp-grid loop (64-query steps, head
/// dims that split over the grid, not deterministic).
bool useWarpGridBackward(const ForwardKernelConfig &config);
/// Bytes of dynamic shared memory of the main backward kernel.
int64_t backwardSharedBytes(const ForwardKernelConfig &config);
/// Where the query tiles start in it (after K, V and the key positions):
/// the ranked walk sorts its chunk there before the first query tile lands.
int64_t backwardQueryOffset(const ForwardKernelConfig &config);
/// Bytes the ranked walk's sort takes (a power of two of u64 keys).
int64_t rankSortBytes(const ForwardKernelConfig &config);
/// Parameters of the main backward kernel, in order.
SmallVector<KernelParam> backwardKernelParams(const ForwardKernelConfig &c);
/// Parameters of the Delta kernel, in order.
SmallVector<KernelParam> deltaKernelParams();

/// Rows (query positions) one CTA of the Delta kernel covers; its grid is
/// (ceil(Lq / deltaRowsPerCTA), H, B) with 128 threads.
constexpr int64_t kDeltaRowsPerCTA = 4;

/// Emits the main kernel. Grid: (ceil(keys / blockN), H, B) where keys is
/// Lk, or W for a gathered walk; block `threads()` = 2 * blockN. dq, dk,
/// dv and dbias are zeroed f32 accumulators.
gpu::GPUFuncOp emitBackwardKernel(OpBuilder &b, Location loc,
                                  gpu::GPUModuleOp module, StringRef name,
                                  const ForwardKernelConfig &config);
/// Emits the Delta kernel for dO/O of element type `element`, Dv columns.
gpu::GPUFuncOp emitDeltaKernel(OpBuilder &b, Location loc,
                               gpu::GPUModuleOp module, StringRef name,
                               Type element, int64_t valueDim);

/// The conversion kernel of dma.tile.convert: up to kConvertSegments pairs
/// (src_i, dst_i, n_i elements, both contiguous and 16-byte aligned) per
/// launch. Grid (ceil(max n_i / (8 * kConvertThreads)), pairs, 1).
constexpr int64_t kConvertSegments = 4;
constexpr int64_t kConvertThreads = 256;
/// Parameters of the conversion kernel: src0, dst0, ..., then n0, ....
SmallVector<KernelParam> convertKernelParams();
/// Emits the conversion kernel from `source` to `dest` elements.
gpu::GPUFuncOp emitConvertKernel(OpBuilder &b, Location loc,
                                 gpu::GPUModuleOp module, StringRef name,
                                 Type source, Type dest);

} // namespace mlir::dma

#endif
