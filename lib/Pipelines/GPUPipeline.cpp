//===- GPUPipeline.cpp - the dma-gpu-pipeline -----------------------------===//
//
// dma ops -> bufferized -> mask generation as kernels
// (convert-dma-mask-to-gpu) -> attention tiled (dma-tile-attention) ->
// dense masks summarised (dma-block-skip) -> kept
// keys gathered (dma-gather-keys) -> attention kernels
// (convert-dma-tiles-to-gpu) ->
// NVVM target attached -> kernel bodies lowered to the NVVM/LLVM dialects
// -> serialised by gpu-module-to-binary (ptxas from the CUDA toolkit).
//
//===----------------------------------------------------------------------===//

#include "dma/Conversion/DMAToGPU/GPUChips.h"
#include "dma/Conversion/Passes.h"
#include "dma/Dialect/DMA/Transforms/Passes.h"
#include "dma/Pipelines/Pipelines.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Transforms/Passes.h"

#include <cstdlib>

using namespace mlir;

std::string dma::cudaToolkitPath(llvm::StringRef requested) {
  if (!requested.empty())
    return requested.str();
  if (const char *home = std::getenv("CUDA_HOME"); home && *home)
    return home;
  return "/usr/local/cuda";
}

std::string dma::resolveMma(const GPUPipelineOptions &options) {
  if (options.mma != "auto")
    return options.mma;
  // wgmma exists on sm_90a only (not sm_90, not Blackwell's sm_100a);
  // there dma-assign-layouts' auto picks it per forward. Explicit warps
  // are mma.sync's.
  return options.chip == "sm_90a" && options.warps == 0 ? "auto"
                                                         : "mma_sync";
}

void dma::buildGPULaunchPipeline(OpPassManager &pm,
                                 const GPUPipelineOptions &options) {
  // An unsupported chip fails here, with the list, before anything else
  // runs (it would crash or abort in LLVM's NVPTX backend otherwise).
  pm.addPass(dma::createCheckGPUChip(
      dma::CheckGPUChipOptions{options.chip, resolveMma(options)}));
  const dma::GPUChip *chip = dma::lookupGPUChip(options.chip);
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  // The mask generation (value bias, top-k) becomes its own kernels.
  pm.addPass(dma::createConvertDMAMaskToGPU());

  dma::DMATileAttentionOptions tiling;
  tiling.qTile = options.qTile;
  tiling.kTile = options.kTile;
  pm.addPass(dma::createDMATileAttention(tiling));
  // Dense masks: summarised per (query tile, key tile) block by a kernel;
  // the forward walks the non-empty blocks, the backward skips the empty
  // ones, and full blocks skip the per-element mask.
  pm.addPass(dma::createDMABlockSkip(dma::DMABlockSkipOptions{options.skip}));
  // Shared lists and per-query candidates (each CTA collects its own).
  dma::DMAGatherKeysOptions gathering;
  gathering.rankChunk = options.rankChunk;
  pm.addPass(dma::createDMAGatherKeys(gathering));
  // Where each tile lives: fragments, shared-memory rings, swizzle.
  dma::DMAAssignLayoutsOptions layouts;
  layouts.warps = options.warps;
  layouts.stages = options.stages;
  layouts.mma = resolveMma(options);
  pm.addPass(dma::createDMAAssignLayouts(layouts));
  dma::ConvertDMATilesToGPUOptions mapping;
  mapping.deterministic = options.deterministic;
  mapping.vectorAtomics = chip && chip->vectorAtomics;
  pm.addPass(dma::createConvertDMATilesToGPU(mapping));
}

void dma::buildGPUPipeline(OpPassManager &pm,
                           const GPUPipelineOptions &options) {
  buildGPULaunchPipeline(pm, options);
  pm.addPass(createCanonicalizerPass());
  const dma::GPUChip *chip = dma::lookupGPUChip(options.chip);

  GpuNVVMAttachTargetOptions target;
  target.moduleMatcher = "dma_kernels";
  target.chip = options.chip;
  // The chip's PTX ISA (8.1 at least: vector red.global on sm_90).
  target.features = "+ptx" + std::to_string(chip ? chip->ptxVersion : 81);
  target.optLevel = 3;
  pm.addPass(createGpuNVVMAttachTarget(target));

  OpPassManager &kernels = pm.nest<gpu::GPUModuleOp>();
  kernels.addPass(createSCFToControlFlowPass());
  kernels.addPass(createConvertGpuOpsToNVVMOps());
  // NVVM ops without an LLVM intrinsic (wgmma.mma_async) become inline PTX.
  kernels.addPass(createConvertNVVMToLLVMPass());
  kernels.addPass(createCanonicalizerPass());
  kernels.addPass(createCSEPass());
  kernels.addPass(createReconcileUnrealizedCastsPass());

  if (options.format != "none") {
    GpuModuleToBinaryPassOptions binary;
    binary.toolkitPath = cudaToolkitPath(options.toolkit);
    binary.compilationTarget = options.format;
    pm.addPass(createGpuModuleToBinaryPass(binary));
  }
}
