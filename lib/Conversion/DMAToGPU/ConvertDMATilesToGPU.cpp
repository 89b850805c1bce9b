//===- ConvertDMATilesToGPU.cpp - the convert-dma-tiles-to-gpu pass -------===//
//
// Reads each tiled forward (the scf.forall that dma-tile-attention and
// dma-gather-keys produced, with the layouts of dma-assign-layouts; see
// TiledForward.h), derives the kernel configuration from its tile ops (tile
// shapes, the logits op's scale, cap, causality, bias and mask form,
// contiguous or gathered key positions) and layouts (warps, stages,
// swizzle, fragments), lowers the nest into a kernel of gpu.module
// @dma_kernels one tile op at a time (ForwardPatterns.cpp) and replaces
// the nest by a gpu.launch_func over (query tiles, heads, batch) with the
// memrefs' pointers, sizes and strides as arguments. The backward's nests
// and the conversions become kernels generated from their configurations.
//
//===----------------------------------------------------------------------===//

#include "TiledForward.h"
#include "dma/Conversion/DMAToGPU/BackwardKernel.h"
#include "dma/Conversion/DMAToGPU/ForwardKernel.h"
#include "dma/Conversion/DMAToGPU/MaskSummaryKernel.h"
#include "dma/Conversion/Passes.h"
#include "dma/Dialect/DMA/IR/DMAOps.h"
#include "dma/Utils/LoopEmitter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir::dma {
#define GEN_PASS_DEF_CONVERTDMATILESTOGPU
#include "dma/Conversion/Passes.h.inc"
} // namespace mlir::dma

using namespace mlir;
using namespace mlir::dma;

namespace {

/// Binds the forward kernel's parameters (forwardKernelParams' names).
void bindForward(LaunchArgs &a, const TiledForward &f) {
  for (auto [name, m] : {std::pair{"q", f.q}, {"k", f.k}, {"v", f.v}, {"o", f.o}})
    a.tensor(name, m, "blh");
  a.tensor("lse", f.lse, "bh");
  a.attention(f.config, f.q, f.k, f.masks);
}

/// Replaces a dma.tile.convert by launches of the generated conversion
/// kernel: the pairs grouped by element types, kConvertSegments per launch.
LogicalResult lowerConvert(OpBuilder &b, gpu::GPUModuleOp kernels,
                           TileConvertOp op) {
  Location loc = op.getLoc();
  if (failed(checkConvertible(op, op.getOperands())))
    return failure();
  SmallVector<std::pair<Value, Value>> pairs;
  for (auto [from, to] : llvm::zip(op.getSources(), op.getDests()))
    pairs.push_back({from, to});
  // Stable grouping by (source, destination) element types.
  llvm::stable_sort(pairs, [](auto &x, auto &y) {
    auto key = [](auto &p) {
      return std::make_pair(eltOf(p.first).getIntOrFloatBitWidth(),
                            eltOf(p.second).getIntOrFloatBitWidth());
    };
    return key(x) < key(y);
  });
  b.setInsertionPoint(op);
  LaunchArgs a(b, loc);
  LoopEmitter &e = a.e;
  auto numel = [&](Value m) {
    Value n = e.index(1);
    for (unsigned d = 0; d < cast<MemRefType>(m.getType()).getRank(); ++d)
      n = e.mul(n, e.dim(m, d));
    return n;
  };
  for (size_t start = 0; start < pairs.size();) {
    Type from = eltOf(pairs[start].first), to = eltOf(pairs[start].second);
    size_t end = start;
    while (end < pairs.size() && end - start < size_t(kConvertSegments) &&
           eltOf(pairs[end].first) == from && eltOf(pairs[end].second) == to)
      ++end;
    std::string name;
    llvm::raw_string_ostream os(name);
    os << "dma_convert_" << from << "_to_" << to;
    auto kernel = kernels.lookupSymbol<gpu::GPUFuncOp>(name);
    if (!kernel) {
      kernel = emitConvertKernel(b, loc, kernels, name, from, to);
      b.setInsertionPoint(op);
    }
    // Pairs past this launch's: null pointers, no elements.
    Value null = LLVM::ZeroOp::create(b, loc, LLVM::LLVMPointerType::get(b.getContext()));
    for (int64_t i = 0; i < kConvertSegments; ++i) {
      size_t s = start + i;
      std::string n = std::to_string(i);
      a.set("src" + n, s < end ? a.pointer(pairs[s].first) : null);
      a.set("dst" + n, s < end ? a.pointer(pairs[s].second) : null);
      a.set("n" + n, s < end ? e.indexCast(b.getI64Type(), numel(pairs[s].first))
                             : e.intOf(b.getI64Type(), 0));
    }
    a.set("pairs", e.intOf(b.getI32Type(), end - start));
    if (failed(a.launch(kernel)))
      return failure();
    start = end;
  }
  op.erase();
  return success();
}

} // namespace

LogicalResult mlir::dma::convertMaskSummary(OpBuilder &b,
                                            gpu::GPUModuleOp kernels,
                                            MaskSummaryOp op,
                                            unsigned &index) {
  Value mask = op.getMask();
  if (failed(checkI32Sizes(op, {mask})))
    return failure();
  int64_t qTile = op.getQTile(), kTile = op.getKTile();
  std::string suffix = "_m" + std::to_string(qTile) + "n" +
                       std::to_string(kTile) + "_" + std::to_string(index++);
  gpu::GPUFuncOp states = emitMaskStateKernel(
      b, op.getLoc(), kernels, "dma_mask_state" + suffix, qTile, kTile);
  gpu::GPUFuncOp lists = emitMaskListKernel(
      b, op.getLoc(), kernels, "dma_mask_list" + suffix, qTile, kTile);
  b.setInsertionPoint(op);
  LaunchArgs args(b, op.getLoc());
  ValueRange outs = op.getOuts();
  args.tensor("mask", mask, "bhqk");
  args.set("mask_state", args.pointer(outs[0]));
  args.set("mask_tiles", args.pointer(outs[1]));
  args.set("mask_count", args.pointer(outs[2]));
  args.set("Lq", args.i32(op.getRows()));
  args.set("Lk", args.dimI32(mask, 3));
  args.set("mask_heads", args.dimI32(mask, 1));
  args.set("mask_batch", args.dimI32(mask, 0));
  if (failed(args.launch(states)) || failed(args.launch(lists)))
    return failure();
  op.erase();
  return success();
}

namespace {

struct ConvertDMATilesToGPUPass
    : public dma::impl::ConvertDMATilesToGPUBase<ConvertDMATilesToGPUPass> {
  using ConvertDMATilesToGPUBase::ConvertDMATilesToGPUBase;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<scf::ForallOp> forwards, deltas, keyTiles;
    bool converts = false;
    module.walk([&](TileConvertOp) { converts = true; });
    module.walk([&](scf::ForallOp tiles) {
      if (isTiledForward(tiles))
        forwards.push_back(tiles);
      if (tiles->hasAttr("dma.delta_tiles"))
        deltas.push_back(tiles);
      if (tiles->hasAttr("dma.key_tiles"))
        keyTiles.push_back(tiles);
    });
    // An attention left untiled would silently never run on the GPU.
    WalkResult untiled = module.walk([&](Operation *op) {
      if (!isa<AttentionOp, AttentionGradOp>(op))
        return WalkResult::advance();
      // q, k, v, o and their gradients: [B, L, H, D].
      bool dynamic = false;
      for (Value v : op->getOperands())
        if (auto t = dyn_cast<ShapedType>(v.getType());
            t && t.getRank() == 4 && ShapedType::isDynamic(t.getDimSize(3)))
          dynamic = true;
      op->emitError("convert-dma-tiles-to-gpu: ")
          << (dynamic ? "the GPU kernels need static head dims (an op with "
                        "dynamic ones is not tiled)"
                      : "not tiled (run dma-tile-attention first)");
      return WalkResult::interrupt();
    });
    if (untiled.wasInterrupted())
      return signalPassFailure();
    if (forwards.empty() && deltas.empty() && keyTiles.empty() && !converts)
      return;

    // Every limit first: the generators unroll over head dims and tiles, so
    // a size out of range (D = 2^32) must fail here, before any kernel of
    // any nest is built (the Delta kernel of a backward comes before the
    // backward's own checks otherwise).
    for (scf::ForallOp tiles : deltas)
      if (failed(checkDeltaTiles(tiles)))
        return signalPassFailure();
    for (scf::ForallOp tiles : keyTiles)
      if (failed(checkKeyTiles(tiles, deterministic)))
        return signalPassFailure();
    WalkResult badConvert = module.walk([&](TileConvertOp op) {
      return failed(checkConvertible(op, op.getOperands()))
                 ? WalkResult::interrupt()
                 : WalkResult::advance();
    });
    if (badConvert.wasInterrupted())
      return signalPassFailure();
    std::vector<TiledForward> analyzed;
    for (scf::ForallOp tiles : forwards) {
      FailureOr<TiledForward> f = readTiledForward(tiles, "convert-dma-tiles-to-gpu");
      if (failed(f) || failed(readForwardLayouts(tiles, *f)))
        return signalPassFailure();
      analyzed.push_back(*f);
    }

    OpBuilder b(&getContext());
    gpu::GPUModuleOp kernels = kernelModule(b, module);
    unsigned backwardIndex = 0;
    for (scf::ForallOp tiles : deltas)
      if (failed(convertDeltaTiles(b, kernels, tiles, backwardIndex)))
        return signalPassFailure();
    for (scf::ForallOp tiles : keyTiles)
      if (failed(convertKeyTiles(b, kernels, tiles, backwardIndex,
                                 vectorAtomics, deterministic)))
        return signalPassFailure();
    unsigned index = 0;
    for (auto [tiles, forward] : llvm::zip_equal(forwards, analyzed)) {
      TiledForward *f = &forward;
      std::string name = "dma_attention_fwd_" + f->config.variantName() +
                         "_" + std::to_string(index++);
      FailureOr<gpu::GPUFuncOp> kernel =
          lowerTiledForward(b, kernels, tiles, *f, name);
      if (failed(kernel))
        return signalPassFailure();

      b.setInsertionPoint(tiles);
      LaunchArgs args(b, tiles.getLoc());
      bindForward(args, *f);
      if (failed(args.launch(*kernel)))
        return signalPassFailure();
      tiles.erase();
    }
    // The summaries last: the kernels above read their buffers by value.
    SmallVector<MaskSummaryOp> summaries;
    module.walk([&](MaskSummaryOp op) { summaries.push_back(op); });
    unsigned summaryIndex = 0;
    for (MaskSummaryOp op : summaries)
      if (failed(convertMaskSummary(b, kernels, op, summaryIndex)))
        return signalPassFailure();
    // After the key tiles: their dK/dV conversions joined these ops.
    SmallVector<TileConvertOp> conversions;
    module.walk([&](TileConvertOp op) { conversions.push_back(op); });
    for (TileConvertOp op : conversions)
      if (failed(lowerConvert(b, kernels, op)))
        return signalPassFailure();
  }
};

} // namespace
