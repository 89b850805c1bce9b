//===- CheckManifest.cpp - a bundle's manifest against the compiler -------===//

#include "CheckManifest.h"
#include "Variant.h"

#include "dma/Conversion/DMAToGPU/KernelABI.h"
#include "dma/GridExpr.h"
#include "dma/Pipelines/Pipelines.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

using namespace mlir;

namespace dma_compile {
namespace {

/// A manifest entry, as the runtime reads it.
struct Entry {
  std::string name, kernel, cubin;
  int64_t threads = -1, sharedBytes = -1;
  std::vector<std::pair<std::string, std::string>> params; // name, kind
  std::vector<std::string> grid;
  const llvm::json::Object *config = nullptr;
  bool matched = false;
};

std::optional<int64_t> constantOf(Value v) {
  if (!v)
    return std::nullopt;
  return getConstantIntValue(v);
}

/// The launch's operand type for a manifest parameter kind.
bool typeIs(Type t, llvm::StringRef kind) {
  if (kind == "ptr")
    return isa<LLVM::LLVMPointerType>(t);
  if (kind == "i32")
    return t.isInteger(32);
  if (kind == "i64")
    return t.isInteger(64);
  return kind == "f32" && t.isF32();
}

/// Checks one launch of `entry`'s kernel; appends what differs to `errors`.
void checkLaunch(gpu::LaunchFuncOp launch, const Entry &entry,
                 std::vector<std::string> &errors) {
  auto fail = [&](const std::string &what) {
    errors.push_back(entry.name + " (" + entry.kernel + "): " + what);
  };
  // The compiler's own description of the kernel.
  Operation *kernel = SymbolTable::lookupNearestSymbolFrom(
      launch, launch.getKernelAttr());
  FailureOr<mlir::dma::KernelABI> abi =
      kernel ? mlir::dma::readKernelABI(kernel)
             : FailureOr<mlir::dma::KernelABI>(failure());
  if (failed(abi))
    return fail("the compiler's kernel has no launch interface");
  if (abi->params.size() != entry.params.size())
    return fail("the manifest lists " + std::to_string(entry.params.size()) +
                " parameters, the kernel takes " +
                std::to_string(abi->params.size()));
  for (size_t i = 0; i < entry.params.size(); ++i)
    if (abi->params[i].name != entry.params[i].first ||
        abi->params[i].kindName() != entry.params[i].second)
      return fail("parameter " + std::to_string(i) + " is " +
                  entry.params[i].first + ":" + entry.params[i].second +
                  " in the manifest, " + abi->params[i].name + ":" +
                  abi->params[i].kindName() + " in the kernel");
  for (size_t i = 0; i < 3; ++i)
    if (abi->grid[i] != entry.grid[i])
      fail("grid " + std::string(1, "xyz"[i]) + " is '" + entry.grid[i] +
           "' in the manifest, '" + abi->grid[i] + "' in the kernel");

  // The launch: operand types, then the values the grid is evaluated over.
  OperandRange operands = launch.getKernelOperands();
  if (operands.size() != entry.params.size())
    return fail("the launch passes " + std::to_string(operands.size()) +
                " operands for " + std::to_string(entry.params.size()) +
                " parameters");
  std::map<std::string, int64_t> values;
  for (auto [param, operand] : llvm::zip_equal(entry.params, operands)) {
    if (!typeIs(operand.getType(), param.second))
      return fail("parameter " + param.first + " (" + param.second +
                  ") gets an operand of another type");
    if (std::optional<int64_t> c = constantOf(operand))
      values[param.first] = *c;
  }
  Value launched[3] = {launch.getGridSizeX(), launch.getGridSizeY(),
                       launch.getGridSizeZ()};
  for (int d = 0; d < 3; ++d) {
    std::string why;
    std::optional<int64_t> want = ::dma::evaluateGrid(
        entry.grid[d],
        [&](const std::string &n) -> std::optional<int64_t> {
          auto it = values.find(n);
          if (it == values.end())
            return std::nullopt;
          return it->second;
        },
        why);
    std::optional<int64_t> got = constantOf(launched[d]);
    if (!want)
      fail("grid " + std::string(1, "xyz"[d]) + ": " + why +
           " (is every size operand constant at static sizes?)");
    else if (!got)
      fail("grid " + std::string(1, "xyz"[d]) + " of the launch is not a "
           "constant at static sizes");
    else if (*got != *want)
      fail("grid " + std::string(1, "xyz"[d]) + ": the launch has " +
           std::to_string(*got) + ", the manifest's '" + entry.grid[d] +
           "' gives " + std::to_string(*want));
  }
  std::optional<int64_t> bx = constantOf(launch.getBlockSizeX()),
                         by = constantOf(launch.getBlockSizeY()),
                         bz = constantOf(launch.getBlockSizeZ());
  if (bx != entry.threads || by != 1 || bz != 1)
    fail("the launch's block is not (" + std::to_string(entry.threads) +
         ", 1, 1)");
  std::optional<int64_t> shared =
      constantOf(launch.getDynamicSharedMemorySize());
  if (shared.value_or(0) != entry.sharedBytes)
    fail("the launch has " + std::to_string(shared.value_or(0)) +
         " bytes of dynamic shared memory, the manifest " +
         std::to_string(entry.sharedBytes));
}

int64_t configInt(const Entry &e, llvm::StringRef key, int64_t otherwise) {
  if (e.config)
    if (std::optional<int64_t> v = e.config->getInteger(key))
      return *v;
  return otherwise;
}

std::string configString(const Entry &e, llvm::StringRef key,
                         llvm::StringRef otherwise) {
  if (e.config)
    if (std::optional<llvm::StringRef> v = e.config->getString(key))
      return v->str();
  return otherwise.str();
}

} // namespace

int checkManifestABI(MLIRContext &ctx, llvm::StringRef dir,
                     llvm::StringRef chip, int defaultRankChunk) {
  llvm::SmallString<256> path(dir);
  llvm::sys::path::append(path, "manifest.json");
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer) {
    llvm::errs() << "dma-compile: cannot read " << path << "\n";
    return 2;
  }
  llvm::Expected<llvm::json::Value> json =
      llvm::json::parse((*buffer)->getBuffer());
  const llvm::json::Object *root = json ? json->getAsObject() : nullptr;
  const llvm::json::Array *list = root ? root->getArray("variants") : nullptr;
  if (!list) {
    if (!json)
      llvm::consumeError(json.takeError());
    llvm::errs() << "dma-compile: " << path << " is not a bundle manifest\n";
    return 2;
  }

  // Entries by cubin: one compiled variant each (a backward's Delta and
  // conversion kernels, the value-bias backward's steps share its file).
  std::vector<Entry> entries;
  for (const llvm::json::Value &v : *list) {
    const llvm::json::Object *o = v.getAsObject();
    if (!o)
      continue;
    Entry e;
    e.name = o->getString("name").value_or("").str();
    e.kernel = o->getString("kernel").value_or("").str();
    e.cubin = o->getString("cubin").value_or("").str();
    e.threads = o->getInteger("threads").value_or(-1);
    e.sharedBytes = o->getInteger("shared_bytes").value_or(-1);
    e.config = o->getObject("config");
    if (const llvm::json::Array *ps = o->getArray("params"))
      for (const llvm::json::Value &p : *ps)
        if (const llvm::json::Object *po = p.getAsObject())
          e.params.push_back({po->getString("name").value_or("").str(),
                              po->getString("kind").value_or("").str()});
    if (const llvm::json::Array *g = o->getArray("grid"))
      for (const llvm::json::Value &x : *g)
        e.grid.push_back(x.getAsString().value_or("").str());
    entries.push_back(std::move(e));
  }
  std::map<std::string, std::vector<Entry *>> byFile;
  for (Entry &e : entries)
    byFile[e.cubin].push_back(&e);

  std::vector<std::string> errors;
  int64_t launches = 0;
  StaticSizes sizes;
  for (auto &fileGroup : byFile) {
    const std::string &file = fileGroup.first;
    std::vector<Entry *> &group = fileGroup.second;
    // The variant the file was compiled from: the entry of the kernel the
    // file is named after, its step (if any) dropped.
    Entry *main = nullptr;
    for (Entry *e : group)
      if (e->cubin == e->kernel + ".cubin")
        main = e;
    if (!main) {
      // dma-compile writes a file's entries together; a bundle cut down by
      // hand (scripts/subset-bundle.py) may keep a Delta or conversion
      // entry without the variant whose file holds it.
      errors.push_back(file + ": cannot be checked, no entry of the kernel "
                              "the file is named after (a subset bundle?)");
      continue;
    }
    for (Entry *e : group)
      if (e->grid.size() != 3) {
        errors.push_back(e->name + ": the manifest has no 3-dimensional grid");
        e->matched = true;
      }
    std::string spec = main->name.substr(0, main->name.find(",step="));
    std::string why;
    std::optional<Variant> v = parseVariant(spec, why);
    if (!v) {
      errors.push_back(main->name + ": not a variant spec (" + why + ")");
      continue;
    }
    // The tiles the entry was compiled with (after any fallback).
    // wgmma forwards take their warps from the tile (q-tile / 16).
    std::string mma = configString(*main, "mma", "mma_sync");
    int64_t warps =
        v->kind == "fwd" && mma != "wgmma" ? configInt(*main, "warps", 0) : 0;
    OwningOpRef<ModuleOp> module =
        parseSourceString<ModuleOp>(moduleFor(*v, &sizes), &ctx);
    if (!module) {
      errors.push_back(main->name + ": its module does not parse at static "
                                    "sizes");
      continue;
    }
    PassManager pm(&ctx);
    auto options = mlir::dma::GPUPipelineOptions::createFromString(
        gpuPipelineOptions(
            *v, chip, configInt(*main, "q_tile", v->qTile),
            configInt(*main, "k_tile", v->kTile), warps,
            configInt(*main, "stages", dma_defaults::kStages),
            configInt(*main, "rank_chunk", defaultRankChunk),
            mma));
    // Up to the launches, then only the host code folded: the kernels'
    // bodies need no lowering to be compared (their attributes suffice).
    mlir::dma::buildGPULaunchPipeline(pm, *options);
    pm.nest<func::FuncOp>().addPass(createCanonicalizerPass());
    if (failed(pm.run(*module))) {
      errors.push_back(main->name + ": does not lower at static sizes");
      continue;
    }
    module->walk([&](gpu::LaunchFuncOp launch) {
      for (Entry *e : group)
        if (e->kernel == launch.getKernelName().getValue()) {
          e->matched = true;
          ++launches;
          checkLaunch(launch, *e, errors);
        }
    });
    for (Entry *e : group)
      if (!e->matched)
        errors.push_back(e->name + ": the compiler launches no kernel " +
                         e->kernel + " for " + spec);
  }
  for (const std::string &e : errors)
    llvm::errs() << "dma-compile: ABI mismatch: " << e << "\n";
  llvm::outs() << "ABI check of " << path << ": " << entries.size()
               << " entries, " << launches << " launches, " << errors.size()
               << " mismatches\n";
  return errors.empty() ? 0 : 1;
}

} // namespace dma_compile
