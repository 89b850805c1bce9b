//===- CheckGPUChip.cpp - the dma-check-gpu-chip pass ---------------------===//
//
// The supported chips (GPUChips.h) and the pass that fails, listing them,
// when the GPU pipeline is asked for another one.
//
//===----------------------------------------------------------------------===//

#include "dma/Conversion/DMAToGPU/GPUChips.h"
#include "dma/Conversion/Passes.h"

#include "mlir/IR/BuiltinOps.h"

namespace mlir::dma {
#define GEN_PASS_DEF_CHECKGPUCHIP
#include "dma/Conversion/Passes.h.inc"
} // namespace mlir::dma

using namespace mlir;
using namespace mlir::dma;

llvm::ArrayRef<GPUChip> mlir::dma::supportedGPUChips() {
  // The PTX version is the lowest LLVM 22 accepts for the chip, at least
  // 8.1 (vector red.global on sm_90).
  static const GPUChip chips[] = {
      {"sm_80", 81, false},   {"sm_86", 81, false},   {"sm_87", 81, false},
      {"sm_89", 81, false},   {"sm_90", 81, true},    {"sm_90a", 81, true},
      {"sm_100", 86, true},   {"sm_100a", 86, true},  {"sm_103", 88, true},
      {"sm_103a", 88, true},  {"sm_110", 90, true},   {"sm_110a", 90, true},
      {"sm_120", 87, true},   {"sm_120a", 87, true},  {"sm_121", 88, true},
      {"sm_121a", 88, true},
  };
  return chips;
}

const GPUChip *mlir::dma::lookupGPUChip(llvm::StringRef name) {
  for (const GPUChip &chip : supportedGPUChips())
    if (chip.name == name)
      return &chip;
  return nullptr;
}

std::string mlir::dma::supportedGPUChipList() {
  std::string list;
  for (const GPUChip &chip : supportedGPUChips())
    list += (list.empty() ? "" : ", ") + chip.name.str();
  return list;
}

namespace {

struct CheckGPUChipPass
    : public dma::impl::CheckGPUChipBase<CheckGPUChipPass> {
  using CheckGPUChipBase::CheckGPUChipBase;
  void runOnOperation() override {
    // Not the module's own errors: printing the whole module as a note
    // would bury the one line that matters.
    Location loc = getOperation().getLoc();
    if (!lookupGPUChip(chip)) {
      mlir::emitError(loc)
          << "unsupported GPU chip '" << chip
          << "': the dma kernels (mma.sync, ldmatrix, cp.async) compile for "
          << supportedGPUChipList();
      return signalPassFailure();
    }
    if (mma != "mma_sync" && mma != "wgmma" && mma != "auto") {
      mlir::emitError(loc) << "unknown mma '" << mma
                           << "': use mma_sync, wgmma (sm_90a) or auto";
      return signalPassFailure();
    }
    // The warpgroup MMA is sm_90a's alone: sm_90 lacks the `a` features,
    // Blackwell (sm_100a, ...) has tcgen05 instead. (The pipeline resolves
    // its auto to mma_sync elsewhere.)
    if (mma != "mma_sync" && chip != "sm_90a") {
      mlir::emitError(loc) << "mma=wgmma (the warpgroup MMA) needs "
                              "chip=sm_90a, got '"
                           << chip << "': use mma=mma_sync or mma=auto";
      return signalPassFailure();
    }
  }
};

} // namespace
