//===- DMADialect.h - Dynamic Mask Attention dialect ------------*- C++ -*-===//

#ifndef DMA_DIALECT_DMA_IR_DMADIALECT_H
#define DMA_DIALECT_DMA_IR_DMADIALECT_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Dialect.h"

#include "dma/Dialect/DMA/IR/DMADialect.h.inc"

#endif // DMA_DIALECT_DMA_IR_DMADIALECT_H
