//===- InitAll.h - register everything the dma project adds -----*- C++ -*-===//
//
// The embedding API: a compiler that wants dma ops calls registerAllDialects
// on its registry (dialect plus bufferization models) and registerAllPasses
// once (passes and named pipelines), then builds pipelines through
// dma/Pipelines/Pipelines.h.
//
//===----------------------------------------------------------------------===//

#ifndef DMA_INITALL_H
#define DMA_INITALL_H

namespace mlir {
class DialectRegistry;
namespace dma {
/// The dma dialect and the external models its ops need.
void registerAllDialects(DialectRegistry &registry);
/// Every dma pass and named pipeline, for textual pipelines and dma-opt.
void registerAllPasses();
} // namespace dma
} // namespace mlir

#endif // DMA_INITALL_H
