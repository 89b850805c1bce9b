//===- CPUPipeline.cpp - the dma-cpu-pipeline -----------------------------===//

#include "dma/Conversion/DMAToGPU/GPUChips.h"
#include "dma/Conversion/Passes.h"
#include "dma/Dialect/DMA/Transforms/Passes.h"
#include "dma/Pipelines/Pipelines.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void dma::buildLowerLoopsToLLVM(OpPassManager &pm) {
  pm.addPass(createSCFToControlFlowPass());
  // expand-strided-metadata crashes on an expand_shape whose static
  // output_shape is not in its result type: refine those first.
  pm.addPass(dma::createDMAStaticExpandShape());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  // bf16/f16 <-> f32 conversions become integer code: no soft-float
  // library calls are needed at run time.
  arith::ArithExpandOpsPassOptions expand;
  expand.includeBf16 = true;
  pm.addPass(arith::createArithExpandOpsPass(expand));
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createConvertMathToLibmPass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

void dma::buildCPUPipeline(OpPassManager &pm,
                           const CPUPipelineOptions &options) {
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = options.bufferizeFunctionBoundaries;
  bufferize.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  if (options.tile) {
    dma::DMATileAttentionOptions tiling;
    tiling.qTile = options.qTile;
    tiling.kTile = options.kTile;
    tiling.countVisits = options.countVisits;
    pm.addPass(dma::createDMATileAttention(tiling));
    pm.addPass(dma::createDMABlockSkip(dma::DMABlockSkipOptions{options.skip}));
    dma::DMAGatherKeysOptions gathering;
    gathering.gather = options.skip;
    gathering.rankChunk = options.rankChunk;
    pm.addPass(dma::createDMAGatherKeys(gathering));
    // The tiles are tensors: bufferize them (one buffer per tile).
    pm.addPass(bufferization::createOneShotBufferizePass());
  }
  // Frees every allocation made so far (destinations, tiles, scratch).
  bufferization::buildBufferDeallocationPipeline(pm);
  pm.addPass(dma::createConvertDMAToLoops());
  pm.addPass(createConvertLinalgToLoopsPass());
  pm.addPass(createForallToForLoopPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  if (options.lowerToLLVM)
    buildLowerLoopsToLLVM(pm);
}

void dma::registerPipelines() {
  PassPipelineRegistration<CPUPipelineOptions>(
      "dma-cpu-pipeline",
      "Lower dma ops to the LLVM dialect for the CPU: bufferize, tile, skip "
      "or gather, loops, LLVM",
      buildCPUPipeline);
  // Registered by hand to check the chip while the options are parsed: an
  // unsupported chip is an option error, reported before any input is read
  // (the pipeline's first pass, dma-check-gpu-chip, reports it for
  // pipelines built through the C++ API).
  registerPassPipeline(
      "dma-gpu-pipeline",
      "Generate GPU kernels for dma attention: bufferize, tile, gather, "
      "tensor-core kernels, NVVM, cubin/PTX",
      [](OpPassManager &pm, StringRef text,
         function_ref<LogicalResult(const Twine &)> errorHandler) {
        GPUPipelineOptions options;
        if (failed(options.parseFromString(text)))
          return failure();
        if (!lookupGPUChip(options.chip))
          return errorHandler("unsupported GPU chip '" + options.chip +
                              "': the dma kernels compile for " +
                              supportedGPUChipList());
        buildGPUPipeline(pm, options);
        return success();
      },
      [](function_ref<void(const detail::PassOptions &)> optHandler) {
        optHandler(GPUPipelineOptions());
      });
}
