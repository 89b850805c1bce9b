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
#include "CheckManifest.h"
#include "Variant.h"

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
using dma_compile::Variant;

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
static cl::opt<bool> checkABI(
    "check-abi",
    cl::desc("Compile nothing: check every entry of the bundle's manifest "
             "against the launch the compiler builds for it at concrete "
             "sizes (parameters, grid, block, shared memory)"));
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
static cl::opt<std::string>
    mma("mma",
        cl::desc("The forwards' tensor-core instruction: mma_sync, wgmma "
                 "(sm_90a, where the tiles fit) or auto (on sm_90a wgmma "
                 "where it fits, but mma.sync for a shared top-k or a dense "
                 "mask; a call's "
                 "default tiles follow, KernelDefaults.h); a wgmma forward "
                 "that spills is compiled with mma_sync"),
        cl::init("auto"));
static cl::opt<int> rankChunk(
    "rank-chunk",
    cl::desc("Keys per chunk the per-query backward orders by score (every "
             "per-query backward variant; recorded in the manifest)"),
    cl::init(dma_defaults::kRankChunk));
static cl::opt<int> stages("stages",
                          cl::desc("K/V tiles in flight (2 to 4) for every "
                                   "variant"),
                          cl::init(dma_defaults::kStages));
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
std::string forwardMma() {
  return chip == "sm_90a" ? mma.getValue() : std::string("mma_sync");
}
} // namespace

namespace {

/// A bundle holds kernels of one compiler version: bump it whenever a
/// kernel's interface changes (parameters, grid, roles), so that manifest
/// merges and the runtime's users never mix old entries with new plans.
constexpr const char *kCompilerVersion = "dma 0.5.0 (MLIR/LLVM 22)";

/// The forwards' mma as this run compiles them for its chip (the
/// manifest's forward_mma, from which the runtime knows how the default
/// variants are named): --mma on sm_90a, mma_sync elsewhere.
std::string forwardMma();

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
               int64_t qTile = 0, bool mmaSync = false) {
  qTile = qTile ? qTile : v.qTile;
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(dma_compile::moduleFor(v), &ctx);
  if (!module)
    return std::nullopt;
  PassManager pm(&ctx);
  auto options = dma::GPUPipelineOptions::createFromString(
      dma_compile::gpuPipelineOptions(v, chip, qTile, v.kTile, warpCount,
                                      stages, rankChunk,
                                      warpCount || mmaSync
                                          ? std::string("mma_sync")
                                          : mma.getValue()));
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
      return compileVariant(ctx, v, w, q, mmaSync);
    };
    // More rows per warp need more registers: fall back to fewer; the
    // backward holds dK and dV in registers: fall back to fewer queries
    // per step. --keep-tiles never falls back.
    std::string spills = file + " spills " + std::to_string(res.spillBytes) +
                         " bytes (" + std::to_string(res.registers) +
                         " registers)";
    // A measured tile choice, like the warp grid's below: it holds without
    // --allow-spills (the package build passes none).
    // A wgmma forward's registers are its tiles' (one 16-row tile per
    // warp): one that spills is compiled for mma.sync instead.
    auto mmaKind = main->getAttrOfType<StringAttr>("dma.mma");
    if (mmaKind && mmaKind.getValue() == "wgmma") {
      llvm::errs() << "dma-compile: " << file << " spills "
                   << res.spillBytes << " bytes: compiling it for mma.sync\n";
      llvm::sys::fs::remove(cubinPath);
      llvm::sys::fs::remove(ptxPath);
      return compileVariant(ctx, v, warpCount, qTile, /*mmaSync=*/true);
    }
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
    // The grid as the kernel's emitter wrote it (KernelABI.h): expressions
    // over its integer parameters, which the runtime evaluates.
    FailureOr<dma::KernelABI> abi = dma::readKernelABI(kernel);
    if (failed(abi) || !abi->check().empty()) {
      llvm::errs() << "dma-compile: kernel "
                   << cast<LLVM::LLVMFuncOp>(kernel).getName()
                   << " has no valid launch interface"
                   << (failed(abi) ? "" : ": " + abi->check()) << "\n";
      return std::nullopt;
    }
    llvm::json::Array grid{abi->grid[0], abi->grid[1], abi->grid[2]};
    // Rows, keys or elements per CTA: what the runtime sizes the block
    // summaries' workspace and the deterministic semaphores with.
    int64_t block = 0;
    if (auto m = kernel->getAttrOfType<IntegerAttr>(role == "backward"
                                                        ? "dma.block_n"
                                                        : "dma.block_m"))
      block = m.getInt();
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
    // The forward's tensor-core instruction (mma_sync or wgmma).
    if (auto m = main->getAttrOfType<StringAttr>("dma.mma"))
      config["mma"] = m.getValue().str();
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
  // Its default variants are named by one forward mma.
  if (field("forward_mma") != forwardMma()) {
    llvm::errs() << "dma-compile: " << path << " holds forwards of mma "
                 << field("forward_mma") << "; this run compiles them with "
                 << forwardMma()
                 << ": a bundle holds one, use another directory or --mma\n";
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

  if (checkABI) {
    if (shipped || !variantSpecs.empty()) {
      llvm::errs() << "dma-compile: --check-abi compiles nothing: give no "
                      "--variant or --shipped\n";
      return 2;
    }
    DialectRegistry registry;
    registerAllDialects(registry);
    registerAllExtensions(registry);
    dma::registerAllDialects(registry);
    MLIRContext ctx(registry);
    return dma_compile::checkManifestABI(ctx, outputDir, chip, rankChunk);
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
    variants = dma_compile::shippedVariants(
        std::vector<int64_t>(headDims.begin(), headDims.end()));
  for (const std::string &spec : variantSpecs) {
    std::string error;
    std::optional<Variant> v = dma_compile::parseVariant(spec, error);
    if (!v) {
      llvm::errs() << "dma-compile: bad --variant '" << spec << "': " << error
                   << "\n";
      return 2;
    }
    variants.push_back(*v);
  }
  // One entry per distinct variant. The runtime names a call's default
  // tiles by the device; on sm_90a they are the warpgroup MMA's unless
  // the forwards are compiled for mma.sync.
  int arch = forwardMma() != "mma_sync" ? dma_defaults::kWgmmaArch : 0;
  for (Variant &v : variants)
    v.applyDefaultTiles(arch);
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
                              {"forward_mma", forwardMma()},
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
