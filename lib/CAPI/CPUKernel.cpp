//===- CPUKernel.cpp - one-op functions compiled for the C API ------------===//

#include "CPUKernel.h"
#include "dma/Runner/CPUModule.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdio>
#include <cstdlib>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>

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
  int64_t elements = 1;
  for (int d = 0; d < t.ndim; ++d) {
    if (t.sizes[d] < 0) {
      error = op.name + " has a negative size";
      return false;
    }
    elements *= t.sizes[d];
  }
  // An empty tensor has no element to address: its strides (often 0 or
  // anything a framework picked) say nothing about contiguity.
  int64_t expected = 1;
  for (int d = t.ndim - 1; d >= 0 && elements > 0; --d) {
    if (t.sizes[d] > 1 && t.strides[d] != expected) {
      error = op.name + " must be contiguous on the CPU path";
      return false;
    }
    expected *= t.sizes[d];
  }
  if (!t.data && elements > 0) {
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

/// Compiled kernels by source, least recently used first. Each holds its
/// own MLIRContext and JIT (~2 MB), so a caller that sees many shapes
/// would grow without bound: at most kernelCacheCapacity() stay, the
/// least recently used is dropped (and compiled again when it returns).
/// Never destroyed itself: the JIT must not be torn down by static
/// destructors at exit (CPUModule.h).
struct KernelCache {
  std::list<std::pair<std::string, std::unique_ptr<CPUModule>>> entries;
  std::unordered_map<std::string, decltype(entries)::iterator> index;
};
std::mutex cacheMutex;
KernelCache *cache = new KernelCache();

/// DMA_CPU_KERNEL_CACHE, the most compiled kernels kept (default 64), or
/// an error for a value that is not a positive integer. Read at every
/// call, so a process can change it (and a test can shrink it).
bool kernelCacheCapacity(size_t &capacity, std::string &error) {
  capacity = 64;
  const char *env = std::getenv("DMA_CPU_KERNEL_CACHE");
  if (!env || !*env)
    return true;
  unsigned long long n = 0;
  if (llvm::StringRef(env).trim().getAsInteger(10, n) || n == 0) {
    error = std::string("DMA_CPU_KERNEL_CACHE must be a positive integer "
                        "(the most compiled kernels kept), got '") +
            env + "'";
    return false;
  }
  capacity = static_cast<size_t>(n);
  return true;
}

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
  size_t capacity = 0;
  std::string message;
  if (!kernelCacheCapacity(capacity, message))
    return fail(error, size, message);
  // One lock over the lookup and the call: an entry is never evicted while
  // another thread runs it.
  std::lock_guard<std::mutex> lock(cacheMutex);
  auto found = cache->index.find(source);
  if (found != cache->index.end()) {
    // Most recently used last.
    cache->entries.splice(cache->entries.end(), cache->entries,
                          found->second);
  } else {
    CPUPipelineOptions options;
    options.bufferizeFunctionBoundaries = true;
    llvm::Expected<std::unique_ptr<CPUModule>> module =
        CPUModule::compile(source, options);
    if (!module)
      return fail(error, size,
                  verifierMessage(llvm::toString(module.takeError())));
    cache->entries.emplace_back(source, std::move(*module));
    cache->index[source] = std::prev(cache->entries.end());
  }
  while (cache->entries.size() > capacity) {
    cache->index.erase(cache->entries.front().first);
    cache->entries.pop_front();
  }
  std::vector<MemRefArg> args;
  for (const Operand &o : k.operands) {
    std::vector<int64_t> sizes(o.tensor->sizes,
                               o.tensor->sizes + o.tensor->ndim);
    args.push_back(MemRefArg::contiguous(o.tensor->data, sizes));
  }
  if (llvm::Error err = cache->entries.back().second->call("kernel", args))
    return fail(error, size, llvm::toString(std::move(err)));
  return 0;
}

size_t cachedKernels() {
  std::lock_guard<std::mutex> lock(cacheMutex);
  return cache->entries.size();
}

} // namespace mlir::dma::capi

extern "C" size_t dma_cpu_kernel_cache_size(void) {
  return mlir::dma::capi::cachedKernels();
}
