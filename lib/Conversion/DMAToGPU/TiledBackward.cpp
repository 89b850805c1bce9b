//===- TiledBackward.cpp - the tiled backward's loop nests -> launches ----===//
//
// dma-tile-attention writes the backward as a Delta loop nest (dma.delta_tiles)
// and a key-tile-outer loop nest (dma.key_tiles) whose body gathers K and V
// once and walks (head, query tile) steps:
//
//   s  = dot(gather Q, gather K^T);  logits;  p = probs(logits, gather LSE)
//   dV += dot(p^T, gather dO);  dp = dot(gather dO, gather V^T)
//   ds = dscores(p, dp, gather Delta);  dK += dot(ds^T, Q);  dQ += dot(ds, K)
//   bias_grad(ds)
//
// This file reads the memrefs of each role off those ops and replaces the
// loop nests by launches of the generated kernels (BackwardKernel.cpp). The
// accumulators the loop nests write (Delta, f32 dQ, dK, dV and dBias) stay
// the host's allocations (filled with zeros by host loops here, by one
// memset in the runtime); their conversion to the outputs' dtype is one
// dma.tile.convert, which convert-dma-tiles-to-gpu lowers to a kernel.
//
//===----------------------------------------------------------------------===//

#include "Launch.h"
#include "dma/Conversion/DMAToGPU/BackwardKernel.h"
#include "dma/Dialect/DMA/IR/DMAOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

using namespace mlir;
using namespace mlir::dma;

namespace {

/// The memrefs and configuration of one tiled backward walk.
struct TiledBackward {
  ForwardKernelConfig config;
  Value q, k, v, dO, lse, delta, dq, dk, dv, bias, dbias, mask, keep,
      keepScore, keepThreshold, keepTiebreak;
  Value semDq, semDkv; // deterministic mode: zeroed i32 semaphores
  MaskOperands masks;
};

/// The memref a tile was gathered from (null if not a gather).
Value gatheredFrom(Value tile) {
  if (auto g = tile.getDefiningOp<TileGatherOp>())
    return g.getSource();
  return {};
}

/// Follows a loop-carried tile from the result of the outer (head) loop to
/// the dot op that updates it in the inner (query) loop.
TileDotOp updateOf(Value result) {
  auto outer = result.getDefiningOp<scf::ForOp>();
  if (!outer)
    return {};
  unsigned i = cast<OpResult>(result).getResultNumber();
  Value yielded = outer.getBody()->getTerminator()->getOperand(i);
  auto inner = yielded.getDefiningOp<scf::ForOp>();
  if (!inner)
    return {};
  unsigned j = cast<OpResult>(yielded).getResultNumber();
  Value update = inner.getBody()->getTerminator()->getOperand(j);
  // dma-block-skip guards the step with an scf.if (its else passes the
  // sums on): the update is the then-branch's.
  if (auto guard = update.getDefiningOp<scf::IfOp>())
    update = guard.thenYield().getOperand(
        cast<OpResult>(update).getResultNumber());
  return update.getDefiningOp<TileDotOp>();
}

/// Reads the tiled backward and checks every limit of the generator (and
/// of the deterministic mode when asked) without building anything.
FailureOr<TiledBackward> analyze(scf::ForallOp tiles, bool deterministic) {
  TiledBackward f;
  TileLogitsOp logits;
  TileDScoresOp dscores;
  TileBiasGradOp biasGrad;
  Operation *keyPositions = nullptr;
  SmallVector<TileScatterOp> scatters;
  tiles->walk([&](Operation *op) {
    if (auto l = dyn_cast<TileLogitsOp>(op))
      logits = l;
    if (auto d = dyn_cast<TileDScoresOp>(op))
      dscores = d;
    if (auto g = dyn_cast<TileBiasGradOp>(op))
      biasGrad = g;
    if (auto s = dyn_cast<TileScatterOp>(op))
      scatters.push_back(s);
    if (op->hasAttr("dma.key_positions"))
      keyPositions = op;
  });
  auto fail = [&](const Twine &what) {
    return tiles.emitError("convert-dma-tiles-to-gpu: " + what);
  };
  if (!logits || !dscores || !keyPositions)
    return fail("not a tiled attention backward (run dma-tile-attention "
                "first)");
  auto scores = logits.getRaw().getDefiningOp<TileDotOp>();
  auto probs = dscores.getProbs().getDefiningOp<TileProbsOp>();
  auto dprobs = dscores.getDprobs().getDefiningOp<TileDotOp>();
  if (!scores || !probs || !dprobs)
    return fail("cannot find the S, P and dP tiles of the backward");
  f.q = gatheredFrom(scores.getLhs());
  f.k = gatheredFrom(scores.getRhs());
  f.dO = gatheredFrom(dprobs.getLhs());
  f.v = gatheredFrom(dprobs.getRhs());
  f.lse = gatheredFrom(probs.getLse());
  f.delta = gatheredFrom(dscores.getDelta());
  for (TileScatterOp s : scatters) {
    if (s.getAccumulate()) {
      f.dq = s.getDest();
      continue;
    }
    TileDotOp update = updateOf(s.getTile());
    if (!update)
      continue;
    Value rhs = gatheredFrom(update.getRhs());
    if (rhs == f.q)
      f.dk = s.getDest();
    else if (rhs == f.dO)
      f.dv = s.getDest();
  }
  if (!f.q || !f.k || !f.v || !f.dO || !f.lse || !f.delta || !f.dq || !f.dk ||
      !f.dv)
    return fail("cannot find the operands of the tiled backward");
  ForwardKernelConfig &c = f.config;
  FailureOr<MaskOperands> masks =
      readLogitsConfig(tiles, logits, keyPositions, f.q, f.v, c);
  if (failed(masks))
    return failure();
  f.masks = *masks;
  f.bias = masks->bias;
  f.mask = masks->mask;
  f.keep = masks->keep;
  f.keepScore = masks->keepScore;
  f.keepThreshold = masks->keepThreshold;
  f.keepTiebreak = masks->keepTiebreak;
  if (f.bias) {
    if (!biasGrad)
      return fail("a bias without its gradient");
    f.dbias = biasGrad.getDbias();
  }
  c.warpCount = c.blockN / 16;
  c.deterministic = deterministic;
  // Deterministic dQ turns follow the contiguous tiles' visiting order; any
  // partition of each chunk into tiles sums to the same gradients, so the
  // deterministic kernel keeps contiguous tiles and walks every query tile
  // from the diagonal (a superset of the keeping rows).
  if (deterministic)
    c.rankChunk = 0;
  if (failed(verifyBackward(c, [&] { return tiles.emitError(); })) ||
      failed(checkI32Sizes(tiles, {f.q, f.k, f.v, f.dO, f.lse, f.delta, f.dq,
                                   f.dk, f.dv, f.bias, f.dbias, f.mask, f.keep,
                                   f.keepScore, f.keepThreshold,
                                   f.keepTiebreak})))
    return failure();
  // dK and dV are summed in f32 scratch and reach their outputs through
  // the backward's dma.tile.convert (convertKeyTiles).
  if (failed(checkConvertible(tiles, {f.dk, f.dv})))
    return failure();
  if (deterministic && f.keep && dimOf(f.keep, 1) != 1 &&
      dimOf(f.keep, 1) != dimOf(f.k, 2))
    return tiles.emitError("convert-dma-tiles-to-gpu: the deterministic "
                           "backward needs the kept-key lists per KV head "
                           "(or shared): per query head, the heads of a "
                           "group add to different rows in any order");
  return f;
}

/// The operands of a Delta loop nest (Delta = rowsum(dO * O)).
struct DeltaNest {
  Value dO, o, delta;
};

/// Reads a Delta loop nest and checks what its kernel takes: bf16/f16 and
/// the backward's static value head dims (the kernel is unrolled over Dv).
FailureOr<DeltaNest> analyzeDelta(scf::ForallOp tiles) {
  TileRowDotOp rowdot;
  TileScatterOp scatter;
  tiles->walk([&](Operation *op) {
    if (auto r = dyn_cast<TileRowDotOp>(op))
      rowdot = r;
    if (auto s = dyn_cast<TileScatterOp>(op))
      scatter = s;
  });
  DeltaNest n;
  n.dO = rowdot ? gatheredFrom(rowdot.getLhs()) : Value();
  n.o = rowdot ? gatheredFrom(rowdot.getRhs()) : Value();
  if (!n.dO || !n.o || !scatter)
    return tiles.emitError("convert-dma-tiles-to-gpu: not the Delta loop "
                           "nest of a tiled backward");
  n.delta = scatter.getDest();
  Type element = eltOf(n.dO);
  if (!(element.isBF16() || element.isF16()))
    return tiles.emitError("the GPU kernels take bf16 or f16 q/k/v (use the "
                           "CPU pipeline for f32)");
  int64_t dv = dimOf(n.dO, 3);
  if (ShapedType::isDynamic(dv))
    return tiles.emitError("the GPU kernels need static head dims");
  if (dv % 16 || dv < 16 || dv > 256)
    return tiles.emitError("head dims must be multiples of 16 up to 256 for "
                           "the GPU, got ")
           << dv;
  if (failed(checkI32Sizes(tiles, {n.dO, n.o, n.delta})))
    return failure();
  return n;
}

/// Binds the backward kernel's parameters (backwardKernelParams' names).
void bindBackward(LaunchArgs &a, const TiledBackward &f) {
  const ForwardKernelConfig &c = f.config;
  for (auto [name, m] : {std::pair{"q", f.q}, {"k", f.k}, {"v", f.v},
                         {"do", f.dO}, {"dq", f.dq}, {"dk", f.dk},
                         {"dv", f.dv}})
    a.tensor(name, m, "blh");
  a.tensor("lse", f.lse, "bh");
  a.tensor("delta", f.delta, "bh");
  a.attention(c, f.q, f.k, f.masks);
  if (f.dbias)
    a.broadcast4("dbias", f.dbias);
  if (c.deterministic) {
    a.set("sem_dq", a.pointer(f.semDq));
    a.set("sem_dkv", a.pointer(f.semDkv));
  }
}

/// The dma.tile.convert that follows `anchor` in its block or an
/// enclosing one (dma-tile-attention writes one after the backward's loop
/// nests), or null.
TileConvertOp followingConversions(Operation *anchor) {
  for (Operation *op = anchor; op && !isa<func::FuncOp>(op);
       op = op->getParentOp())
    for (Operation *next = op->getNextNode(); next; next = next->getNextNode())
      if (auto convert = dyn_cast<TileConvertOp>(next))
        return convert;
  return {};
}

/// Adds the pairs (sources[i] -> dests[i]) to `existing` (replacing it), or
/// to a new dma.tile.convert right after `anchor` when there is none.
TileConvertOp addConversions(OpBuilder &b, Operation *anchor,
                             TileConvertOp existing, ValueRange sources,
                             ValueRange dests) {
  SmallVector<Value> from, to;
  if (existing) {
    from.assign(existing.getSources().begin(), existing.getSources().end());
    to.assign(existing.getDests().begin(), existing.getDests().end());
    b.setInsertionPoint(existing);
  } else {
    b.setInsertionPointAfter(anchor);
  }
  from.append(sources.begin(), sources.end());
  to.append(dests.begin(), dests.end());
  auto merged = TileConvertOp::create(b, anchor->getLoc(), from, to);
  if (existing)
    existing.erase();
  return merged;
}

/// The op producing the key positions of a tiled walk.
Operation *keyPositionsOf(scf::ForallOp tiles) {
  Operation *found = nullptr;
  tiles->walk([&](Operation *op) {
    if (op->hasAttr("dma.key_positions"))
      found = op;
  });
  return found;
}

/// Whether `tiles` is the contiguous walk dma-gather-keys kept next to a
/// gathered one (shared list, or ranked per-query tiles) for when the
/// query heads of a KV group may not share the top-k rows: the else branch
/// of an scf.if whose then branch holds the gathered walk. Each GPU CTA
/// serves one query head and adds dK and dV atomically, so the gathered
/// kernel is right in both cases.
bool isRunTimeAlternative(scf::ForallOp tiles) {
  auto choice = dyn_cast<scf::IfOp>(tiles->getParentOp());
  if (!choice || tiles->getParentRegion() != &choice.getElseRegion() ||
      !isa_and_nonnull<TileIotaOp>(keyPositionsOf(tiles)))
    return false;
  // (Or the gathered walk's launch, once converted.)
  bool gathered = false;
  choice.getThenRegion().walk([&](Operation *op) {
    if (auto other = dyn_cast<scf::ForallOp>(op);
        other && other->hasAttr("dma.key_tiles"))
      gathered |= isa_and_nonnull<TilePositionsOp, TileRankedKeysOp>(
          keyPositionsOf(other));
    gathered |= isa<gpu::LaunchFuncOp>(op);
  });
  return gathered;
}

/// Whether `tiles` walks every key tile of a shared top-k mask.
bool isUngatheredSharedWalk(scf::ForallOp tiles) {
  bool keep = false;
  tiles->walk([&](TileLogitsOp l) { keep |= static_cast<bool>(l.getKeep()); });
  return keep && isa_and_nonnull<TileIotaOp>(keyPositionsOf(tiles));
}

} // namespace

LogicalResult mlir::dma::checkKeyTiles(scf::ForallOp tiles,
                                       bool deterministic) {
  if (isRunTimeAlternative(tiles))
    return success();
  if (isUngatheredSharedWalk(tiles))
    return tiles.emitError("convert-dma-tiles-to-gpu: a shared top-k "
                           "backward must be gathered (dma-gather-keys)");
  return analyze(tiles, deterministic);
}

LogicalResult mlir::dma::checkDeltaTiles(scf::ForallOp tiles) {
  return analyzeDelta(tiles);
}

LogicalResult mlir::dma::convertKeyTiles(OpBuilder &b,
                                         gpu::GPUModuleOp kernels,
                                         scf::ForallOp tiles,
                                         unsigned &index,
                                         bool vectorAtomics,
                                         bool deterministic) {
  if (isRunTimeAlternative(tiles)) {
    // dma-gather-keys chose between the gathered walk and walking every
    // tile at run time; the GPU always takes the gathered one.
    auto choice = cast<scf::IfOp>(tiles->getParentOp());
    b.setInsertionPoint(choice);
    choice.getConditionMutable().assign(
        arith::ConstantOp::create(b, tiles.getLoc(), b.getBoolAttr(true)));
    tiles.erase();
    return success();
  }
  FailureOr<TiledBackward> f = analyze(tiles, deterministic);
  if (failed(f))
    return failure();
  f->config.vectorAtomics = vectorAtomics;
  std::string name = "dma_attention_bwd_" + f->config.variantName() + "_" +
                     std::to_string(index++);
  gpu::GPUFuncOp kernel =
      emitBackwardKernel(b, tiles.getLoc(), kernels, name, f->config);

  // dK and dV are summed over the query heads of a KV group (one CTA
  // each) in f32 scratch, converted into the outputs by the backward's
  // dma.tile.convert (after the walk, perhaps outside the region of a
  // runtime walk choice): the scratch is allocated where it dominates that.
  TileConvertOp conversions = followingConversions(tiles);
  b.setInsertionPoint(conversions ? conversions->getBlock()
                                        ->findAncestorOpInBlock(*tiles)
                                  : tiles.getOperation());
  LaunchArgs args(b, tiles.getLoc());
  LoopEmitter &e = args.e;
  Value dk = f->dk, dv = f->dv;
  f->dk = e.allocLike(dk, b.getF32Type());
  f->dv = e.allocLike(dv, b.getF32Type());
  e.fill(f->dk, 0.0);
  e.fill(f->dv, 0.0);
  b.setInsertionPoint(tiles);
  // The loop nest runs over (batch, KV head, key tile); the kernel's grid
  // over (key tile, query head, batch).
  SmallVector<Value> ub = getValueOrCreateConstantIndexOp(
      b, tiles.getLoc(), tiles.getMixedUpperBound());
  if (deterministic) {
    // Zeroed semaphores: one per (batch, query head, query tile) for dQ,
    // one per (batch, KV head, key tile) for dK, dV and dBias.
    Type i32 = b.getI32Type();
    Value nQT = e.ceilDiv(e.dim(f->q, 1), f->config.blockM);
    f->semDq = e.allocOf(
        i32, {e.mul(e.mul(e.dim(f->q, 0), e.dim(f->q, 2)), nQT)});
    f->semDkv = e.allocOf(
        i32, {e.mul(e.mul(e.dim(f->q, 0), e.dim(f->k, 2)), ub[2])});
    for (Value sem : {f->semDq, f->semDkv})
      e.forEach(e.dims(sem), [&](ValueRange ivs) {
        e.store(e.intOf(i32, 0), sem, ivs);
      });
  }
  bindBackward(args, *f);
  if (failed(args.launch(kernel)))
    return failure();
  if (deterministic) {
    e.dealloc(f->semDq);
    e.dealloc(f->semDkv);
  }
  // The f32 sums of dK and dV join the backward's other conversions (one
  // kernel for every gradient), then their scratch goes.
  TileConvertOp convert =
      addConversions(b, tiles, conversions, {f->dk, f->dv}, {dk, dv});
  b.setInsertionPointAfter(convert);
  e.dealloc(f->dk);
  e.dealloc(f->dv);
  tiles.erase();
  return success();
}

LogicalResult mlir::dma::convertDeltaTiles(OpBuilder &b,
                                           gpu::GPUModuleOp kernels,
                                           scf::ForallOp tiles,
                                           unsigned &index) {
  FailureOr<DeltaNest> n = analyzeDelta(tiles);
  if (failed(n))
    return failure();
  Value dO = n->dO, o = n->o, delta = n->delta;
  Type element = eltOf(dO);
  std::string name = std::string("dma_attention_bwd_delta_") +
                     (element.isF16() ? "f16" : "bf16") + "_dv" +
                     std::to_string(dimOf(dO, 3)) + "_" +
                     std::to_string(index++);
  gpu::GPUFuncOp kernel = emitDeltaKernel(b, tiles.getLoc(), kernels, name,
                                          element, dimOf(dO, 3));
  b.setInsertionPoint(tiles);
  LaunchArgs a(b, tiles.getLoc());
  a.tensor("do", dO, "blh");
  a.tensor("o", o, "blh");
  a.tensor("delta", delta, "bh");
  a.set("B", a.dimI32(dO, 0));
  a.set("Lq", a.dimI32(dO, 1));
  a.set("H", a.dimI32(dO, 2));
  if (failed(a.launch(kernel)))
    return failure();
  tiles.erase();
  return success();
}
