//===- Launch.h - from tiled loop nests to kernel launches ------*- C++ -*-===//
//
// What convert-dma-tiles-to-gpu needs on the host side: kernel arguments
// (pointers, sizes, element strides with 0 for broadcast dimensions) read
// from memrefs, and the backward's conversion (TiledBackward.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef DMA_LIB_CONVERSION_DMATOGPU_LAUNCH_H
#define DMA_LIB_CONVERSION_DMATOGPU_LAUNCH_H

#include "dma/Conversion/DMAToGPU/ForwardKernel.h"
#include "dma/Utils/LoopEmitter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include "llvm/ADT/StringMap.h"

#include <cstdint>

namespace mlir::dma {

inline Type eltOf(Value v) {
  return cast<ShapedType>(v.getType()).getElementType();
}
inline int64_t dimOf(Value v, unsigned d) {
  return cast<ShapedType>(v.getType()).getDimSize(d);
}

/// The kernels take sizes as i32 (LaunchArgs::dimI32): a static size
/// past INT32_MAX would be truncated into a wrong, silent answer. Fails at
/// `op` naming the first such size.
inline LogicalResult checkI32Sizes(Operation *op, ValueRange shaped) {
  for (Value v : shaped) {
    auto type = v ? dyn_cast<ShapedType>(v.getType()) : ShapedType();
    if (!type || !type.hasRank())
      continue;
    for (int64_t size : type.getShape())
      if (!ShapedType::isDynamic(size) && size > INT32_MAX)
        return op->emitError("the GPU kernels take sizes below 2^31, got ")
               << size << " in " << v.getType();
  }
  return success();
}

/// The conversion kernel of dma.tile.convert (ConvertKernel.cpp) walks
/// each pair as flat arrays: every memref it converts must be contiguous
/// (identity layout). Fails at `op` otherwise.
inline LogicalResult checkConvertible(Operation *op, ValueRange memrefs) {
  for (Value m : memrefs)
    if (!cast<MemRefType>(m.getType()).getLayout().isIdentity())
      return op->emitError("convert-dma-tiles-to-gpu: dma.tile.convert on "
                           "the GPU takes contiguous (identity-layout) "
                           "memrefs, got ")
             << m.getType();
  return success();
}

/// The mask and bias operands of a tiled attention, read off its logits op
/// (with dma-block-skip's summary of a dense mask: its state, tiles and
/// count buffers).
struct MaskOperands {
  Value bias, mask, keep, keepScore, keepThreshold, keepTiebreak;
  Value maskState, maskTiles, maskCount;
};

/// Host-side values of the kernel parameters, from the memrefs, bound by
/// parameter name as the runtime binds its own: `launch` takes them in the
/// order the kernel declares (KernelABI.h) and builds the grid from the
/// kernel's grid expressions over them.
class LaunchArgs {
public:
  LaunchArgs(OpBuilder &b, Location loc) : e(b, loc), b(b), loc(loc) {}

  Value pointer(Value memref) {
    auto meta = memref::ExtractStridedMetadataOp::create(b, loc, memref);
    Value aligned =
        memref::ExtractAlignedPointerAsIndexOp::create(b, loc, memref);
    int64_t bytes = eltOf(memref).getIntOrFloatBitWidth() / 8;
    if (eltOf(memref).isInteger(1))
      bytes = 1;
    Value addr = e.add(aligned, e.mul(meta.getOffset(), e.index(bytes)));
    Value i64 = e.indexCast(b.getI64Type(), addr);
    return LLVM::IntToPtrOp::create(b, loc, LLVM::LLVMPointerType::get(b.getContext()),
                                    i64);
  }
  Value i32(Value index) { return e.indexCast(b.getI32Type(), index); }
  /// Stride of dimension d in elements, 0 when the size is 1 (broadcast).
  Value stride(Value memref, unsigned d) {
    auto meta = memref::ExtractStridedMetadataOp::create(b, loc, memref);
    Value size = meta.getSizes()[d];
    Value s = e.select(e.cmpi(static_cast<int>(arith::CmpIPredicate::eq), size,
                              e.index(1)),
                       e.index(0), meta.getStrides()[d]);
    return e.indexCast(b.getI64Type(), s);
  }
  Value dimI32(Value memref, unsigned d) { return i32(e.dim(memref, d)); }

  /// Binds parameter `name` to `v` (ptr, i32, i64 or f32).
  void set(StringRef name, Value v) { named[name] = v; }
  /// Binds `name` to `memref`'s data pointer and, for each letter c of
  /// `dims` (one per leading dimension, '.' skipping one), `name_stride_c`
  /// to that dimension's stride: tensor("q", q, "blh").
  void tensor(StringRef name, Value memref, StringRef dims);
  /// Binds `name_heads` to dimension 1 and the four strides (b, h, q, k) of
  /// a [B, H, Lq, Lk] operand that broadcasts (bias, mask), with its pointer.
  void broadcast4(StringRef name, Value memref);
  /// Binds what the forward and backward kernels share: the sizes (from q
  /// [B, Lq, H, D] and k [B, Lk, Hkv, D]), the scale and softcap of `c`,
  /// and the bias, mask (and its block summary), keep list or per-query
  /// keep rows of `m`.
  void attention(const ForwardKernelConfig &c, Value q, Value k,
                 const MaskOperands &m);

  /// Launches `kernel` (created by createKernelFunc) with the bound values
  /// in its parameter order, its grid evaluated from its grid expressions,
  /// its block and dynamic shared memory. Fails with a diagnostic at the
  /// launch's location naming a parameter that is not bound or is bound to
  /// a value of another type.
  LogicalResult launch(gpu::GPUFuncOp kernel);

  LoopEmitter e;

private:
  OpBuilder &b;
  Location loc;
  llvm::StringMap<Value> named;
};

/// `gpu.module @dma_kernels`, where the generated kernels go (created at the
/// end of `module`, which becomes a GPU container module, if missing).
inline gpu::GPUModuleOp kernelModule(OpBuilder &b, ModuleOp module) {
  module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                  b.getUnitAttr());
  if (auto kernels = module.lookupSymbol<gpu::GPUModuleOp>("dma_kernels"))
    return kernels;
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToEnd(module.getBody());
  return gpu::GPUModuleOp::create(b, module.getLoc(), "dma_kernels");
}

/// Replaces a dma.tile.mask_summary by a launch of the generated summary
/// kernel.
LogicalResult convertMaskSummary(OpBuilder &b, gpu::GPUModuleOp kernels,
                                 MaskSummaryOp op, unsigned &index);

/// Fills `c` from the logits op shared by the tiled forward and backward
/// (tile shapes, scale, cap, causality, mask form, bias and key walk) and
/// returns the mask operands; fails on a per-query candidate walk.
FailureOr<MaskOperands> readLogitsConfig(scf::ForallOp tiles,
                                         Operation *logitsOp,
                                         Operation *keyPositions, Value q,
                                         Value v, ForwardKernelConfig &c);

/// Check a Delta or key-tile loop nest against every limit of its kernel
/// (head dims, tiles, element types, the deterministic mode's lists)
/// without building IR: convert-dma-tiles-to-gpu checks every nest before
/// it generates any kernel, so that a size out of range never reaches a
/// generator (they unroll over head dims and tiles).
LogicalResult checkDeltaTiles(scf::ForallOp tiles);
LogicalResult checkKeyTiles(scf::ForallOp tiles, bool deterministic);

/// Replaces the tiled backward's Delta loop nest (dma.delta_tiles) by a
/// launch of a generated Delta kernel.
LogicalResult convertDeltaTiles(OpBuilder &b, gpu::GPUModuleOp kernels,
                                scf::ForallOp tiles, unsigned &index);
/// Replaces a tiled backward's key-tile loop nest (dma.key_tiles) by a
/// launch of a generated backward kernel. A shared top-k walk that was not
/// gathered (the else branch of dma-gather-keys' runtime choice) is dropped:
/// the GPU always walks the list.
LogicalResult convertKeyTiles(OpBuilder &b, gpu::GPUModuleOp kernels,
                              scf::ForallOp tiles, unsigned &index,
                              bool vectorAtomics, bool deterministic);

} // namespace mlir::dma

#endif
