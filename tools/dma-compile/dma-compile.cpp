//===- dma-compile.cpp - write kernel bundles ------------------------------===//
//
// Compiles attention variants through --dma-gpu-pipeline and writes a kernel
// bundle: per variant the cubin and the PTX, plus one manifest.json with the
// kernel names, launch ABI (parameters in order, grid, block, dynamic shared
// memory), configuration, ptxas resource usage, compiler version and chip.
// The runtime (runtime/) and the Python package load bundles; nothing of
// MLIR is needed where they run.
//
//   dma-compile -o DIR --variant dtype=bf16,d=128,mask=keep,bias=key,causal=1
//   dma-compile -o DIR --shipped          # the variants every bundle ships
//
// A variant with register spills is retried with smaller steps (fewer rows
// per warp, fewer queries per backward step; not with --keep-tiles) and
// fails unless --allow-spills is given. The warp-grid backward keeps its
// tiles with up to kWarpGridSpillLimit bytes of spills (measured faster).
//
//===----------------------------------------------------------------------===//

#include "dma/Conversion/DMAToGPU/BackwardKernel.h"
#include "dma/Conversion/DMAToGPU/GPUChips.h"
#include "dma/Conversion/DMAToGPU/MaskKernels.h"
#include "dma/Conversion/DMAToGPU/MaskSummaryKernel.h"
#include "dma/InitAll.h"
#include "dma/KernelDefaults.h"
#include "dma/Pipelines/Pipelines.h"
#include "dma/Utils/ToolMain.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MD5.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/Regex.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <csignal>
#include <map>
#include <set>
#include <optional>
#include <string>
#include <thread>

using namespace mlir;
namespace cl = llvm::cl;

static cl::opt<std::string> outputDir("o", cl::desc("Bundle directory"),
                                      cl::value_desc("dir"), cl::Required);
static cl::list<std::string>
    variantSpecs("variant",
                 cl::desc("A variant: comma-separated key=value of kind "
                          "(fwd|bwd|value_bias|value_bias_bwd|topk), dtype "
                          "(bf16|f16), d, "
                          "dv, mask (none|keep|mask|keep_rows), bias "
                          "(none|key|full), causal (0|1), softcap (0|1), "
                          "q_tile, k_tile, deterministic (0|1, kind=bwd); "
                          "form (log|exp), dt_bias (0|1) "
                          "for value_bias(_bwd); selection (shared|per_query), "
                          "padding (0|1) for topk"));
static cl::opt<bool> shipped("shipped",
                             cl::desc("Add the variants every bundle ships"));
static cl::list<int64_t>
    headDims("head-dims",
             cl::desc("With --shipped: only the shipped variants of these "
                      "head dims (comma-separated; default: every shipped "
                      "one, 64, 80, 96, 128, 192, 256)"),
             cl::CommaSeparated);
static cl::opt<std::string> chip("chip", cl::desc("GPU architecture"),
                                 cl::init("sm_90a"));
static cl::opt<std::string> toolkit("toolkit",
                                    cl::desc("CUDA toolkit (default: "
                                             "$CUDA_HOME or /usr/local/cuda)"),
                                    cl::init(""));
static cl::opt<int> warps("warps",
                         cl::desc("Warps per CTA of every variant (0: the "
                                  "generator's choice per variant)"),
                         cl::init(0));
static cl::opt<int> rankChunk(
    "rank-chunk",
    cl::desc("Keys per chunk the per-query backward orders by score (every "
             "per-query backward variant; recorded in the manifest)"),
    cl::init(512));
static cl::opt<int> stages("stages",
                          cl::desc("K/V tiles in flight (2 to 4) for every "
                                   "variant"),
                          cl::init(2));
/// Spill bytes the warp-grid backward may have and keep its tiles.
constexpr int64_t kWarpGridSpillLimit = 128;
/// Likewise for the per-query top-k's (ranked key tiles): its per-column
/// thresholds and per-key scores spill 280 bytes at d = 128, and it still
/// runs fwd+bwd in 2.15 / 4.56 ms against 2.43 / 5.21 ms at 32-query steps
/// of the key-rows loop (L = 4096 / 8192, probe_per_query.py, run 46).
constexpr int64_t kPerQueryWarpGridSpillLimit = 320;
/// Bytes a shipped backward may spill at 32-query steps before halving
/// (the per-query backward over ranked key tiles at d = 128 spills 20 there
/// and runs fwd+bwd in 2.55 ms against 2.96 ms at 16-query steps, L = 4096,
/// run 42).
constexpr int64_t kKeyRowsSpillLimit = 24;
/// Bytes a forward may spill and keep two 16-row tiles per warp (the
/// per-query top-k forward at d = 128, 128 x 32 tiles, spills 28 there and
/// runs in 0.413 ms against 0.473 ms at one row tile per warp, L = 4096,
/// run 45).
constexpr int64_t kTwoRowTilesSpillLimit = 32;
/// Bytes the shared top-k may spill (512 threads cap it at 128 registers;
/// with 32 keys per thread in registers and its early-exit radix passes it
/// spills 4 and runs in 11.3 us against 12.7 us before, L = 4096, run 46).
constexpr int64_t kTopKSharedSpillLimit = 8;

static cl::opt<bool> allowSpills("allow-spills",
                                 cl::desc("Accept variants that spill"));
static cl::opt<unsigned> ptxasTimeout(
    "ptxas-timeout",
    cl::desc("Seconds each ptxas run may take before it is killed and its "
             "variant fails (0: no limit)"),
    cl::init(300));
static cl::opt<bool>
    keepTiles("keep-tiles",
              cl::desc("Never fall back to smaller tiles when a variant "
                       "spills (with --allow-spills: keep it spilling)"));

namespace {

/// A bundle holds kernels of one compiler version: bump it whenever a
/// kernel's interface changes (parameters, grid, roles), so that manifest
/// merges and the runtime's users never mix old entries with new plans.
constexpr const char *kCompilerVersion = "dma 0.3.0 (MLIR/LLVM 22)";

struct Variant {
  // fwd | bwd (attention), value_bias | topk (mask generation)
  std::string kind = "fwd";
  std::string dtype = "bf16", mask = "none", bias = "none";
  // Tiles 0 take the runtime's defaults (dma_runtime.h).
  int64_t d = 128, dv = 0, qTile = 0, kTile = 0;
  // value_bias: the score form and whether dt_bias is given; topk: shared
  // or per_query, and whether a key padding mask is given.
  std::string form = "log", selection = "shared";
  bool dtBias = true, padding = false;
  // kind=bwd: the deterministic backward (convert-dma-tiles-to-gpu).
  bool deterministic = false;
  // Shipped although it spills at every tile (without --allow-spills).
  bool acceptSpills = false;

  bool isMask() const {
    return kind == "value_bias" || kind == "value_bias_bwd" || kind == "topk";
  }

  void applyDefaultTiles() {
    if (isMask())
      return;
    // The runtime's defaults (include/dma/KernelDefaults.h).
    using namespace dma_defaults;
    if (kind == "bwd") {
      qTile = qTile ? qTile : kBackwardQTile;
      kTile = kTile ? kTile : backwardKTile(d, dv ? dv : d);
      return;
    }
    if (!qTile)
      qTile = kForwardQTile;
    if (!kTile)
      kTile = kForwardKTile;
  }
  bool causal = false, softcap = false;

  std::string str() const {
    if (kind == "value_bias" || kind == "value_bias_bwd")
      return "kind=" + kind + ",dtype=" + dtype + ",d=" + std::to_string(d) +
             ",form=" + form + ",dt_bias=" + (dtBias ? "1" : "0");
    if (kind == "topk")
      return "kind=topk,selection=" + selection +
             ",padding=" + (padding ? "1" : "0");
    return std::string(kind == "bwd" ? "kind=bwd," : "") + "dtype=" + dtype +
           ",d=" + std::to_string(d) +
           ",dv=" + std::to_string(dv ? dv : d) + ",mask=" + mask +
           ",bias=" + bias + ",causal=" + (causal ? "1" : "0") +
           ",softcap=" + (softcap ? "1" : "0") +
           (deterministic ? ",deterministic=1" : "") +
           ",q_tile=" + std::to_string(qTile) +
           ",k_tile=" + std::to_string(kTile);
  }
};

/// Parses a `--variant` spec. Every key at most once, every value checked
/// here, so that a typo is an error naming its key rather than a different
/// kernel (or a crash further down the pipeline).
std::optional<Variant> parseVariant(llvm::StringRef spec, std::string &error) {
  Variant v;
  if (spec.trim().empty()) {
    error = "empty variant (give comma-separated key=value pairs, e.g. "
            "dtype=bf16,d=128)";
    return std::nullopt;
  }
  llvm::SmallVector<llvm::StringRef> items;
  spec.split(items, ',', -1, /*KeepEmpty=*/true);
  std::set<std::string> seen;
  bool dvGiven = false;
  for (llvm::StringRef item : items) {
    if (item.trim().empty()) {
      error = "empty item (a stray ',')";
      return std::nullopt;
    }
    if (!item.contains('=')) {
      error = "'" + item.trim().str() + "' has no value (write key=value)";
      return std::nullopt;
    }
    std::pair<llvm::StringRef, llvm::StringRef> kv = item.split('=');
    llvm::StringRef key = kv.first.trim(), value = kv.second.trim();
    if (!seen.insert(key.str()).second) {
      error = "key '" + key.str() + "' given twice";
      return std::nullopt;
    }
    auto integer = [&](int64_t &out) {
      if (value.getAsInteger(10, out)) {
        error = "'" + value.str() + "' is not an integer (for " + key.str() +
                ")";
        return false;
      }
      return true;
    };
    auto oneOf = [&](std::string &out,
                     std::initializer_list<const char *> allowed) {
      for (const char *a : allowed)
        if (value == a) {
          out = value.str();
          return true;
        }
      error = "unknown " + key.str() + " '" + value.str() + "' (one of";
      for (const char *a : allowed)
        error += std::string(" ") + a;
      error += ")";
      return false;
    };
    bool ok = true;
    // A value-bias backward variant writes its four steps' kernels, named
    // <variant>,step=<dt|value|params|reduce>: a step names its variant.
    std::string step;
    if (key == "step")
      ok = oneOf(step, {"dt", "value", "params", "reduce"});
    else if (key == "kind")
      ok = oneOf(v.kind,
                 {"fwd", "bwd", "value_bias", "value_bias_bwd", "topk"});
    else if (key == "form")
      ok = oneOf(v.form, {"log", "exp"});
    else if (key == "selection")
      ok = oneOf(v.selection, {"shared", "per_query"});
    else if (key == "dtype")
      ok = oneOf(v.dtype, {"bf16", "f16"});
    else if (key == "mask")
      ok = oneOf(v.mask, {"none", "keep", "mask", "keep_rows"});
    else if (key == "bias")
      ok = oneOf(v.bias, {"none", "key", "full"});
    else if (key == "d")
      ok = integer(v.d);
    else if (key == "dv")
      ok = integer(v.dv), dvGiven = true;
    else if (key == "q_tile")
      ok = integer(v.qTile);
    else if (key == "k_tile")
      ok = integer(v.kTile);
    else if (key == "causal" || key == "softcap" || key == "dt_bias" ||
             key == "padding" || key == "deterministic") {
      int64_t flag = 0;
      ok = integer(flag);
      if (ok && flag != 0 && flag != 1) {
        error = key.str() + " must be 0 or 1, got " + value.str();
        ok = false;
      }
      (key == "causal"    ? v.causal
       : key == "softcap" ? v.softcap
       : key == "dt_bias" ? v.dtBias
       : key == "padding" ? v.padding
                          : v.deterministic) = flag != 0;
    } else {
      error = "unknown key '" + key.str() + "' (kind, dtype, d, dv, mask, "
              "bias, causal, softcap, q_tile, k_tile, deterministic; form, "
              "dt_bias for kind=value_bias(_bwd); selection, padding for "
              "kind=topk)";
      ok = false;
    }
    if (!ok)
      return std::nullopt;
  }
  // Ranges, once the kind is known: what the GPU kernels support
  // (ForwardKernelConfig::verify, convert-dma-mask-to-gpu), said here
  // with the key's name instead of a pipeline error about the module.
  bool attention = !v.isMask();
  auto headDim = [&](const char *key, int64_t d) {
    // Attention: 16-column mma tiles up to 256; the value bias: 16-byte
    // loads (8 elements) up to kMaxValueBiasHeadDim.
    int64_t step = attention ? 16 : 8;
    int64_t most = attention ? 256 : dma::kMaxValueBiasHeadDim;
    if (d < step || d > most || d % step) {
      error = std::string(key) + " must be a multiple of " +
              std::to_string(step) + " in [" + std::to_string(step) + ", " +
              std::to_string(most) + "], got " + std::to_string(d);
      return false;
    }
    return true;
  };
  auto tile = [&](const char *key, int64_t t) {
    if (t < 16 || t > 128 || t % 16) {
      error = std::string(key) +
              " must be a multiple of 16 in [16, 128], got " +
              std::to_string(t);
      return false;
    }
    return true;
  };
  if (!headDim("d", v.d) || (dvGiven && !headDim("dv", v.dv)) ||
      (seen.count("q_tile") && !tile("q_tile", v.qTile)) ||
      (seen.count("k_tile") && !tile("k_tile", v.kTile)))
    return std::nullopt;
  return v;
}

/// The module of a mask-generation variant: dma.value_bias (f32 weight,
/// dt_bias and a; f32 score) or dma.topk (f32 score, i32 positions) on
/// dynamically sized memrefs. The top-k's `keep` attribute only sizes the
/// per-query selection: it is a kernel parameter.
std::string maskModuleFor(const Variant &v) {
  if (v.kind == "value_bias_bwd") {
    std::string value = "memref<?x?x?x" + std::to_string(v.d) + "x" +
                        v.dtype + ">";
    std::string args = "%ds: memref<?x?x?xf32>, %v: " + value +
                       ", %w: memref<?x?xf32>";
    std::string dt, outs = "%dv, %dw", types = value + ", memref<?x?xf32>";
    if (v.dtBias) {
      args += ", %bdt: memref<?xf32>";
      dt = " dt_bias(%bdt : memref<?xf32>)";
    }
    args += ", %a: memref<?xf32>, %dv: " + value + ", %dw: memref<?x?xf32>";
    if (v.dtBias) {
      args += ", %ddt: memref<?xf32>";
      outs += ", %ddt";
      types += ", memref<?xf32>";
    }
    args += ", %da: memref<?xf32>";
    outs += ", %da";
    types += ", memref<?xf32>";
    return "func.func @variant(" + args + ") {\n  dma.value_bias_grad " +
           v.form + " grad(%ds : memref<?x?x?xf32>) value(%v : " + value +
           ") weight(%w : memref<?x?xf32>)" + dt +
           " a(%a : memref<?xf32>) outs(" + outs + " : " + types +
           ")\n  return\n}\n";
  }
  if (v.kind == "value_bias") {
    std::string value = "memref<?x?x?x" + std::to_string(v.d) + "x" +
                        v.dtype + ">";
    std::string args = "%v: " + value + ", %w: memref<?x?xf32>";
    std::string dt;
    if (v.dtBias) {
      args += ", %bdt: memref<?xf32>";
      dt = " dt_bias(%bdt : memref<?xf32>)";
    }
    args += ", %a: memref<?xf32>, %s: memref<?x?x?xf32>";
    return "func.func @variant(" + args + ") {\n  dma.value_bias " + v.form +
           " value(%v : " + value + ") weight(%w : memref<?x?xf32>)" + dt +
           " a(%a : memref<?xf32>) outs(%s : memref<?x?x?xf32>)\n  return\n}\n";
  }
  std::string args = "%s: memref<?x?x?xf32>", pad;
  if (v.padding) {
    args += ", %p: memref<?x?xi1>";
    pad = " padding(%p : memref<?x?xi1>)";
  }
  std::string outs, types;
  if (v.selection == "shared") {
    args += ", %keep: memref<?x?x?xi32>";
    outs = "%keep";
    types = "memref<?x?x?xi32>";
  } else {
    args += ", %ms: memref<?x?x?xf32>, %thr: memref<?x?x?xf32>, "
            "%tie: memref<?x?x?xi32>";
    outs = "%ms, %thr, %tie";
    types = "memref<?x?x?xf32>, memref<?x?x?xf32>, memref<?x?x?xi32>";
  }
  return "func.func @variant(" + args + ") {\n  dma.topk " + v.selection +
         " keep(1) score(%s : memref<?x?x?xf32>)" + pad + " outs(" + outs +
         " : " + types + ")\n  return\n}\n";
}

/// The MLIR module of one variant: dma.attention on memrefs whose sizes are
/// dynamic except the head dims (and the bias rows for a per-key bias).
std::string moduleFor(const Variant &v) {
  if (v.isMask())
    return maskModuleFor(v);
  std::string t = v.dtype;
  int64_t dv = v.dv ? v.dv : v.d;
  auto m4 = [&](int64_t last) {
    return "memref<?x?x?x" + std::to_string(last) + "x" + t + ">";
  };
  std::string args = "%q: " + m4(v.d) + ", %k: " + m4(v.d) + ", %v: " + m4(dv);
  std::string clauses;
  if (v.bias != "none") {
    std::string type = v.bias == "key" ? "memref<?x?x1x?x" + t + ">"
                                       : "memref<?x?x?x?x" + t + ">";
    args += ", %bias: " + type;
    clauses += " bias(%bias : " + type + ")";
  }
  if (v.mask == "keep") {
    args += ", %keep: memref<?x?x?xi32>";
    clauses += " keep(%keep : memref<?x?x?xi32>)";
  } else if (v.mask == "mask") {
    args += ", %mask: memref<?x?x?x?xi1>";
    clauses += " mask(%mask : memref<?x?x?x?xi1>)";
  } else if (v.mask == "keep_rows") {
    args += ", %s: memref<?x?x?xf32>, %thr: memref<?x?x?xf32>, "
            "%tie: memref<?x?x?xi32>";
    clauses += " keep_rows(%s, %thr, %tie : memref<?x?x?xf32>, "
               "memref<?x?x?xf32>, memref<?x?x?xi32>)";
  }
  args += ", %o: " + m4(dv) + ", %lse: memref<?x?x?xf32>";
  std::string attrs;
  if (v.causal)
    attrs += " causal";
  if (v.softcap)
    attrs += " softcap(1.0)"; // the value is a kernel parameter
  if (v.kind == "bwd") {
    std::string outs = "%dq, %dk, %dv", outTypes = m4(v.d) + ", " + m4(v.d) +
                                                   ", " + m4(dv);
    args += ", %do: " + m4(dv) + ", %dq: " + m4(v.d) + ", %dk: " + m4(v.d) +
            ", %dv: " + m4(dv);
    if (v.bias != "none") {
      std::string type = v.bias == "key" ? "memref<?x?x1x?x" + t + ">"
                                         : "memref<?x?x?x?x" + t + ">";
      args += ", %dbias: " + type;
      outs += ", %dbias";
      outTypes += ", " + type;
    }
    return "func.func @variant(" + args +
           ") {\n  dma.attention_grad grad(%do : " + m4(dv) + ") q(%q : " +
           m4(v.d) + ") k(%k : " + m4(v.d) + ") v(%v : " + m4(dv) +
           ") out(%o : " + m4(dv) + ") lse(%lse : memref<?x?x?xf32>)" +
           clauses + " outs(" + outs + " : " + outTypes + ")" + attrs +
           "\n  return\n}\n";
  }
  return "func.func @variant(" + args + ") {\n  dma.attention q(%q : " +
         m4(v.d) + ") k(%k : " + m4(v.d) + ") v(%v : " + m4(dv) + ")" +
         clauses + " outs(%o, %lse : " + m4(dv) +
         ", memref<?x?x?xf32>)" + attrs + "\n  return\n}\n";
}

/// The head dims models use; every bundle ships their common forms.
constexpr int64_t kShippedHeadDims[] = {64, 80, 96, 128, 192, 256};

std::vector<Variant> shippedVariants() {
  std::vector<int64_t> dims(headDims.begin(), headDims.end());
  if (dims.empty())
    dims.assign(std::begin(kShippedHeadDims), std::end(kShippedHeadDims));
  std::vector<Variant> out;
  auto attention = [&](const char *dtype, int64_t d, const char *mask,
                       const char *bias, bool causal) {
    Variant v;
    v.dtype = dtype;
    v.d = d;
    v.mask = mask;
    v.bias = bias;
    v.causal = causal;
    out.push_back(v);
  };
  for (const char *dtype : {"bf16", "f16"})
    for (int64_t d : dims) {
      for (const char *mask : {"none", "keep"})
        for (const char *bias : {"none", "key"})
          for (bool causal : {false, true})
            attention(dtype, d, mask, bias, causal);
      for (const char *mask : {"mask", "keep_rows"})
        for (bool causal : {false, true})
          attention(dtype, d, mask, "none", causal);
      // The per-query DMA layer: its key bias, causal.
      attention(dtype, d, "keep_rows", "key", true);
    }
  // Per-element visibility at d >= 192 spills a few dozen bytes at the
  // default tiles; those ship so (measured in docs/performance.md).
  for (Variant &v : out)
    v.acceptSpills = v.d >= 192 && (v.mask == "mask" || v.mask == "keep_rows");
  // The backward of the forms training uses, at its own tiles. d = 256
  // waits for the Hopper lowering (it spills at every tile on mma.sync);
  // d = 192 spills some 170 bytes at 16-query steps and ships so, and so
  // does the per-query layer's backward at d = 128 (8 bytes at 32-query
  // steps: per-row thresholds, key scores, key bias and the causal bound
  // all live).
  std::vector<Variant> backward;
  for (const Variant &f : out)
    if (f.d != 256 && (f.mask == "none" || f.mask == "keep" ||
                       (f.mask == "keep_rows" && f.bias == "key"))) {
      Variant b = f;
      b.kind = "bwd";
      b.acceptSpills = f.d == 192 || (f.mask == "keep_rows" && f.d >= 128);
      backward.push_back(b);
    }
  out.insert(out.end(), backward.begin(), backward.end());
  // The mask generation of a DMA layer.
  for (const char *dtype : {"bf16", "f16"})
    for (int64_t d : dims)
      for (const char *form : {"log", "exp"})
        for (bool dtBias : {false, true})
          for (const char *kind : {"value_bias", "value_bias_bwd"}) {
            Variant v;
            v.kind = kind;
            v.dtype = dtype;
            v.d = d;
            v.form = form;
            v.dtBias = dtBias;
            out.push_back(v);
          }
  for (const char *selection : {"shared", "per_query"})
    for (bool padding : {false, true}) {
      Variant v;
      v.kind = "topk";
      v.selection = selection;
      v.padding = padding;
      out.push_back(v);
    }
  return out;
}

struct Resources {
  // The largest over the file's kernels, and per kernel.
  int64_t registers = -1, spillBytes = -1, stackBytes = -1;
  std::map<std::string, std::pair<int64_t, int64_t>> perKernel; // regs, spill
  std::string log;
};

/// The toolkit's ptxas.
std::string ptxasPath() {
  llvm::SmallString<256> ptxas(dma::cudaToolkitPath(toolkit));
  llvm::sys::path::append(ptxas, "bin", "ptxas");
  return ptxas.str().str();
}

/// Runs ptxas with `args` (after the program name) under --ptxas-timeout;
/// its stdout and stderr go to `log`. Returns its exit status, or -1 when
/// it could not run or was killed (the reason is then in `log`).
int runPtxas(llvm::ArrayRef<std::string> args, std::string &log) {
  std::string ptxas = ptxasPath();
  llvm::SmallString<128> logPath;
  if (std::error_code ec = llvm::sys::fs::createTemporaryFile("dma-ptxas",
                                                              "log", logPath)) {
    log = "cannot create a temporary file: " + ec.message();
    return -1;
  }
  std::optional<llvm::StringRef> redirects[] = {
      std::nullopt, llvm::StringRef(logPath), llvm::StringRef(logPath)};
  llvm::SmallVector<llvm::StringRef> argv = {ptxas};
  argv.append(args.begin(), args.end());
  std::string err;
  bool failedToRun = false;
  llvm::sys::ProcessInfo child = llvm::sys::ExecuteNoWait(
      ptxas, argv, std::nullopt, redirects, 0, &err, &failedToRun);
  // A hanging ptxas must not hang the build: it is polled and killed after
  // --ptxas-timeout seconds. (ExecuteAndWait's own time limit rests on
  // SIGALRM, which another thread of this process may take: it never fires
  // here.)
  auto start = std::chrono::steady_clock::now();
  bool timedOut = false;
  llvm::sys::ProcessInfo done;
  while (!failedToRun) {
    done = llvm::sys::Wait(child, /*SecondsToWait=*/0, &err);
    if (done.Pid != 0)
      break; // exited (or could not be waited for: ReturnCode < 0)
    if (ptxasTimeout && std::chrono::steady_clock::now() - start >
                            std::chrono::seconds(ptxasTimeout)) {
      ::kill(child.Pid, SIGKILL);
      llvm::sys::Wait(child, std::nullopt, &err);
      timedOut = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (auto buf = llvm::MemoryBuffer::getFile(logPath))
    log = (*buf)->getBuffer().str();
  llvm::sys::fs::remove(logPath);
  if (timedOut) {
    log += "ptxas did not finish within " + std::to_string(ptxasTimeout) +
           " s and was killed (raise --ptxas-timeout, 0 for no limit)\n";
    return -1;
  }
  if (failedToRun || done.ReturnCode < 0) {
    log += "cannot run " + ptxas + (failedToRun ? "" : " (it crashed)") +
           (err.empty() ? "" : ": " + err) + "\n";
    return -1;
  }
  return done.ReturnCode;
}

/// Runs ptxas -v on a PTX file and reads the register and spill report.
Resources ptxasReport(llvm::StringRef ptxPath) {
  Resources r;
  int rc = runPtxas({"-arch=" + chip, "-v", ptxPath.str(), "-o", "/dev/null"},
                    r.log);
  if (rc != 0)
    return r;
  // One section per entry function ("Compiling entry function 'name'").
  llvm::SmallVector<llvm::StringRef> sections;
  llvm::StringRef(r.log).split(sections, "Compiling entry function '");
  for (llvm::StringRef section : llvm::ArrayRef(sections).drop_front()) {
    std::string name = section.split('\'').first.str();
    int64_t regs = -1, spill = -1, stack = -1;
    llvm::SmallVector<llvm::StringRef> m;
    if (llvm::Regex("Used ([0-9]+) registers").match(section, &m))
      m[1].getAsInteger(10, regs);
    if (llvm::Regex("([0-9]+) bytes spill stores").match(section, &m))
      m[1].getAsInteger(10, spill);
    if (llvm::Regex("([0-9]+) bytes stack frame").match(section, &m))
      m[1].getAsInteger(10, stack);
    r.perKernel[name] = {regs, spill};
    r.registers = std::max(r.registers, regs);
    r.spillBytes = std::max(r.spillBytes, spill);
    r.stackBytes = std::max(r.stackBytes, stack);
  }
  return r;
}

FailureOr<std::string> serialize(ModuleOp module, const std::string &format);

/// The cubin of the module: its PTX through ptxas (-O3, as
/// gpu-module-to-binary runs it), under --ptxas-timeout.
FailureOr<std::string> compileCubin(ModuleOp module) {
  FailureOr<std::string> ptx = serialize(module, "isa");
  if (failed(ptx))
    return failure();
  llvm::SmallString<128> ptxPath, cubinPath;
  if (llvm::sys::fs::createTemporaryFile("dma-kernel", "ptx", ptxPath) ||
      llvm::sys::fs::createTemporaryFile("dma-kernel", "cubin", cubinPath)) {
    llvm::errs() << "dma-compile: cannot create temporary files\n";
    return failure();
  }
  llvm::scope_exit cleanup([&] {
    llvm::sys::fs::remove(ptxPath);
    llvm::sys::fs::remove(cubinPath);
  });
  std::string log;
  std::error_code ec;
  {
    llvm::raw_fd_ostream os(ptxPath, ec);
    os << *ptx;
  }
  if (ec || runPtxas({"-arch=" + chip, "--opt-level", "3", ptxPath.str().str(),
                      "-o", cubinPath.str().str()},
                     log) != 0) {
    llvm::errs() << "dma-compile: ptxas failed:\n" << log;
    return failure();
  }
  auto buf = llvm::MemoryBuffer::getFile(cubinPath);
  if (!buf) {
    llvm::errs() << "dma-compile: ptxas wrote no cubin\n";
    return failure();
  }
  return (*buf)->getBuffer().str();
}

/// Serialises the (already lowered) kernel module in `format`: "isa" (PTX)
/// by gpu-module-to-binary, "bin" (cubin) from that PTX by our own ptxas
/// run, which has a time limit (gpu-module-to-binary's has none).
FailureOr<std::string> serialize(ModuleOp module, const std::string &format) {
  if (format == "bin")
    return compileCubin(module);
  OwningOpRef<ModuleOp> copy(module.clone());
  PassManager pm(module.getContext());
  GpuModuleToBinaryPassOptions binary;
  binary.toolkitPath = dma::cudaToolkitPath(toolkit);
  binary.compilationTarget = format;
  pm.addPass(createGpuModuleToBinaryPass(binary));
  if (failed(pm.run(*copy)))
    return failure();
  std::string bytes;
  copy->walk([&](gpu::BinaryOp op) {
    bytes = cast<gpu::ObjectAttr>(op.getObjects()[0]).getObject().str();
  });
  return bytes;
}

bool writeFile(llvm::StringRef path, llvm::StringRef bytes) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec);
  if (ec) {
    llvm::errs() << "dma-compile: cannot write " << path << ": "
                 << ec.message() << "\n";
    return false;
  }
  os << bytes;
  return true;
}

/// Compiles one variant with `warpCount` warps per CTA (0: the generator's
/// choice; when that spills, one 16-row tile per warp is tried instead) and
/// returns its manifest entries, one per kernel (a backward variant has a
/// Delta kernel and the main kernel, in one cubin).
std::optional<std::vector<llvm::json::Object>>
compileVariant(MLIRContext &ctx, const Variant &v, int64_t warpCount,
               int64_t qTile = 0) {
  qTile = qTile ? qTile : v.qTile;
  // Mask variants have no attention to tile: any valid tile will do.
  int64_t kTile = v.isMask() ? 64 : v.kTile;
  if (v.isMask())
    qTile = 64;
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(moduleFor(v), &ctx);
  if (!module)
    return std::nullopt;
  PassManager pm(&ctx);
  auto options = dma::GPUPipelineOptions::createFromString(
      "chip=" + chip + " q-tile=" + std::to_string(qTile) +
      " k-tile=" + std::to_string(kTile) +
      " warps=" + std::to_string(warpCount) +
      " stages=" + std::to_string(stages) +
      " rank-chunk=" + std::to_string(rankChunk) +
      (v.deterministic ? " deterministic=1" : "") + " format=none");
  dma::buildGPUPipeline(pm, *options);
  if (failed(pm.run(*module)))
    return std::nullopt;

  // The kernels, lowered to llvm.funcs inside the gpu.module; their ABI
  // attributes are gone once the module is serialised: read them now.
  std::vector<Operation *> kernels;
  module->walk([&](LLVM::LLVMFuncOp f) {
    if (f->hasAttr("dma.kernel_params"))
      kernels.push_back(f);
  });
  // The variant's own kernel; a backward also brings its Delta and
  // conversion kernels (manifest entries of their own names).
  Operation *main = nullptr;
  for (Operation *k : kernels) {
    StringRef role = k->getAttrOfType<StringAttr>("dma.role").getValue();
    if (role != "delta" && role != "convert" && role != "mask_summary" &&
        role != "mask_list")
      main = k;
  }
  if (!main) {
    llvm::errs() << "dma-compile: no kernel generated for " << v.str() << "\n";
    return std::nullopt;
  }
  std::string file = cast<LLVM::LLVMFuncOp>(main).getName().str();

  FailureOr<std::string> cubin = serialize(*module, "bin");
  FailureOr<std::string> ptx = serialize(*module, "isa");
  if (failed(cubin) || failed(ptx))
    return std::nullopt;
  llvm::SmallString<256> cubinPath(outputDir), ptxPath(outputDir);
  llvm::sys::path::append(cubinPath, file + ".cubin");
  llvm::sys::path::append(ptxPath, file + ".ptx");
  if (!writeFile(cubinPath, *cubin) || !writeFile(ptxPath, *ptx))
    return std::nullopt;

  Resources res = ptxasReport(ptxPath);
  if (res.registers < 0) {
    llvm::errs() << "dma-compile: ptxas failed on " << ptxPath << ":\n"
                 << res.log;
    return std::nullopt;
  }
  int64_t mainThreads =
      main->getAttrOfType<IntegerAttr>("dma.threads").getInt();
  if (res.spillBytes > 0) {
    auto retry = [&](int64_t w, int64_t q) {
      llvm::sys::fs::remove(cubinPath);
      llvm::sys::fs::remove(ptxPath);
      return compileVariant(ctx, v, w, q);
    };
    // More rows per warp need more registers: fall back to fewer; the
    // backward holds dK and dV in registers: fall back to fewer queries
    // per step. --keep-tiles never falls back.
    std::string spills = file + " spills " + std::to_string(res.spillBytes) +
                         " bytes (" + std::to_string(res.registers) +
                         " registers)";
    // A measured tile choice, like the warp grid's below: it holds without
    // --allow-spills (the package build passes none).
    bool twoRowTiles = v.kind == "fwd" && mainThreads / 32 != qTile / 16;
    bool fewForwardSpills =
        twoRowTiles && res.spillBytes <= kTwoRowTilesSpillLimit;
    if (!keepTiles && twoRowTiles && warpCount == 0 && !fewForwardSpills)
      return retry(qTile / 16, qTile);
    // The warp-grid backward keeps its tiles through a few spills: with
    // them it still beats the key-rows loop at 32-query steps (100 bytes on
    // the shared top-k with key bias: 3.7 against 4.9 ms, run 31).
    auto layout = main->getAttrOfType<StringAttr>("dma.layout");
    bool warpGrid = layout && layout.getValue() == "warp_grid";
    // Likewise a variant shipped with spills keeps 32-query steps through
    // a few bytes: the per-query layer's backward at d = 128 spills 20
    // bytes there and runs 2.55 ms against 2.96 ms at 16-query steps
    // (fwd+bwd, L = 4096; probe_backward_tiles.py, run 42).
    bool fewSpills = v.kind == "bwd" && qTile == 32 &&
                     (v.acceptSpills || allowSpills) &&
                     res.spillBytes <= kKeyRowsSpillLimit;
    if (fewForwardSpills) {
      llvm::errs() << "dma-compile: " << spills
                   << ", kept (two row tiles per warp)\n";
    } else if (warpGrid && res.spillBytes <= (v.mask == "keep_rows"
                                                   ? kPerQueryWarpGridSpillLimit
                                                   : kWarpGridSpillLimit)) {
      llvm::errs() << "dma-compile: " << spills
                   << ", kept (warp-grid backward)\n";
    } else if (fewSpills) {
      llvm::errs() << "dma-compile: " << spills << ", kept (32-query steps)\n";
    } else if (!keepTiles && v.kind == "bwd" && qTile > 16) {
      llvm::errs() << "dma-compile: " << spills << ": trying q_tile="
                   << qTile / 2 << "\n";
      return retry(warpCount, qTile / 2);
    } else if (v.kind == "topk" && v.selection == "shared" &&
               res.spillBytes <= kTopKSharedSpillLimit) {
      llvm::errs() << "dma-compile: " << spills << ", kept (shared top-k)\n";
    } else if (!allowSpills && !v.acceptSpills) {
      llvm::errs() << "dma-compile: " << spills
                   << "; use other tile sizes or --allow-spills\n";
      return std::nullopt;
    } else {
      llvm::errs() << "dma-compile: " << spills << ", accepted\n";
    }
  }

  auto kernelResources = [&](llvm::StringRef name) {
    auto it = res.perKernel.find(name.str());
    return it == res.perKernel.end()
               ? std::pair<int64_t, int64_t>{res.registers, res.spillBytes}
               : it->second;
  };
  std::vector<llvm::json::Object> entries;
  for (Operation *kernel : kernels) {
    std::string role =
        kernel->getAttrOfType<StringAttr>("dma.role").getValue().str();
    llvm::json::Array params;
    for (Attribute a : kernel->getAttrOfType<ArrayAttr>("dma.kernel_params")) {
      auto [pname, kind] = cast<StringAttr>(a).getValue().split(':');
      params.push_back(llvm::json::Object{{"name", pname}, {"kind", kind}});
    }
    int64_t threads = kernel->getAttrOfType<IntegerAttr>("dma.threads").getInt();
    int64_t shared =
        kernel->getAttrOfType<IntegerAttr>("dma.shared_bytes").getInt();
    if (shared > 227 * 1024) {
      llvm::errs() << "dma-compile: " << file << " needs " << shared
                   << " bytes of shared memory (at most 232448)\n";
      return std::nullopt;
    }
    std::string name = v.str();
    if (role == "delta")
      name = "kind=bwd_delta,dtype=" + v.dtype + ",dv=" +
             std::to_string(v.dv ? v.dv : v.d);
    if (role == "convert")
      name = "kind=bwd_convert,dtype=" + v.dtype;

    if (llvm::StringRef(role).starts_with("value_bias_bwd_"))
      name += ",step=" + role.substr(15);
    // dma-block-skip's summary of a dense mask (block states, then the
    // lists), launched before the variant's attention kernel (its tiles).
    if (role == "mask_summary" || role == "mask_list")
      name += ",step=" + role;
    // The grid: x over query rows (forward, Delta), keys (backward: Lk, or
    // W when the keys are a gathered shared top-k list; the per-query
    // top-k steps) or (key, KV head) pairs (value_bias).
    std::string extent = role == "backward"        ? "keys"
                         : role == "convert"       ? "max(n0..n3)"
                         : role == "value_bias"    ? "Lk"
                         : role == "value_bias_bwd_dt" ? "Lk"
                         : role == "value_bias_bwd_value" ? "Lk*Hkv*D/8"
                         : role == "value_bias_bwd_params" ? "Hkv*(Hkv*D/8+1)"
                         : v.kind == "value_bias_bwd" ? "Hkv*(Hkv*D+2)"
                         : role == "topk_shared"   ? "Hkv"
                         : v.kind == "topk"        ? "Lk"
                                                   : "Lq";
    int64_t block = role == "backward"
                        ? kernel->getAttrOfType<IntegerAttr>("dma.block_n").getInt()
                    : role == "convert"
                        ? kernel->getAttrOfType<IntegerAttr>("dma.block_m").getInt()
                    : role == "topk_shared" ? 1
                    // keys per CTA (a warp per 4 keys)
                    : role == "value_bias" || role == "value_bias_bwd_dt"
                        ? kernel->getAttrOfType<IntegerAttr>("dma.block_m")
                              .getInt()
                    : v.isMask() ? threads
                        : kernel->getAttrOfType<IntegerAttr>("dma.block_m").getInt();
    llvm::json::Array grid{"ceil(" + extent + "/" + std::to_string(block) + ")",
                           "H", "B"};
    if (role == "value_bias" || role == "value_bias_bwd_dt" ||
        role == "value_bias_bwd_value")
      grid = llvm::json::Array{"ceil(" + extent + "/" + std::to_string(block) +
                                   ")",
                               "B", "1"};
    else if (role == "value_bias_bwd_params")
      grid = llvm::json::Array{"ceil(Hkv*(Hkv*D/8+1)/" +
                                   std::to_string(block) + ")",
                               "B*ceil(Lk/128)", "1"};
    else if (role == "value_bias_bwd_reduce")
      grid = llvm::json::Array{"ceil(" + extent + "/" + std::to_string(block) +
                                   ")",
                               "1", "1"};
    else if (role == "topk_shared")
      grid = llvm::json::Array{"Hkv", "B", "1"};
    else if (role == "convert")
      grid = llvm::json::Array{"ceil(max(n0..n3)/" + std::to_string(block) +
                                   ")",
                               "pairs", "1"};
    else if (v.kind == "topk")
      grid = llvm::json::Array{"ceil(Lk/" + std::to_string(block) + ")",
                               "Hkv", "B"};
    else if (role == "mask_summary")
      grid = llvm::json::Array{
          "ceil(Lq/" + std::to_string(block) + ")",
          "ceil(ceil(Lk/" +
              std::to_string(
                  kernel->getAttrOfType<IntegerAttr>("dma.block_n").getInt()) +
              ")/" + std::to_string(dma::kMaskSummaryTilesPerCTA) + ")",
          "mask_heads*mask_batch"};
    else if (role == "mask_list")
      grid = llvm::json::Array{"ceil(Lq/" + std::to_string(block) + ")",
                               "mask_heads", "mask_batch"};
    llvm::json::Object config;
    if (v.kind == "value_bias" || v.kind == "value_bias_bwd")
      config = llvm::json::Object{{"dtype", v.dtype},
                                  {"head_dim", v.d},
                                  {"form", v.form},
                                  {"dt_bias", v.dtBias}};
    else if (v.kind == "topk")
      config = llvm::json::Object{{"selection", v.selection},
                                  {"padding", v.padding}};
    else
      config = llvm::json::Object{{"dtype", v.dtype},
                                  {"head_dim", v.d},
                                  {"value_dim", v.dv ? v.dv : v.d},
                                  {"mask", v.mask},
                                  {"bias", v.bias},
                                  {"causal", v.causal},
                                  {"softcap", v.softcap},
                                  {"q_tile", qTile},
                                  {"k_tile", v.kTile},
                                  {"warps", threads / 32},
                                  {"stages", static_cast<int64_t>(stages)}};
    // The chunk the kernel sorts (--rank-chunk rounded up to the key tile
    // by dma-gather-keys), on every entry of the variant.
    if (auto chunk = main->getAttrOfType<IntegerAttr>("dma.rank_chunk"))
      config["rank_chunk"] = chunk.getInt();
    entries.push_back(llvm::json::Object{
        {"name", name},
        {"role", role},
        {"kernel", cast<LLVM::LLVMFuncOp>(kernel).getName().str()},
        {"cubin", file + ".cubin"},
        {"ptx", file + ".ptx"},
        {"config", std::move(config)},
        {"threads", threads},
        {"shared_bytes", shared},
        {"grid", std::move(grid)},
        {"grid_x", llvm::json::Object{{"extent", extent}, {"block", block}}},
        {"block_m", block},
        {"params", std::move(params)},
        {"registers", kernelResources(cast<LLVM::LLVMFuncOp>(kernel).getName())
                          .first},
        {"spill_bytes",
         kernelResources(cast<LLVM::LLVMFuncOp>(kernel).getName()).second}});
  }
  return entries;
}

/// The bundle's manifest.json before this run: its variants stay listed
/// unless this run recompiles them (or overwrites their files), so a
/// failed or partial run never unlists kernels that are still there.
struct PreviousManifest {
  llvm::json::Array variants;
  /// MD5 of each file the old entries name, to notice one overwritten.
  std::map<std::string, llvm::MD5::MD5Result> files;
};

/// Reads DIR/manifest.json if there is one; fails (with a message) when it
/// cannot be read or belongs to another chip, format or compiler.
std::optional<PreviousManifest> readPreviousManifest(llvm::StringRef path) {
  PreviousManifest previous;
  if (!llvm::sys::fs::exists(path))
    return previous;
  auto buf = llvm::MemoryBuffer::getFile(path);
  llvm::Expected<llvm::json::Value> json =
      buf ? llvm::json::parse((*buf)->getBuffer())
          : llvm::Expected<llvm::json::Value>(
                llvm::errorCodeToError(buf.getError()));
  const llvm::json::Object *root = json ? json->getAsObject() : nullptr;
  const llvm::json::Array *variants =
      root ? root->getArray("variants") : nullptr;
  if (!variants) {
    llvm::errs() << "dma-compile: " << path
                 << " is not a bundle manifest"
                 << (json ? "" : " (" + llvm::toString(json.takeError()) + ")")
                 << "; remove it or compile into another directory\n";
    return std::nullopt;
  }
  auto field = [&](llvm::StringRef key) {
    std::optional<llvm::StringRef> v = root->getString(key);
    return v ? v->str() : std::string("?");
  };
  if (field("chip") != chip || field("compiler") != kCompilerVersion ||
      root->getInteger("format") != 1) {
    llvm::errs() << "dma-compile: " << path << " is a bundle for "
                 << field("chip") << " by " << field("compiler")
                 << "; this run compiles for " << chip << " by "
                 << kCompilerVersion
                 << ": a bundle holds one chip and compiler, use another "
                    "directory\n";
    return std::nullopt;
  }
  previous.variants = *variants;
  for (const llvm::json::Value &v : previous.variants)
    if (const llvm::json::Object *entry = v.getAsObject())
      for (llvm::StringRef key : {"cubin", "ptx"})
        if (std::optional<llvm::StringRef> file = entry->getString(key)) {
          llvm::SmallString<256> at(outputDir);
          llvm::sys::path::append(at, *file);
          if (auto md5 = llvm::sys::fs::md5_contents(at))
            previous.files[file->str()] = *md5;
        }
  return previous;
}

/// The previous entries to keep: not recompiled now (by name) and with
/// their files unchanged (a failed variant may have overwritten a cubin
/// another entry names; such an entry is dropped, with a warning).
void keepPrevious(const PreviousManifest &previous, llvm::json::Array &entries,
                  const std::set<std::string> &written) {
  for (const llvm::json::Value &v : previous.variants) {
    const llvm::json::Object *entry = v.getAsObject();
    std::optional<llvm::StringRef> name =
        entry ? entry->getString("name") : std::nullopt;
    if (!name || written.count(name->str()))
      continue;
    bool intact = true;
    for (llvm::StringRef key : {"cubin", "ptx"}) {
      std::optional<llvm::StringRef> file = entry->getString(key);
      auto before = file ? previous.files.find(file->str())
                         : previous.files.end();
      llvm::SmallString<256> at(outputDir);
      if (file)
        llvm::sys::path::append(at, *file);
      auto now = llvm::sys::fs::md5_contents(at);
      intact &= before != previous.files.end() && now && *now == before->second;
    }
    if (!intact) {
      llvm::errs() << "dma-compile: dropping " << *name
                   << " from the manifest: its files are missing or were "
                      "overwritten\n";
      continue;
    }
    entries.push_back(v);
  }
}

/// Writes the manifest atomically: a temporary file in the bundle, renamed
/// over manifest.json, so a reader (or a run killed midway) sees the old
/// manifest or the new one, whole.
bool writeManifest(llvm::StringRef path, llvm::json::Object manifest) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << llvm::formatv("{0:2}", llvm::json::Value(std::move(manifest)))
     << "\n";
  llvm::SmallString<256> temp;
  int fd = -1;
  if (std::error_code ec = llvm::sys::fs::createUniqueFile(
          path + ".%%%%%%.tmp", fd, temp)) {
    llvm::errs() << "dma-compile: cannot write " << path << ": "
                 << ec.message() << "\n";
    return false;
  }
  {
    llvm::raw_fd_ostream out(fd, /*shouldClose=*/true);
    out << text;
    out.flush();
    if (out.has_error()) {
      llvm::errs() << "dma-compile: cannot write " << temp << ": "
                   << out.error().message() << "\n";
      out.clear_error();
      llvm::sys::fs::remove(temp);
      return false;
    }
  }
  if (std::error_code ec = llvm::sys::fs::rename(temp, path)) {
    llvm::errs() << "dma-compile: cannot replace " << path << ": "
                 << ec.message() << "\n";
    llvm::sys::fs::remove(temp);
    return false;
  }
  return true;
}

int compileMain(int argc, char **argv) {
  mlir::registerAllPasses();
  dma::registerAllPasses();
  cl::ParseCommandLineOptions(argc, argv, "dma kernel bundle compiler\n");

  if (!dma::lookupGPUChip(chip)) {
    llvm::errs() << "dma-compile: unsupported --chip '" << chip
                 << "': the kernels compile for "
                 << dma::supportedGPUChipList() << "\n";
    return 2;
  }

  // Options every variant compiles with, checked before anything compiles
  // (a bad one would fail each variant alike, deep in the pipeline).
  if (rankChunk < 16 || rankChunk > dma::kMaxRankChunk || rankChunk % 16) {
    llvm::errs() << "dma-compile: bad --rank-chunk: the per-query backward's "
                    "chunk must be a multiple of 16 keys in [16, "
                 << dma::kMaxRankChunk << "], got " << rankChunk << "\n";
    return 2;
  }

  // --head-dims narrows --shipped; its dims become variants' d, so they
  // are checked as a --variant's d would be, before anything compiles.
  if (!headDims.empty() && !shipped) {
    llvm::errs() << "dma-compile: --head-dims selects among the shipped "
                    "variants: give --shipped too\n";
    return 2;
  }
  for (int64_t d : headDims)
    if (d < 16 || d > 256 || d % 16) {
      llvm::errs() << "dma-compile: bad --head-dims: a head dim must be a "
                      "multiple of 16 in [16, 256], got "
                   << d << "\n";
      return 2;
    }

  std::vector<Variant> variants;
  if (shipped)
    variants = shippedVariants();
  for (const std::string &spec : variantSpecs) {
    std::string error;
    std::optional<Variant> v = parseVariant(spec, error);
    if (!v) {
      llvm::errs() << "dma-compile: bad --variant '" << spec << "': " << error
                   << "\n";
      return 2;
    }
    variants.push_back(*v);
  }
  // One entry per distinct variant.
  for (Variant &v : variants)
    v.applyDefaultTiles();
  std::vector<Variant> unique;
  std::set<std::string> seen;
  for (const Variant &v : variants)
    if (seen.insert(v.str()).second)
      unique.push_back(v);
  variants = std::move(unique);
  if (variants.empty()) {
    llvm::errs() << "dma-compile: nothing to compile (give --variant or "
                    "--shipped)\n";
    return 2;
  }
  std::string ptxas = ptxasPath();
  if (!llvm::sys::fs::can_execute(ptxas)) {
    llvm::errs() << "dma-compile: no ptxas at " << ptxas
                 << "; install the CUDA toolkit or pass --toolkit / set "
                    "CUDA_HOME\n";
    return 2;
  }
  if (std::error_code ec = llvm::sys::fs::create_directories(outputDir)) {
    llvm::errs() << "dma-compile: cannot create " << outputDir << ": "
                 << ec.message() << "\n";
    return 2;
  }
  llvm::SmallString<256> path(outputDir);
  llvm::sys::path::append(path, "manifest.json");
  std::optional<PreviousManifest> previous = readPreviousManifest(path);
  if (!previous)
    return 2;

  DialectRegistry registry;
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registerAllGPUToLLVMIRTranslations(registry);
  dma::registerAllDialects(registry);
  MLIRContext ctx(registry);

  llvm::json::Array entries;
  int failures = 0;
  std::set<std::string> written;
  for (const Variant &v : variants) {
    std::optional<std::vector<llvm::json::Object>> compiled =
        compileVariant(ctx, v, warps);
    if (!compiled) {
      llvm::errs() << "dma-compile: FAILED " << v.str() << "\n";
      ++failures;
      continue;
    }
    for (llvm::json::Object &entry : *compiled) {
      std::string name = entry.getString("name")->str();
      if (!written.insert(name).second)
        continue; // a Delta kernel another backward variant brought
      llvm::outs() << "compiled " << name << " -> "
                   << *entry.getString("kernel") << " ("
                   << *entry.getInteger("registers") << " registers, "
                   << *entry.getInteger("shared_bytes") << " bytes shared)\n";
      entries.push_back(std::move(entry));
    }
  }
  // What was there and is still valid, then what this run compiled.
  llvm::json::Array all;
  keepPrevious(*previous, all, written);
  for (llvm::json::Value &entry : entries)
    all.push_back(std::move(entry));
  llvm::json::Object manifest{{"format", 1},
                              {"compiler", kCompilerVersion},
                              {"chip", chip},
                              {"variants", std::move(all)}};
  if (!writeManifest(path, std::move(manifest)))
    return 1;
  llvm::outs() << variants.size() - failures << " variants compiled, "
               << failures << " failed; manifest: " << path << "\n";
  return failures ? 1 : 0;
}

} // namespace

int main(int argc, char **argv) {
  // The pipeline's parser and passes recurse; a large stack as in dma-opt.
  return dma::runWithLargeStack([&] { return compileMain(argc, argv); });
}
