//===- CPUModule.cpp - compile dma IR for the CPU and call it -------------===//

#include "dma/Runner/CPUModule.h"
#include "dma/InitAll.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Bufferization/Transforms/FuncBufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"

#include <cstring>
#include <mutex>

using namespace mlir;
using namespace mlir::dma;

MemRefArg MemRefArg::contiguous(void *data, std::vector<int64_t> sizes) {
  std::vector<int64_t> strides(sizes.size(), 1);
  for (int i = static_cast<int>(sizes.size()) - 2; i >= 0; --i)
    strides[i] = strides[i + 1] * sizes[i + 1];
  return {data, std::move(sizes), std::move(strides)};
}

CPUModule::CPUModule() = default;
CPUModule::~CPUModule() = default;

static llvm::Error makeError(const llvm::Twine &message) {
  return llvm::make_error<llvm::StringError>(message,
                                             llvm::inconvertibleErrorCode());
}

llvm::Expected<std::unique_ptr<CPUModule>>
CPUModule::compile(llvm::StringRef source, const CPUPipelineOptions &options) {
  static std::once_flag initTargets;
  std::call_once(initTargets, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });

  std::unique_ptr<CPUModule> result(new CPUModule());
  DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  dma::registerAllDialects(registry);
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  result->context = std::make_unique<MLIRContext>(registry);
  MLIRContext &ctx = *result->context;

  // Collect diagnostics into the error message instead of stderr.
  std::string diagnostics;
  llvm::raw_string_ostream diagStream(diagnostics);
  ScopedDiagnosticHandler handler(&ctx, [&](Diagnostic &diag) {
    diagStream << diag.getLocation() << ": " << diag << "\n";
    for (Diagnostic &note : diag.getNotes())
      diagStream << "  note: " << note << "\n";
    return success();
  });

  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(source, &ctx);
  if (!module)
    return makeError("failed to parse the module:\n" + diagnostics);

  // Entry points, looked up once the engine exists so that all code
  // generation happens here rather than at the first call.
  std::vector<std::string> entryPoints;
  module->walk([&](func::FuncOp func) {
    if (func->hasAttr("llvm.emit_c_interface"))
      entryPoints.push_back(("_mlir_ciface_" + func.getSymName()).str());
  });

  PassManager pm(&ctx);
  buildCPUPipeline(pm, options);
  if (failed(pm.run(*module)))
    return makeError("dma-cpu-pipeline failed:\n" + diagnostics);

  ExecutionEngineOptions engineOptions;
  result->optimizer = makeOptimizingTransformer(3, 0, nullptr);
  engineOptions.transformer = result->optimizer;
  auto engine = ExecutionEngine::create(*module, engineOptions);
  if (!engine)
    return makeError("JIT compilation failed: " +
                     llvm::toString(engine.takeError()) + "\n" + diagnostics);
  result->engine = std::move(*engine);
  for (const std::string &name : entryPoints)
    if (auto fn = result->engine->lookupPacked(name); !fn)
      return makeError("JIT compilation of " + name +
                       " failed: " + llvm::toString(fn.takeError()));
  return result;
}

llvm::Error CPUModule::call(llvm::StringRef func,
                            llvm::ArrayRef<MemRefArg> args) {
  // Build one StridedMemRefType-compatible descriptor per argument:
  // {allocated, aligned, offset, sizes[rank], strides[rank]}.
  std::vector<std::vector<int64_t>> descriptors;
  descriptors.reserve(args.size());
  for (const MemRefArg &arg : args) {
    size_t rank = arg.sizes.size();
    MemRefArg full = arg.strides.empty()
                         ? MemRefArg::contiguous(arg.data, arg.sizes)
                         : arg;
    if (full.strides.size() != rank)
      return makeError("memref argument has " + llvm::Twine(rank) +
                       " sizes but " + llvm::Twine(full.strides.size()) +
                       " strides");
    std::vector<int64_t> desc(3 + 2 * rank);
    std::memcpy(&desc[0], &full.data, sizeof(void *));
    std::memcpy(&desc[1], &full.data, sizeof(void *));
    desc[2] = 0;
    for (size_t i = 0; i < rank; ++i) {
      desc[3 + i] = full.sizes[i];
      desc[3 + rank + i] = full.strides[i];
    }
    descriptors.push_back(std::move(desc));
  }
  std::vector<void *> pointers(descriptors.size());
  std::vector<void *> packed(descriptors.size());
  for (size_t i = 0; i < descriptors.size(); ++i) {
    pointers[i] = descriptors[i].data();
    packed[i] = &pointers[i];
  }
  return engine->invokePacked(("_mlir_ciface_" + func).str(), packed);
}

llvm::Expected<void *> CPUModule::global(llvm::StringRef name) {
  return engine->lookup(name);
}
