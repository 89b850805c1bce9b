//===- StaticExpandShape.cpp - the dma-static-expand-shape pass -----------===//
//
// Refines memref.expand_shape results to the static sizes their
// output_shape states (and casts back), so that upstream
// expand-strided-metadata, which crashes on the unrefined form, never sees
// it (Passes.td).
//
//===----------------------------------------------------------------------===//

#include "dma/Dialect/DMA/Transforms/Passes.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "llvm/Support/CheckedArithmetic.h"

#include <optional>

namespace mlir::dma {
#define GEN_PASS_DEF_DMASTATICEXPANDSHAPE
#include "dma/Dialect/DMA/Transforms/Passes.h.inc"
} // namespace mlir::dma

using namespace mlir;

namespace {

struct DMAStaticExpandShapePass
    : public dma::impl::DMAStaticExpandShapeBase<DMAStaticExpandShapePass> {
  void runOnOperation() override {
    SmallVector<memref::ExpandShapeOp> ops;
    getOperation()->walk([&](memref::ExpandShapeOp op) { ops.push_back(op); });
    for (memref::ExpandShapeOp op : ops)
      if (failed(refine(op)))
        return signalPassFailure();
  }

  /// Rewrites `op` when its output_shape states sizes its type does not.
  /// A reassociation group whose sizes all become static needs a static
  /// source size (the op's rule), their product: valid IR guarantees the
  /// source has exactly that size, so the source is cast to it.
  LogicalResult refine(memref::ExpandShapeOp op) {
    MemRefType type = op.getResultType(), srcType = op.getSrcType();
    SmallVector<int64_t> shape(type.getShape()), srcShape(srcType.getShape());
    // Constant SSA sizes count as stated too: expand-strided-metadata
    // folds them into attributes on its own.
    SmallVector<int64_t> stated;
    for (OpFoldResult size : op.getMixedOutputShape())
      stated.push_back(getConstantIntValue(size).value_or(ShapedType::kDynamic));
    SmallVector<ReassociationIndices> groups = op.getReassociationIndices();
    bool refined = false;
    for (auto [g, group] : llvm::enumerate(groups)) {
      std::optional<int64_t> product = 1;
      for (int64_t i : group) {
        // (A negative constant is not a size: left for the verifier.)
        if (ShapedType::isDynamic(shape[i]) && stated[i] >= 0) {
          shape[i] = stated[i];
          refined = true;
        }
        product = ShapedType::isDynamic(shape[i]) || !product
                      ? std::nullopt
                      : llvm::checkedMul(*product, shape[i]);
      }
      if (product && ShapedType::isDynamic(srcShape[g]))
        srcShape[g] = *product;
    }
    if (!refined)
      return success();
    OpBuilder b(op);
    MemRefType staticSrcType = MemRefType::Builder(srcType).setShape(srcShape);
    FailureOr<MemRefType> staticType =
        memref::ExpandShapeOp::computeExpandedType(staticSrcType, shape,
                                                   groups);
    if (failed(staticType) ||
        !memref::CastOp::areCastCompatible(srcType, staticSrcType) ||
        !memref::CastOp::areCastCompatible(*staticType, type))
      return op.emitError("dma-static-expand-shape: output_shape does not "
                          "fit the source; give the result type the static "
                          "sizes of output_shape");
    Value src = op.getSrc();
    if (staticSrcType != srcType)
      src = memref::CastOp::create(b, op.getLoc(), staticSrcType, src);
    // Static sizes go into the attribute, as the verifier requires.
    SmallVector<OpFoldResult> outputShape = op.getMixedOutputShape();
    for (auto [i, size] : llvm::enumerate(shape))
      if (!ShapedType::isDynamic(size))
        outputShape[i] = b.getIndexAttr(size);
    auto expand = memref::ExpandShapeOp::create(b, op.getLoc(), *staticType,
                                                src, groups, outputShape);
    auto cast = memref::CastOp::create(b, op.getLoc(), type, expand);
    op.replaceAllUsesWith(cast.getResult());
    op.erase();
    return success();
  }
};

} // namespace
