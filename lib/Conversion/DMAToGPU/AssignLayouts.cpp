//===- AssignLayouts.cpp - the dma-assign-layouts pass --------------------===//
//
// Puts the GPU layout of every tile of a tiled forward into its tensor type.
// Tiles that must be one buffer share a layout: an op's destination and
// the result tied to it, and a loop's init, iteration argument, yielded
// value and result. Those form equivalence classes; each class takes the
// layout of its members' roles (a gathered Q tile, the key positions, an
// f32 score tile, ...), and two different roles in one class fail the pass.
//
//===----------------------------------------------------------------------===//

#include "TiledForward.h"
#include "dma/Conversion/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Interfaces/DestinationStyleOpInterface.h"
#include "llvm/ADT/EquivalenceClasses.h"

namespace mlir::dma {
#define GEN_PASS_DEF_DMAASSIGNLAYOUTS
#include "dma/Conversion/Passes.h.inc"
} // namespace mlir::dma

using namespace mlir;
using namespace mlir::dma;

namespace {

bool isTensor(Value v) { return isa<RankedTensorType>(v.getType()); }

/// The classes of tensors of `tiles` that must share a layout.
llvm::EquivalenceClasses<Value> tiedTensors(scf::ForallOp tiles) {
  llvm::EquivalenceClasses<Value> tied;
  tiles.getBody()->walk([&](Operation *op) {
    for (Value r : op->getResults())
      if (isTensor(r))
        tied.insert(r);
    if (auto dps = dyn_cast<DestinationStyleOpInterface>(op)) {
      for (OpOperand &init : dps.getDpsInitsMutable())
        if (dps.hasPureTensorSemantics() || isTensor(init.get()))
          if (OpResult r = dps.getTiedOpResult(&init))
            tied.unionSets(init.get(), r);
    }
    if (auto loop = dyn_cast<scf::ForOp>(op)) {
      for (auto [init, arg, yielded, result] :
           llvm::zip(loop.getInitArgs(), loop.getRegionIterArgs(),
                     loop.getYieldedValues(), loop.getResults()))
        if (isTensor(init)) {
          tied.unionSets(init, arg);
          tied.unionSets(init, yielded);
          tied.unionSets(init, result);
        }
    }
  });
  return tied;
}

struct DMAAssignLayoutsPass
    : public dma::impl::DMAAssignLayoutsBase<DMAAssignLayoutsPass> {
  using DMAAssignLayoutsBase::DMAAssignLayoutsBase;

  LogicalResult assign(scf::ForallOp tiles) {
    FailureOr<TiledForward> read = readTiledForward(tiles, "dma-assign-layouts");
    if (failed(read))
      return failure();
    TiledForward &f = *read;
    ForwardKernelConfig &c = f.config;
    c.warpCount = warps;
    c.stages = stages;
    c.swizzle = swizzle;
    // wgmma: one 16-row tile per warp (a warpgroup computes 64 rows) and
    // Q, K, V in 64-column blocks of 128-byte swizzled rows.
    c.wgmma = (mma == "wgmma" || (mma == "auto" && wgmmaByDefault(c))) &&
              wgmmaFits(c);
    if (c.wgmma) {
      c.warpCount = c.blockM / 16;
      c.blockCols = kWgmmaBlockCols;
    }
    if (failed(verifyTiledForward(tiles, f)))
      return failure();
    if (failed(SharedLayoutAttr::verify(
            [&] { return tiles.emitError("dma-assign-layouts: "); }, 1,
            swizzle, 0)))
      return failure();
    MLIRContext *ctx = &getContext();
    auto mmaLayout =
        MmaLayoutAttr::get(ctx, c.warps(), c.rowTilesPerWarp(), c.wgmma);
    auto rows = RowsLayoutAttr::get(ctx, mmaLayout);
    auto queryTile = SharedLayoutAttr::get(ctx, 1, swizzle, c.blockCols);
    auto keyTiles = SharedLayoutAttr::get(ctx, stages, swizzle, c.blockCols);
    auto keyPositions = SharedLayoutAttr::get(ctx, stages, 1, 0);
    auto candidates = SharedLayoutAttr::get(ctx, 1, 1, 0);

    // Roles first (they win over the generic f32 rule), then by shape.
    llvm::DenseMap<Value, Attribute> role;
    role[f.qGather.getResult(0)] = queryTile;
    role[f.kGather.getResult(0)] = keyTiles;
    role[f.vGather.getResult(0)] = keyTiles;
    role[f.logits.getKeys()] = keyPositions;
    role[f.logits.getRows()] = rows;
    tiles.getBody()->walk([&](TileCandidatesOp op) {
      role[op.getResult(0)] = candidates;
    });
    auto layoutFor = [&](Value v) -> Attribute {
      if (Attribute a = role.lookup(v))
        return a;
      auto t = cast<RankedTensorType>(v.getType());
      if (t.getElementType().isF32())
        return t.getRank() == 2 ? Attribute(mmaLayout) : Attribute(rows);
      return {};
    };

    llvm::EquivalenceClasses<Value> tied = tiedTensors(tiles);
    for (auto it = tied.begin(); it != tied.end(); ++it) {
      if (!(*it)->isLeader())
        continue;
      Attribute layout;
      Value decidedBy;
      for (auto m = tied.member_begin(**it); m != tied.member_end(); ++m) {
        Attribute a = layoutFor(*m);
        if (!a)
          continue;
        if (layout && a != layout) {
          InFlightDiagnostic d =
              tiles.emitError("dma-assign-layouts: a tile would need two "
                              "layouts, ")
              << layout << " and " << a;
          d.attachNote(decidedBy.getLoc()) << "the first from here";
          d.attachNote((*m).getLoc()) << "the second from here";
          return failure();
        }
        layout = a;
        decidedBy = *m;
      }
      if (!layout)
        continue; // not a tile the kernel stages (e.g. a count)
      for (auto m = tied.member_begin(**it); m != tied.member_end(); ++m) {
        Value v = *m;
        auto t = cast<RankedTensorType>(v.getType());
        v.setType(
            RankedTensorType::get(t.getShape(), t.getElementType(), layout));
      }
    }
    return success();
  }

  void runOnOperation() override {
    if (mma != "mma_sync" && mma != "wgmma" && mma != "auto") {
      getOperation().emitError("dma-assign-layouts: mma must be mma_sync, "
                               "wgmma or auto, got '")
          << mma << "'";
      return signalPassFailure();
    }
    if (mma != "mma_sync" && (warps || swizzle != 8)) {
      getOperation().emitError(
          "dma-assign-layouts: mma=wgmma (and auto) fix the warps (q-tile / 16) and "
          "the swizzle (8: wgmma's 128-byte pattern); leave warps and "
          "swizzle at their defaults");
      return signalPassFailure();
    }
    SmallVector<scf::ForallOp> forwards;
    getOperation().walk([&](scf::ForallOp tiles) {
      if (isTiledForward(tiles))
        forwards.push_back(tiles);
    });
    for (scf::ForallOp tiles : forwards)
      if (failed(assign(tiles)))
        return signalPassFailure();
  }
};

} // namespace
