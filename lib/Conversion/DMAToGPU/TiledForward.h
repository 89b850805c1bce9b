//===- TiledForward.h - reading a tiled forward's loop nest -----*- C++ -*-===//
//
// dma-assign-layouts and convert-dma-tiles-to-gpu both read the tiled
// forward (dma-tile-attention's query-tile loop nest) the same way: its ops
// found by data flow (Q and K are the operands of the dot the logits read,
// V the rhs of the dot that takes P), the kernel configuration read off the
// logits op, and every op of the nest checked to be one the GPU lowering
// knows.
//
//===----------------------------------------------------------------------===//

#ifndef DMA_LIB_CONVERSION_DMATOGPU_TILEDFORWARD_H
#define DMA_LIB_CONVERSION_DMATOGPU_TILEDFORWARD_H

#include "Launch.h"

namespace mlir::dma {

/// The ops, memrefs and configuration of one tiled forward.
struct TiledForward {
  ForwardKernelConfig config;
  TileGatherOp qGather, kGather, vGather;
  TileDotOp scores, update; // S = Q K^T, acc += P V
  TileLogitsOp logits;
  TileSoftmaxOp softmax;
  TileStoreOutputOp store;
  Operation *keyPositions = nullptr; // defines the K and V gathers' rows
  Value q, k, v, o, lse;
  MaskOperands masks;
};

/// Whether `tiles` is a tiled attention forward: its body stores output
/// rows (dma.tile.store_output).
bool isTiledForward(scf::ForallOp tiles);

/// Reads a tiled forward. Its config has everything but the warps and
/// stages (the layouts say those: readForwardLayouts). Fails with a
/// diagnostic naming the first op of the nest the GPU lowering does not
/// know, or the role it cannot find; `pass` names the pass in diagnostics.
FailureOr<TiledForward> readTiledForward(scf::ForallOp tiles, StringRef pass);

/// Checks `f`'s configuration is one the generator supports and its sizes
/// fit the kernels' i32 arithmetic.
LogicalResult verifyTiledForward(scf::ForallOp tiles, const TiledForward &f);

/// Reads the warps, stages, swizzle and fragment layout of `f` from the
/// layouts dma-assign-layouts gave its tiles; fails when they are missing
/// or are ones the generator does not handle.
LogicalResult readForwardLayouts(scf::ForallOp tiles, TiledForward &f);

/// Generates `f`'s kernel, gpu.func @name in `kernels`: the nest's body
/// moved into it and each tile op lowered by its conversion pattern
/// (ForwardPatterns.cpp). Leaves `tiles` in place (the caller replaces it
/// by the launch).
FailureOr<gpu::GPUFuncOp> lowerTiledForward(OpBuilder &b,
                                            gpu::GPUModuleOp kernels,
                                            scf::ForallOp tiles,
                                            const TiledForward &f,
                                            StringRef name);

} // namespace mlir::dma

#endif
