//===- bundle.cpp - kernel bundles: manifests and loaded kernels ----------===//
//
// A bundle is the directory dma-compile writes: manifest.json plus a cubin
// and a PTX per kernel. dma_runtime_open reads the manifest (each entry's
// parameters and grid expressions, checked here); a kernel is loaded into
// a CUDA context the first time a plan there names it.
//
//===----------------------------------------------------------------------===//

#include "internal.h"
#include "json.h"
#include "dma/GridExpr.h"
#include "dma/KernelDefaults.h"

#include <fstream>
#include <map>
#include <memory>
#include <sstream>

using namespace dma;

namespace {

std::string readFile(const std::string &path, bool &ok) {
  std::ifstream in(path, std::ios::binary);
  ok = static_cast<bool>(in);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

} // namespace

CUfunction dma::loadedIn(Variant &v, CUcontext ctx, std::string &error) {
  for (auto &[c, f] : v.loaded)
    if (c == ctx)
      return f;
  const Driver *drv = driver(error);
  if (!drv)
    return nullptr;
  ContextScope scope(drv, ctx);
  if (scope.result != CUDA_SUCCESS) {
    error = "cannot make the plan's CUDA context current: " +
            cudaMessage(scope.result);
    return nullptr;
  }
  CUmodule module = nullptr;
  CUresult r = CUDA_ERROR_FILE_NOT_FOUND;
  bool ok = false;
  std::string image = readFile(v.cubin, ok);
  if (ok)
    r = drv->cuModuleLoadData(&module, image.data());
  if (!ok || r != CUDA_SUCCESS) {
    std::string ptx = readFile(v.ptx, ok);
    if (!ok) {
      error = "cannot read " + v.cubin + " or " + v.ptx;
      return nullptr;
    }
    r = drv->cuModuleLoadData(&module, ptx.c_str());
    if (r != CUDA_SUCCESS) {
      error = "cannot load kernel " + v.kernel + ": " + cudaMessage(r);
      return nullptr;
    }
  }
  CUfunction function = nullptr;
  if ((r = drv->cuModuleGetFunction(&function, module, v.kernel.c_str())) !=
      CUDA_SUCCESS) {
    drv->cuModuleUnload(module);
    error = "kernel " + v.kernel + " missing from its module: " +
            cudaMessage(r);
    return nullptr;
  }
  if ((r = drv->cuFuncSetAttribute(
           function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
           static_cast<int>(v.sharedBytes))) != CUDA_SUCCESS) {
    drv->cuModuleUnload(module);
    error = "kernel " + v.kernel + " needs " + std::to_string(v.sharedBytes) +
            " bytes of shared memory: " + cudaMessage(r);
    return nullptr;
  }
  v.modules.push_back({ctx, module});
  v.loaded.push_back({ctx, function});
  return function;
}

namespace {

/// Stores the entry's grid expressions in `v`: empty when each parses and
/// names only integer parameters of the entry, the first problem otherwise.
std::string checkGrid(Variant &v, const std::vector<json::Value> &grid) {
  auto isInteger = [&](const std::string &n) {
    for (const auto &[name, kind] : v.params)
      if (name == n)
        return kind == "i32" || kind == "i64";
    return false;
  };
  for (int d = 0; d < 3; ++d) {
    v.grid[d] = grid[d].string;
    if (std::string why = checkGridNames(v.grid[d], isInteger); !why.empty())
      return why;
  }
  return "";
}

} // namespace

void dma::release(dma_runtime *rt) {
  if (!rt || --rt->references > 0)
    return;
  std::string unused;
  if (const Driver *drv = driver(unused))
    for (Variant &v : rt->variants)
      for (auto &[ctx, module] : v.modules) {
        ContextScope scope(drv, ctx);
        drv->cuModuleUnload(module);
      }
  delete rt;
}

//===----------------------------------------------------------------------===//
// Bundles
//===----------------------------------------------------------------------===//

extern "C" dma_runtime *dma_runtime_open(const char *bundleDir, char *error,
                                         size_t errorSize) {
  Error err(error, errorSize);
  if (!bundleDir) {
    err("no bundle directory given");
    return nullptr;
  }
  std::string dir = bundleDir;
  bool ok = false;
  std::string text = readFile(dir + "/manifest.json", ok);
  if (!ok) {
    err("cannot read " + dir + "/manifest.json (is " + dir +
        " a kernel bundle written by dma-compile?)");
    return nullptr;
  }
  auto rt = std::make_unique<dma_runtime>();
  rt->dir = dir;
  try {
    json::Value manifest = json::Parser(text).parse();
    if (manifest["format"].integer() != 1) {
      err("unsupported manifest format in " + dir);
      return nullptr;
    }
    // The manifest's forward_mma (dma-compile --mma, resolved for its
    // chip) says how its default variants are named; bundles before it
    // are mma.sync's.
    const json::Value &mma = manifest["forward_mma"];
    if (manifest["chip"].string == "sm_90a" && !mma.string.empty() &&
        mma.string != "mma_sync")
      rt->defaultArch = dma_defaults::kWgmmaArch;
    for (const json::Value &e : manifest["variants"].array) {
      Variant v;
      v.name = e["name"].string;
      v.kernel = e["kernel"].string;
      v.cubin = dir + "/" + e["cubin"].string;
      v.ptx = dir + "/" + e["ptx"].string;
      v.threads = e["threads"].integer();
      v.sharedBytes = e["shared_bytes"].integer();
      v.blockM = e["block_m"].integer();
      for (const json::Value &p : e["params"].array)
        v.params.push_back({p["name"].string, p["kind"].string});
      const std::vector<json::Value> &grid = e["grid"].array;
      std::string why = grid.size() == 3 ? checkGrid(v, grid) : "no grid";
      if (!why.empty()) {
        err(dir + "/manifest.json: entry '" + v.name + "': " + why +
            " (a bundle of an older dma-compile? recompile it)");
        return nullptr;
      }
      rt->variants.push_back(std::move(v));
    }
  } catch (const std::exception &e) {
    err(std::string("malformed ") + dir + "/manifest.json: " + e.what());
    return nullptr;
  }
  return rt.release();
}

extern "C" void dma_runtime_close(dma_runtime *rt) { release(rt); }

bool dma::contextOf(int ordinal, CUcontext &context, std::string &error) {
  const Driver *drv = driver(error);
  if (!drv)
    return false;
  CUresult r = drv->cuInit(0);
  if (r != CUDA_SUCCESS) {
    error = "cannot initialise CUDA: " + cudaMessage(r);
    return false;
  }
  if (ordinal < 0) {
    context = nullptr;
    drv->cuCtxGetCurrent(&context);
    if (context)
      return true;
    ordinal = 0;
  }
  // One retain per device for the process: PyTorch works in the same
  // primary contexts, so kernels loaded here serve its tensors.
  static std::mutex mutex;
  static std::map<int, CUcontext> primary;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = primary.find(ordinal);
  if (it != primary.end()) {
    context = it->second;
    return true;
  }
  CUdevice device;
  if ((r = drv->cuDeviceGet(&device, ordinal)) != CUDA_SUCCESS ||
      (r = drv->cuDevicePrimaryCtxRetain(&context, device)) != CUDA_SUCCESS) {
    error = "no CUDA device " + std::to_string(ordinal) + ": " +
            cudaMessage(r);
    return false;
  }
  primary[ordinal] = context;
  return true;
}
