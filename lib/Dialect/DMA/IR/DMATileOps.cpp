//===- DMATileOps.cpp - the tile level of the dma dialect -----------------===//
//
// Verifiers and memory effects of the tile ops. Tiles are static-shaped
// tensors (memrefs after bufferization); the rules below keep every tile
// op's shapes consistent so that both lowerings can rely on them. Each rule
// has a case in test/Dialect/DMA/invalid-tile.mlir.
//
//===----------------------------------------------------------------------===//

#include "dma/Dialect/DMA/IR/DMAOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/STLExtras.h"

using namespace mlir;
using namespace mlir::dma;

namespace {

using Effects =
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>;

ShapedType shapedOf(Value v) { return cast<ShapedType>(v.getType()); }

/// `-1` stands for "any size" in the expectations below.
constexpr int64_t kAny = -1;

/// Checks that a tile (or a tile destination) is a static-shaped tensor or
/// memref of the given rank and sizes; `elt` (optional) must match.
LogicalResult expectTile(Operation *op, Value v, StringRef name,
                         ArrayRef<int64_t> dims,
                         function_ref<bool(Type)> elt = nullptr,
                         StringRef eltName = "") {
  ShapedType t = shapedOf(v);
  if (!t.hasStaticShape())
    return op->emitOpError() << name << " must be a static-shaped tile";
  if (t.getRank() != static_cast<int64_t>(dims.size()))
    return op->emitOpError() << name << " must have rank " << dims.size()
                             << ", got " << t.getRank();
  for (auto [got, want] : llvm::zip(t.getShape(), dims))
    if (want != kAny && got != want)
      return op->emitOpError()
             << name << " has shape " << t << " where size " << want
             << " was expected";
  if (elt && !elt(t.getElementType()))
    return op->emitOpError() << name << " must have " << eltName
                             << " elements";
  return verifyTileLayout(
      [&] { return op->emitOpError() << name << ": "; }, t);
}

/// Tiles with layouts (dma-assign-layouts) must agree with each other:
/// either none of `tiles` has one, or each has the one its role needs:
/// `want(mma, tile)`, given the first fragment layout among them (`mma`),
/// or null for "some #dma.shared layout".
LogicalResult expectLayouts(
    Operation *op, ArrayRef<std::pair<Value, StringRef>> tiles,
    function_ref<Attribute(MmaLayoutAttr mma, Value tile)> want) {
  MmaLayoutAttr mma;
  bool any = false;
  for (auto [v, name] : tiles) {
    any |= static_cast<bool>(tileLayoutOf(v));
    if (!mma)
      mma = dyn_cast_or_null<MmaLayoutAttr>(tileLayoutOf(v));
  }
  if (!any)
    return success();
  for (auto [v, name] : tiles) {
    Attribute need = want(mma, v);
    Attribute got = tileLayoutOf(v);
    if (!got)
      return op->emitOpError() << name << " has no layout where the other "
                                  "tiles have one (run dma-assign-layouts)";
    if (!need && !isa<SharedLayoutAttr>(got))
      return op->emitOpError()
             << name << " must be in a #dma.shared layout, not " << got;
    if (need && got != need)
      return op->emitOpError()
             << name << " must be in layout " << need << ", not " << got;
  }
  return success();
}

/// `mma` itself, and its rows layout.
Attribute sameFragments(MmaLayoutAttr mma) { return mma; }
Attribute rowsOf(MmaLayoutAttr mma) {
  return mma ? RowsLayoutAttr::get(mma.getContext(), mma) : Attribute();
}

/// A memref size as a tile expectation: any size when dynamic.
int64_t sizeOrAny(int64_t size) {
  return ShapedType::isDynamic(size) ? kAny : size;
}

bool isF32(Type t) { return t.isF32(); }
bool isFloat(Type t) { return isa<FloatType>(t); }
bool isI32(Type t) { return t.isSignlessInteger(32); }
bool isIndexInt(Type t) {
  return t.isSignlessInteger(32) || t.isSignlessInteger(64);
}

/// Tile results follow destinations: all tensors (one result each, same
/// types) or all memrefs (no results).
LogicalResult verifyTileDestinations(Operation *op, ValueRange outs,
                                     unsigned expected) {
  if (outs.size() != expected)
    return op->emitOpError() << "expects " << expected << " destination"
                             << (expected == 1 ? "" : "s") << ", got "
                             << outs.size();
  bool tensors = isa<RankedTensorType>(outs.front().getType());
  for (Value v : outs)
    if (isa<RankedTensorType>(v.getType()) != tensors)
      return op->emitOpError(
          "destinations must be all tensors or all memrefs");
  if (!tensors)
    return op->getNumResults() == 0
               ? success()
               : op->emitOpError("on memref destinations has no results");
  if (op->getNumResults() != outs.size() ||
      !llvm::equal(op->getResultTypes(), outs.getTypes()))
    return op->emitOpError(
        "on tensor destinations returns one result of each destination's "
        "type");
  return success();
}

int64_t dimOf(Value v, unsigned d) { return shapedOf(v).getDimSize(d); }

/// Effects of an op whose memref operands are read, except `written` ones
/// (destinations), which are written and, when `alsoRead`, read too.
void addMemrefEffects(Operation *op, Effects &effects,
                      function_ref<bool(OpOperand &)> written,
                      function_ref<bool(OpOperand &)> alsoRead) {
  for (OpOperand &operand : op->getOpOperands()) {
    if (!isa<MemRefType>(operand.get().getType()))
      continue;
    bool isWritten = written(operand);
    if (!isWritten || alsoRead(operand))
      effects.emplace_back(MemoryEffects::Read::get(), &operand,
                           SideEffects::DefaultResource::get());
    if (isWritten)
      effects.emplace_back(MemoryEffects::Write::get(), &operand,
                           SideEffects::DefaultResource::get());
  }
}

template <typename OpTy>
void addTileDPSEffects(OpTy op, Effects &effects) {
  auto dps = cast<DestinationStyleOpInterface>(op.getOperation());
  addMemrefEffects(
      op.getOperation(), effects,
      [&](OpOperand &o) { return dps.isDpsInit(&o); },
      [&](OpOperand &o) {
        return op.readsDestination(o.getOperandNumber() -
                                   dps.getDpsInitsMutable().begin()->getOperandNumber());
      });
}

} // namespace

#define DMA_TILE_DPS_EFFECTS(OP)                                               \
  void OP::getEffects(Effects &effects) { addTileDPSEffects(*this, effects); }

DMA_TILE_DPS_EFFECTS(TileIotaOp)
DMA_TILE_DPS_EFFECTS(TilePositionsOp)
DMA_TILE_DPS_EFFECTS(TileCandidatesOp)
DMA_TILE_DPS_EFFECTS(TileRankedKeysOp)
DMA_TILE_DPS_EFFECTS(TileGatherOp)
DMA_TILE_DPS_EFFECTS(TileDotOp)
DMA_TILE_DPS_EFFECTS(TileLogitsOp)
DMA_TILE_DPS_EFFECTS(TileSoftmaxOp)
DMA_TILE_DPS_EFFECTS(TileProbsOp)
DMA_TILE_DPS_EFFECTS(TileDScoresOp)
DMA_TILE_DPS_EFFECTS(TileRowDotOp)
DMA_TILE_DPS_EFFECTS(MaskSummaryOp)
#undef DMA_TILE_DPS_EFFECTS

// Which destinations are updated rather than overwritten.
bool TileIotaOp::readsDestination(unsigned) { return false; }
bool TilePositionsOp::readsDestination(unsigned) { return false; }
bool TileCandidatesOp::readsDestination(unsigned) { return false; }
bool TileRankedKeysOp::readsDestination(unsigned) { return false; }
bool TileGatherOp::readsDestination(unsigned) { return false; }
bool TileDotOp::readsDestination(unsigned) { return true; } // C += A B
bool TileLogitsOp::readsDestination(unsigned) { return false; }
bool TileSoftmaxOp::readsDestination(unsigned i) { return i != 0; } // not P
bool TileProbsOp::readsDestination(unsigned) { return false; }
bool TileDScoresOp::readsDestination(unsigned) { return false; }
bool TileRowDotOp::readsDestination(unsigned) { return false; }
bool MaskSummaryOp::readsDestination(unsigned) { return false; }

void TileCountOp::getEffects(Effects &effects) {
  addMemrefEffects(
      getOperation(), effects, [](OpOperand &) { return false; },
      [](OpOperand &) { return false; });
}

void TileKeepingRowsOp::getEffects(Effects &effects) {
  addMemrefEffects(
      getOperation(), effects, [](OpOperand &) { return false; },
      [](OpOperand &) { return false; });
}

void TileScatterOp::getEffects(Effects &effects) {
  addMemrefEffects(
      getOperation(), effects,
      [&](OpOperand &o) { return o.get() == getDest(); },
      [&](OpOperand &) { return getAccumulate(); });
}

void TileStoreOutputOp::getEffects(Effects &effects) {
  addMemrefEffects(
      getOperation(), effects,
      [&](OpOperand &o) { return o.get() == getOut() || o.get() == getLse(); },
      [](OpOperand &) { return false; });
}

void TileBiasGradOp::getEffects(Effects &effects) {
  addMemrefEffects(
      getOperation(), effects,
      [&](OpOperand &o) { return o.get() == getDbias(); },
      [](OpOperand &) { return true; });
}

void TileConvertOp::getEffects(Effects &effects) {
  addMemrefEffects(
      getOperation(), effects,
      [&](OpOperand &o) {
        return o.getOperandNumber() >= getSources().size();
      },
      [](OpOperand &) { return false; });
}

//===----------------------------------------------------------------------===//
// Verifiers
//===----------------------------------------------------------------------===//

LogicalResult TileIotaOp::verify() {
  if (failed(verifyTileDestinations(*this, getOuts(), 1)))
    return failure();
  return expectTile(*this, getOuts()[0], "positions", {kAny}, isI32, "i32");
}

LogicalResult TilePositionsOp::verify() {
  if (failed(verifyTileDestinations(*this, getOuts(), 1)))
    return failure();
  auto list = cast<ShapedType>(getList().getType());
  if (list.getRank() != static_cast<int64_t>(getIndices().size()) + 1)
    return emitOpError() << "takes one index per leading dimension of the "
                            "list (" << list.getRank() - 1 << "), got "
                         << getIndices().size();
  if (!isIndexInt(list.getElementType()))
    return emitOpError("list must have i32 or i64 elements");
  return expectTile(*this, getOuts()[0], "positions", {kAny}, isI32, "i32");
}

LogicalResult TileCountOp::verify() {
  // Also counts the dynamically sized list of dma.tile.candidates.
  auto t = shapedOf(getPositions());
  if (t.getRank() != 1 || !isI32(t.getElementType()))
    return emitOpError("positions must be a rank-1 i32 tile or list");
  return success();
}

LogicalResult TileCandidatesOp::verify() {
  if (failed(verifyTileDestinations(*this, getOuts(), 1)))
    return failure();
  for (Value v : {getKeepScore(), getKeepThreshold(), getKeepTiebreak()})
    if (cast<MemRefType>(v.getType()).getRank() != 3)
      return emitOpError("keep_rows tensors must have rank 3");
  auto list = shapedOf(getOuts()[0]);
  if (list.getRank() != 1 || !isI32(list.getElementType()))
    return emitOpError("candidate list must be a rank-1 i32 buffer");
  return success();
}

/// The per-query top-k representation is [{B|1}, {Hkv|H|1}, L].
static LogicalResult verifyKeepRows(Operation *op, ValueRange memrefs) {
  for (Value v : memrefs)
    if (cast<MemRefType>(v.getType()).getRank() != 3)
      return op->emitOpError("keep_rows tensors must have rank 3");
  return success();
}

LogicalResult TileRankedKeysOp::verify() {
  if (failed(verifyTileDestinations(*this, getOuts(), 1)) ||
      failed(verifyKeepRows(*this, getKeepScore())))
    return failure();
  if (!isa<FloatType>(
          cast<MemRefType>(getKeepScore().getType()).getElementType()))
    return emitOpError("keep_score must have float elements");
  if (failed(expectTile(*this, getOuts()[0], "positions", {kAny}, isI32,
                        "i32")))
    return failure();
  // Tiles must not straddle chunks: each chunk is a whole number of tiles.
  int64_t n = dimOf(getOuts()[0], 0);
  if (!ShapedType::isDynamic(n) && getChunk() % n)
    return emitOpError() << "chunk (" << getChunk()
                         << ") must be a multiple of the tile's " << n
                         << " positions";
  return success();
}

LogicalResult TileKeepingRowsOp::verify() {
  if (failed(verifyKeepRows(*this, {getKeepScore(), getKeepThreshold(),
                                    getKeepTiebreak()})))
    return failure();
  if (!isIndexInt(cast<MemRefType>(getKeepTiebreak().getType())
                      .getElementType()))
    return emitOpError("tiebreak must have i32 or i64 elements");
  return expectTile(*this, getPositions(), "positions", {kAny}, isI32, "i32");
}

LogicalResult TileGatherOp::verify() {
  if (failed(verifyTileDestinations(*this, getOuts(), 1)))
    return failure();
  auto src = cast<MemRefType>(getSource().getType());
  int64_t n = shapedOf(getOuts()[0]).getRank() >= 1
                  ? shapedOf(getOuts()[0]).getDimSize(0)
                  : kAny;
  if (failed(expectTile(*this, getRows(), "rows", {n}, isI32, "i32")))
    return failure();
  // On the GPU a gathered tile is staged in shared memory (cp.async).
  if (tileLayoutOf(getOuts()[0]) &&
      !isa<SharedLayoutAttr>(tileLayoutOf(getOuts()[0])))
    return emitOpError("gathers into a #dma.shared layout only");
  if (src.getRank() == 4)
    return expectTile(*this, getOuts()[0], "tile",
                      {n, sizeOrAny(src.getDimSize(3))},
                      isFloat, "float");
  if (src.getRank() == 3)
    return expectTile(*this, getOuts()[0], "tile", {n}, isFloat, "float");
  return emitOpError("source must be [B, L, H, D] (rank 4) or [B, H, L] "
                     "(rank 3)");
}

LogicalResult TileScatterOp::verify() {
  auto dest = cast<MemRefType>(getDest().getType());
  int64_t n = shapedOf(getTile()).getRank() >= 1 ? dimOf(getTile(), 0) : kAny;
  if (failed(expectTile(*this, getRows(), "rows", {n}, isI32, "i32")))
    return failure();
  if (getAccumulate() && !dest.getElementType().isF32())
    return emitOpError("accumulates only into an f32 destination");
  if (dest.getRank() == 4)
    return expectTile(*this, getTile(), "tile",
                      {n, sizeOrAny(dest.getDimSize(3))},
                      isFloat, "float");
  if (dest.getRank() == 3)
    return expectTile(*this, getTile(), "tile", {n}, isFloat, "float");
  return emitOpError("destination must be [B, L, H, D] (rank 4) or [B, H, L] "
                     "(rank 3)");
}

LogicalResult TileDotOp::verify() {
  if (failed(verifyTileDestinations(*this, getOuts(), 1)))
    return failure();
  Value acc = getOuts()[0];
  if (failed(expectTile(*this, acc, "accumulator", {kAny, kAny}, isF32,
                        "f32")) ||
      failed(expectTile(*this, getLhs(), "lhs", {kAny, kAny}, isFloat,
                        "float")) ||
      failed(expectTile(*this, getRhs(), "rhs", {kAny, kAny}, isFloat,
                        "float")))
    return failure();
  int64_t m = dimOf(getLhs(), getTransposeLhs() ? 1 : 0);
  int64_t kl = dimOf(getLhs(), getTransposeLhs() ? 0 : 1);
  int64_t kr = dimOf(getRhs(), getTransposeRhs() ? 1 : 0);
  int64_t n = dimOf(getRhs(), getTransposeRhs() ? 0 : 1);
  if (kl != kr)
    return emitOpError() << "contracts lhs size " << kl << " with rhs size "
                         << kr;
  if (failed(expectTile(*this, acc, "accumulator", {m, n})))
    return failure();
  // On the GPU: the accumulator in mma fragments, B staged in shared memory
  // (ldmatrix), A in shared memory or already in the accumulator's
  // fragments (P of P V).
  // (expectTile admits no other layout on a 2-D f32 tile than #dma.mma.)
  if (tileLayoutOf(acc) && !isa_and_nonnull<SharedLayoutAttr>(tileLayoutOf(getRhs())))
    return emitOpError("rhs must be in a #dma.shared layout (ldmatrix)");
  if (tileLayoutOf(acc) && !isa_and_nonnull<SharedLayoutAttr>(tileLayoutOf(getLhs())) &&
      tileLayoutOf(getLhs()) != tileLayoutOf(acc))
    return emitOpError("lhs must be in a #dma.shared layout or in the "
                       "accumulator's #dma.mma layout");
  if (!tileLayoutOf(acc) && (tileLayoutOf(getLhs()) || tileLayoutOf(getRhs())))
    return emitOpError("accumulator has no layout where its operands have "
                       "one (run dma-assign-layouts)");
  return success();
}

LogicalResult TileLogitsOp::verify() {
  if (failed(verifyTileDestinations(*this, getOuts(), 1)))
    return failure();
  int64_t m = dimOf(getRaw(), 0), n = shapedOf(getRaw()).getRank() == 2
                                          ? dimOf(getRaw(), 1)
                                          : kAny;
  if (failed(expectTile(*this, getRaw(), "raw scores", {kAny, kAny}, isF32,
                        "f32")) ||
      failed(expectTile(*this, getRows(), "rows", {m}, isI32, "i32")) ||
      failed(expectTile(*this, getKeys(), "keys", {n}, isI32, "i32")) ||
      failed(expectTile(*this, getOuts()[0], "logits", {m, n}, isF32, "f32")))
    return failure();
  int forms = (getMask() ? 1 : 0) + (getKeep() ? 1 : 0) +
              (getKeepScore() ? 1 : 0);
  if (forms > 1)
    return emitOpError("takes at most one mask form");
  if (getMaskFull() && !getMask())
    return emitOpError("mask_full needs a mask");
  if (getKeysKept() && !getKeep())
    return emitOpError("keys_kept needs a keep list");
  if (getKeepScore() && (!getKeepThreshold() || !getKeepTiebreak()))
    return emitOpError("keep_rows needs a score, a threshold and a tiebreak");
  // On the GPU: scores element-wise on the fragments; each thread reads the
  // positions of its rows and the keys (staged in shared memory).
  return expectLayouts(
      *this, {{getRaw(), "raw scores"}, {getOuts()[0], "logits"},
              {getRows(), "rows"}, {getKeys(), "keys"}},
      [&](MmaLayoutAttr mma, Value tile) -> Attribute {
        if (tile == getRows())
          return rowsOf(mma);
        if (tile == getKeys())
          return Attribute(); // staged in shared memory
        return sameFragments(mma);
      });
}

LogicalResult TileSoftmaxOp::verify() {
  if (failed(verifyTileDestinations(*this, getOuts(), 4)))
    return failure();
  int64_t m = dimOf(getLogits(), 0);
  int64_t n = shapedOf(getLogits()).getRank() == 2 ? dimOf(getLogits(), 1)
                                                   : kAny;
  ValueRange outs = getOuts();
  return success(
      succeeded(expectTile(*this, getLogits(), "logits", {kAny, kAny}, isF32,
                           "f32")) &&
      succeeded(expectTile(*this, outs[0], "probabilities", {m, n}, isFloat,
                           "float")) &&
      succeeded(expectTile(*this, outs[1], "accumulator", {m, kAny}, isF32,
                           "f32")) &&
      succeeded(expectTile(*this, outs[2], "row max", {m}, isF32, "f32")) &&
      succeeded(expectTile(*this, outs[3], "row sum", {m}, isF32, "f32")) &&
      succeeded(expectLayouts(
          *this, {{getLogits(), "logits"}, {outs[0], "probabilities"},
                  {outs[1], "accumulator"}, {outs[2], "row max"},
                  {outs[3], "row sum"}},
          [&](MmaLayoutAttr mma, Value tile) {
            return shapedOf(tile).getRank() == 1 ? rowsOf(mma)
                                                 : sameFragments(mma);
          })));
}

LogicalResult TileStoreOutputOp::verify() {
  int64_t m = shapedOf(getAcc()).getRank() >= 1 ? dimOf(getAcc(), 0) : kAny;
  if (failed(expectTile(*this, getAcc(), "accumulator", {kAny, kAny}, isF32,
                        "f32")) ||
      failed(expectTile(*this, getMax(), "row max", {m}, isF32, "f32")) ||
      failed(expectTile(*this, getSum(), "row sum", {m}, isF32, "f32")) ||
      failed(expectTile(*this, getRows(), "rows", {m}, isI32, "i32")) ||
      failed(expectLayouts(
          *this, {{getAcc(), "accumulator"}, {getMax(), "row max"},
                  {getSum(), "row sum"}, {getRows(), "rows"}},
          [&](MmaLayoutAttr mma, Value tile) {
            return tile == getAcc() ? sameFragments(mma) : rowsOf(mma);
          })))
    return failure();
  if (cast<MemRefType>(getOut().getType()).getRank() != 4 ||
      cast<MemRefType>(getLse().getType()).getRank() != 3)
    return emitOpError("stores into O [B, Lq, H, Dv] and LSE [B, H, Lq]");
  return success();
}

LogicalResult TileProbsOp::verify() {
  if (failed(verifyTileDestinations(*this, getOuts(), 1)))
    return failure();
  int64_t m = dimOf(getLogits(), 0);
  return success(
      succeeded(expectTile(*this, getLogits(), "logits", {kAny, kAny}, isF32,
                           "f32")) &&
      succeeded(expectTile(*this, getLse(), "lse", {m}, isF32, "f32")) &&
      succeeded(expectTile(*this, getOuts()[0], "probabilities",
                           shapedOf(getLogits()).getShape(), isF32, "f32")));
}

LogicalResult TileDScoresOp::verify() {
  if (failed(verifyTileDestinations(*this, getOuts(), 2)))
    return failure();
  ArrayRef<int64_t> mn = shapedOf(getProbs()).getShape();
  if (failed(expectTile(*this, getProbs(), "probabilities", {kAny, kAny},
                        isF32, "f32")) ||
      failed(expectTile(*this, getDprobs(), "dP", mn, isF32, "f32")) ||
      failed(expectTile(*this, getDelta(), "delta", {mn[0]}, isF32, "f32")) ||
      failed(expectTile(*this, getOuts()[0], "dS", mn, isF32, "f32")) ||
      failed(expectTile(*this, getOuts()[1], "dX", mn, isF32, "f32")))
    return failure();
  if (getSoftcapAttr().getValueAsDouble() > 0.0 && !getRaw())
    return emitOpError("with a soft cap needs the raw scores");
  if (getRaw() && failed(expectTile(*this, getRaw(), "raw scores", mn)))
    return failure();
  return success();
}

LogicalResult TileRowDotOp::verify() {
  if (failed(verifyTileDestinations(*this, getOuts(), 1)))
    return failure();
  if (failed(expectTile(*this, getLhs(), "lhs", {kAny, kAny}, isFloat,
                        "float")) ||
      failed(expectTile(*this, getRhs(), "rhs", shapedOf(getLhs()).getShape(),
                        isFloat, "float")))
    return failure();
  return expectTile(*this, getOuts()[0], "row sums", {dimOf(getLhs(), 0)},
                    isF32, "f32");
}

LogicalResult TileBiasGradOp::verify() {
  if (failed(expectTile(*this, getDs(), "dS", {kAny, kAny}, isF32, "f32")) ||
      failed(expectTile(*this, getRows(), "rows", {dimOf(getDs(), 0)}, isI32,
                        "i32")) ||
      failed(expectTile(*this, getKeys(), "keys", {dimOf(getDs(), 1)}, isI32,
                        "i32")))
    return failure();
  auto dbias = cast<MemRefType>(getDbias().getType());
  if (dbias.getRank() != 4 || !dbias.getElementType().isF32())
    return emitOpError("dbias must be an f32 memref of rank 4");
  return success();
}

LogicalResult TileConvertOp::verify() {
  if (getSources().empty())
    return emitOpError("converts at least one memref");
  for (auto [i, pair] : llvm::enumerate(llvm::zip(getSources(), getDests()))) {
    auto from = cast<MemRefType>(std::get<0>(pair).getType());
    auto to = cast<MemRefType>(std::get<1>(pair).getType());
    if (!isa<FloatType>(from.getElementType()) ||
        !isa<FloatType>(to.getElementType()))
      return emitOpError() << "converts float memrefs only (pair " << i << ")";
    if (from.getRank() != to.getRank() ||
        failed(verifyCompatibleShape(from.getShape(), to.getShape())))
      return emitOpError() << "source and destination " << i
                           << " must have one shape";
  }
  return success();
}

LogicalResult MaskSummaryOp::verify() {
  if (failed(verifyTileDestinations(*this, getOuts(), 3)))
    return failure();
  auto mask = cast<MemRefType>(getMask().getType());
  if (mask.getRank() != 4 || !mask.getElementType().isSignlessInteger(1))
    return emitOpError("mask must be an i1 memref of rank 4");
  if (getQTile() < 1 || getKTile() < 1)
    return emitOpError("tile sizes must be at least 1");
  ValueRange outs = getOuts();
  auto ranked = [](Value v, int64_t rank) {
    ShapedType t = shapedOf(v);
    return t.getRank() == rank && t.getElementType().isSignlessInteger(32);
  };
  if (!ranked(outs[0], 4) || !ranked(outs[1], 4) || !ranked(outs[2], 3))
    return emitOpError(
        "writes state and tiles [Mb, Mh, nQT, nKT] and count [Mb, Mh, nQT], "
        "all i32");
  return success();
}
