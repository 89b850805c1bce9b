//===- KernelABI.h - a generated kernel's launch interface --------*- C++ -*-===//
//
// Every generated kernel describes its launch once, when its emitter
// creates it: parameters (names and kinds, in order), the grid (three
// expressions over its integer parameters, GridExpr.h), the block and the
// dynamic shared memory. createKernelFunc stores the description on the
// gpu.func as attributes (dma.kernel_params, dma.grid, dma.threads,
// dma.shared_bytes, dma.role); from there
//
//  * the host side's launch (launchKernel, Launch.h) orders its operands by
//    parameter name and builds its grid by evaluating the expressions,
//  * dma-compile writes the manifest entry (readKernelABI), and
//  * the runtime packs parameters by name and evaluates the same grid
//    expressions over the values it packs.
//
// The ctest dma-manifest-abi checks a bundle's manifest against the
// launches the compiler builds at concrete sizes.
//
//===----------------------------------------------------------------------===//

#ifndef DMA_CONVERSION_DMATOGPU_KERNELABI_H
#define DMA_CONVERSION_DMATOGPU_KERNELABI_H

#include "mlir/IR/Operation.h"
#include "llvm/ADT/SmallVector.h"

#include <array>
#include <cstdint>
#include <string>

namespace mlir::dma {

/// One kernel parameter, in order.
struct KernelParam {
  enum Kind { Pointer, I32, I64, F32 };
  std::string name;
  Kind kind;

  /// "ptr", "i32", "i64" or "f32" (the manifest's spelling).
  const char *kindName() const;
};

/// A kernel's launch interface.
struct KernelABI {
  /// What the kernel does ("forward", "backward", "delta", "mask_summary",
  /// ...): dma-compile names manifest entries by it.
  std::string role;
  SmallVector<KernelParam> params;
  /// Grid x, y, z over the integer (i32/i64) parameters.
  std::array<std::string, 3> grid;
  int64_t threads = 0;
  int64_t sharedBytes = 0;

  /// The parameter named `name`, or null.
  const KernelParam *param(StringRef name) const;
  /// Empty when every grid expression parses and names only integer
  /// parameters; the first problem otherwise.
  std::string check() const;
};

/// The description stored on `kernel` (a gpu.func, or the llvm.func it is
/// lowered to); fails when an attribute is missing or malformed.
FailureOr<KernelABI> readKernelABI(Operation *kernel);

} // namespace mlir::dma

#endif
