//===- DMAAttrs.h - layouts of GPU tiles ------------------------*- C++ -*-===//

#ifndef DMA_DIALECT_DMA_IR_DMAATTRS_H
#define DMA_DIALECT_DMA_IR_DMAATTRS_H

#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Value.h"

#define GET_ATTRDEF_CLASSES
#include "dma/Dialect/DMA/IR/DMAAttrs.h.inc"

namespace mlir::dma {

/// Checks the encoding of `type` (a #dma layout, or none) fits it.
LogicalResult verifyTileLayout(function_ref<InFlightDiagnostic()> emitError,
                               Type type);

/// The layout (encoding) of a tile: null for a memref or an unencoded
/// tensor.
Attribute tileLayoutOf(Value tile);

} // namespace mlir::dma

#endif
