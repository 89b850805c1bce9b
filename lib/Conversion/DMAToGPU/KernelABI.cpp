//===- KernelABI.cpp - a generated kernel's launch interface --------------===//

#include "dma/Conversion/DMAToGPU/KernelABI.h"
#include "dma/GridExpr.h"

#include "mlir/IR/BuiltinAttributes.h"

using namespace mlir;
using namespace mlir::dma;

const char *KernelParam::kindName() const {
  static const char *names[] = {"ptr", "i32", "i64", "f32"};
  return names[kind];
}

const KernelParam *KernelABI::param(StringRef name) const {
  for (const KernelParam &p : params)
    if (p.name == name)
      return &p;
  return nullptr;
}

std::string KernelABI::check() const {
  auto isInteger = [&](const std::string &n) {
    const KernelParam *p = param(n);
    return p && (p->kind == KernelParam::I32 || p->kind == KernelParam::I64);
  };
  for (const std::string &g : grid)
    if (std::string why = ::dma::checkGridNames(g, isInteger); !why.empty())
      return why;
  return "";
}

FailureOr<KernelABI> mlir::dma::readKernelABI(Operation *kernel) {
  KernelABI abi;
  auto params = kernel->getAttrOfType<ArrayAttr>("dma.kernel_params");
  auto grid = kernel->getAttrOfType<ArrayAttr>("dma.grid");
  auto threads = kernel->getAttrOfType<IntegerAttr>("dma.threads");
  auto shared = kernel->getAttrOfType<IntegerAttr>("dma.shared_bytes");
  auto role = kernel->getAttrOfType<StringAttr>("dma.role");
  if (!params || !grid || grid.size() != 3 || !threads || !shared || !role)
    return failure();
  for (Attribute a : params) {
    auto s = dyn_cast<StringAttr>(a);
    if (!s)
      return failure();
    auto [name, kind] = s.getValue().split(':');
    KernelParam p{name.str(), KernelParam::Pointer};
    if (kind == "i32")
      p.kind = KernelParam::I32;
    else if (kind == "i64")
      p.kind = KernelParam::I64;
    else if (kind == "f32")
      p.kind = KernelParam::F32;
    else if (kind != "ptr")
      return failure();
    abi.params.push_back(std::move(p));
  }
  for (auto [i, g] : llvm::enumerate(grid)) {
    auto s = dyn_cast<StringAttr>(g);
    if (!s)
      return failure();
    abi.grid[i] = s.getValue().str();
  }
  abi.threads = threads.getInt();
  abi.sharedBytes = shared.getInt();
  abi.role = role.getValue().str();
  return abi;
}
