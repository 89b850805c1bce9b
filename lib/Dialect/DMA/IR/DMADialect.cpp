//===- DMADialect.cpp - Dynamic Mask Attention dialect --------------------===//

#include "dma/Dialect/DMA/IR/DMADialect.h"
#include "dma/Dialect/DMA/IR/DMAAttrs.h"
#include "dma/Dialect/DMA/IR/DMAOps.h"

#include "mlir/IR/OpImplementation.h"

using namespace mlir;
using namespace mlir::dma;

#include "dma/Dialect/DMA/IR/DMADialect.cpp.inc"

namespace {

/// Prints tile layouts as aliases (`#mma`, `#rows`, `#shared`) at the top of
/// the module, so tile types read `tensor<128x32xf32, #mma>` as in Triton.
struct DMAOpAsmInterface : public OpAsmDialectInterface {
  using OpAsmDialectInterface::OpAsmDialectInterface;
  AliasResult getAlias(Attribute attr, raw_ostream &os) const override {
    if (isa<MmaLayoutAttr>(attr))
      os << "mma";
    else if (isa<RowsLayoutAttr>(attr))
      os << "rows";
    else if (isa<SharedLayoutAttr>(attr))
      os << "shared";
    else
      return AliasResult::NoAlias;
    return AliasResult::FinalAlias;
  }
};

} // namespace

void DMADialect::initialize() {
  registerAttributes();
  addInterfaces<DMAOpAsmInterface>();
  addOperations<
#define GET_OP_LIST
#include "dma/Dialect/DMA/IR/DMAOps.cpp.inc"
      >();
}
