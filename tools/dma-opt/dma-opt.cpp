//===- dma-opt.cpp - mlir-opt with the dma dialect and passes -------------===//
//
// Everything mlir-opt has (upstream dialects, passes, extensions and the
// GPU-to-LLVM-IR translations that gpu-module-to-binary needs), plus the dma
// dialect, its passes and its named pipelines.
//
//===----------------------------------------------------------------------===//

#include "dma/InitAll.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  mlir::dma::registerAllPasses();

  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  mlir::registerAllGPUToLLVMIRTranslations(registry);
  mlir::dma::registerAllDialects(registry);

  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "Dynamic Mask Attention optimizer driver\n", registry));
}
