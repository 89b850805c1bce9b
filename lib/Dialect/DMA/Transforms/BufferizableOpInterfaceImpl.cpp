//===- BufferizableOpInterfaceImpl.cpp - bufferization of dma ops ---------===//
//
// Every dma op is destination-passing style, so one model serves all four:
// inputs are read, destinations are written but never read (each element is
// overwritten), and result i is equivalent to destination i. Bufferizing an
// op rebuilds it with memref operands and no results, as linalg does.
//
//===----------------------------------------------------------------------===//

#include "dma/Dialect/DMA/Transforms/BufferizableOpInterfaceImpl.h"
#include "dma/Dialect/DMA/IR/DMAOps.h"

#include "mlir/Dialect/Bufferization/IR/BufferizableOpInterface.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Bufferization/IR/DstBufferizableOpInterfaceImpl.h"
#include "mlir/IR/DialectRegistry.h"

using namespace mlir;
using namespace mlir::bufferization;

namespace {

template <typename OpTy>
struct DMAOpBufferizationModel
    : public DstBufferizableOpInterfaceExternalModel<
          DMAOpBufferizationModel<OpTy>, OpTy> {
  /// Destinations are write-only: their old contents never matter, so an
  /// uninitialised destination (tensor.empty) needs no copy.
  bool bufferizesToMemoryRead(Operation *op, OpOperand &opOperand,
                              const AnalysisState &state) const {
    return !cast<DestinationStyleOpInterface>(op).isDpsInit(&opOperand);
  }

  LogicalResult bufferize(Operation *op, RewriterBase &rewriter,
                          const BufferizationOptions &options,
                          BufferizationState &state) const {
    auto dps = cast<DestinationStyleOpInterface>(op);
    rewriter.setInsertionPoint(op);
    SmallVector<Value> operands;
    SmallVector<Value> destBuffers;
    for (OpOperand &operand : op->getOpOperands()) {
      Value v = operand.get();
      if (isa<TensorType>(v.getType())) {
        FailureOr<Value> buffer = getBuffer(rewriter, v, options, state);
        if (failed(buffer))
          return failure();
        v = *buffer;
      }
      operands.push_back(v);
      if (dps.isDpsInit(&operand))
        destBuffers.push_back(v);
    }
    // Same op, same properties (segment sizes, attributes), memref operands
    // and no results.
    OperationState newState(op->getLoc(), op->getName());
    newState.addOperands(operands);
    newState.addAttributes(llvm::to_vector(op->getDiscardableAttrs()));
    newState.propertiesAttr = op->getPropertiesAsAttribute();
    rewriter.create(newState);
    replaceOpWithBufferizedValues(rewriter, op, destBuffers);
    return success();
  }
};

} // namespace

void mlir::dma::registerBufferizableOpInterfaceExternalModels(
    DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *ctx, dma::DMADialect *) {
    ValueBiasOp::attachInterface<DMAOpBufferizationModel<ValueBiasOp>>(*ctx);
    TopKOp::attachInterface<DMAOpBufferizationModel<TopKOp>>(*ctx);
    AttentionOp::attachInterface<DMAOpBufferizationModel<AttentionOp>>(*ctx);
    AttentionGradOp::attachInterface<DMAOpBufferizationModel<AttentionGradOp>>(
        *ctx);
  });
}
