//===- Passes.h - dma transformations ---------------------------*- C++ -*-===//

#ifndef DMA_DIALECT_DMA_TRANSFORMS_PASSES_H
#define DMA_DIALECT_DMA_TRANSFORMS_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "dma/KernelDefaults.h"
#include "mlir/Pass/Pass.h"

namespace mlir::dma {

#define GEN_PASS_DECL
#include "dma/Dialect/DMA/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "dma/Dialect/DMA/Transforms/Passes.h.inc"

} // namespace mlir::dma

#endif // DMA_DIALECT_DMA_TRANSFORMS_PASSES_H
