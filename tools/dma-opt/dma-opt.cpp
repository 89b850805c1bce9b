//===- dma-opt.cpp - mlir-opt with the dma dialect and passes -------------===//
//
// Everything mlir-opt has (upstream dialects, passes, extensions and the
// GPU-to-LLVM-IR translations that gpu-module-to-binary needs), plus the dma
// dialect, its passes and its named pipelines.
//
// Unlike mlir-opt, the input is checked for nesting depth before it is
// parsed and the tool runs on a large stack (dma/Utils/ToolMain.h): deeply
// nested input ends in a diagnostic, never a stack overflow.
//
//===----------------------------------------------------------------------===//

#include "dma/InitAll.h"
#include "dma/Utils/ToolMain.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/ToolOutputFile.h"

#include <string>
#include <tuple>

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  mlir::registerAllPasses();
  mlir::dma::registerAllPasses();

  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  mlir::registerAllGPUToLLVMIRTranslations(registry);
  mlir::dma::registerAllDialects(registry);

  std::string inputFilename, outputFilename;
  std::tie(inputFilename, outputFilename) = mlir::registerAndParseCLIOptions(
      argc, argv, "Dynamic Mask Attention optimizer driver\n", registry);

  // What MlirOptMain(argc, argv, ...) does, with the nesting check between
  // reading the input and parsing it.
  return mlir::dma::runWithLargeStack([&]() -> int {
    mlir::MlirOptMainConfig config =
        mlir::MlirOptMainConfig::createFromCLOptions();
    if (config.shouldShowDialects()) {
      llvm::outs() << "Available Dialects: ";
      llvm::interleave(registry.getDialectNames(), llvm::outs(), ",");
      llvm::outs() << "\n";
      return 0;
    }
    if (config.shouldListPasses()) {
      mlir::printRegisteredPasses();
      return 0;
    }
    std::string error;
    std::unique_ptr<llvm::MemoryBuffer> file =
        mlir::openInputFile(inputFilename, &error);
    if (!file) {
      llvm::errs() << error << "\n";
      return 1;
    }
    llvm::StringRef name =
        inputFilename == "-" ? llvm::StringRef("<stdin>") : inputFilename;
    if (mlir::failed(mlir::dma::checkNesting(file->getBuffer(), name,
                                             llvm::errs())))
      return 1;
    std::unique_ptr<llvm::ToolOutputFile> output =
        mlir::openOutputFile(outputFilename, &error);
    if (!output) {
      llvm::errs() << error << "\n";
      return 1;
    }
    if (mlir::failed(
            mlir::MlirOptMain(output->os(), std::move(file), registry, config)))
      return 1;
    output->keep();
    return 0;
  });
}
