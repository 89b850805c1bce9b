//===- plan.cpp - building and launching plans ----------------------------===//
//
// A plan (internal.h) names the kernels it launches; they are loaded into
// the plan's CUDA context when the plan is built, so a launch only packs
// parameters and calls cuLaunchKernel (or cuMemsetD32Async) for each step.
// The grid of each step is the manifest's grid expressions evaluated over
// the plan's parameter values.
//
//===----------------------------------------------------------------------===//

#include "internal.h"
#include "dma/GridExpr.h"

#include <cstring>
#include <memory>
#include <mutex>

using namespace dma;

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
          if (it == args.end() || it->second.kind == Arg::Slot ||
              it->second.kind == Arg::F32)
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
