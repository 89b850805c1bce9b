//===- Variant.h - dma-compile's kernel variants ------------------*- C++ -*-===//
//
// A variant is what one bundle entry (or a few: a backward's Delta and
// conversion kernels, the value-bias backward's steps) is compiled from:
// the spec string the runtime derives from a call, parsed and checked here,
// and the one-op MLIR module dma-compile lowers for it.
//
//===----------------------------------------------------------------------===//

#ifndef DMA_TOOLS_DMA_COMPILE_VARIANT_H
#define DMA_TOOLS_DMA_COMPILE_VARIANT_H

#include "dma/KernelDefaults.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace dma_compile {

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

  /// The runtime's defaults (include/dma/KernelDefaults.h) for a device
  /// of compute capability `arch` (90 when the bundle's forwards are on
  /// sm_90a's warpgroup MMA).
  void applyDefaultTiles(int arch) {
    if (isMask())
      return;
    using namespace dma_defaults;
    if (kind == "bwd") {
      qTile = qTile ? qTile : kBackwardQTile;
      kTile = kTile ? kTile : backwardKTile(d, dv ? dv : d);
      return;
    }
    if (!qTile)
      qTile = kForwardQTile;
    if (!kTile)
      kTile = forwardKTile(arch, mask, d, dv ? dv : d);
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

/// Sizes that make a variant's module static (the ABI check lowers it at
/// concrete sizes so that every launch folds to constants).
struct StaticSizes {
  int64_t B = 2, Lq = 200, Lk = 328, H = 4, Hkv = 2, W = 96;
};

/// Parses a `--variant` spec. Every key at most once, every value checked
/// here, so that a typo is an error naming its key rather than a different
/// kernel (or a crash further down the pipeline).
std::optional<Variant> parseVariant(llvm::StringRef spec, std::string &error);

/// The MLIR module of one variant: its op on memrefs whose sizes are
/// dynamic except the head dims (and the bias rows for a per-key bias), or
/// all static with `sizes`.
std::string moduleFor(const Variant &v, const StaticSizes *sizes = nullptr);

/// The --dma-gpu-pipeline options (format=none) `v` is compiled with: the
/// given tiles (mask variants have no attention to tile: 64 x 64, any valid
/// tile does), warps (0: the generator's choice), stages, rank chunk and
/// the forward's mma (mma_sync, wgmma or auto).
std::string gpuPipelineOptions(const Variant &v, llvm::StringRef chip,
                               int64_t qTile, int64_t kTile, int64_t warps,
                               int64_t stages, int64_t rankChunk,
                               llvm::StringRef mma);

/// The variants every bundle ships, for `headDims` (empty: every shipped
/// head dim).
std::vector<Variant> shippedVariants(llvm::ArrayRef<int64_t> headDims);

} // namespace dma_compile

#endif
