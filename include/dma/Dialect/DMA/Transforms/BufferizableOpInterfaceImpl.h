//===- BufferizableOpInterfaceImpl.h - bufferization of dma ops -*- C++ -*-===//

#ifndef DMA_DIALECT_DMA_TRANSFORMS_BUFFERIZABLEOPINTERFACEIMPL_H
#define DMA_DIALECT_DMA_TRANSFORMS_BUFFERIZABLEOPINTERFACEIMPL_H

namespace mlir {
class DialectRegistry;
namespace dma {
/// Lets one-shot bufferization turn every dma op on tensors into the same op
/// on memrefs, writing in place into its destinations.
void registerBufferizableOpInterfaceExternalModels(DialectRegistry &registry);
} // namespace dma
} // namespace mlir

#endif
