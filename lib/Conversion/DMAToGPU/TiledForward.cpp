//===- TiledForward.cpp - reading a tiled forward's loop nest -------------===//
//
// The forward loop nest of dma-tile-attention (after dma-gather-keys and
// dma-block-skip):
//
//   scf.forall (query tile, head) {
//     qpos = iota;  q = gather Q rows(qpos)
//     scf.for key tile {
//       kpos = iota | positions(keep list or candidates)
//       k = gather K rows(kpos);  v = gather V rows(kpos)
//       s = dot(q, k^T);  l = logits(s);  p, acc, max, sum = softmax(l)
//       acc = dot(p, v)
//     }
//     store_output(acc, max, sum)
//   }
//
// plus the index arithmetic of the walk's bounds (arith, scf, memref.load
// of a block summary, memref.dim), which the kernel derives from its
// configuration and sizes.
//
//===----------------------------------------------------------------------===//

#include "TiledForward.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::dma;

FailureOr<MaskOperands> mlir::dma::readLogitsConfig(
    scf::ForallOp tiles, Operation *logitsOp, Operation *keyPositions,
    Value q, Value v, ForwardKernelConfig &c) {
  auto logits = cast<TileLogitsOp>(logitsOp);
  MaskOperands m{logits.getBias(),      logits.getMask(),
                 logits.getKeep(),      logits.getKeepScore(),
                 logits.getKeepThreshold(), logits.getKeepTiebreak(),
                 {},                   {},
                 {}};
  c.blockM = dimOf(logits.getRaw(), 0);
  c.blockN = dimOf(logits.getRaw(), 1);
  c.headDim = dimOf(q, 3);
  c.valueDim = dimOf(v, 3);
  c.element = eltOf(q);
  c.causal = logits.getCausal();
  c.scale = logits.getScaleAttr().getValueAsDouble();
  c.softcap = logits.getSoftcapAttr().getValueAsDouble();
  c.mask = m.mask ? MaskKind::Dense
           : m.keep ? MaskKind::SharedTopK
           : m.keepScore ? MaskKind::PerQueryTopK
                         : MaskKind::None;
  if (auto positions = dyn_cast<TilePositionsOp>(keyPositions)) {
    auto candidates = positions.getList().getDefiningOp<TileCandidatesOp>();
    if (positions.getList() == m.keep) {
      c.gathered = true;
    } else if (candidates && m.keepScore &&
               candidates.getKeepScore() == m.keepScore &&
               candidates.getKeepThreshold() == m.keepThreshold &&
               candidates.getKeepTiebreak() == m.keepTiebreak) {
      // The kernel collects the list itself (per CTA, in shared memory).
      c.candidates = true;
    } else {
      return tiles.emitError("convert-dma-tiles-to-gpu: the key positions "
                             "come from neither the logits' keep list nor "
                             "the candidates of its per-query top-k");
    }
  }
  if (auto ranked = dyn_cast<TileRankedKeysOp>(keyPositions)) {
    if (!m.keepScore || ranked.getKeepScore() != m.keepScore)
      return tiles.emitError("convert-dma-tiles-to-gpu: ranked key "
                             "positions must order the logits' own "
                             "per-query top-k scores");
    c.rankChunk = ranked.getChunk();
  } else if (!isa<TilePositionsOp, TileIotaOp>(keyPositions)) {
    return tiles.emitError("convert-dma-tiles-to-gpu: unsupported key "
                           "positions op ")
           << keyPositions->getName();
  }
  if (Value full = logits.getMaskFull()) {
    // dma-block-skip: mask_full is `state[...] == 2` of a summary of this
    // mask at this tile's shape; the kernel reads the same buffers.
    auto isFull = full.getDefiningOp<arith::CmpIOp>();
    auto load = isFull ? isFull.getLhs().getDefiningOp<memref::LoadOp>()
                       : memref::LoadOp();
    MaskSummaryOp summary;
    if (load)
      for (Operation *user : load.getMemRef().getUsers())
        if (auto s = dyn_cast<MaskSummaryOp>(user);
            s && s.getOuts()[0] == load.getMemRef())
          summary = s;
    if (!summary || summary.getMask() != m.mask ||
        static_cast<int64_t>(summary.getQTile()) != c.blockM ||
        static_cast<int64_t>(summary.getKTile()) != c.blockN)
      return tiles.emitError("convert-dma-tiles-to-gpu: mask_full must be "
                             "read from a dma.tile.mask_summary of the "
                             "logits' mask at the tile's shape (run "
                             "dma-block-skip)");
    c.blockSkip = true;
    m.maskState = summary.getOuts()[0];
    m.maskTiles = summary.getOuts()[1];
    m.maskCount = summary.getOuts()[2];
  }
  if (m.bias) {
    c.biasElement = eltOf(m.bias);
    c.biasPerKey = dimOf(m.bias, 2) == 1;
  }
  if (m.keep)
    c.keepElement = eltOf(m.keep);
  if (m.keepScore) {
    c.rowsScoreElement = eltOf(m.keepScore);
    c.tiebreakElement = eltOf(m.keepTiebreak);
  }
  return m;
}

bool mlir::dma::isTiledForward(scf::ForallOp tiles) {
  return llvm::any_of(tiles.getBody()->getOperations(), [](Operation &op) {
    return isa<TileStoreOutputOp>(op);
  });
}

namespace {

/// Ops of the forward nest the GPU lowering handles: the tile ops of the
/// forward, the tiles' creation, and index arithmetic and control flow of
/// the walk (the kernel derives those from its configuration).
bool isKnownForwardOp(Operation *op) {
  if (isa<TileIotaOp, TilePositionsOp, TileCandidatesOp, TileCountOp,
          TileGatherOp,
          TileDotOp, TileLogitsOp, TileSoftmaxOp, TileStoreOutputOp,
          tensor::EmptyOp, linalg::FillOp, memref::LoadOp, memref::DimOp>(op))
    return true;
  return isa<arith::ArithDialect, scf::SCFDialect>(op->getDialect());
}

template <typename OpT> OpT definedBy(Value v) {
  return v ? v.getDefiningOp<OpT>() : OpT();
}

} // namespace

FailureOr<TiledForward> mlir::dma::readTiledForward(scf::ForallOp tiles,
                                                    StringRef pass) {
  TiledForward f;
  auto fail = [&](const Twine &what) {
    return tiles.emitError(pass) << ": " << what;
  };
  // Every op is one the lowering knows, and the forward's ops are unique.
  Operation *unknown = nullptr;
  int logitsOps = 0, softmaxOps = 0, stores = 0;
  tiles.getBody()->walk<WalkOrder::PreOrder>([&](Operation *op) {
    if (!unknown && !isKnownForwardOp(op))
      unknown = op;
    if (isa<linalg::FillOp>(op))
      return WalkResult::skip(); // its body is the fill
    if (auto l = dyn_cast<TileLogitsOp>(op))
      f.logits = l, ++logitsOps;
    if (auto s = dyn_cast<TileSoftmaxOp>(op))
      f.softmax = s, ++softmaxOps;
    if (auto s = dyn_cast<TileStoreOutputOp>(op))
      f.store = s, ++stores;
    return WalkResult::advance();
  });
  if (unknown) {
    InFlightDiagnostic d = unknown->emitError(pass)
                           << ": '" << unknown->getName()
                           << "' in a tiled forward is not an op the GPU "
                              "lowering knows";
    d.attachNote(tiles.getLoc()) << "in this loop nest";
    return failure();
  }
  if (logitsOps != 1 || softmaxOps != 1 || stores != 1)
    return fail("not a tiled attention forward (one logits, softmax and "
                "store_output each; run dma-tile-attention first)");
  // The dots by what they feed and read.
  f.scores = definedBy<TileDotOp>(f.logits.getRaw());
  tiles.getBody()->walk([&](TileDotOp dot) {
    if (definedBy<TileSoftmaxOp>(dot.getLhs()) == f.softmax)
      f.update = dot;
  });
  if (!f.scores || !f.update)
    return fail("cannot find the dots of S = Q K^T (read by the logits) and "
                "of P V (reading the softmax's P)");
  f.qGather = definedBy<TileGatherOp>(f.scores.getLhs());
  f.kGather = definedBy<TileGatherOp>(f.scores.getRhs());
  f.vGather = definedBy<TileGatherOp>(f.update.getRhs());
  if (!f.qGather || !f.kGather || !f.vGather || f.scores.getTransposeLhs() ||
      !f.scores.getTransposeRhs() || f.update.getTransposeLhs() ||
      f.update.getTransposeRhs())
    return fail("the dots must be Q K^T and P V of gathered Q, K and V");
  if (f.qGather.getRows() != f.logits.getRows() ||
      f.kGather.getRows() != f.logits.getKeys() ||
      f.vGather.getRows() != f.logits.getKeys())
    return fail("Q must be gathered at the logits' rows, K and V at its keys");
  f.keyPositions = f.logits.getKeys().getDefiningOp();
  if (!f.keyPositions)
    return fail("the key positions must be computed in the loop nest");
  f.q = f.qGather.getSource();
  f.k = f.kGather.getSource();
  f.v = f.vGather.getSource();
  f.o = f.store.getOut();
  f.lse = f.store.getLse();
  FailureOr<MaskOperands> masks = readLogitsConfig(
      tiles, f.logits, f.keyPositions, f.q, f.v, f.config);
  if (failed(masks))
    return failure();
  f.masks = *masks;
  return f;
}

LogicalResult mlir::dma::verifyTiledForward(scf::ForallOp tiles,
                                            const TiledForward &f) {
  const MaskOperands &m = f.masks;
  return success(
      succeeded(f.config.verify([&] { return tiles.emitError(); })) &&
      succeeded(checkI32Sizes(tiles, {f.q, f.k, f.v, f.o, f.lse, m.bias,
                                      m.mask, m.keep, m.keepScore,
                                      m.keepThreshold, m.keepTiebreak})));
}

LogicalResult mlir::dma::readForwardLayouts(scf::ForallOp tiles,
                                            TiledForward &f) {
  // Only convert-dma-tiles-to-gpu reads the layouts.
  auto fail = [&](const Twine &what) {
    return tiles.emitError("convert-dma-tiles-to-gpu: ") << what;
  };
  auto fragments = dyn_cast_or_null<MmaLayoutAttr>(
      tileLayoutOf(f.scores.getResult(0)));
  auto q = dyn_cast_or_null<SharedLayoutAttr>(tileLayoutOf(f.qGather.getResult(0)));
  auto k = dyn_cast_or_null<SharedLayoutAttr>(tileLayoutOf(f.kGather.getResult(0)));
  auto v = dyn_cast_or_null<SharedLayoutAttr>(tileLayoutOf(f.vGather.getResult(0)));
  auto keys = dyn_cast_or_null<SharedLayoutAttr>(tileLayoutOf(f.logits.getKeys()));
  if (!fragments || !q || !k || !v || !keys)
    return fail("the tiled forward has no tile layouts (run "
                "dma-assign-layouts first)");
  // What this generator implements of the layouts' space.
  if (k != v || keys.getStages() != k.getStages())
    return fail("the kernel stages K, V and the key positions in one ring "
                "of buffers: their #dma.shared layouts must agree");
  if (q.getStages() != 1 || q.getSwizzle() != k.getSwizzle() ||
      q.getBlockCols() != k.getBlockCols())
    return fail("the kernel loads Q once (stages = 1), swizzled and blocked "
                "like K and V");
  if (fragments.getWgmma() != (k.getBlockCols() != 0))
    return fail("wgmma fragments read Q, K and V in column blocks "
                "(block_cols), mma.sync's in whole rows");
  if (tileLayoutOf(f.update.getResult(0)) != fragments)
    return fail("S and the output accumulator must share one #dma.mma layout");
  ForwardKernelConfig &c = f.config;
  c.fragments = fragments;
  c.warpCount = fragments.getWarps();
  c.stages = k.getStages();
  c.swizzle = k.getSwizzle();
  c.wgmma = fragments.getWgmma();
  c.blockCols = k.getBlockCols();
  return verifyTiledForward(tiles, f);
}
