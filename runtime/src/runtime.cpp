//===- runtime.cpp - load kernel bundles, build and launch plans ----------===//
//
// The CUDA driver API only. A bundle is the directory dma-compile writes:
// manifest.json plus a cubin and a PTX per kernel. A plan (internal.h)
// names the kernels it launches; they are loaded into the plan's CUDA
// context when the plan is built, so a launch only packs parameters and
// calls cuLaunchKernel (or cuMemsetD32Async) for each step.
//
//===----------------------------------------------------------------------===//

#include "internal.h"
#include "json.h"
#include "dma/GridExpr.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

using namespace dma;

//===----------------------------------------------------------------------===//
// Small helpers
//===----------------------------------------------------------------------===//

int Error::operator()(const std::string &message) {
  if (buffer && size)
    std::snprintf(buffer, size, "%s", message.c_str());
  return 1;
}

Arg Arg::slotAt(int s, int64_t offset) {
  Arg a;
  a.kind = Slot;
  a.slot = s;
  a.offset = offset;
  return a;
}
Arg Arg::i32Of(int64_t v) {
  Arg a;
  a.kind = I32;
  a.value.i32 = static_cast<int32_t>(v);
  return a;
}
Arg Arg::i64Of(int64_t v) {
  Arg a;
  a.kind = I64;
  a.value.i64 = v;
  return a;
}
Arg Arg::f32Of(float v) {
  Arg a;
  a.kind = F32;
  a.value.f32 = v;
  return a;
}

std::string dma::cudaMessage(CUresult r) {
  const char *name = nullptr, *text = nullptr;
  std::string unused;
  const Driver *drv = driver(unused);
  if (!drv)
    return "CUDA error " + std::to_string(static_cast<int>(r));
  drv->cuGetErrorName(r, &name);
  drv->cuGetErrorString(r, &text);
  return std::string(name ? name : "CUDA error") + ": " +
         (text ? text : "unknown");
}

const char *dma::dtypeName(int32_t d) {
  switch (d) {
  case DMA_F32:
    return "f32";
  case DMA_F16:
    return "f16";
  case DMA_BF16:
    return "bf16";
  case DMA_BOOL:
    return "bool";
  case DMA_I32:
    return "i32";
  case DMA_I64:
    return "i64";
  }
  return "unknown";
}

int64_t dma::dtypeBytes(int32_t d) {
  switch (d) {
  case DMA_F32:
  case DMA_I32:
    return 4;
  case DMA_F16:
  case DMA_BF16:
    return 2;
  case DMA_BOOL:
    return 1;
  default:
    return 8;
  }
}

std::string dma::shapeOf(const dma_tensor &t) {
  std::string s = "[";
  for (int i = 0; i < t.ndim; ++i)
    s += (i ? ", " : "") + std::to_string(t.sizes[i]);
  return s + "]";
}

int64_t dma::strideOf(const dma_tensor &t, int d) {
  return t.sizes[d] == 1 ? 0 : t.strides[d];
}

int64_t dma::numel(const dma_tensor &t) {
  int64_t n = 1;
  for (int d = 0; d < t.ndim; ++d)
    n *= t.sizes[d];
  return n;
}

bool dma::isContiguous(const dma_tensor &t) {
  int64_t stride = 1;
  for (int d = t.ndim - 1; d >= 0; --d) {
    if (t.sizes[d] != 1 && t.strides[d] != stride)
      return false;
    stride *= t.sizes[d];
  }
  return true;
}

int64_t dma::ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

namespace {

std::string readFile(const std::string &path, bool &ok) {
  std::ifstream in(path, std::ios::binary);
  ok = static_cast<bool>(in);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Pushes `ctx` for the scope unless it is current already.
class ContextScope {
public:
  ContextScope(const Driver *drv, CUcontext ctx) : drv(drv) {
    CUcontext current = nullptr;
    drv->cuCtxGetCurrent(&current);
    if (current != ctx) {
      result = drv->cuCtxPushCurrent(ctx);
      pushed = result == CUDA_SUCCESS;
    }
  }
  ~ContextScope() {
    CUcontext ignored;
    if (pushed)
      drv->cuCtxPopCurrent(&ignored);
  }
  CUresult result = CUDA_SUCCESS;

private:
  const Driver *drv;
  bool pushed = false;
};

/// The variant's kernel in `ctx`, loading its module on first use (the
/// cubin, or the PTX for the driver to compile when the cubin is for
/// another chip). Called with the runtime's mutex held.
CUfunction loadedIn(Variant &v, CUcontext ctx, std::string &error) {
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

/// Stores the entry's grid expressions in `v`: empty when each parses and
/// names only integer parameters of the entry, the first problem otherwise.
std::string checkGrid(Variant &v, const std::vector<json::Value> &grid) {
  for (int d = 0; d < 3; ++d) {
    v.grid[d] = grid[d].string;
    std::string why;
    std::optional<std::vector<std::string>> names = gridSymbols(v.grid[d], why);
    if (!names)
      return why;
    for (const std::string &n : *names) {
      bool integer = false;
      for (const auto &[name, kind] : v.params)
        integer |= name == n && (kind == "i32" || kind == "i64");
      if (!integer)
        return "grid '" + v.grid[d] + "' names '" + n +
               "', not an integer parameter";
    }
  }
  return "";
}

void release(dma_runtime *rt) {
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

} // namespace

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

//===----------------------------------------------------------------------===//
// Building plans
//===----------------------------------------------------------------------===//

PlanBuilder::PlanBuilder(dma_runtime *rt, int device,
                         std::initializer_list<const char *> slotNames)
    : rt(rt), device(device) {
  for (const char *n : slotNames) {
    SlotRule s;
    s.name = n;
    slots.push_back(s);
  }
}

void PlanBuilder::use(int s, const dma_tensor *t, int64_t align) {
  if (!t)
    return;
  SlotRule &rule = slots.at(s);
  rule.used = true;
  rule.nullable = numel(*t) == 0;
  rule.align = std::max(rule.align, align);
}

int64_t PlanBuilder::reserve(int64_t bytes) {
  hasWorkspace = true;
  int64_t offset = workspaceBytes;
  workspaceBytes += ceilDiv(bytes, 256) * 256;
  return offset;
}

Arg PlanBuilder::workspace(int64_t offset) const {
  return Arg::slotAt(static_cast<int>(slots.size()) - 1, offset);
}

bool PlanBuilder::has(const std::string &name) const {
  for (const Variant &v : rt->variants)
    if (v.name == name)
      return true;
  return false;
}

int64_t PlanBuilder::blockOf(const std::string &name) const {
  for (const Variant &v : rt->variants)
    if (v.name == name)
      return v.blockM;
  return 0;
}

/// The most parameters a kernel takes (the launch packs them on the stack).
constexpr size_t kMaxParams = 128;

bool PlanBuilder::kernel(const std::string &name, const Args &args,
                         std::string &error, bool run) {
  Variant *variant = nullptr;
  for (Variant &cand : rt->variants)
    if (cand.name == name)
      variant = &cand;
  if (!variant) {
    error = "no variant '" + name + "' in bundle " + rt->dir +
            "; add it with: dma-compile -o " + rt->dir + " --variant " + name;
    return false;
  }
  // The grid over the parameters' values (the manifest checked at open
  // that its expressions name only integer parameters).
  int64_t grid[3];
  for (int d = 0; d < 3; ++d) {
    std::string why;
    std::optional<int64_t> g = evaluateGrid(
        variant->grid[d],
        [&](const std::string &p) -> std::optional<int64_t> {
          auto it = args.find(p);
          if (it == args.end())
            return std::nullopt;
          return it->second.kind == Arg::I32 ? it->second.value.i32
                                             : it->second.value.i64;
        },
        why);
    if (!g) {
      error = "bundle kernel " + variant->kernel + ": " + why;
      return false;
    }
    // CUDA's limits: x below 2^31, y and z at most 65535.
    int64_t limit = d == 0 ? INT32_MAX : 65535;
    if (*g > limit) {
      error = "the grid of " + variant->kernel + " is too large (" +
              std::to_string(*g) + " CTAs in dimension " + "xyz"[d] +
              ", at most " + std::to_string(limit) + ")";
      return false;
    }
    grid[d] = *g;
  }
  Step step;
  step.kernel = variant->kernel;
  for (int d = 0; d < 3; ++d)
    step.grid[d] = static_cast<unsigned>(grid[d]);
  step.threads = static_cast<unsigned>(variant->threads);
  step.sharedBytes = static_cast<unsigned>(variant->sharedBytes);
  if (variant->params.size() > kMaxParams) {
    error = "kernel " + variant->kernel + " takes more than " +
            std::to_string(kMaxParams) + " parameters";
    return false;
  }
  for (const auto &[pname, kind] : variant->params) {
    auto it = args.find(pname);
    if (it == args.end()) {
      error = "bundle kernel " + variant->kernel + " wants parameter '" +
              pname + "' this runtime does not know (bundle too new?)";
      return false;
    }
    step.params.push_back(it->second);
  }
  if (!haveContext(error))
    return false;
  std::lock_guard<std::mutex> lock(rt->mutex);
  step.function = loadedIn(*variant, context, error);
  if (!step.function)
    return false;
  if (run && grid[0] > 0 && grid[1] > 0 && grid[2] > 0)
    steps.push_back(std::move(step));
  return true;
}

void PlanBuilder::memset32(Arg target, int64_t words, uint32_t fill) {
  if (words <= 0)
    return;
  Step step;
  step.kind = Step::Memset32;
  step.target = target;
  step.words = words;
  step.fill = fill;
  steps.push_back(std::move(step));
}

bool PlanBuilder::haveContext(std::string &error) {
  return context || contextOf(device, context, error);
}

dma_plan *PlanBuilder::finish(std::string &error) {
  if (!haveContext(error))
    return nullptr;
  auto plan = std::make_unique<dma_plan>();
  plan->runtime = rt;
  plan->context = context;
  plan->slots = std::move(slots);
  if (hasWorkspace) {
    SlotRule &w = plan->slots.back();
    w.used = workspaceBytes > 0;
    w.nullable = false;
    w.align = 16; // its pieces start 256 bytes apart
  }
  plan->steps = std::move(steps);
  plan->workspaceBytes = workspaceBytes;
  ++rt->references;
  return plan.release();
}

//===----------------------------------------------------------------------===//
// Launching plans
//===----------------------------------------------------------------------===//

extern "C" int dma_plan_slots(const dma_plan *plan) {
  return plan ? static_cast<int>(plan->slots.size()) : 0;
}

extern "C" int64_t dma_plan_workspace_bytes(const dma_plan *plan) {
  return plan ? plan->workspaceBytes : 0;
}

extern "C" void dma_plan_destroy(dma_plan *plan) {
  if (!plan)
    return;
  release(plan->runtime);
  delete plan;
}

extern "C" int dma_plan_launch(const dma_plan *plan, void *const *data,
                               void *stream, char *error, size_t errorSize) {
  Error err(error, errorSize);
  if (!plan)
    return err("no plan (building it failed?)");
  // What can change between launches of one plan: the pointers. Present
  // and aligned as the kernels need; their device is the caller's promise.
  for (size_t i = 0; i < plan->slots.size(); ++i) {
    const SlotRule &s = plan->slots[i];
    if (!s.used)
      continue;
    auto p = reinterpret_cast<uintptr_t>(data[i]);
    if (!p) {
      if (s.nullable)
        continue;
      return err(s.name + " has no data (a null pointer)");
    }
    if (p % static_cast<uintptr_t>(s.align))
      return err(s.name + " must start " + std::to_string(s.align) +
                 "-byte aligned (copy it into a fresh contiguous tensor)");
  }
  std::string message;
  const Driver *drv = driver(message);
  if (!drv)
    return err(message);
  ContextScope scope(drv, plan->context);
  if (scope.result != CUDA_SUCCESS)
    return err("cannot make the plan's CUDA context current: " +
               cudaMessage(scope.result));
  auto address = [&](const Arg &a) {
    return static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(data[a.slot]) +
                                    a.offset);
  };
  CUstream s = static_cast<CUstream>(stream);
  for (const Step &step : plan->steps) {
    CUresult r;
    if (step.kind == Step::Memset32) {
      r = drv->cuMemsetD32Async(address(step.target), step.fill,
                                static_cast<size_t>(step.words), s);
      if (r != CUDA_SUCCESS)
        return err("clearing the workspace failed: " + cudaMessage(r));
      continue;
    }
    uint64_t values[kMaxParams];
    void *args[kMaxParams];
    for (size_t i = 0; i < step.params.size(); ++i) {
      const Arg &a = step.params[i];
      values[i] = 0;
      switch (a.kind) {
      case Arg::Slot:
        values[i] = address(a);
        break;
      case Arg::I32:
        std::memcpy(&values[i], &a.value.i32, 4);
        break;
      case Arg::I64:
        std::memcpy(&values[i], &a.value.i64, 8);
        break;
      case Arg::F32:
        std::memcpy(&values[i], &a.value.f32, 4);
        break;
      }
      args[i] = &values[i];
    }
    r = drv->cuLaunchKernel(step.function, step.grid[0], step.grid[1],
                            step.grid[2], step.threads, 1, 1,
                            step.sharedBytes, s, args, nullptr);
    if (r != CUDA_SUCCESS)
      return err("launching " + step.kernel + " failed: " + cudaMessage(r));
  }
  return 0;
}

int dma::launchOnce(dma_plan *plan,
                    std::initializer_list<const dma_tensor *> tensors,
                    void *workspace, void *stream, Error &err) {
  std::vector<void *> data;
  for (const dma_tensor *t : tensors)
    data.push_back(t ? t->data : nullptr);
  if (plan->workspaceBytes > 0)
    data.push_back(workspace);
  data.resize(plan->slots.size(), nullptr);
  // The one-shot entry points take any pointer: check it is device memory
  // of the plan's device (plans leave that to their callers).
  std::string message;
  const Driver *drv = driver(message);
  if (!drv)
    return err(message);
  ContextScope scope(drv, plan->context);
  CUdevice current;
  bool known = drv->cuCtxGetDevice(&current) == CUDA_SUCCESS;
  for (size_t i = 0; known && i < plan->slots.size(); ++i) {
    if (!plan->slots[i].used || !data[i])
      continue;
    auto p = static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(data[i]));
    unsigned memType = 0;
    CUresult r = drv->cuPointerGetAttribute(
        &memType, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, p);
    if (r != CUDA_SUCCESS ||
        (memType != CU_MEMORYTYPE_DEVICE && memType != CU_MEMORYTYPE_UNIFIED))
      return err("tensor '" + plan->slots[i].name +
                 "' is not in GPU memory (move it to the CUDA device first)");
    int ordinal = -1;
    if (drv->cuPointerGetAttribute(&ordinal,
                                   CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL,
                                   p) == CUDA_SUCCESS &&
        ordinal != static_cast<int>(current))
      return err("tensor '" + plan->slots[i].name + "' is on device " +
                 std::to_string(ordinal) + " but the current device is " +
                 std::to_string(current));
  }
  // A plan that needs a workspace and got none (the one-shot forward of a
  // dense mask: its block summary): stream-ordered scratch for this call.
  CUdeviceptr scratch = 0;
  CUstream s = static_cast<CUstream>(stream);
  if (plan->workspaceBytes > 0 && !workspace) {
    CUresult r = drv->cuMemAllocAsync(
        &scratch, static_cast<size_t>(plan->workspaceBytes), s);
    if (r != CUDA_SUCCESS)
      return err("allocating " + std::to_string(plan->workspaceBytes) +
                 " bytes of workspace failed: " + cudaMessage(r));
    data[plan->slots.size() - 1] =
        reinterpret_cast<void *>(static_cast<uintptr_t>(scratch));
  }
  char buffer[1024] = {0};
  int rc = dma_plan_launch(plan, data.data(), stream, buffer, sizeof buffer);
  if (scratch)
    drv->cuMemFreeAsync(scratch, s);
  if (rc)
    return err(buffer);
  return 0;
}
