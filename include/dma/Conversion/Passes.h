//===- Passes.h - dma conversion passes -------------------------*- C++ -*-===//

#ifndef DMA_CONVERSION_PASSES_H
#define DMA_CONVERSION_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/UB/IR/UBOps.h"
#include "dma/KernelDefaults.h"
#include "mlir/Pass/Pass.h"

namespace mlir::dma {

#define GEN_PASS_DECL
#include "dma/Conversion/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "dma/Conversion/Passes.h.inc"

} // namespace mlir::dma

#endif // DMA_CONVERSION_PASSES_H
