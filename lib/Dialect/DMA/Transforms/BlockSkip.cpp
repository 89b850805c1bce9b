//===- BlockSkip.cpp - the dma-block-skip pass ----------------------------===//
//
// Dense masks: summarise the mask once (dma.tile.mask_summary), then
//  * forward: walk only the listed key tiles of each query tile, up to the
//    causal end of the original loop, passing mask_full on full tiles;
//  * backward: skip empty (query tile, key tile) blocks of the query loop.
//
//===----------------------------------------------------------------------===//

#include "TileBuilder.h"
#include "dma/Dialect/DMA/IR/DMAOps.h"
#include "dma/Dialect/DMA/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

namespace mlir::dma {
#define GEN_PASS_DEF_DMABLOCKSKIP
#include "dma/Dialect/DMA/Transforms/Passes.h.inc"
} // namespace mlir::dma

using namespace mlir;
using namespace mlir::dma;

namespace {

using IPred = arith::CmpIPredicate;

/// The tile-level logits op of a key or query loop body that reads a dense
/// mask (not yet summarised).
TileLogitsOp denseLogitsIn(scf::ForOp loop) {
  for (Operation &op : loop.getBody()->without_terminator())
    if (auto logits = dyn_cast<TileLogitsOp>(op);
        logits && logits.getMask() && !logits.getMaskFull())
      return logits;
  return nullptr;
}

int64_t tileRows(Value tile) {
  return cast<ShapedType>(tile.getType()).getDimSize(0);
}

/// The mask summary of one tiled attention, computed before `anchor` (the
/// parallel loop); the buffer deallocation pipeline frees it.
struct Summary {
  Value state, tiles, count; // [Mb, Mh, nQT, nKT], same, [Mb, Mh, nQT]

  static Summary create(OpBuilder &b, Operation *anchor, TileLogitsOp logits) {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(anchor);
    TileBuilder t(b, anchor->getLoc());
    Value mask = logits.getMask();
    int64_t bm = tileRows(logits.getRows()), bn = tileRows(logits.getKeys());
    // The query tile's positions come from dma.tile.iota, bounded by Lq.
    Value lq = logits.getRows().getDefiningOp<TileIotaOp>().getBound();
    Value mb = t.dim(mask, 0), mh = t.dim(mask, 1);
    Value nQT = t.ceilDiv(lq, bm), nKT = t.ceilDiv(t.dim(mask, 3), bn);
    Type i32 = b.getI32Type();
    Summary s{t.allocOf(i32, {mb, mh, nQT, nKT}),
              t.allocOf(i32, {mb, mh, nQT, nKT}), t.allocOf(i32, {mb, mh, nQT})};
    MaskSummaryOp::create(b, anchor->getLoc(), TypeRange{}, mask, lq,
                          ValueRange{s.state, s.tiles, s.count}, bm, bn);
    return s;
  }
};

/// (mask batch, mask head) indices of the logits op's (b, h).
std::pair<Value, Value> maskIndices(TileBuilder &t, TileLogitsOp logits) {
  Value mask = logits.getMask();
  auto bcast = [&](Value size, Value iv) {
    return t.select(t.cmpi(static_cast<int>(IPred::eq), size, t.index(1)),
                    t.index(0), iv);
  };
  Value mh = t.dim(mask, 1);
  Value per = t.divui(logits.getHeads(), t.maxsi(mh, t.index(1)));
  Value head = t.divui(logits.getH(), t.maxsi(per, t.index(1)));
  return {bcast(t.dim(mask, 0), logits.getB()), bcast(mh, head)};
}

Value isState(TileBuilder &t, Value state, int64_t which) {
  return t.cmpi(static_cast<int>(IPred::eq), state,
                t.intOf(state.getType(), which));
}

/// Forward: the key loop walks the summary's list of non-empty key tiles.
void skipForward(OpBuilder &b, scf::ForOp loop, TileLogitsOp logits) {
  auto tiles = enclosingMarked<scf::ForallOp>(loop, kQueryTilesAttr);
  if (!tiles || !logits.getRows().getDefiningOp<TileIotaOp>())
    return;
  Summary s = Summary::create(b, tiles, logits);
  TileBuilder t(b, loop.getLoc());
  int64_t bn = tileRows(logits.getKeys());

  auto qpos = logits.getRows().getDefiningOp<TileIotaOp>();
  if (!qpos)
    return;
  b.setInsertionPoint(loop);
  auto [maskB, maskH] = maskIndices(t, logits);
  Value mb = maskB, mh = maskH; // (captured below)
  // The query tile index, from its first row (robust to folded loops).
  Value qt = t.divui(qpos.getStart(), t.index(tileRows(logits.getRows())));
  Value listed = t.loadIndex(s.count, {mb, mh, qt});
  // Listed tiles are ascending: keep those below the original (causal) end.
  Value causalEnd = loop.getUpperBound();
  Value walk = t.forLoop(t.index(0), listed, {t.index(0)},
                         [&](Value i, ValueRange n) {
                           Value kt = t.loadIndex(s.tiles, {mb, mh, qt, i});
                           Value below = t.cmpi(static_cast<int>(IPred::slt),
                                                kt, causalEnd);
                           return SmallVector<Value>{t.add(
                               n[0], t.select(below, t.index(1), t.index(0)))};
                         })[0];
  loop.getUpperBoundMutable().assign(walk);

  b.setInsertionPointToStart(loop.getBody());
  Value kt = t.loadIndex(s.tiles, {mb, mh, qt, loop.getInductionVar()});
  Value full = isState(t, t.load(s.state, {mb, mh, qt, kt}), 2);
  for (Operation &op : loop.getBody()->without_terminator())
    if (auto iota = dyn_cast<TileIotaOp>(op); iota &&
        iota->hasAttr(kKeyPositionsAttr))
      iota.getStartMutable().assign(t.mul(kt, t.index(bn)));
  logits.getMaskFullMutable().assign(full);
}

/// Backward: blocks that keep nothing are skipped.
void skipBackward(OpBuilder &b, scf::ForOp loop, TileLogitsOp logits) {
  auto tiles = enclosingMarked<scf::ForallOp>(loop, kKeyTilesAttr);
  auto kpos = logits.getKeys().getDefiningOp<TileIotaOp>();
  if (!tiles || !kpos || !logits.getRows().getDefiningOp<TileIotaOp>())
    return;
  Summary s = Summary::create(b, tiles, logits);
  TileBuilder t(b, loop.getLoc());
  Block *body = loop.getBody();
  auto yield = cast<scf::YieldOp>(body->getTerminator());

  b.setInsertionPointToStart(body);
  auto [mb, mh] = maskIndices(t, logits);
  // The key tile index, from its first key (robust to folded loops).
  Value kt = t.divui(kpos.getStart(), t.index(tileRows(logits.getKeys())));
  Value state = t.load(s.state, {mb, mh, loop.getInductionVar(), kt});
  Value active = t.notb(isState(t, state, 0));
  Value full = isState(t, state, 2);
  auto guard = scf::IfOp::create(b, loop.getLoc(), yield.getOperandTypes(),
                                 active, /*withElseRegion=*/true);
  Block *then = guard.thenBlock();
  then->getOperations().splice(then->end(), body->getOperations(),
                               std::next(guard->getIterator()),
                               yield->getIterator());
  b.setInsertionPointToEnd(then);
  scf::YieldOp::create(b, loop.getLoc(), yield.getOperands());
  b.setInsertionPointToEnd(guard.elseBlock());
  scf::YieldOp::create(b, loop.getLoc(), loop.getRegionIterArgs());
  yield->setOperands(guard.getResults());
  logits.getMaskFullMutable().assign(full);
}

struct DMABlockSkipPass : public dma::impl::DMABlockSkipBase<DMABlockSkipPass> {
  using Base::Base;

  void runOnOperation() override {
    if (!skip)
      return;
    SmallVector<std::pair<scf::ForOp, TileLogitsOp>> forward, backward;
    getOperation()->walk([&](scf::ForOp loop) {
      TileLogitsOp logits = denseLogitsIn(loop);
      if (!logits)
        return;
      if (loop->hasAttr(kKeyLoopAttr))
        forward.push_back({loop, logits});
      else if (loop->hasAttr(kQueryLoopAttr))
        backward.push_back({loop, logits});
    });
    OpBuilder b(&getContext());
    for (auto [loop, logits] : forward)
      skipForward(b, loop, logits);
    for (auto [loop, logits] : backward)
      skipBackward(b, loop, logits);
  }
};

} // namespace
