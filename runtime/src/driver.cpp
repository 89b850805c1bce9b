//===- driver.cpp - the CUDA driver API, loaded at run time ---------------===//

#include "driver.h"

#include <dlfcn.h>

#include <mutex>

namespace dma {

#define DMA_STRINGIFY_EXPANDED(x) DMA_STRINGIFY(x)
#define DMA_STRINGIFY(x) #x

const Driver *driver(std::string &error) {
  static Driver table;
  static std::string loadError;
  static std::once_flag once;
  std::call_once(once, [] {
    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      const char *why = dlerror();
      loadError = std::string("the NVIDIA driver (libcuda.so.1) is not "
                              "installed or not on the loader path; the GPU "
                              "path needs a machine with an NVIDIA GPU and "
                              "driver (") +
                  (why ? why : "dlopen failed") + ")";
      return;
    }
#define DMA_DRIVER_LOAD(name)                                                  \
  table.name = reinterpret_cast<decltype(table.name)>(                         \
      dlsym(lib, DMA_STRINGIFY_EXPANDED(name)));                               \
  if (!table.name && loadError.empty())                                        \
    loadError = "the NVIDIA driver is too old: it lacks " DMA_STRINGIFY_EXPANDED( \
        name);
    DMA_DRIVER_FUNCTIONS(DMA_DRIVER_LOAD)
#undef DMA_DRIVER_LOAD
  });
  error = loadError;
  return loadError.empty() ? &table : nullptr;
}

} // namespace dma
