//===- internal.h - what the runtime's files share ------------------------===//
//
// A call of the runtime is a *plan* (built once per shapes, dtypes,
// strides, options and device) and its *launches*. Building a plan checks
// every argument, loads the kernel variants it needs and lays out each
// kernel's parameters; a parameter is either a value known when the plan
// is built (sizes, strides, the scale) or a data pointer that a launch
// passes (a *slot*: a tensor of the builder's argument list, plus a byte
// offset for the pieces of the workspace). attention.cpp and mask.cpp
// build plans; bundle.cpp reads manifests and loads kernels, plan.cpp
// evaluates grids and launches plans, helpers.cpp holds what all share.
//
//===----------------------------------------------------------------------===//

#ifndef DMA_RUNTIME_INTERNAL_H
#define DMA_RUNTIME_INTERNAL_H

#include "dma_runtime.h"
#include "driver.h"

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace dma {

/// Writes a message into the caller's buffer; returns 1 (the C API's
/// failure code) so `return err(...)` reads naturally.
class Error {
public:
  Error(char *buffer, size_t size) : buffer(buffer), size(size) {}
  int operator()(const std::string &message);

private:
  char *buffer;
  size_t size;
};

/// A kernel parameter: a value, or the data pointer of slot `slot` plus
/// `offset` bytes.
struct Arg {
  enum Kind : uint8_t { Slot, I32, I64, F32 } kind = I64;
  int32_t slot = -1;
  int64_t offset = 0;
  union {
    int32_t i32;
    int64_t i64;
    float f32;
  } value{};

  static Arg slotAt(int s, int64_t offset = 0);
  static Arg i32Of(int64_t v);
  static Arg i64Of(int64_t v);
  static Arg f32Of(float v);
};

/// The parameters of a plan's kernels by their manifest names.
using Args = std::map<std::string, Arg>;

/// One kernel of a bundle; loaded into a CUDA context on first use.
struct Variant {
  std::string name, kernel, cubin, ptx;
  int64_t threads = 0, sharedBytes = 0, blockM = 0;
  std::vector<std::pair<std::string, std::string>> params; // name, kind
  /// Grid x, y, z: expressions over the integer parameters (GridExpr.h),
  /// as the kernel's emitter wrote them.
  std::array<std::string, 3> grid;
  std::vector<std::pair<CUcontext, CUfunction>> loaded;    // per context
  std::vector<std::pair<CUcontext, CUmodule>> modules;
};

/// What a launch does, in order: zero-fill 32-bit words, or run a kernel.
struct Step {
  enum Kind { Kernel, Memset32 } kind = Kernel;
  // Kernel:
  CUfunction function = nullptr;
  std::string kernel; // for messages
  unsigned grid[3] = {1, 1, 1};
  unsigned threads = 0, sharedBytes = 0;
  std::vector<Arg> params;
  // Memset32: `words` words of `value` from `target` on.
  Arg target;
  uint32_t fill = 0;
  int64_t words = 0;
};

/// What a launch checks of a slot's pointer.
struct SlotRule {
  std::string name;
  bool used = false;     // some step reads or writes it
  bool nullable = false; // empty tensors may have no storage
  int64_t align = 1;     // bytes
};

} // namespace dma

struct dma_runtime {
  std::string dir;
  /// The compute capability whose default tiles the bundle's variants are
  /// named by (dma_defaults::kWgmmaArch for an sm_90a bundle of wgmma
  /// forwards, else 0: mma.sync's), for calls that give no `arch`.
  int defaultArch = 0;
  std::vector<dma::Variant> variants;
  std::mutex mutex; // guards loading
  std::atomic<int> references{1}; // the opener's, one per live plan
};

struct dma_plan {
  dma_runtime *runtime = nullptr;
  CUcontext context = nullptr;
  std::vector<dma::SlotRule> slots;
  std::vector<dma::Step> steps;
  int64_t workspaceBytes = 0;
};

namespace dma {

/// The CUDA context of device `ordinal` (its primary context, as PyTorch
/// uses), or of the current context when `ordinal` < 0 (device 0's
/// primary context when the thread has none). False with `error` set when
/// there is no driver or device.
bool contextOf(int ordinal, CUcontext &context, std::string &error);

/// A plan under construction: slot rules, steps and the workspace layout.
class PlanBuilder {
public:
  /// A plan of `rt`'s kernels for CUDA device `device` (contextOf's
  /// ordinal): the context is taken when the first kernel is found, so a
  /// variant missing from the bundle is reported on any machine.
  PlanBuilder(dma_runtime *rt, int device,
              std::initializer_list<const char *> slotNames);

  /// Marks slot `s` (tensor `t`, may be null when absent) as used, with
  /// the alignment its kernels need.
  void use(int s, const dma_tensor *t, int64_t align);
  /// Reserves `bytes` of workspace (256-byte aligned); its byte offset.
  int64_t reserve(int64_t bytes);
  /// The workspace's slot (the last one) at `offset` bytes.
  Arg workspace(int64_t offset) const;
  /// Adds a launch of variant `name` with its parameters taken from `args`
  /// by name and its grid evaluated from the manifest's grid expressions
  /// over them; false with `error` set if the bundle lacks the variant, it
  /// does not load, or it wants a parameter `args` lacks. A grid with a
  /// zero dimension, or `run` false, adds nothing (no work) once the
  /// variant is found.
  bool kernel(const std::string &name, const Args &args, std::string &error,
              bool run = true);
  /// Adds a fill of `words` 32-bit words of `fill` at `target`.
  void memset32(Arg target, int64_t words, uint32_t fill = 0);
  /// The variant's block_m (rows, keys or elements per CTA), or 0.
  int64_t blockOf(const std::string &name) const;
  /// Whether the bundle has variant `name`.
  bool has(const std::string &name) const;
  /// The finished plan (the runtime gains a reference), or null with
  /// `error` set when there is no CUDA context for the device.
  dma_plan *finish(std::string &error);

private:
  bool haveContext(std::string &error);

  dma_runtime *rt;
  int device;
  CUcontext context = nullptr;
  std::vector<SlotRule> slots;
  std::vector<Step> steps;
  int64_t workspaceBytes = 0;
  bool hasWorkspace = false;
};

// Shared helpers of the argument checks.
const char *dtypeName(int32_t dtype);
int64_t dtypeBytes(int32_t dtype);
std::string shapeOf(const dma_tensor &t);
/// Stride of dimension d in elements, 0 when it broadcasts (size 1).
int64_t strideOf(const dma_tensor &t, int d);
int64_t numel(const dma_tensor &t);
/// Row-major without gaps (size-1 dimensions may have any stride).
bool isContiguous(const dma_tensor &t);
int64_t ceilDiv(int64_t a, int64_t b);
std::string cudaMessage(CUresult r);

/// The variant's kernel in `ctx`, loading its module on first use (the
/// cubin, or the PTX for the driver to compile when the cubin is for
/// another chip). Called with the runtime's mutex held.
CUfunction loadedIn(Variant &v, CUcontext ctx, std::string &error);

/// Drops a reference to `rt`; the last one unloads its modules.
void release(dma_runtime *rt);

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

/// `plan.finish()`, its error written into `err`.
inline dma_plan *finished(PlanBuilder &plan, Error &err) {
  std::string message;
  dma_plan *p = plan.finish(message);
  if (!p)
    err(message);
  return p;
}

/// Runs a plan once on the tensors' own data pointers (the one-shot entry
/// points), with `workspace` for its workspace slot; checks that every
/// pointer is device memory of the plan's device first.
int launchOnce(dma_plan *plan, std::initializer_list<const dma_tensor *> slots,
               void *workspace, void *stream, Error &err);

} // namespace dma

#endif
