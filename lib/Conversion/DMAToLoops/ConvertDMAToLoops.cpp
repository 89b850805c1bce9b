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
      if (isa<ValueBiasOp, TopKOp, AttentionOp, AttentionGradOp>(op))
        ops.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (Operation *op : ops) {
      if (op->getNumResults() != 0) {
        op->emitOpError("is still on tensors; run one-shot-bufferize before "
                        "convert-dma-to-loops");
        return signalPassFailure();
      }
      rewriter.setInsertionPoint(op);
      llvm::TypeSwitch<Operation *>(op)
          .Case([&](ValueBiasOp o) { lowerValueBiasToLoops(rewriter, o); })
          .Case([&](TopKOp o) { lowerTopKToLoops(rewriter, o); })
          .Case([&](AttentionOp o) { lowerAttentionToLoops(rewriter, o); })
          .Case([&](AttentionGradOp o) {
            lowerAttentionGradToLoops(rewriter, o);
          });
      rewriter.eraseOp(op);
    }
  }
};
} // namespace
