//===- TileAttention.cpp - the dma-tile-attention pass --------------------===//
//
// dma.attention / dma.attention_grad (memref form) -> the online-softmax
// tile form described in Passes.td. Every tile is a static-shaped tensor;
// the destinations of the tile ops are allocated (tensor.empty) once per
// iteration of the parallel loop, outside the sequential loops, so that
// bufferization reuses one buffer per tile. Scratch memrefs (Delta, f32
// accumulators) are plain allocations, freed by the buffer deallocation
// pipeline that follows bufferization.
//
//===----------------------------------------------------------------------===//

#include "TileBuilder.h"
#include "dma/Dialect/DMA/IR/DMAOps.h"
#include "dma/Dialect/DMA/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"

#include <cmath>
#include <limits>

namespace mlir::dma {
#define GEN_PASS_DEF_DMATILEATTENTION
#include "dma/Dialect/DMA/Transforms/Passes.h.inc"
} // namespace mlir::dma

using namespace mlir;
using namespace mlir::dma;

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

/// The operands and attributes shared by both attention ops.
struct Attention {
  Value q, k, v, bias, mask, keep, keepScore, keepThreshold, keepTiebreak;
  bool causal;
  double softcap;
  double scale;

  template <typename OpTy>
  static Attention of(OpTy op) {
    Attention a{op.getQ(),         op.getK(),         op.getV(),
                op.getBias(),      op.getMask(),      op.getKeep(),
                op.getKeepScore(), op.getKeepThreshold(),
                op.getKeepTiebreak(),
                op.getCausal(),    op.getSoftcapAttr().getValueAsDouble(),
                0.0};
    int64_t d = cast<ShapedType>(op.getQ().getType()).getDimSize(3);
    a.scale = op.getScaleAttr() ? op.getScaleAttr().getValueAsDouble()
                                : 1.0 / std::sqrt(static_cast<double>(d));
    return a;
  }
};

int64_t staticDim(Value v, unsigned d) {
  return cast<ShapedType>(v.getType()).getDimSize(d);
}
Type eltOf(Value v) { return cast<ShapedType>(v.getType()).getElementType(); }

/// Creates an scf.forall over [0, ubs) marked with `marker`; returns it with
/// the insertion point at the start of its body.
scf::ForallOp parallelTiles(OpBuilder &b, Location loc, ValueRange ubs,
                            StringRef marker) {
  SmallVector<OpFoldResult> bounds(ubs.begin(), ubs.end());
  auto forall = scf::ForallOp::create(b, loc, bounds, ValueRange{},
                                      std::nullopt);
  forall->setAttr(marker, b.getUnitAttr());
  b.setInsertionPointToStart(forall.getBody());
  return forall;
}

/// Builds the logits op of one (query tile, key tile) block.
Value emitLogits(TileBuilder &t, const Attention &a, Value raw, Value qpos,
                 Value kpos, Value b, Value h, Value heads, Value keyOffset,
                 Value dest) {
  OpBuilder &ob = t.builder();
  return TileLogitsOp::create(
             ob, t.location(), dest.getType(), raw, qpos, kpos, b, h, heads,
             keyOffset, a.bias, a.mask, /*mask_full=*/Value(), a.keep,
             a.keepScore, a.keepThreshold, a.keepTiebreak, dest,
             ob.getF64FloatAttr(a.scale), ob.getF64FloatAttr(a.softcap),
             a.causal ? ob.getUnitAttr() : nullptr, /*keys_kept=*/nullptr)
      .getResult(0);
}

struct TileSizes {
  int64_t bm, bn;
};

//===----------------------------------------------------------------------===//
// Forward
//===----------------------------------------------------------------------===//

void tileForward(OpBuilder &b, AttentionOp op, TileSizes ts, bool countVisits) {
  Attention a = Attention::of(op);
  TileBuilder t(b, op.getLoc());
  Value O = op.getOuts()[0], LSE = op.getOuts()[1];
  int64_t D = staticDim(a.q, 3), Dv = staticDim(a.v, 3);
  Type inElt = eltOf(a.q), f32 = b.getF32Type(), i32 = b.getI32Type();

  Value B = t.dim(a.q, 0), Lq = t.dim(a.q, 1), H = t.dim(a.q, 2);
  Value Lk = t.dim(a.k, 1), Hkv = t.dim(a.k, 2);
  Value group = t.maxsi(t.divui(H, t.maxsi(Hkv, t.index(1))), t.index(1));
  Value keyOffset = t.sub(Lk, Lq);
  Value nQT = t.ceilDiv(Lq, ts.bm);

  OpBuilder::InsertionGuard guard(b);
  parallelTiles(b, op.getLoc(), {B, H, nQT}, kQueryTilesAttr);
  Value bIv = b.getInsertionBlock()->getArgument(0);
  Value h = b.getInsertionBlock()->getArgument(1);
  Value qt = b.getInsertionBlock()->getArgument(2);
  Value g = t.divui(h, group);

  // One destination per tile, reused by every key tile.
  Value qposE = t.empty({ts.bm}, i32), kposE = t.empty({ts.bn}, i32);
  Value qE = t.empty({ts.bm, D}, inElt), kE = t.empty({ts.bn, D}, inElt);
  Value vE = t.empty({ts.bn, Dv}, inElt);
  Value sE = t.empty({ts.bm, ts.bn}, f32), xE = t.empty({ts.bm, ts.bn}, f32);
  Value pE = t.empty({ts.bm, ts.bn}, f32);

  Value q0 = t.mul(qt, t.index(ts.bm));
  Value qpos = t.iota(q0, Lq, qposE);
  Value qTile = t.gather(a.q, bIv, h, qpos, qE);
  Value acc0 = t.fill(t.empty({ts.bm, Dv}, f32), 0.0);
  Value max0 = t.fill(t.empty({ts.bm}, f32), kNegInf);
  Value sum0 = t.fill(t.empty({ts.bm}, f32), 0.0);

  // Causal: the last row of the tile sees keys up to lastRow + Lk - Lq, so
  // key tiles past that are never visited.
  Value keyEnd = Lk;
  if (a.causal) {
    Value lastRow = t.sub(t.minsi(t.add(q0, t.index(ts.bm)), Lq), t.index(1));
    keyEnd = t.maxsi(t.minsi(t.add(t.add(lastRow, keyOffset), t.index(1)), Lk),
                     t.index(0));
  }
  Value nKT = t.ceilDiv(keyEnd, ts.bn);

  SmallVector<Value> state = t.forLoop(
      t.index(0), nKT, {acc0, max0, sum0}, [&](Value kt, ValueRange st) {
        Value kpos = t.iota(t.mul(kt, t.index(ts.bn)), Lk, kposE);
        kpos.getDefiningOp()->setAttr(kKeyPositionsAttr, b.getUnitAttr());
        if (countVisits)
          t.countVisit(t.count(kpos));
        Value kTile = t.gather(a.k, bIv, g, kpos, kE);
        Value vTile = t.gather(a.v, bIv, g, kpos, vE);
        Value s = t.dot(qTile, kTile, t.fill(sE, 0.0), false, true);
        Value x = emitLogits(t, a, s, qpos, kpos, bIv, h, H, keyOffset, xE);
        auto softmax = TileSoftmaxOp::create(
            b, op.getLoc(), TypeRange{pE.getType(), st[0].getType(),
                                      st[1].getType(), st[2].getType()},
            x, ValueRange{pE, st[0], st[1], st[2]});
        Value acc = t.dot(softmax.getResult(0), vTile, softmax.getResult(1),
                          false, false);
        return SmallVector<Value>{acc, softmax.getResult(2),
                                  softmax.getResult(3)};
      });
  state[0].getDefiningOp()->setAttr(kKeyLoopAttr, b.getUnitAttr());
  TileStoreOutputOp::create(b, op.getLoc(), state[0], state[1], state[2], qpos,
                            O, LSE, bIv, h);
}

//===----------------------------------------------------------------------===//
// Backward
//===----------------------------------------------------------------------===//

/// An f32 buffer to accumulate into: the destination when it is f32 (zeroed
/// here), else new scratch that `convertAccumulators` converts into it.
struct Accumulator {
  Value dest, buffer;

  static Accumulator create(TileBuilder &t, Value dest) {
    Accumulator acc{dest, dest};
    if (!eltOf(dest).isF32())
      acc.buffer = t.allocLike(dest, t.builder().getF32Type());
    t.fill(acc.buffer, 0.0);
    return acc;
  }
};

/// One dma.tile.convert of every f32 scratch accumulator into its
/// destination (one kernel launch on the GPU, not one per gradient).
void convertAccumulators(OpBuilder &b, Location loc,
                         ArrayRef<const Accumulator *> accumulators) {
  SmallVector<Value> sums, dests;
  for (const Accumulator *acc : accumulators)
    if (acc && acc->buffer != acc->dest) {
      sums.push_back(acc->buffer);
      dests.push_back(acc->dest);
    }
  if (!sums.empty())
    TileConvertOp::create(b, loc, sums, dests);
}

void tileBackward(OpBuilder &b, AttentionGradOp op, TileSizes ts,
                  bool countVisits) {
  Attention a = Attention::of(op);
  TileBuilder t(b, op.getLoc());
  Location loc = op.getLoc();
  int64_t D = staticDim(a.q, 3), Dv = staticDim(a.v, 3);
  Type inElt = eltOf(a.q), f32 = b.getF32Type(), i32 = b.getI32Type();
  Value dO = op.getGrad(), O = op.getOut(), LSE = op.getLse();
  ValueRange dests = op.getOuts();

  Value B = t.dim(a.q, 0), Lq = t.dim(a.q, 1), H = t.dim(a.q, 2);
  Value Lk = t.dim(a.k, 1), Hkv = t.dim(a.k, 2);
  Value group = t.maxsi(t.divui(H, t.maxsi(Hkv, t.index(1))), t.index(1));
  Value keyOffset = t.sub(Lk, Lq);
  Value nQT = t.ceilDiv(Lq, ts.bm), nKT = t.ceilDiv(Lk, ts.bn);

  // Delta = rowsum(dO * O), one query tile at a time.
  Value delta = t.allocF32({B, H, Lq});
  {
    OpBuilder::InsertionGuard guard(b);
    parallelTiles(b, loc, {B, H, nQT}, "dma.delta_tiles");
    Block *body = b.getInsertionBlock();
    Value bIv = body->getArgument(0), h = body->getArgument(1);
    Value qpos = t.iota(t.mul(body->getArgument(2), t.index(ts.bm)), Lq,
                        t.empty({ts.bm}, i32));
    Value doTile = t.gather(dO, bIv, h, qpos, t.empty({ts.bm, Dv}, inElt));
    Value oTile = t.gather(O, bIv, h, qpos, t.empty({ts.bm, Dv}, inElt));
    Value rows = TileRowDotOp::create(b, loc, TypeRange{RankedTensorType::get(
                                                  {ts.bm}, f32)},
                                      doTile, oTile,
                                      ValueRange{t.empty({ts.bm}, f32)})
                     .getResult(0);
    TileScatterOp::create(b, loc, rows, qpos, delta, bIv, h,
                          /*accumulate=*/false);
  }

  // dQ and dBias gather contributions from many key tiles: f32 accumulators.
  // dK and dV are written once per kept key; keys that no tile visits (a
  // gathered walk) keep the zero written here.
  Accumulator dQ = Accumulator::create(t, dests[0]);
  std::optional<Accumulator> dBias;
  if (a.bias)
    dBias = Accumulator::create(t, dests[3]);
  t.fill(dests[1], 0.0);
  t.fill(dests[2], 0.0);

  {
    OpBuilder::InsertionGuard guard(b);
    parallelTiles(b, loc, {B, Hkv, nKT}, kKeyTilesAttr);
    Block *body = b.getInsertionBlock();
    Value bIv = body->getArgument(0), g = body->getArgument(1);
    Value kt = body->getArgument(2);

    Value qposE = t.empty({ts.bm}, i32);
    Value qE = t.empty({ts.bm, D}, inElt), doE = t.empty({ts.bm, Dv}, inElt);
    Value rowE = t.empty({ts.bm}, f32), row2E = t.empty({ts.bm}, f32);
    Value sE = t.empty({ts.bm, ts.bn}, f32), xE = t.empty({ts.bm, ts.bn}, f32);
    Value pE = t.empty({ts.bm, ts.bn}, f32), dpE = t.empty({ts.bm, ts.bn}, f32);
    Value dsE = t.empty({ts.bm, ts.bn}, f32), dxE = t.empty({ts.bm, ts.bn}, f32);
    Value dqE = t.empty({ts.bm, D}, f32);

    Value kpos = t.iota(t.mul(kt, t.index(ts.bn)), Lk, t.empty({ts.bn}, i32));
    kpos.getDefiningOp()->setAttr(kKeyPositionsAttr, b.getUnitAttr());
    Value kTile = t.gather(a.k, bIv, g, kpos, t.empty({ts.bn, D}, inElt));
    Value vTile = t.gather(a.v, bIv, g, kpos, t.empty({ts.bn, Dv}, inElt));
    Value dk0 = t.fill(t.empty({ts.bn, D}, f32), 0.0);
    Value dv0 = t.fill(t.empty({ts.bn, Dv}, f32), 0.0);

    // Causal: rows before firstKey - (Lk - Lq) see no key of this tile. A
    // tile without any valid key (a gathered chunk of padding) sees none.
    Value firstKey = t.extractIndex(kpos, 0);
    Value qtLo = t.index(0);
    if (a.causal)
      qtLo = t.divui(t.maxsi(t.sub(firstKey, keyOffset), t.index(0)),
                     t.index(ts.bm));
    qtLo = t.select(t.cmpi(static_cast<int>(arith::CmpIPredicate::slt),
                           firstKey, t.index(0)),
                    nQT, qtLo);

    SmallVector<Value> grads = t.forLoop(
        t.index(0), group, {dk0, dv0}, [&](Value hh, ValueRange kv) {
          Value h = t.add(t.mul(g, group), hh);
          SmallVector<Value> res = t.forLoop(
              qtLo, nQT, kv, [&](Value qt, ValueRange st) {
                if (countVisits)
                  t.countVisit(t.count(kpos));
                Value qpos = t.iota(t.mul(qt, t.index(ts.bm)), Lq, qposE);
                Value qTile = t.gather(a.q, bIv, h, qpos, qE);
                Value doTile = t.gather(dO, bIv, h, qpos, doE);
                Value lse = t.gather(LSE, bIv, h, qpos, rowE);
                Value dl = t.gather(delta, bIv, h, qpos, row2E);
                Value s = t.dot(qTile, kTile, t.fill(sE, 0.0), false, true);
                Value x = emitLogits(t, a, s, qpos, kpos, bIv, h, H, keyOffset,
                                     xE);
                Value p = TileProbsOp::create(b, loc, pE.getType(), x, lse, pE)
                              .getResult(0);
                Value dv = t.dot(p, doTile, st[1], true, false);
                Value dp = t.dot(doTile, vTile, t.fill(dpE, 0.0), false, true);
                auto dscores = TileDScoresOp::create(
                    b, loc, TypeRange{dsE.getType(), dxE.getType()}, p, dp, dl,
                    a.softcap > 0.0 ? s : Value(), ValueRange{dsE, dxE},
                    b.getF64FloatAttr(a.scale), b.getF64FloatAttr(a.softcap));
                Value dx = dscores.getResult(1);
                Value dk = t.dot(dx, qTile, st[0], true, false);
                Value dq = t.dot(dx, kTile, t.fill(dqE, 0.0), false, false);
                TileScatterOp::create(b, loc, dq, qpos, dQ.buffer, bIv, h,
                                      /*accumulate=*/true);
                if (dBias)
                  TileBiasGradOp::create(b, loc, dscores.getResult(0), qpos,
                                         kpos, dBias->buffer, bIv, h, H);
                return SmallVector<Value>{dk, dv};
              });
          res[0].getDefiningOp()->setAttr(kQueryLoopAttr, b.getUnitAttr());
          return res;
        });
    TileScatterOp::create(b, loc, grads[0], kpos, dests[1], bIv, g, false);
    TileScatterOp::create(b, loc, grads[1], kpos, dests[2], bIv, g, false);
  }

  convertAccumulators(b, loc, {&dQ, dBias ? &*dBias : nullptr});
}

/// The attention ops the pass can tile: on memrefs, static head dims.
bool tileable(Operation *op, Value q, Value v) {
  if (op->getNumResults() != 0)
    return false;
  return !ShapedType::isDynamic(staticDim(q, 3)) &&
         !ShapedType::isDynamic(staticDim(v, 3));
}

/// The largest tile side dma-tile-attention accepts (a 4096 x 4096 f32
/// logits tile is 64 MiB).
constexpr int64_t kMaxTile = 4096;

struct DMATileAttentionPass
    : public dma::impl::DMATileAttentionBase<DMATileAttentionPass> {
  using Base::Base;

  void runOnOperation() override {
    if (qTile < 1 || kTile < 1) {
      getOperation()->emitError("dma-tile-attention: q-tile and k-tile must "
                                "be at least 1");
      return signalPassFailure();
    }
    // A tile's logits are q-tile x k-tile f32 (buffers per tile on the
    // CPU): a huge tile size is a huge allocation at run time, and sizes
    // that overflow when multiplied.
    if (qTile > kMaxTile || kTile > kMaxTile) {
      getOperation()->emitError("dma-tile-attention: q-tile and k-tile must "
                                "be at most ")
          << kMaxTile << ", got " << int64_t(qTile) << " and "
          << int64_t(kTile); // a bare pass option picks the char overload
      return signalPassFailure();
    }
    SmallVector<Operation *> ops;
    getOperation()->walk([&](Operation *op) {
      if (auto fwd = dyn_cast<AttentionOp>(op); fwd &&
          tileable(op, fwd.getQ(), fwd.getV()))
        ops.push_back(op);
      if (auto bwd = dyn_cast<AttentionGradOp>(op); bwd &&
          tileable(op, bwd.getQ(), bwd.getV()))
        ops.push_back(op);
    });
    if (ops.empty())
      return;
    if (countVisits && failed(declareVisitCounters()))
      return signalPassFailure();
    TileSizes ts{qTile, kTile};
    OpBuilder b(&getContext());
    for (Operation *op : ops) {
      b.setInsertionPoint(op);
      if (auto fwd = dyn_cast<AttentionOp>(op))
        tileForward(b, fwd, ts, countVisits);
      else
        tileBackward(b, cast<AttentionGradOp>(op), ts, countVisits);
      op->erase();
    }
  }

  /// memref.global @dma_visit_counts : memref<2xi64> = dense<0>, public so
  /// that a host can read it after a run.
  LogicalResult declareVisitCounters() {
    auto module = dyn_cast<ModuleOp>(getOperation());
    if (!module)
      module = getOperation()->getParentOfType<ModuleOp>();
    if (!module)
      return getOperation()->emitError(
          "dma-tile-attention: count-visits needs a module to hold the "
          "counters");
    if (module.lookupSymbol(kVisitCountsGlobal))
      return success();
    OpBuilder b = OpBuilder::atBlockBegin(module.getBody());
    auto type = MemRefType::get({2}, b.getI64Type());
    memref::GlobalOp::create(
        b, module.getLoc(), kVisitCountsGlobal, /*sym_visibility=*/nullptr,
        type, DenseElementsAttr::get(RankedTensorType::get({2}, b.getI64Type()),
                                     ArrayRef<int64_t>{0, 0}),
        /*constant=*/false, /*alignment=*/nullptr);
    return success();
  }
};

} // namespace
