//===- CPUModule.h - compile dma IR for the CPU and call it -----*- C++ -*-===//
//
// Parses a module, runs --dma-cpu-pipeline on it and JIT-compiles the result
// (MLIR ExecutionEngine, LLVM -O3). Functions are called through their C
// interface (`llvm.emit_c_interface`) with memref arguments described by
// MemRefArg, so the caller owns every buffer: outputs can be poisoned before
// a call and inspected after it.
//
// Destroy CPUModules before the program exits, not from static destructors:
// the JIT's destructor still compiles code, which needs LLVM's own globals.
//
//===----------------------------------------------------------------------===//

#ifndef DMA_RUNNER_CPUMODULE_H
#define DMA_RUNNER_CPUMODULE_H

#include "dma/Pipelines/Pipelines.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace llvm {
class Module;
} // namespace llvm

namespace mlir {
class ExecutionEngine;
class MLIRContext;
} // namespace mlir

namespace mlir::dma {

/// A strided view of caller-owned memory, passed as a memref descriptor.
struct MemRefArg {
  void *data;
  std::vector<int64_t> sizes;
  std::vector<int64_t> strides; // in elements; empty = row-major contiguous

  static MemRefArg contiguous(void *data, std::vector<int64_t> sizes);
};

class CPUModule {
public:
  /// Compiles `source` (MLIR text). Errors carry the diagnostics.
  static llvm::Expected<std::unique_ptr<CPUModule>>
  compile(llvm::StringRef source, const CPUPipelineOptions &options = {});
  ~CPUModule();

  /// Calls `func` (which must carry `llvm.emit_c_interface` and take only
  /// memref arguments, returning nothing).
  llvm::Error call(llvm::StringRef func, llvm::ArrayRef<MemRefArg> args);

  /// The address of a public global of the module (e.g. the visit counters
  /// that `count-visits` adds).
  llvm::Expected<void *> global(llvm::StringRef name);

private:
  CPUModule();
  std::unique_ptr<MLIRContext> context;
  // The engine compiles lazily (at the first call) through this optimizer,
  // which it only references: it must live as long as the engine.
  std::function<llvm::Error(llvm::Module *)> optimizer;
  std::unique_ptr<ExecutionEngine> engine;
};

} // namespace mlir::dma

#endif // DMA_RUNNER_CPUMODULE_H
