//===- DMADialect.cpp - Dynamic Mask Attention dialect --------------------===//

#include "dma/Dialect/DMA/IR/DMADialect.h"
#include "dma/Dialect/DMA/IR/DMAOps.h"

using namespace mlir;
using namespace mlir::dma;

#include "dma/Dialect/DMA/IR/DMADialect.cpp.inc"

void DMADialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dma/Dialect/DMA/IR/DMAOps.cpp.inc"
      >();
}
