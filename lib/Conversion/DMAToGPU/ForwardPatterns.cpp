//===- ForwardPatterns.cpp - the forward's tile ops, one pattern each -----===//
//
// convert-dma-tiles-to-gpu lowers a tiled forward (TiledForward.h) into its
// kernel the upstream way: the loop nest's body is moved into the kernel
// (the CTA's (batch, head, query tile) for the scf.forall's induction
// variables) and a dialect conversion rewrites every tile op by its own
// pattern, on per-thread values given by the tiles' layouts:
//
//   tensor<M x N x f32, #dma.mma>   -> row_tiles * N/8 * 4 f32 (mma.sync's
//                                      accumulator fragments)
//   tensor<M x T, #dma.rows<..>>    -> 2 * row_tiles T (the thread's rows)
//   tensor<.., #dma.shared<..>>     -> i32: the tile's slot in its ring of
//                                      shared-memory buffers
//
//   dma.tile.iota (query rows)      -> the positions of the thread's rows
//   dma.tile.gather (Q)             -> cp.async of the query tile
//   dma.tile.candidates / count     -> the per-query candidate list
//   scf.for (the key loop)          -> the cp.async pipeline: the walk's
//                                      length, tiles in flight, wait + copy
//                                      of tile t + stages - 1 per step
//   dma.tile.iota / positions (keys), dma.tile.gather (K, V)
//                                   -> the slot the pipeline copied into
//   dma.tile.dot (Q K^T, P V)       -> ldmatrix + mma.sync, or (sm_90a,
//                                      #dma.mma<..., wgmma>) wgmma.mma_async
//                                      on shared-memory descriptors
//   dma.tile.logits                 -> scale, bias, mask, causality, cap
//   dma.tile.softmax                -> online softmax, quad shuffles
//   dma.tile.store_output           -> O / l and the LSE to global memory
//   tensor.empty, linalg.fill       -> undefined / constant values
//
// Every op of the nest is converted or the conversion fails naming it. The
// nest's index arithmetic (walk bounds, list offsets) is left unconverted:
// the patterns derive those from the kernel's configuration and sizes, and
// the now unused ops are erased after the conversion.
//
//===----------------------------------------------------------------------===//

#include "ForwardEmitter.h"
#include "TiledForward.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/UB/IR/UBOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Iterators.h"
#include "mlir/Transforms/DialectConversion.h"
#include "mlir/Transforms/RegionUtils.h"

using namespace mlir;
using namespace mlir::dma;

namespace {

/// Marks the key loop the scf.for pattern built, for its yield's pattern.
constexpr llvm::StringLiteral kKeyWalk = "dma.key_walk";

/// A tile's per-thread values, by its layout; other types stay.
class TileTypeConverter : public TypeConverter {
public:
  TileTypeConverter() {
    addConversion([](Type t) { return t; });
    addConversion([](RankedTensorType t, SmallVectorImpl<Type> &out)
                      -> std::optional<LogicalResult> {
      Attribute layout = t.getEncoding();
      if (auto mma = dyn_cast_or_null<MmaLayoutAttr>(layout)) {
        out.append(mma.getRowTiles() * (t.getDimSize(1) / 8) * 4,
                   t.getElementType());
        return success();
      }
      if (auto rows = dyn_cast_or_null<RowsLayoutAttr>(layout)) {
        out.append(2 * rows.getParent().getRowTiles(), t.getElementType());
        return success();
      }
      if (isa_and_nonnull<SharedLayoutAttr>(layout)) {
        out.push_back(IntegerType::get(t.getContext(), 32));
        return success();
      }
      return failure(); // no layout: not a tile of this kernel
    });
  }
};

/// A pattern of the forward: emits through the kernel's emitter.
template <typename Op>
struct ForwardPattern : OpConversionPattern<Op> {
  ForwardPattern(const TypeConverter &tc, MLIRContext *ctx, ForwardEmitter &e)
      : OpConversionPattern<Op>(tc, ctx), e(e) {}

  /// Points the emitter at `rewriter`, before `op`. The ops it emits are
  /// located at `op`, named by it (`loc("dma.tile.dot"(...))`): which tile
  /// op each instruction of the kernel comes from.
  KernelBuilder &at(Operation *op, ConversionPatternRewriter &rewriter) const {
    rewriter.setInsertionPoint(op);
    e.use(rewriter, origin(op));
    return e.builder();
  }
  static Location origin(Operation *op) {
    return NameLoc::get(
        StringAttr::get(op->getContext(), op->getName().getStringRef()),
        op->getLoc());
  }
  /// The induction variable of the key loop `op` is in (null outside one:
  /// the pattern does not apply, and the conversion fails naming the op).
  static Value keyStep(Operation *op) {
    auto loop = op->getParentOfType<scf::ForOp>();
    return loop && loop->hasAttr(kKeyWalk) ? loop.getInductionVar() : Value();
  }
  /// The fragments of #dma.mma `tile` from its converted `values`.
  ForwardEmitter::Fragments fragments(ValueRange values, Value tile) const {
    return e.toFragments(
        values, cast<RankedTensorType>(tile.getType()).getDimSize(1));
  }

  ForwardEmitter &e;
};

/// Undefined values of the converted types (DPS inits that are only
/// overwritten; unused ones are erased after the conversion).
struct EmptyPattern : ForwardPattern<tensor::EmptyOp> {
  using ForwardPattern::ForwardPattern;
  LogicalResult
  matchAndRewrite(tensor::EmptyOp op, OneToNOpAdaptor,
                  ConversionPatternRewriter &rewriter) const override {
    SmallVector<Type> types;
    if (failed(getTypeConverter()->convertType(op.getType(), types)))
      return failure();
    rewriter.setInsertionPoint(op);
    SmallVector<Value> values;
    for (Type t : types)
      values.push_back(ub::PoisonOp::create(rewriter, op.getLoc(), t));
    rewriter.replaceOpWithMultiple(op, {values});
    return success();
  }
};

/// Every per-thread value of the tile is the fill value.
struct FillPattern : ForwardPattern<linalg::FillOp> {
  using ForwardPattern::ForwardPattern;
  LogicalResult
  matchAndRewrite(linalg::FillOp op, OneToNOpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Value value = adaptor.getInputs()[0][0];
    size_t n = adaptor.getOutputs()[0].size();
    rewriter.replaceOpWithMultiple(op, {SmallVector<Value>(n, value)});
    return success();
  }
};

/// Query rows (#dma.rows): the thread's rows. Key positions (#dma.shared,
/// in the key loop): the slot the pipeline stored them in.
struct IotaPattern : ForwardPattern<TileIotaOp> {
  using ForwardPattern::ForwardPattern;
  LogicalResult
  matchAndRewrite(TileIotaOp op, OneToNOpAdaptor,
                  ConversionPatternRewriter &rewriter) const override {
    at(op, rewriter);
    Attribute layout = tileLayoutOf(op.getResult(0));
    if (isa_and_nonnull<RowsLayoutAttr>(layout)) {
      if (op->getParentOfType<scf::ForOp>())
        return rewriter.notifyMatchFailure(op, "query rows inside a loop");
      rewriter.replaceOpWithMultiple(op, {e.emitThreadRows()});
      return success();
    }
    Value step = keyStep(op);
    if (!step)
      return rewriter.notifyMatchFailure(op, "key positions outside the loop");
    rewriter.replaceOpWithMultiple(op, {{e.stageOf(step)}});
    return success();
  }
};

/// Key positions read from a list (shared top-k, candidates): the slot.
struct PositionsPattern : ForwardPattern<TilePositionsOp> {
  using ForwardPattern::ForwardPattern;
  LogicalResult
  matchAndRewrite(TilePositionsOp op, OneToNOpAdaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Value step = keyStep(op);
    if (!step)
      return rewriter.notifyMatchFailure(op, "key positions outside the loop");
    at(op, rewriter);
    rewriter.replaceOpWithMultiple(op, {{e.stageOf(step)}});
    return success();
  }
};

/// Q (outside the key loop): its copies. K and V (inside): the slot of
/// their rows, which the key loop's pipeline copied.
struct GatherPattern : ForwardPattern<TileGatherOp> {
  using ForwardPattern::ForwardPattern;
  LogicalResult
  matchAndRewrite(TileGatherOp op, OneToNOpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    KernelBuilder &k = at(op, rewriter);
    if (op->getParentOfType<scf::ForOp>()) {
      rewriter.replaceOpWithMultiple(op, {adaptor.getRows()});
      return success();
    }
    e.emitQueryLoad();
    rewriter.replaceOpWithMultiple(op, {{k.c32(0)}});
    return success();
  }
};

/// The per-query candidate list, into shared memory (slot 0).
struct CandidatesPattern : ForwardPattern<TileCandidatesOp> {
  using ForwardPattern::ForwardPattern;
  LogicalResult
  matchAndRewrite(TileCandidatesOp op, OneToNOpAdaptor,
                  ConversionPatternRewriter &rewriter) const override {
    KernelBuilder &k = at(op, rewriter);
    e.emitCandidates();
    rewriter.replaceOpWithMultiple(op, {{k.c32(0)}});
    return success();
  }
};

/// The candidate list's length.
struct CountPattern : ForwardPattern<TileCountOp> {
  using ForwardPattern::ForwardPattern;
  LogicalResult
  matchAndRewrite(TileCountOp op, OneToNOpAdaptor,
                  ConversionPatternRewriter &rewriter) const override {
    if (!e.candidateTotal())
      return rewriter.notifyMatchFailure(op, "no candidate list before it");
    KernelBuilder &k = at(op, rewriter);
    rewriter.replaceOp(op, k.i32ToIndex(e.candidateTotal()));
    return success();
  }
};

/// The key loop: the cp.async pipeline around the loop body's tile ops.
/// Its state is the softmax's accumulator, row max and row sum.
struct KeyLoopPattern : ForwardPattern<scf::ForOp> {
  using ForwardPattern::ForwardPattern;
  LogicalResult
  matchAndRewrite(scf::ForOp op, OneToNOpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    // dma-tile-attention's key loop carries (acc #mma, max #rows, sum
    // #rows); any other loop is not one this pattern knows.
    auto layoutIs = [&](unsigned i, auto kind) {
      return isa_and_nonnull<decltype(kind)>(
          tileLayoutOf(op.getRegionIterArgs()[i]));
    };
    if (!op->hasAttr("dma.key_loop") || op.getNumRegionIterArgs() != 3 ||
        !layoutIs(0, MmaLayoutAttr()) || !layoutIs(1, RowsLayoutAttr()) ||
        !layoutIs(2, RowsLayoutAttr()))
      return rewriter.notifyMatchFailure(op, "not the forward's key loop");
    KernelBuilder &k = at(op, rewriter);
    ArrayRef<ValueRange> init = adaptor.getInitArgs();
    SmallVector<Value> state =
        e.emitKeyWalkStart(init[0], init[1], init[2]);
    auto loop = scf::ForOp::create(rewriter, origin(op), k.index(0),
                                   e.keyWalkLength(), k.index(1), state);
    loop->setAttr(kKeyWalk, rewriter.getUnitAttr());
    Block *body = loop.getBody();
    rewriter.setInsertionPointToStart(body);
    e.emitKeyTileStart(loop.getInductionVar(), body->getArguments().drop_front());

    // The old body's (step, acc, max, sum) are the new loop's values.
    auto inside = e.splitLoopState(body->getArguments().drop_front());
    TypeConverter::SignatureConversion signature(4);
    signature.remapInput(0, {loop.getInductionVar()});
    for (unsigned i = 0; i < 3; ++i)
      signature.remapInput(i + 1, inside[i]);
    Block *old = rewriter.applySignatureConversion(op.getBody(), signature,
                                                   getTypeConverter());
    rewriter.inlineBlockBefore(old, body, body->end());

    auto results = e.splitLoopState(loop.getResults());
    rewriter.replaceOpWithMultiple(op, {results[0], results[1], results[2]});
    rewriter.setInsertionPointAfter(loop);
    e.use(rewriter, origin(op));
    e.emitKeyWalkEnd();
    return success();
  }
};

/// The key loop's yield: the next key bias, the state in the loop's order.
struct KeyYieldPattern : ForwardPattern<scf::YieldOp> {
  using ForwardPattern::ForwardPattern;
  LogicalResult
  matchAndRewrite(scf::YieldOp op, OneToNOpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Operation *parent = op->getParentOp();
    if (!parent->hasAttr(kKeyWalk) || adaptor.getOperands().size() != 3)
      return rewriter.notifyMatchFailure(op, "not the key loop's yield");
    at(op, rewriter);
    ArrayRef<ValueRange> st = adaptor.getOperands();
    SmallVector<Value> next = e.emitKeyTileEnd(
        keyStep(op), fragments(st[0], op.getOperand(0)), st[1],
        st[2]);
    scf::YieldOp::create(rewriter, origin(op), next);
    rewriter.eraseOp(op);
    return success();
  }
};

/// Whether `op` accumulates into wgmma fragments (#dma.mma<..., wgmma>).
bool accumulatesWgmma(TileDotOp op) {
  auto mma = dyn_cast_or_null<MmaLayoutAttr>(tileLayoutOf(op.getOuts()[0]));
  return mma && mma.getWgmma();
}

/// S = Q K^T (lhs from shared memory) or O += P V (lhs P in registers), on
/// `Wgmma` (sm_90a's warpgroup MMA) or mma.sync: one pattern each, chosen
/// by the accumulator's layout.
template <bool Wgmma>
struct DotPatternOf : ForwardPattern<TileDotOp> {
  using ForwardPattern::ForwardPattern;
  LogicalResult
  matchAndRewrite(TileDotOp op, OneToNOpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    if (accumulatesWgmma(op) != Wgmma)
      return rewriter.notifyMatchFailure(op, "the other mma's fragments");
    at(op, rewriter);
    Value acc = op.getOuts()[0];
    ForwardEmitter::Fragments out =
        fragments(adaptor.getOuts()[0], acc);
    Value slot = adaptor.getRhs()[0];
    if (isa_and_nonnull<SharedLayoutAttr>(tileLayoutOf(op.getLhs()))) {
      out = Wgmma ? e.emitScoresWgmma(slot, out) : e.emitScores(slot, out);
    } else {
      ForwardEmitter::Fragments p =
          fragments(adaptor.getLhs(), op.getLhs());
      if (Wgmma)
        e.emitUpdateWgmma(p, out, slot);
      else
        e.emitUpdate(p, out, slot);
    }
    rewriter.replaceOpWithMultiple(op, {ForwardEmitter::flatten(out)});
    return success();
  }
};
using DotPattern = DotPatternOf<false>;
using WgmmaDotPattern = DotPatternOf<true>;

/// The logits of S, in place: the kernel's configuration says which scale,
/// bias, mask, causality and cap (read off this op).
struct LogitsPattern : ForwardPattern<TileLogitsOp> {
  using ForwardPattern::ForwardPattern;
  LogicalResult
  matchAndRewrite(TileLogitsOp op, OneToNOpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Value step = keyStep(op);
    if (!step)
      return rewriter.notifyMatchFailure(op, "logits outside the key loop");
    at(op, rewriter);
    ForwardEmitter::Fragments s =
        fragments(adaptor.getRaw(), op.getRaw());
    e.emitLogits(s, step, adaptor.getKeys()[0]);
    rewriter.replaceOpWithMultiple(op, {ForwardEmitter::flatten(s)});
    return success();
  }
};

/// One online-softmax step: (P, acc, max, sum).
struct SoftmaxPattern : ForwardPattern<TileSoftmaxOp> {
  using ForwardPattern::ForwardPattern;
  LogicalResult
  matchAndRewrite(TileSoftmaxOp op, OneToNOpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    at(op, rewriter);
    ArrayRef<ValueRange> outs = adaptor.getOuts();
    ForwardEmitter::Fragments s =
        fragments(adaptor.getLogits(), op.getLogits());
    SmallVector<Value> max(outs[2]), sum(outs[3]);
    ForwardEmitter::Fragments acc = e.emitSoftmax(
        s, fragments(outs[1], op.getOuts()[1]), max, sum);
    rewriter.replaceOpWithMultiple(
        op, {ForwardEmitter::flatten(s), ForwardEmitter::flatten(acc), max,
             sum});
    return success();
  }
};

struct StoreOutputPattern : ForwardPattern<TileStoreOutputOp> {
  using ForwardPattern::ForwardPattern;
  LogicalResult
  matchAndRewrite(TileStoreOutputOp op, OneToNOpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    at(op, rewriter);
    e.emitStoreOutput(fragments(adaptor.getAcc(), op.getAcc()),
                      adaptor.getMax(), adaptor.getSum());
    rewriter.eraseOp(op);
    return success();
  }
};

/// Erases the ops left without uses (the nest's index arithmetic and the
/// placeholders of host values), innermost and last first.
void eraseDeadOps(gpu::GPUFuncOp kernel) {
  bool erased = true;
  while (erased) {
    erased = false;
    SmallVector<Operation *> dead;
    kernel.walk<WalkOrder::PostOrder, ReverseIterator>([&](Operation *op) {
      if (op != kernel && isOpTriviallyDead(op))
        dead.push_back(op);
    });
    for (Operation *op : dead)
      if (op->use_empty()) {
        op->erase();
        erased = true;
      }
  }
}

} // namespace

FailureOr<gpu::GPUFuncOp>
mlir::dma::lowerTiledForward(OpBuilder &b, gpu::GPUModuleOp kernels,
                             scf::ForallOp tiles, const TiledForward &f,
                             StringRef name) {
  Location loc = tiles.getLoc();
  MLIRContext *ctx = b.getContext();
  OpBuilder::InsertionGuard guard(b);
  gpu::GPUFuncOp kernel =
      createForwardKernel(b, loc, kernels, name, f.config);
  ForwardEmitter e(b, loc, f.config, kernel);
  e.emitSetUp();

  // The nest's body, in the kernel: the CTA's coordinates for the forall's
  // induction variables, undefined placeholders for the host's values
  // (memrefs, sizes), which only the nest's index arithmetic reads.
  Block &entry = kernel.getBody().front();
  b.setInsertionPointToEnd(&entry);
  IRMapping map;
  for (auto [iv, cta] : llvm::zip(tiles.getInductionVars(),
                                  e.ctaCoordinates()))
    map.map(iv, e.builder().i32ToIndex(cta));
  visitUsedValuesDefinedAbove(tiles.getRegion(), [&](OpOperand *use) {
    if (!map.contains(use->get()))
      map.map(use->get(),
              ub::PoisonOp::create(b, loc, use->get().getType()).getResult());
  });
  for (Operation &op : tiles.getBody()->without_terminator())
    b.clone(op, map);

  TileTypeConverter types;
  ConversionTarget target(*ctx);
  target.addIllegalDialect<DMADialect, tensor::TensorDialect,
                           linalg::LinalgDialect>();
  target.markUnknownOpDynamicallyLegal(
      [&](Operation *op) { return types.isLegal(op); });
  RewritePatternSet patterns(ctx);
  patterns.add<EmptyPattern, FillPattern, IotaPattern, PositionsPattern,
               GatherPattern, KeyLoopPattern, KeyYieldPattern, DotPattern,
               WgmmaDotPattern, LogitsPattern, SoftmaxPattern, StoreOutputPattern,
               CandidatesPattern, CountPattern>(types, ctx, e);
  if (failed(applyPartialConversion(kernel, target, std::move(patterns)))) {
    kernel.erase();
    return tiles.emitError("convert-dma-tiles-to-gpu: the tiled forward's "
                           "ops could not all be lowered (see above)");
  }
  eraseDeadOps(kernel);
  kernel.walk([](scf::ForOp loop) { loop->removeAttr(kKeyWalk); });
  // A host value still read means a pattern left an op using it alive.
  WalkResult leftover = kernel.walk([&](ub::PoisonOp p) {
    return p->use_empty() ? WalkResult::advance() : WalkResult::interrupt();
  });
  if (leftover.wasInterrupted()) {
    kernel.erase();
    return tiles.emitError("convert-dma-tiles-to-gpu: an op of the tiled "
                           "forward still reads a host value after lowering");
  }
  b.setInsertionPointToEnd(&entry);
  e.use(b, loc);
  e.emitReturn();
  return kernel;
}
