//===- driver.h - the CUDA driver API, loaded at run time -----------------===//
//
// The runtime opens libcuda.so.1 itself on first use instead of linking it,
// so the library (and the Python package over it) loads on machines
// without an NVIDIA driver and says so clearly when a GPU call is made.
// cuda.h renames some entry points to versioned symbols (cuCtxPopCurrent
// -> cuCtxPopCurrent_v2); the member names and the dlsym strings below go
// through the same macros, so they always agree.
//
//===----------------------------------------------------------------------===//

#ifndef DMA_RUNTIME_DRIVER_H
#define DMA_RUNTIME_DRIVER_H

#include <cuda.h>

#include <string>

namespace dma {

#define DMA_DRIVER_FUNCTIONS(X)                                                \
  X(cuInit)                                                                    \
  X(cuGetErrorName)                                                            \
  X(cuGetErrorString)                                                          \
  X(cuCtxGetCurrent)                                                           \
  X(cuCtxSetCurrent)                                                           \
  X(cuCtxGetDevice)                                                            \
  X(cuCtxPushCurrent)                                                          \
  X(cuCtxPopCurrent)                                                           \
  X(cuDeviceGet)                                                               \
  X(cuDevicePrimaryCtxRetain)                                                  \
  X(cuModuleLoadData)                                                          \
  X(cuModuleUnload)                                                            \
  X(cuModuleGetFunction)                                                       \
  X(cuFuncSetAttribute)                                                        \
  X(cuPointerGetAttribute)                                                     \
  X(cuLaunchKernel)                                                            \
  X(cuMemAllocAsync)                                                           \
  X(cuMemsetD32Async)                                                          \
  X(cuMemFreeAsync)

struct Driver {
#define DMA_DRIVER_MEMBER(name) decltype(&::name) name = nullptr;
  DMA_DRIVER_FUNCTIONS(DMA_DRIVER_MEMBER)
#undef DMA_DRIVER_MEMBER
};

/// The driver's entry points, or null with `error` saying why (no driver
/// installed, or one too old for an entry point).
const Driver *driver(std::string &error);

} // namespace dma

#endif
