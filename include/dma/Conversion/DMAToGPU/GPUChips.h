//===- GPUChips.h - the GPUs the generated kernels compile for --*- C++ -*-===//
//
// The kernels of convert-dma-tiles-to-gpu and convert-dma-mask-to-gpu use
// mma.sync m16n8k16 (bf16/f16), ldmatrix and cp.async: sm_80 and newer.
// Each chip needs a PTX version that LLVM's NVPTX backend accepts for it
// (a lower one is a fatal error there), and sm_90 and newer have vector
// atomics (red.global.add.v2.f32) for the backward. Every chip listed
// compiles end to end, through ptxas (CUDA 13).
//
//===----------------------------------------------------------------------===//

#ifndef DMA_CONVERSION_DMATOGPU_GPUCHIPS_H
#define DMA_CONVERSION_DMATOGPU_GPUCHIPS_H

#include "mlir/Support/LLVM.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"

#include <string>

namespace mlir::dma {

struct GPUChip {
  llvm::StringLiteral name;
  /// The PTX ISA version to emit, as NVPTX's feature (+ptx81 for 81).
  int ptxVersion;
  /// red.global.add.v2.f32 exists (sm_90 and newer).
  bool vectorAtomics;
};

/// Every chip the kernels compile for, oldest first.
llvm::ArrayRef<GPUChip> supportedGPUChips();
/// The chip named `name`, or null.
const GPUChip *lookupGPUChip(llvm::StringRef name);
/// "sm_80, sm_86, ..." for diagnostics.
std::string supportedGPUChipList();

} // namespace mlir::dma

#endif // DMA_CONVERSION_DMATOGPU_GPUCHIPS_H
