//===- GatherKeys.cpp - the dma-gather-keys pass --------------------------===//
//
// Top-k masks: replace the walk over contiguous key tiles by a walk over
// gathered chunks of keys (see Passes.td):
//  * shared, forward: chunks of the sorted kept list, up to the causal limit;
//  * shared, backward: the outer parallel loop runs over chunks of the list;
//  * per-query, forward: chunks of the query tile's candidate keys;
//  * per-query, backward: key tiles ranked by score within chunks
//    (dma.tile.ranked_keys), the query loop bounded by the rows keeping
//    their keys (dma.tile.keeping_rows).
// The forms with a list make the key positions op (dma.tile.iota, marked
// dma.key_positions) a dma.tile.positions over it, and the loop bound the
// number of chunks.
//
//===----------------------------------------------------------------------===//

#include "TileBuilder.h"
#include "dma/Dialect/DMA/IR/DMAOps.h"
#include "dma/Dialect/DMA/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace mlir::dma {
#define GEN_PASS_DEF_DMAGATHERKEYS
#include "dma/Dialect/DMA/Transforms/Passes.h.inc"
} // namespace mlir::dma

using namespace mlir;
using namespace mlir::dma;

namespace {

using IPred = arith::CmpIPredicate;

int ip(IPred p) { return static_cast<int>(p); }

int64_t tileRows(Value tile) {
  return cast<ShapedType>(tile.getType()).getDimSize(0);
}

/// The key positions op directly inside `block`.
TileIotaOp keyPositionsIn(Block *block) {
  for (Operation &op : *block)
    if (auto iota = dyn_cast<TileIotaOp>(op);
        iota && iota->hasAttr(kKeyPositionsAttr))
      return iota;
  return nullptr;
}

/// The first top-k logits op (not yet gathered) nested in `op`.
TileLogitsOp topKLogitsIn(Operation *op) {
  TileLogitsOp found;
  op->walk([&](TileLogitsOp logits) {
    if (!found && ((logits.getKeep() && !logits.getKeysKept()) ||
                   logits.getKeepScore()))
      found = logits;
  });
  return found;
}

Value bcast(TileBuilder &t, Value size, Value iv) {
  return t.select(t.cmpi(ip(IPred::eq), size, t.index(1)), t.index(0), iv);
}

/// Leading (batch, head) indices of a [{B|1}, {Hkv|H|1}, ...] top-k tensor.
std::pair<Value, Value> topKIndices(TileBuilder &t, Value list, Value b,
                                    Value h, Value heads) {
  Value n = t.dim(list, 1);
  Value per = t.divui(heads, t.maxsi(n, t.index(1)));
  Value head = t.divui(h, t.maxsi(per, t.index(1)));
  return {bcast(t, t.dim(list, 0), b), bcast(t, n, head)};
}

/// Indices of the row of a [{B|1}, {Hkv|1}, ...] top-k tensor that the
/// backward's key-tile iteration (batch, KV head, tile) of `tiles` reads.
std::pair<Value, Value> keyTileIndices(TileBuilder &t, scf::ForallOp tiles,
                                       Value list) {
  Value bIv = tiles.getInductionVars()[0], g = tiles.getInductionVars()[1];
  return {bcast(t, t.dim(list, 0), bIv), bcast(t, t.dim(list, 1), g)};
}

/// Replaces the key positions iota by positions read from `list`.
void readPositionsFrom(OpBuilder &b, TileIotaOp iota, Value list,
                       ValueRange indices) {
  b.setInsertionPoint(iota);
  auto positions = TilePositionsOp::create(
      b, iota.getLoc(), iota->getResultTypes(), list, indices, iota.getStart(),
      iota.getBound(), iota.getOuts());
  positions->setAttr(kKeyPositionsAttr, b.getUnitAttr());
  iota->replaceAllUsesWith(positions);
  iota->erase();
}

/// The number of entries of the ascending, -1 padded list[kb, kh, :] that
/// are valid positions <= `limit` (binary search).
Value countUpTo(TileBuilder &t, Value list, Value kb, Value kh, Value limit) {
  return t.partitionPoint(t.index(0), t.dim(list, 2), [&](Value i) {
    Value v = t.loadIndex(list, {kb, kh, i});
    return t.andi(t.cmpi(ip(IPred::sge), v, t.index(0)),
                  t.cmpi(ip(IPred::sle), v, limit));
  });
}

/// Forward key loop over a shared top-k list.
void gatherSharedForward(OpBuilder &b, scf::ForOp loop, TileLogitsOp logits) {
  TileIotaOp iota = keyPositionsIn(loop.getBody());
  auto qpos = logits.getRows().getDefiningOp<TileIotaOp>();
  if (!iota || !qpos)
    return;
  TileBuilder t(b, loop.getLoc());
  b.setInsertionPoint(loop);
  Value keep = logits.getKeep();
  auto [kb, kh] = topKIndices(t, keep, logits.getB(), logits.getH(),
                              logits.getHeads());
  // The last key any row of the tile may see.
  Value lk = iota.getBound();
  Value limit = t.sub(lk, t.index(1));
  if (logits.getCausal()) {
    Value lastRow =
        t.sub(t.minsi(t.add(qpos.getStart(), t.index(tileRows(qpos.getResult(0)))),
                      qpos.getBound()),
              t.index(1));
    limit = t.add(lastRow, logits.getKeyOffset());
  }
  Value n = countUpTo(t, keep, kb, kh, limit);
  loop.getUpperBoundMutable().assign(t.ceilDiv(n, tileRows(iota.getResult(0))));
  readPositionsFrom(b, iota, keep, {kb, kh});
  logits.setKeysKept(true);
}

/// Forward key loop over the candidates of a per-query top-k.
void gatherPerQueryForward(OpBuilder &b, scf::ForOp loop,
                           TileLogitsOp logits) {
  TileIotaOp iota = keyPositionsIn(loop.getBody());
  auto qpos = logits.getRows().getDefiningOp<TileIotaOp>();
  if (!iota || !qpos)
    return;
  TileBuilder t(b, loop.getLoc());
  b.setInsertionPoint(loop);
  Value lk = iota.getBound();
  Value first = t.sub(lk, t.index(1)), last = first;
  if (logits.getCausal()) {
    Value q0 = qpos.getStart();
    Value lastRow =
        t.sub(t.minsi(t.add(q0, t.index(tileRows(qpos.getResult(0)))),
                      qpos.getBound()),
              t.index(1));
    first = t.add(q0, logits.getKeyOffset());
    last = t.add(lastRow, logits.getKeyOffset());
  }
  Value listE = tensor::EmptyOp::create(b, loop.getLoc(),
                                        ArrayRef<int64_t>{ShapedType::kDynamic},
                                        b.getI32Type(), ValueRange{lk});
  Value list =
      TileCandidatesOp::create(
          b, loop.getLoc(), listE.getType(), logits.getKeepScore(),
          logits.getKeepThreshold(), logits.getKeepTiebreak(), logits.getB(),
          logits.getH(), logits.getHeads(), first, last, listE)
          .getResult(0);
  Value n = t.count(list);
  loop.getUpperBoundMutable().assign(t.ceilDiv(n, tileRows(iota.getResult(0))));
  readPositionsFrom(b, iota, list, {});
}

/// Whether every query head of a KV group reads the same row of a top-k
/// tensor whose head dim is `listHeads` (1, Hkv, or H == Hkv). When that is
/// only known at run time, wraps `tiles` in an scf.if whose else branch
/// keeps a copy of the contiguous walk; returns false when it is known not.
bool shareListOrChoose(OpBuilder &b, scf::ForallOp tiles, Value listHeads,
                       Value heads) {
  Value hkv = tiles.getDynamicUpperBound()[1];
  TileBuilder t(b, tiles.getLoc());
  b.setInsertionPoint(tiles);
  auto eq = [&](Value x, Value y) {
    return t.cmpi(static_cast<int>(IPred::eq), x, y);
  };
  // Decided here when the sizes are constants.
  std::optional<int64_t> n = getConstantIntValue(listHeads),
                         kv = getConstantIntValue(hkv),
                         h = getConstantIntValue(heads);
  if (n && kv && h)
    return *n == 1 || *n == *kv || *h == *kv;
  Value shared = t.ori(t.ori(eq(listHeads, t.index(1)), eq(listHeads, hkv)),
                       eq(heads, hkv));
  std::optional<int64_t> known = getConstantIntValue(shared);
  if (known && *known == 0)
    return false;
  if (!known) {
    // Both walks, chosen at run time.
    auto choice = scf::IfOp::create(b, tiles.getLoc(), shared,
                                    /*withElseRegion=*/true);
    b.setInsertionPointToStart(choice.elseBlock());
    b.clone(*tiles);
    tiles->moveBefore(choice.thenBlock()->getTerminator());
  }
  return true;
}

/// Backward: the parallel loop's key tiles become chunks of the kept list.
/// A chunk's dK and dV stay within one iteration only when every query head
/// of a KV group shares the list (its head dim is 1 or Hkv, or H == Hkv);
/// where that is only known at run time, the contiguous loop is kept as the
/// other branch of an scf.if.
void gatherSharedBackward(OpBuilder &b, scf::ForallOp tiles,
                          TileLogitsOp logits) {
  TileIotaOp iota = keyPositionsIn(tiles.getBody());
  if (!iota || tiles.getDynamicUpperBound().size() != 3)
    return;
  Value keep = logits.getKeep();
  TileBuilder t(b, tiles.getLoc());
  b.setInsertionPoint(tiles);
  if (!shareListOrChoose(b, tiles, t.dim(keep, 1), logits.getHeads()))
    return;
  b.setInsertionPoint(tiles);
  Value chunks = t.ceilDiv(t.dim(keep, 2), tileRows(iota.getResult(0)));
  tiles.getDynamicUpperBoundMutable().slice(2, 1).assign(chunks);

  b.setInsertionPoint(iota);
  auto [kb, kh] = keyTileIndices(t, tiles, keep);
  readPositionsFrom(b, iota, keep, {kb, kh});
  tiles->walk([&](TileLogitsOp l) {
    if (l.getKeep() == keep)
      l.setKeysKept(true);
  });
}

/// Backward of a per-query top-k: each key tile is a slice of its chunk
/// ordered by score (dma.tile.ranked_keys), and the query loop walks only
/// the query tiles holding rows that keep a key of it
/// (dma.tile.keeping_rows). The keys of one tile then leave the rows' kept
/// sets at about the same row, so far from the start a tile's walk ends
/// long before the last query tile. Like the shared list, the order needs
/// the heads of a KV group to share the score rows.
void gatherPerQueryBackward(OpBuilder &b, scf::ForallOp tiles,
                            TileLogitsOp logits, int64_t chunk) {
  TileIotaOp iota = keyPositionsIn(tiles.getBody());
  auto qpos = logits.getRows().getDefiningOp<TileIotaOp>();
  scf::ForOp queryLoop;
  int64_t queryLoops = 0;
  tiles->walk([&](scf::ForOp loop) {
    if (loop->hasAttr(kQueryLoopAttr)) {
      queryLoop = loop;
      ++queryLoops;
    }
  });
  if (!iota || !qpos || queryLoops != 1 ||
      tiles.getDynamicUpperBound().size() != 3)
    return;
  Value score = logits.getKeepScore();
  TileBuilder t(b, tiles.getLoc());
  b.setInsertionPoint(tiles);
  if (!shareListOrChoose(b, tiles, t.dim(score, 1), logits.getHeads()))
    return;

  int64_t bn = tileRows(iota.getResult(0)), bm = tileRows(qpos.getResult(0));
  chunk = std::max<int64_t>(bn, (chunk + bn - 1) / bn * bn);
  b.setInsertionPoint(iota);
  auto [kb, kh] = keyTileIndices(t, tiles, score);
  auto ranked = TileRankedKeysOp::create(
      b, iota.getLoc(), iota->getResultTypes(), score, kb, kh,
      iota.getStart(), iota.getBound(), b.getI64IntegerAttr(chunk),
      iota.getOuts());
  ranked->setAttr(kKeyPositionsAttr, b.getUnitAttr());
  iota->replaceAllUsesWith(ranked);
  iota->erase();

  b.setInsertionPointAfter(ranked);
  auto rows = TileKeepingRowsOp::create(
      b, ranked.getLoc(), b.getIndexType(), b.getIndexType(),
      ranked.getResult(0), score,
      logits.getKeepThreshold(), logits.getKeepTiebreak(), kb, kh,
      logits.getKeyOffset(), qpos.getBound(), logits.getCausal());
  queryLoop.getLowerBoundMutable().assign(
      t.divui(rows.getFirst(), t.index(bm)));
  queryLoop.getUpperBoundMutable().assign(t.ceilDiv(rows.getEnd(), bm));
}

struct DMAGatherKeysPass
    : public dma::impl::DMAGatherKeysBase<DMAGatherKeysPass> {
  using Base::Base;

  void runOnOperation() override {
    if (!gather)
      return;
    int64_t chunk = rankChunk;
    if (chunk < 1 || chunk > (int64_t(1) << 30)) {
      getOperation()->emitError()
          << "dma-gather-keys: rank-chunk must be between 1 and 2^30 keys, "
             "got "
          << chunk;
      return signalPassFailure();
    }
    SmallVector<std::pair<scf::ForOp, TileLogitsOp>> forward;
    SmallVector<std::pair<scf::ForallOp, TileLogitsOp>> backward;
    getOperation()->walk([&](Operation *op) {
      if (auto loop = dyn_cast<scf::ForOp>(op);
          loop && loop->hasAttr(kKeyLoopAttr))
        if (TileLogitsOp logits = topKLogitsIn(loop))
          forward.push_back({loop, logits});
      if (auto tiles = dyn_cast<scf::ForallOp>(op);
          tiles && tiles->hasAttr(kKeyTilesAttr))
        if (TileLogitsOp logits = topKLogitsIn(tiles))
          backward.push_back({tiles, logits});
    });
    OpBuilder b(&getContext());
    for (auto [loop, logits] : forward) {
      if (logits.getKeep())
        gatherSharedForward(b, loop, logits);
      else if (perQuery)
        gatherPerQueryForward(b, loop, logits);
    }
    for (auto [tiles, logits] : backward) {
      if (logits.getKeep())
        gatherSharedBackward(b, tiles, logits);
      else if (perQuery)
        gatherPerQueryBackward(b, tiles, logits, rankChunk);
    }
  }
};

} // namespace
