//===- consumer.cpp - an out-of-tree compiler embedding the dma pipeline --===//
//
// Registers the dma dialect into its own context, parses a module that uses
// dma.attention, builds --dma-cpu-pipeline into its own pass manager with
// typed options, and checks that the result is LLVM dialect only.
//
//===----------------------------------------------------------------------===//

#include "dma/InitAll.h"
#include "dma/Pipelines/Pipelines.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include <cstdio>

static const char *kSource = R"mlir(
func.func @attn(%q: memref<1x16x2x8xf32>, %k: memref<1x16x2x8xf32>,
                %v: memref<1x16x2x8xf32>, %o: memref<1x16x2x8xf32>,
                %l: memref<1x2x16xf32>) {
  dma.attention q(%q : memref<1x16x2x8xf32>) k(%k : memref<1x16x2x8xf32>)
      v(%v : memref<1x16x2x8xf32>)
      outs(%o, %l : memref<1x16x2x8xf32>, memref<1x2x16xf32>) causal
  return
}
)mlir";

int main() {
  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  mlir::dma::registerAllDialects(registry);
  mlir::dma::registerAllPasses();
  mlir::MLIRContext context(registry);

  auto module = mlir::parseSourceString<mlir::ModuleOp>(kSource, &context);
  if (!module) {
    std::fprintf(stderr, "consumer: parse failed\n");
    return 1;
  }
  mlir::PassManager pm(&context);
  mlir::dma::CPUPipelineOptions options;
  options.lowerToLLVM = true;
  mlir::dma::buildCPUPipeline(pm, options);
  if (mlir::failed(pm.run(*module))) {
    std::fprintf(stderr, "consumer: pipeline failed\n");
    return 1;
  }
  bool onlyLLVM = true;
  module->walk([&](mlir::Operation *op) {
    llvm::StringRef ns = op->getDialect() ? op->getDialect()->getNamespace()
                                          : llvm::StringRef("?");
    if (ns != "llvm" && !llvm::isa<mlir::ModuleOp>(op))
      onlyLLVM = false;
  });
  std::printf("consumer: dma-cpu-pipeline ran through the installed package; "
              "LLVM dialect only: %s\n",
              onlyLLVM ? "yes" : "no");
  return onlyLLVM ? 0 : 1;
}
