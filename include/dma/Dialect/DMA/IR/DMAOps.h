//===- DMAOps.h - operations of the dma dialect -----------------*- C++ -*-===//

#ifndef DMA_DIALECT_DMA_IR_DMAOPS_H
#define DMA_DIALECT_DMA_IR_DMAOPS_H

#include "dma/Dialect/DMA/IR/DMAAttrs.h"
#include "dma/Dialect/DMA/IR/DMADialect.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/DestinationStyleOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "dma/Dialect/DMA/IR/DMAEnums.h.inc"

namespace mlir::dma {
/// Which of the spec's four mask forms an attention op carries; derived from
/// which mask operands are present.
enum class MaskKind { None, Dense, SharedTopK, PerQueryTopK };
} // namespace mlir::dma

#define GET_OP_CLASSES
#include "dma/Dialect/DMA/IR/DMAOps.h.inc"

#endif // DMA_DIALECT_DMA_IR_DMAOPS_H
