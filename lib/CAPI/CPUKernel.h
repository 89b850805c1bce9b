//===- CPUKernel.h - one-op functions compiled for the C API ----*- C++ -*-===//
//
// What the C API's entry points share: a function `@kernel` around one dma
// op on the caller's (contiguous, statically shaped) buffers, compiled once
// per source through --dma-cpu-pipeline and called on those buffers.
//
//===----------------------------------------------------------------------===//

#ifndef DMA_LIB_CAPI_CPUKERNEL_H
#define DMA_LIB_CAPI_CPUKERNEL_H

#include "dma-c/CPU.h"

#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace mlir::dma::capi {

/// Writes `message` into the caller's error buffer; returns 1.
int fail(char *error, size_t size, const std::string &message);

/// One operand of the generated function.
struct Operand {
  std::string name;
  const dma_tensor *tensor;
};

/// `memref<2x3xf32>` for the tensor, or an error.
bool memrefType(const Operand &op, int32_t wantDtype, std::string &type,
                std::string &error);

/// The generated function: `func.func @kernel(<operands>)` around `op`.
struct Kernel {
  std::vector<Operand> operands;
  std::map<std::string, std::string> types;
  std::string error;

  bool add(const std::string &name, const dma_tensor *t, int32_t dtype) {
    if (!t)
      return true;
    std::string type;
    if (!memrefType({name, t}, dtype, type, error))
      return false;
    operands.push_back({name, t});
    types[name] = type;
    return true;
  }
  bool has(const std::string &name) const { return types.count(name); }
  std::string use(const std::string &name) const {
    return "%" + name + " : " + types.at(name);
  }
  std::string source(const std::string &op) const {
    std::ostringstream os;
    os << "func.func @kernel(";
    for (size_t i = 0; i < operands.size(); ++i)
      os << (i ? ", " : "") << "%" << operands[i].name << ": "
         << types.at(operands[i].name);
    os << ") attributes {llvm.emit_c_interface} {\n  " << op
       << "\n  return\n}\n";
    return os.str();
  }
};

/// Compiles (once per source, kept in a bounded LRU cache) and calls
/// `@kernel` around `op` on the kernel's operands.
int run(const Kernel &k, const std::string &op, char *error, size_t size);

/// Compiled kernels in the cache now.
size_t cachedKernels();

} // namespace mlir::dma::capi

#endif
