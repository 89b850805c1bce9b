//===- InitAll.cpp - register everything the dma project adds -------------===//

#include "dma/InitAll.h"
#include "dma/Conversion/Passes.h"
#include "dma/Dialect/DMA/IR/DMADialect.h"
#include "dma/Dialect/DMA/Transforms/BufferizableOpInterfaceImpl.h"
#include "dma/Dialect/DMA/Transforms/Passes.h"
#include "dma/Pipelines/Pipelines.h"

#include "mlir/IR/DialectRegistry.h"

void mlir::dma::registerAllDialects(DialectRegistry &registry) {
  registry.insert<DMADialect>();
  registerBufferizableOpInterfaceExternalModels(registry);
}

void mlir::dma::registerAllPasses() {
  registerDMAConversionPasses();
  registerDMATransformsPasses();
  registerPipelines();
}
