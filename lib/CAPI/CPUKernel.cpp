//===- CPUKernel.cpp - one-op functions compiled for the C API ------------===//

#include "CPUKernel.h"
#include "dma/Runner/CPUModule.h"

#include "llvm/Support/raw_ostream.h"

#include <cstdio>
#include <memory>
#include <mutex>

using namespace mlir::dma;

namespace mlir::dma::capi {

int fail(char *error, size_t size, const std::string &message) {
  if (error && size)
    std::snprintf(error, size, "%s", message.c_str());
  return 1;
}

namespace {

const char *elementType(int32_t dtype) {
  switch (dtype) {
  case DMA_F32:
    return "f32";
  case DMA_I32:
    return "i32";
  case DMA_BOOL:
    return "i1";
  default:
    return nullptr;
  }
}

} // namespace

/// `memref<2x3xf32>` for the tensor, or an error.
bool memrefType(const Operand &op, int32_t wantDtype, std::string &type,
                std::string &error) {
  const dma_tensor &t = *op.tensor;
  if (t.ndim < 1 || t.ndim > 4) {
    error =
        op.name + " must have 1 to 4 dimensions, got " + std::to_string(t.ndim);
    return false;
  }
  if (t.dtype != wantDtype) {
    error = op.name + " must be " + elementType(wantDtype) + " on the CPU path";
    return false;
  }
  int64_t expected = 1;
  for (int d = t.ndim - 1; d >= 0; --d) {
    if (t.sizes[d] < 0) {
      error = op.name + " has a negative size";
      return false;
    }
    if (t.sizes[d] > 1 && t.strides[d] != expected) {
      error = op.name + " must be contiguous on the CPU path";
      return false;
    }
    expected *= t.sizes[d];
  }
  if (!t.data && expected > 0) {
    error = op.name + " has no data";
    return false;
  }
  std::ostringstream os;
  os << "memref<";
  for (int d = 0; d < t.ndim; ++d)
    os << t.sizes[d] << "x";
  os << elementType(wantDtype) << ">";
  type = os.str();
  return true;
}

namespace {

/// Compiled kernels by source. Never destroyed: the JIT must not be torn
/// down by static destructors at exit (CPUModule.h).
std::mutex cacheMutex;
std::map<std::string, std::unique_ptr<CPUModule>> *cache =
    new std::map<std::string, std::unique_ptr<CPUModule>>();

/// The verifier's own words from a compile error ("'dma.attention' op k head
/// dim (4) must equal q head dim (8)" -> "k head dim (4) must equal q head
/// dim (8)"); other errors whole.
std::string verifierMessage(const std::string &diagnostics) {
  size_t op = diagnostics.find("' op ");
  if (op == std::string::npos)
    return diagnostics;
  size_t begin = op + 5;
  size_t end = diagnostics.find('\n', begin);
  return "invalid arguments: " + diagnostics.substr(begin, end - begin);
}

} // namespace

int run(const Kernel &k, const std::string &op, char *error, size_t size) {
  std::string source = k.source(op);
  std::lock_guard<std::mutex> lock(cacheMutex);
  auto it = cache->find(source);
  if (it == cache->end()) {
    CPUPipelineOptions options;
    options.bufferizeFunctionBoundaries = true;
    llvm::Expected<std::unique_ptr<CPUModule>> module =
        CPUModule::compile(source, options);
    if (!module)
      return fail(error, size,
                  verifierMessage(llvm::toString(module.takeError())));
    it = cache->emplace(source, std::move(*module)).first;
  }
  std::vector<MemRefArg> args;
  for (const Operand &o : k.operands) {
    std::vector<int64_t> sizes(o.tensor->sizes,
                               o.tensor->sizes + o.tensor->ndim);
    args.push_back(MemRefArg::contiguous(o.tensor->data, sizes));
  }
  if (llvm::Error err = it->second->call("kernel", args))
    return fail(error, size, llvm::toString(std::move(err)));
  return 0;
}

} // namespace mlir::dma::capi
