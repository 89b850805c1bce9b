//===- BufferizableOpInterfaceImpl.cpp - bufferization of dma ops ---------===//
//
// The semantic ops and most tile ops are destination-passing style, so one
// model serves them: inputs are read, destinations are written (and read
// only where the op updates them, like the accumulator of dma.tile.dot),
// and result i is equivalent to destination i. Tile ops that write memrefs
// they were given only read their tile operands. Bufferizing an op rebuilds
// it with memref operands and no tensor results, as linalg does.
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

/// Whether an op reads destination `i` (updates it) or only overwrites it:
/// tile ops say so themselves; the semantic ops overwrite every element.
template <typename OpTy>
auto readsDestinationImpl(OpTy op, unsigned i, int)
    -> decltype(op.readsDestination(i)) {
  return op.readsDestination(i);
}
template <typename OpTy>
bool readsDestinationImpl(OpTy, unsigned, long) {
  return false;
}
template <typename OpTy>
bool readsDestination(OpTy op, unsigned i) {
  return readsDestinationImpl(op, i, 0);
}

/// Operands are replaced by their buffers; results by the destinations'.
LogicalResult bufferizeInPlace(Operation *op, RewriterBase &rewriter,
                               const BufferizationOptions &options,
                               BufferizationState &state) {
  auto dps = dyn_cast<DestinationStyleOpInterface>(op);
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
    if (dps && dps.isDpsInit(&operand))
      destBuffers.push_back(v);
  }
  // Same op, same properties (segment sizes, attributes), memref operands
  // and no tensor results (a tile count keeps its index result).
  SmallVector<Type> resultTypes;
  for (Type t : op->getResultTypes())
    if (!isa<TensorType>(t))
      resultTypes.push_back(t);
  OperationState newState(op->getLoc(), op->getName());
  newState.addOperands(operands);
  newState.addTypes(resultTypes);
  newState.addAttributes(llvm::to_vector(op->getDiscardableAttrs()));
  newState.propertiesAttr = op->getPropertiesAsAttribute();
  Operation *newOp = rewriter.create(newState);
  replaceOpWithBufferizedValues(rewriter, op,
                                dps ? ValueRange(destBuffers)
                                    : ValueRange(newOp->getResults()));
  return success();
}

template <typename OpTy>
struct DMAOpBufferizationModel
    : public DstBufferizableOpInterfaceExternalModel<
          DMAOpBufferizationModel<OpTy>, OpTy> {
  /// Destinations that are only written are not read: an uninitialised
  /// destination (tensor.empty) then needs no copy.
  bool bufferizesToMemoryRead(Operation *op, OpOperand &opOperand,
                              const AnalysisState &state) const {
    auto dps = cast<DestinationStyleOpInterface>(op);
    if (!dps.isDpsInit(&opOperand))
      return true;
    return readsDestination(cast<OpTy>(op),
                            opOperand.getOperandNumber() -
                                dps.getDpsInitsMutable().begin()->getOperandNumber());
  }

  LogicalResult bufferize(Operation *op, RewriterBase &rewriter,
                          const BufferizationOptions &options,
                          BufferizationState &state) const {
    return bufferizeInPlace(op, rewriter, options, state);
  }
};

/// Tile ops that only read their tiles (and write memrefs they were given).
template <typename OpTy>
struct TileReaderBufferizationModel
    : public BufferizableOpInterface::ExternalModel<
          TileReaderBufferizationModel<OpTy>, OpTy> {
  bool bufferizesToMemoryRead(Operation *, OpOperand &,
                              const AnalysisState &) const {
    return true;
  }
  bool bufferizesToMemoryWrite(Operation *, OpOperand &,
                               const AnalysisState &) const {
    return false;
  }
  AliasingValueList getAliasingValues(Operation *, OpOperand &,
                                      const AnalysisState &) const {
    return {};
  }
  LogicalResult bufferize(Operation *op, RewriterBase &rewriter,
                          const BufferizationOptions &options,
                          BufferizationState &state) const {
    return bufferizeInPlace(op, rewriter, options, state);
  }
};

template <typename... OpTys>
void attachDPSModels(MLIRContext *ctx) {
  (OpTys::template attachInterface<DMAOpBufferizationModel<OpTys>>(*ctx), ...);
}
template <typename... OpTys>
void attachReaderModels(MLIRContext *ctx) {
  (OpTys::template attachInterface<TileReaderBufferizationModel<OpTys>>(*ctx),
   ...);
}

} // namespace

void mlir::dma::registerBufferizableOpInterfaceExternalModels(
    DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *ctx, dma::DMADialect *) {
    attachDPSModels<ValueBiasOp, ValueBiasGradOp, TopKOp, AttentionOp, AttentionGradOp,
                    TileIotaOp, TilePositionsOp, TileCandidatesOp, TileRankedKeysOp,
                    TileGatherOp, TileDotOp, TileLogitsOp, TileSoftmaxOp,
                    TileProbsOp, TileDScoresOp, TileRowDotOp, MaskSummaryOp>(
        ctx);
    attachReaderModels<TileCountOp, TileKeepingRowsOp, TileScatterOp, TileStoreOutputOp,
                       TileBiasGradOp>(ctx);
  });
}
