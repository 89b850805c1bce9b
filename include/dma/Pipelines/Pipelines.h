//===- Pipelines.h - the named dma pipelines --------------------*- C++ -*-===//
//
// The pipelines that take a module using dma ops down to a target, as
// mlir-opt's `gpu-lower-to-nvvm-pipeline` does for GPU code. Each is
// registered under its flag for dma-opt and can be built into any
// OpPassManager by an embedding compiler.
//
//===----------------------------------------------------------------------===//

#ifndef DMA_PIPELINES_PIPELINES_H
#define DMA_PIPELINES_PIPELINES_H

#include "dma/KernelDefaults.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

namespace mlir::dma {

/// Options of `--dma-cpu-pipeline`.
struct CPUPipelineOptions : public PassPipelineOptions<CPUPipelineOptions> {
  PassOptions::Option<bool> bufferizeFunctionBoundaries{
      *this, "bufferize-function-boundaries",
      llvm::cl::desc("Bufferize tensor function arguments and results (to "
                     "identity-layout memrefs)"),
      llvm::cl::init(true)};
  PassOptions::Option<bool> tile{
      *this, "tile",
      llvm::cl::desc("Tile attention into the online-softmax form "
                     "(dma-tile-attention); false keeps the direct loops"),
      llvm::cl::init(true)};
  PassOptions::Option<int64_t> qTile{
      *this, "q-tile", llvm::cl::desc("Query rows per tile"),
      llvm::cl::init(64)};
  PassOptions::Option<int64_t> kTile{*this, "k-tile",
                                     llvm::cl::desc("Keys per tile"),
                                     llvm::cl::init(64)};
  PassOptions::Option<bool> skip{
      *this, "skip",
      llvm::cl::desc("Skip masked tiles and gather kept keys "
                     "(dma-block-skip, dma-gather-keys)"),
      llvm::cl::init(true)};
  PassOptions::Option<int64_t> rankChunk{
      *this, "rank-chunk",
      llvm::cl::desc("Keys per chunk the per-query backward orders by score "
                     "(dma-gather-keys)"),
      llvm::cl::init(dma_defaults::kRankChunk)};
  PassOptions::Option<bool> countVisits{
      *this, "count-visits",
      llvm::cl::desc("Count visited key tiles and keys in @dma_visit_counts"),
      llvm::cl::init(false)};
  PassOptions::Option<bool> lowerToLLVM{
      *this, "lower-to-llvm",
      llvm::cl::desc("Continue past the scf loops down to the LLVM dialect"),
      llvm::cl::init(true)};
};

/// Options of `--dma-gpu-pipeline`.
struct GPUPipelineOptions : public PassPipelineOptions<GPUPipelineOptions> {
  PassOptions::Option<std::string> chip{
      *this, "chip",
      llvm::cl::desc("Target GPU: sm_80, sm_86, sm_87, sm_89, sm_90, "
                     "sm_90a, sm_100(a), sm_103(a), sm_110(a), sm_120(a) or "
                     "sm_121(a) (the kernels use mma.sync, ldmatrix and "
                     "cp.async; dma-check-gpu-chip rejects others)"),
      llvm::cl::init("sm_90a")};
  PassOptions::Option<int64_t> qTile{
      *this, "q-tile",
      llvm::cl::desc("Query rows per CTA (16 per warp)"),
      llvm::cl::init(dma_defaults::kForwardQTile)};
  PassOptions::Option<int64_t> kTile{
      *this, "k-tile", llvm::cl::desc("Keys per tile"),
      llvm::cl::init(dma_defaults::kForwardKTile)};
  PassOptions::Option<int64_t> warps{
      *this, "warps",
      llvm::cl::desc("Warps per CTA (q-tile / warps rows each, a multiple of "
                     "16); 0 picks per kernel"),
      llvm::cl::init(0)};
  PassOptions::Option<int64_t> stages{
      *this, "stages",
      llvm::cl::desc("K/V tiles in flight in shared memory (2 to 4)"),
      llvm::cl::init(dma_defaults::kStages)};
  PassOptions::Option<std::string> mma{
      *this, "mma",
      llvm::cl::desc("The forward's tensor-core instruction: mma_sync, "
                     "wgmma (sm_90a's warpgroup MMA, where the tiles fit), "
                     "or auto (on sm_90a without explicit warps: wgmma "
                     "where it fits, but mma.sync for a shared top-k or a dense "
                     "mask; "
                     "mma_sync elsewhere)"),
      llvm::cl::init("auto")};
  PassOptions::Option<int64_t> rankChunk{
      *this, "rank-chunk",
      llvm::cl::desc("Keys per chunk the per-query backward orders by score "
                     "(dma-gather-keys; on the GPU at most 65536, a multiple "
                     "of k-tile whose sort fits shared memory)"),
      llvm::cl::init(dma_defaults::kRankChunk)};
  PassOptions::Option<bool> skip{
      *this, "skip",
      llvm::cl::desc("Dense masks: walk only the (query tile, key tile) "
                     "blocks that keep an entry and skip the mask on full "
                     "ones (dma-block-skip, a summary kernel per call)"),
      llvm::cl::init(true)};
  PassOptions::Option<bool> deterministic{
      *this, "deterministic",
      llvm::cl::desc("Backward: add into shared gradient rows in a fixed CTA "
                     "order (bitwise reproducible, slower)"),
      llvm::cl::init(false)};
  PassOptions::Option<std::string> toolkit{
      *this, "toolkit",
      llvm::cl::desc("CUDA toolkit (ptxas, libdevice); default $CUDA_HOME or "
                     "/usr/local/cuda"),
      llvm::cl::init("")};
  PassOptions::Option<std::string> format{
      *this, "format",
      llvm::cl::desc("What gpu-module-to-binary produces: bin (cubin), isa "
                     "(PTX), fatbin, or none to stop at the NVVM dialect"),
      llvm::cl::init("fatbin")};
};

/// dma-assign-layouts' mma for `options`: its mma, with auto resolved by
/// the chip (auto, per forward, on sm_90a without explicit warps, else
/// mma_sync).
std::string resolveMma(const GPUPipelineOptions &options);

/// dma attention ops -> tiles -> generated NVVM kernels -> cubin/PTX.
void buildGPUPipeline(OpPassManager &pm, const GPUPipelineOptions &options);

/// The first half of buildGPUPipeline: up to the host's kernel launches
/// (the kernels generated as gpu.funcs, not yet lowered to NVVM, nothing
/// canonicalized). dma-compile --check-abi reads the launches from there.
void buildGPULaunchPipeline(OpPassManager &pm,
                            const GPUPipelineOptions &options);

/// The CUDA toolkit to use: `requested`, else $CUDA_HOME, else
/// /usr/local/cuda.
std::string cudaToolkitPath(llvm::StringRef requested);

/// dma ops (tensors or memrefs) -> bufferized -> scf loops -> LLVM dialect.
void buildCPUPipeline(OpPassManager &pm, const CPUPipelineOptions &options);

/// The standard lowering of scf/arith/math/memref/func code to the LLVM
/// dialect that the CPU pipeline ends with.
void buildLowerLoopsToLLVM(OpPassManager &pm);

/// Registers every named pipeline under its flag (`dma-cpu-pipeline`, ...).
void registerPipelines();

} // namespace mlir::dma

#endif // DMA_PIPELINES_PIPELINES_H
