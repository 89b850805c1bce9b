//===- Lowerings.h - one lowering per dma op family --------------*- C++ -*-===//

#ifndef DMA_LIB_CONVERSION_DMATOLOOPS_LOWERINGS_H
#define DMA_LIB_CONVERSION_DMATOLOOPS_LOWERINGS_H

#include "dma/Dialect/DMA/IR/DMAOps.h"

namespace mlir::dma {
// Each builds the op's loop nest before it (the op must be on memrefs); the
// caller erases the op.
void lowerValueBiasToLoops(OpBuilder &b, ValueBiasOp op);
void lowerTopKToLoops(OpBuilder &b, TopKOp op);
void lowerAttentionToLoops(OpBuilder &b, AttentionOp op);
void lowerAttentionGradToLoops(OpBuilder &b, AttentionGradOp op);
} // namespace mlir::dma

#endif
