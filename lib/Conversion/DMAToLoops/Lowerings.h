//===- Lowerings.h - one lowering per dma op family --------------*- C++ -*-===//

#ifndef DMA_LIB_CONVERSION_DMATOLOOPS_LOWERINGS_H
#define DMA_LIB_CONVERSION_DMATOLOOPS_LOWERINGS_H

#include "dma/Dialect/DMA/IR/DMAOps.h"

namespace mlir::dma {
// Each builds the op's loop nest before it (the op must be on memrefs); the
// caller erases the op.
void lowerValueBiasToLoops(OpBuilder &b, ValueBiasOp op);
void lowerValueBiasGradToLoops(OpBuilder &b, ValueBiasGradOp op);
void lowerTopKToLoops(OpBuilder &b, TopKOp op);
void lowerAttentionToLoops(OpBuilder &b, AttentionOp op);
void lowerAttentionGradToLoops(OpBuilder &b, AttentionGradOp op);

// The tile ops (TileOpsToLoops.cpp).
void lowerTileIotaToLoops(OpBuilder &b, TileIotaOp op);
void lowerTilePositionsToLoops(OpBuilder &b, TilePositionsOp op);
/// Returns the count that replaces the op's result.
Value lowerTileCountToLoops(OpBuilder &b, TileCountOp op);
void lowerTileCandidatesToLoops(OpBuilder &b, TileCandidatesOp op);
void lowerTileRankedKeysToLoops(OpBuilder &b, TileRankedKeysOp op);
/// Returns (first, end).
std::pair<Value, Value> lowerTileKeepingRowsToLoops(OpBuilder &b,
                                                    TileKeepingRowsOp op);
void lowerTileGatherToLoops(OpBuilder &b, TileGatherOp op);
void lowerTileScatterToLoops(OpBuilder &b, TileScatterOp op);
void lowerTileDotToLoops(OpBuilder &b, TileDotOp op);
void lowerTileLogitsToLoops(OpBuilder &b, TileLogitsOp op);
void lowerTileSoftmaxToLoops(OpBuilder &b, TileSoftmaxOp op);
void lowerTileStoreOutputToLoops(OpBuilder &b, TileStoreOutputOp op);
void lowerTileProbsToLoops(OpBuilder &b, TileProbsOp op);
void lowerTileDScoresToLoops(OpBuilder &b, TileDScoresOp op);
void lowerTileRowDotToLoops(OpBuilder &b, TileRowDotOp op);
void lowerTileBiasGradToLoops(OpBuilder &b, TileBiasGradOp op);
void lowerTileConvertToLoops(OpBuilder &b, TileConvertOp op);
void lowerMaskSummaryToLoops(OpBuilder &b, MaskSummaryOp op);
} // namespace mlir::dma

#endif
