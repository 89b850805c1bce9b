//===- CheckManifest.h - a bundle's manifest against the compiler -*- C++ -*-===//
//
// `dma-compile -o DIR --check-abi`: every manifest entry of the bundle in
// DIR is checked against the launch the compiler builds for its variant at
// concrete sizes (dma_compile::StaticSizes). The variant's module is
// lowered again (no PTX, no ptxas) with the tiles the entry records, every
// gpu.launch_func folds to constants, and for each entry's kernel:
//
//  * the manifest's parameters (names, kinds, order) are the kernel's and
//    the launch's operand types,
//  * its grid expressions, evaluated as the runtime evaluates them over
//    the launch's constant operands, give the launch's grid,
//  * its threads and shared bytes are the launch's block and dynamic
//    shared memory.
//
//===----------------------------------------------------------------------===//

#ifndef DMA_TOOLS_DMA_COMPILE_CHECKMANIFEST_H
#define DMA_TOOLS_DMA_COMPILE_CHECKMANIFEST_H

#include "mlir/IR/MLIRContext.h"
#include "llvm/ADT/StringRef.h"

namespace dma_compile {

/// Checks DIR/manifest.json; prints each mismatch and a summary line.
/// Returns the process exit code (0: every entry matches).
int checkManifestABI(mlir::MLIRContext &ctx, llvm::StringRef dir,
                     llvm::StringRef chip, int defaultRankChunk);

} // namespace dma_compile

#endif
