//===- ConvertDMAToLoops.cpp - the convert-dma-to-loops pass --------------===//

#include "Lowerings.h"
#include "dma/Conversion/Passes.h"
#include "dma/Dialect/DMA/IR/DMAOps.h"

#include "mlir/IR/PatternMatch.h"
#include "llvm/ADT/TypeSwitch.h"

namespace mlir::dma {
#define GEN_PASS_DEF_CONVERTDMATOLOOPS
#include "dma/Conversion/Passes.h.inc"
} // namespace mlir::dma

using namespace mlir;
using namespace mlir::dma;

namespace {
struct ConvertDMAToLoopsPass
    : public dma::impl::ConvertDMAToLoopsBase<ConvertDMAToLoopsPass> {
  void runOnOperation() override {
    SmallVector<Operation *> ops;
    getOperation()->walk([&](Operation *op) {
      if (isa<DMADialect>(op->getDialect()))
        ops.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (Operation *op : ops) {
      bool onTensors = llvm::any_of(op->getOperandTypes(), [](Type t) {
        return isa<RankedTensorType>(t);
      });
      if (onTensors) {
        op->emitOpError("is still on tensors; run one-shot-bufferize before "
                        "convert-dma-to-loops");
        return signalPassFailure();
      }
      rewriter.setInsertionPoint(op);
      bool lowered = true;
      llvm::TypeSwitch<Operation *>(op)
          .Case([&](ValueBiasOp o) { lowerValueBiasToLoops(rewriter, o); })
          .Case([&](ValueBiasGradOp o) {
            lowerValueBiasGradToLoops(rewriter, o);
          })
          .Case([&](TopKOp o) { lowerTopKToLoops(rewriter, o); })
          .Case([&](AttentionOp o) { lowerAttentionToLoops(rewriter, o); })
          .Case([&](AttentionGradOp o) {
            lowerAttentionGradToLoops(rewriter, o);
          })
          .Case([&](TileIotaOp o) { lowerTileIotaToLoops(rewriter, o); })
          .Case([&](TilePositionsOp o) {
            lowerTilePositionsToLoops(rewriter, o);
          })
          .Case([&](TileCountOp o) {
            rewriter.replaceAllUsesWith(o.getCount(),
                                        lowerTileCountToLoops(rewriter, o));
          })
          .Case([&](TileCandidatesOp o) {
            lowerTileCandidatesToLoops(rewriter, o);
          })
          .Case([&](TileRankedKeysOp o) {
            lowerTileRankedKeysToLoops(rewriter, o);
          })
          .Case([&](TileKeepingRowsOp o) {
            auto [first, end] = lowerTileKeepingRowsToLoops(rewriter, o);
            rewriter.replaceAllUsesWith(o.getFirst(), first);
            rewriter.replaceAllUsesWith(o.getEnd(), end);
          })
          .Case([&](TileGatherOp o) { lowerTileGatherToLoops(rewriter, o); })
          .Case([&](TileScatterOp o) { lowerTileScatterToLoops(rewriter, o); })
          .Case([&](TileDotOp o) { lowerTileDotToLoops(rewriter, o); })
          .Case([&](TileLogitsOp o) { lowerTileLogitsToLoops(rewriter, o); })
          .Case([&](TileSoftmaxOp o) { lowerTileSoftmaxToLoops(rewriter, o); })
          .Case([&](TileStoreOutputOp o) {
            lowerTileStoreOutputToLoops(rewriter, o);
          })
          .Case([&](TileProbsOp o) { lowerTileProbsToLoops(rewriter, o); })
          .Case([&](TileDScoresOp o) { lowerTileDScoresToLoops(rewriter, o); })
          .Case([&](TileRowDotOp o) { lowerTileRowDotToLoops(rewriter, o); })
          .Case([&](TileBiasGradOp o) {
            lowerTileBiasGradToLoops(rewriter, o);
          })
          .Case([&](TileConvertOp o) { lowerTileConvertToLoops(rewriter, o); })
          .Case([&](MaskSummaryOp o) { lowerMaskSummaryToLoops(rewriter, o); })
          .Default([&](Operation *) { lowered = false; });
      // An op of the dialect added without its CPU lowering must fail here,
      // not vanish.
      if (!lowered) {
        op->emitOpError("has no CPU lowering (convert-dma-to-loops)");
        return signalPassFailure();
      }
      rewriter.eraseOp(op);
    }
  }
};
} // namespace
