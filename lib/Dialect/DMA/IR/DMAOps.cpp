//===- DMAOps.cpp - operations of the dma dialect: verifiers, effects -----===//
//
// Every static constraint of the semantics page is a verifier rule here, and
// each rule has one case in test/Dialect/DMA/invalid.mlir. Dynamic sizes
// (`?`) are accepted wherever a rule cannot be decided statically.
//
//===----------------------------------------------------------------------===//

#include "dma/Dialect/DMA/IR/DMAOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>

using namespace mlir;
using namespace mlir::dma;

#include "dma/Dialect/DMA/IR/DMAEnums.cpp.inc"

#define GET_OP_CLASSES
#include "dma/Dialect/DMA/IR/DMAOps.cpp.inc"

//===----------------------------------------------------------------------===//
// Shape helpers
//===----------------------------------------------------------------------===//

namespace {

/// Renders a dimension for diagnostics ("?" when dynamic).
std::string dimStr(int64_t d) {
  return ShapedType::isDynamic(d) ? std::string("?") : std::to_string(d);
}

/// True unless both sizes are static and differ.
bool compatible(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

/// True when `dim` may broadcast against `full`: 1, or one of the
/// `alternatives` (a KV-head count, say), or undecidable statically.
bool broadcastsTo(int64_t dim, ArrayRef<int64_t> alternatives) {
  if (ShapedType::isDynamic(dim) || dim == 1)
    return true;
  for (int64_t alt : alternatives)
    if (ShapedType::isDynamic(alt) || alt == dim)
      return true;
  return false;
}

bool isSupportedInputFloat(Type t) { return t.isF32() || t.isF16() || t.isBF16(); }

bool isIndexInteger(Type t) { return t.isSignlessInteger(32) || t.isSignlessInteger(64); }

ShapedType shaped(Value v) { return cast<ShapedType>(v.getType()); }

/// Checks a shaped value's rank; names it in the message.
LogicalResult checkRank(Operation *op, Value v, StringRef name, int64_t rank,
                        StringRef layout) {
  if (shaped(v).getRank() != rank) {
    InFlightDiagnostic diag = op->emitOpError()
                              << name << " must have rank " << rank;
    if (!layout.empty())
      diag << " " << layout;
    return diag << ", got rank " << shaped(v).getRank();
  }
  return success();
}

/// Rules every destination-passing dma op obeys: tensors and memrefs are not
/// mixed; on tensors there is one result per destination, of its type; on
/// memrefs there are no results.
LogicalResult verifyDestinationStyle(Operation *op, ValueRange outs,
                                     unsigned expectedOuts,
                                     StringRef outsNames) {
  bool anyTensor = false, anyMemRef = false;
  for (Value v : op->getOperands()) {
    anyTensor |= isa<RankedTensorType>(v.getType());
    anyMemRef |= isa<MemRefType>(v.getType());
  }
  if (anyTensor && anyMemRef)
    return op->emitOpError(
        "operands must be all tensors or all memrefs, not a mix");
  if (outs.size() != expectedOuts)
    return op->emitOpError() << "expects " << expectedOuts << " destination"
                             << (expectedOuts == 1 ? "" : "s") << " ("
                             << outsNames << "), got " << outs.size();
  if (anyMemRef) {
    if (op->getNumResults() != 0)
      return op->emitOpError("on memrefs has no results");
    return success();
  }
  if (op->getNumResults() != outs.size())
    return op->emitOpError() << "on tensors returns one result per destination ("
                             << outs.size() << "), got " << op->getNumResults();
  for (auto [i, pair] : llvm::enumerate(llvm::zip(outs, op->getResults())))
    if (std::get<0>(pair).getType() != std::get<1>(pair).getType())
      return op->emitOpError() << "result #" << i
                               << " must have the type of destination #" << i;
  return success();
}

/// Memory effects of a destination-passing op on memrefs: inputs are read,
/// destinations are written (never read: every element is overwritten).
void addDPSEffects(
    Operation *op, DestinationStyleOpInterface dps,
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  for (OpOperand &operand : op->getOpOperands()) {
    if (!isa<MemRefType>(operand.get().getType()))
      continue;
    if (dps.isDpsInit(&operand))
      effects.emplace_back(MemoryEffects::Write::get(), &operand,
                           SideEffects::DefaultResource::get());
    else
      effects.emplace_back(MemoryEffects::Read::get(), &operand,
                           SideEffects::DefaultResource::get());
  }
}

} // namespace

//===----------------------------------------------------------------------===//
// dma.value_bias
//===----------------------------------------------------------------------===//

/// The value-bias inputs' ranks, element types and sizes (shared by the
/// forward and the backward); fills (B, Lk, Hkv) for the caller's checks.
static LogicalResult verifyValueBiasInputs(Operation *op, Value value,
                                           Value weight, Value dtBias,
                                           Value a, int64_t &b, int64_t &lk,
                                           int64_t &hkv) {
  if (failed(checkRank(op, value, "value", 4, "[B, Lk, Hkv, D]")) ||
      failed(checkRank(op, weight, "weight", 2, "[Hkv, Hkv*D]")) ||
      failed(checkRank(op, a, "a", 1, "[Hkv]")))
    return failure();
  if (dtBias && failed(checkRank(op, dtBias, "dt_bias", 1, "[Hkv]")))
    return failure();
  for (Value v : op->getOperands())
    if (!isa<FloatType>(shaped(v).getElementType()))
      return op->emitOpError("operands must have float element types");

  ArrayRef<int64_t> vs = shaped(value).getShape();
  b = vs[0];
  lk = vs[1];
  hkv = vs[2];
  int64_t d = vs[3];
  ArrayRef<int64_t> ws = shaped(weight).getShape();
  if (!compatible(ws[0], hkv))
    return op->emitOpError() << "weight dim 0 (" << dimStr(ws[0])
                             << ") must equal the KV head count of value ("
                             << dimStr(hkv) << ")";
  int64_t hkvd = (ShapedType::isDynamic(hkv) || ShapedType::isDynamic(d))
                     ? ShapedType::kDynamic
                     : hkv * d;
  if (!compatible(ws[1], hkvd))
    return op->emitOpError() << "weight dim 1 (" << dimStr(ws[1])
                             << ") must equal Hkv*D of value (" << dimStr(hkvd)
                             << ")";
  if (dtBias && !compatible(shaped(dtBias).getDimSize(0), hkv))
    return op->emitOpError() << "dt_bias size ("
                             << dimStr(shaped(dtBias).getDimSize(0))
                             << ") must equal the KV head count ("
                             << dimStr(hkv) << ")";
  if (!compatible(shaped(a).getDimSize(0), hkv))
    return op->emitOpError()
           << "a size (" << dimStr(shaped(a).getDimSize(0))
           << ") must equal the KV head count (" << dimStr(hkv) << ")";
  return success();
}

/// `v` is [B, Hkv, Lk] (the score, or its gradient).
static LogicalResult verifyScoreShape(Operation *op, Value v, StringRef name,
                                      int64_t b, int64_t hkv, int64_t lk) {
  if (failed(checkRank(op, v, name, 3, "[B, Hkv, Lk]")))
    return failure();
  ArrayRef<int64_t> ss = shaped(v).getShape();
  if (!compatible(ss[0], b) || !compatible(ss[1], hkv) ||
      !compatible(ss[2], lk))
    return op->emitOpError() << name << " must be [B, Hkv, Lk] = ["
                             << dimStr(b) << ", " << dimStr(hkv) << ", "
                             << dimStr(lk) << "]";
  return success();
}

LogicalResult ValueBiasOp::verify() {
  Operation *op = getOperation();
  if (failed(verifyDestinationStyle(op, getOuts(), 1, "score")))
    return failure();
  int64_t b, lk, hkv;
  if (failed(verifyValueBiasInputs(op, getValue(), getWeight(), getDtBias(),
                                   getA(), b, lk, hkv)))
    return failure();
  return verifyScoreShape(op, getOuts()[0], "score", b, hkv, lk);
}

void ValueBiasOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  addDPSEffects(getOperation(), *this, effects);
}

//===----------------------------------------------------------------------===//
// dma.value_bias_grad
//===----------------------------------------------------------------------===//

LogicalResult ValueBiasGradOp::verify() {
  Operation *op = getOperation();
  bool dt = static_cast<bool>(getDtBias());
  if (failed(verifyDestinationStyle(
          op, getOuts(), dt ? 4 : 3,
          dt ? "grad_value, grad_weight, grad_dt_bias, grad_a"
             : "grad_value, grad_weight, grad_a")))
    return failure();
  int64_t b, lk, hkv;
  if (failed(verifyValueBiasInputs(op, getValue(), getWeight(), getDtBias(),
                                   getA(), b, lk, hkv)) ||
      failed(verifyScoreShape(op, getGrad(), "grad", b, hkv, lk)))
    return failure();
  // Each gradient has its input's shape.
  SmallVector<std::pair<Value, Value>> like = {{getOuts()[0], getValue()},
                                               {getOuts()[1], getWeight()}};
  if (dt)
    like.push_back({getOuts()[2], getDtBias()});
  like.push_back({getOuts().back(), getA()});
  const char *names[] = {"grad_value", "grad_weight",
                         dt ? "grad_dt_bias" : "grad_a", "grad_a"};
  for (auto [i, pair] : llvm::enumerate(like)) {
    ShapedType got = shaped(pair.first), want = shaped(pair.second);
    bool ok = got.getRank() == want.getRank();
    for (int64_t d = 0; ok && d < got.getRank(); ++d)
      ok = compatible(got.getDimSize(d), want.getDimSize(d));
    if (!ok)
      return emitOpError() << names[i] << " must have the shape of its input";
  }
  return success();
}

void ValueBiasGradOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  addDPSEffects(getOperation(), *this, effects);
}

//===----------------------------------------------------------------------===//
// dma.topk
//===----------------------------------------------------------------------===//

LogicalResult TopKOp::verify() {
  Operation *op = getOperation();
  bool shared = getSelection() == TopKSelection::shared;
  if (failed(verifyDestinationStyle(
          op, getOuts(), shared ? 1 : 3,
          shared ? "kept positions" : "score, threshold, tiebreak")))
    return failure();
  if (getKeepAttr().getInt() < 1)
    return emitOpError() << "keep must be at least 1, got "
                         << getKeepAttr().getInt();
  if (failed(checkRank(op, getScore(), "score", 3, "[B, Hkv, Lk]")))
    return failure();
  if (!isa<FloatType>(shaped(getScore()).getElementType()))
    return emitOpError("score must have a float element type");
  ArrayRef<int64_t> ss = shaped(getScore()).getShape();
  int64_t b = ss[0], hkv = ss[1], lk = ss[2];

  if (Value pad = getPadding()) {
    if (failed(checkRank(op, pad, "padding", 2, "[B, Lk]")))
      return failure();
    if (!shaped(pad).getElementType().isSignlessInteger(1))
      return emitOpError("padding must have i1 elements (true = key exists)");
    if (!compatible(shaped(pad).getDimSize(0), b) ||
        !compatible(shaped(pad).getDimSize(1), lk))
      return emitOpError() << "padding must be [B, Lk] = [" << dimStr(b)
                           << ", " << dimStr(lk) << "]";
  }

  if (shared) {
    Value idx = getOuts()[0];
    if (failed(checkRank(op, idx, "kept positions", 3, "[B, Hkv, W]")))
      return failure();
    if (!isIndexInteger(shaped(idx).getElementType()))
      return emitOpError("kept positions must have i32 or i64 elements");
    ArrayRef<int64_t> is = shaped(idx).getShape();
    if (!compatible(is[0], b) || !compatible(is[1], hkv))
      return emitOpError() << "kept positions must be [B, Hkv, W] with B = "
                           << dimStr(b) << ", Hkv = " << dimStr(hkv);
    if (!compatible(is[2], getKeepAttr().getInt()))
      return emitOpError() << "kept positions dim 2 (" << dimStr(is[2])
                           << ") must equal keep (" << getKeepAttr().getInt()
                           << ")";
    return success();
  }

  StringRef names[] = {"masked score", "threshold", "tiebreak"};
  for (auto [i, v] : llvm::enumerate(getOuts())) {
    if (failed(checkRank(op, v, names[i], 3, "[B, Hkv, Lk]")))
      return failure();
    ArrayRef<int64_t> os = shaped(v).getShape();
    if (!compatible(os[0], b) || !compatible(os[1], hkv) ||
        !compatible(os[2], lk))
      return emitOpError() << names[i] << " must be [B, Hkv, Lk] = ["
                           << dimStr(b) << ", " << dimStr(hkv) << ", "
                           << dimStr(lk) << "]";
  }
  if (!isa<FloatType>(shaped(getOuts()[0]).getElementType()) ||
      !isa<FloatType>(shaped(getOuts()[1]).getElementType()))
    return emitOpError("masked score and threshold must have float elements");
  if (!isIndexInteger(shaped(getOuts()[2]).getElementType()))
    return emitOpError("tiebreak must have i32 or i64 elements");
  return success();
}

void TopKOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  addDPSEffects(getOperation(), *this, effects);
}

//===----------------------------------------------------------------------===//
// dma.attention / dma.attention_grad: shared rules
//===----------------------------------------------------------------------===//

namespace {

/// The problem sizes both attention ops derive from q, k and v.
struct AttentionDims {
  int64_t b, lq, h, d, lk, hkv, dv;
};

/// Rules on q, k, v, the bias, the mask forms and the attributes that
/// dma.attention and dma.attention_grad share.
template <typename OpTy>
FailureOr<AttentionDims> verifyAttentionInputs(OpTy op) {
  Operation *o = op.getOperation();
  if (failed(checkRank(o, op.getQ(), "q", 4, "[B, Lq, H, D]")) ||
      failed(checkRank(o, op.getK(), "k", 4, "[B, Lk, Hkv, D]")) ||
      failed(checkRank(o, op.getV(), "v", 4, "[B, Lk, Hkv, Dv]")))
    return failure();
  Type elt = shaped(op.getQ()).getElementType();
  if (!isSupportedInputFloat(elt))
    return op.emitOpError() << "q must have bf16, f16 or f32 elements, got "
                            << elt;
  if (shaped(op.getK()).getElementType() != elt ||
      shaped(op.getV()).getElementType() != elt)
    return op.emitOpError("k and v must have the element type of q");

  ArrayRef<int64_t> qs = shaped(op.getQ()).getShape();
  ArrayRef<int64_t> ks = shaped(op.getK()).getShape();
  ArrayRef<int64_t> vs = shaped(op.getV()).getShape();
  AttentionDims dims{qs[0], qs[1], qs[2], qs[3], ks[1], ks[2], vs[3]};
  if (!compatible(ks[0], dims.b) || !compatible(vs[0], dims.b))
    return op.emitOpError() << "q, k and v must have the same batch size ("
                            << dimStr(qs[0]) << ", " << dimStr(ks[0]) << ", "
                            << dimStr(vs[0]) << ")";
  if (!compatible(ks[3], dims.d))
    return op.emitOpError() << "k head dim (" << dimStr(ks[3])
                            << ") must equal q head dim (" << dimStr(dims.d)
                            << ")";
  if (!compatible(vs[1], dims.lk) || !compatible(vs[2], dims.hkv))
    return op.emitOpError() << "v must have k's key length and KV heads ("
                            << dimStr(dims.lk) << ", " << dimStr(dims.hkv)
                            << "), got (" << dimStr(vs[1]) << ", "
                            << dimStr(vs[2]) << ")";
  // No heads at all (H = Hkv = 0) is an empty problem, not an error.
  if (!ShapedType::isDynamic(dims.h) && !ShapedType::isDynamic(dims.hkv) &&
      (dims.hkv == 0 ? dims.h != 0 : dims.h % dims.hkv != 0))
    return op.emitOpError() << "query heads (" << dims.h
                            << ") must be a multiple of KV heads (" << dims.hkv
                            << ")";

  if (Value bias = op.getBias()) {
    if (failed(checkRank(o, bias, "bias", 4, "[{B|1}, {H|Hkv|1}, {Lq|1}, Lk]")))
      return failure();
    if (!isa<FloatType>(shaped(bias).getElementType()))
      return op.emitOpError("bias must have a float element type");
    ArrayRef<int64_t> bs = shaped(bias).getShape();
    if (!broadcastsTo(bs[0], {dims.b}))
      return op.emitOpError() << "bias batch dim (" << bs[0]
                              << ") must be B (" << dimStr(dims.b) << ") or 1";
    if (!broadcastsTo(bs[1], {dims.h, dims.hkv}))
      return op.emitOpError() << "bias head dim (" << bs[1] << ") must be H ("
                              << dimStr(dims.h) << "), Hkv ("
                              << dimStr(dims.hkv) << ") or 1";
    if (!broadcastsTo(bs[2], {dims.lq}))
      return op.emitOpError() << "bias query dim (" << bs[2]
                              << ") must be Lq (" << dimStr(dims.lq)
                              << ") or 1";
    if (!compatible(bs[3], dims.lk))
      return op.emitOpError() << "bias key dim (" << bs[3]
                              << ") must be Lk (" << dimStr(dims.lk) << ")";
  }

  int forms = (op.getMask() ? 1 : 0) + (op.getKeep() ? 1 : 0) +
              (op.getKeepScore() ? 1 : 0);
  if (forms > 1)
    return op.emitOpError(
        "takes at most one mask form (mask, keep or keep_rows)");

  if (Value mask = op.getMask()) {
    if (failed(checkRank(o, mask, "mask", 4, "[{B|1}, {H|Hkv|1}, {Lq|1}, Lk]")))
      return failure();
    if (!shaped(mask).getElementType().isSignlessInteger(1))
      return op.emitOpError("mask must have i1 elements (true = kept)");
    ArrayRef<int64_t> ms = shaped(mask).getShape();
    if (!broadcastsTo(ms[0], {dims.b}) ||
        !broadcastsTo(ms[1], {dims.h, dims.hkv}) ||
        !broadcastsTo(ms[2], {dims.lq}) || !compatible(ms[3], dims.lk))
      return op.emitOpError()
             << "mask must broadcast as [{B|1}, {H|Hkv|1}, {Lq|1}, Lk] with B = "
             << dimStr(dims.b) << ", H = " << dimStr(dims.h)
             << ", Hkv = " << dimStr(dims.hkv) << ", Lq = " << dimStr(dims.lq)
             << ", Lk = " << dimStr(dims.lk);
  }

  if (Value keep = op.getKeep()) {
    if (failed(checkRank(o, keep, "keep", 3, "[{B|1}, {Hkv|H|1}, W]")))
      return failure();
    if (!isIndexInteger(shaped(keep).getElementType()))
      return op.emitOpError("keep must have i32 or i64 elements");
    ArrayRef<int64_t> ks3 = shaped(keep).getShape();
    if (!broadcastsTo(ks3[0], {dims.b}) ||
        !broadcastsTo(ks3[1], {dims.h, dims.hkv}))
      return op.emitOpError()
             << "keep must broadcast as [{B|1}, {Hkv|H|1}, W] with B = "
             << dimStr(dims.b) << ", H = " << dimStr(dims.h)
             << ", Hkv = " << dimStr(dims.hkv);
  }

  if (Value score = op.getKeepScore()) {
    if (!op.getKeepThreshold() || !op.getKeepTiebreak())
      return op.emitOpError(
          "keep_rows needs a score, a threshold and a tiebreak");
    Value parts[] = {score, op.getKeepThreshold(), op.getKeepTiebreak()};
    for (Value p : parts) {
      if (failed(checkRank(o, p, "each keep_rows tensor", 3,
                           "[{B|1}, {Hkv|H|1}, Lk]")))
        return failure();
      ArrayRef<int64_t> ps = shaped(p).getShape();
      if (!broadcastsTo(ps[0], {dims.b}) ||
          !broadcastsTo(ps[1], {dims.h, dims.hkv}) ||
          !compatible(ps[2], dims.lk))
        return op.emitOpError()
               << "keep_rows tensors must broadcast as [{B|1}, {Hkv|H|1}, Lk] "
                  "with B = "
               << dimStr(dims.b) << ", H = " << dimStr(dims.h)
               << ", Hkv = " << dimStr(dims.hkv)
               << ", Lk = " << dimStr(dims.lk);
    }
    if (!isa<FloatType>(shaped(parts[0]).getElementType()) ||
        !isa<FloatType>(shaped(parts[1]).getElementType()))
      return op.emitOpError(
          "keep_rows score and threshold must have float elements");
    if (!isIndexInteger(shaped(parts[2]).getElementType()))
      return op.emitOpError("keep_rows tiebreak must have i32 or i64 elements");
  }

  double softcap = op.getSoftcapAttr().getValueAsDouble();
  if (!(softcap >= 0.0) || std::isinf(softcap))
    return op.emitOpError() << "softcap must be finite and >= 0, got "
                            << softcap;
  if (auto scale = op.getScaleAttr()) {
    double s = scale.getValueAsDouble();
    if (!std::isfinite(s))
      return op.emitOpError("scale must be a finite number");
  }
  return dims;
}

/// Checks one destination's shape (and optionally element type).
LogicalResult checkDest(Operation *op, Value v, StringRef name,
                        ArrayRef<int64_t> expected, Type expectedElt) {
  if (failed(checkRank(op, v, name, expected.size(), "")))
    return failure();
  ArrayRef<int64_t> s = shaped(v).getShape();
  for (auto [got, want] : llvm::zip(s, expected)) {
    if (!compatible(got, want)) {
      InFlightDiagnostic diag = op->emitOpError() << name << " must be [";
      llvm::interleaveComma(expected, diag,
                            [&](int64_t e) { diag << dimStr(e); });
      return diag << "]";
    }
  }
  if (expectedElt && shaped(v).getElementType() != expectedElt)
    return op->emitOpError() << name << " must have " << expectedElt
                             << " elements, got "
                             << shaped(v).getElementType();
  return success();
}

template <typename OpTy>
MaskKind maskKindOf(OpTy op) {
  if (op.getMask())
    return MaskKind::Dense;
  if (op.getKeep())
    return MaskKind::SharedTopK;
  if (op.getKeepScore())
    return MaskKind::PerQueryTopK;
  return MaskKind::None;
}

} // namespace

//===----------------------------------------------------------------------===//
// dma.attention
//===----------------------------------------------------------------------===//

LogicalResult AttentionOp::verify() {
  Operation *op = getOperation();
  if (failed(verifyDestinationStyle(op, getOuts(), 2, "O, LSE")))
    return failure();
  FailureOr<AttentionDims> dims = verifyAttentionInputs(*this);
  if (failed(dims))
    return failure();
  Type elt = shaped(getQ()).getElementType();
  if (failed(checkDest(op, getOuts()[0], "O", {dims->b, dims->lq, dims->h, dims->dv},
                       elt)) ||
      failed(checkDest(op, getOuts()[1], "LSE", {dims->b, dims->h, dims->lq},
                       Float32Type::get(getContext()))))
    return failure();
  return success();
}

MaskKind AttentionOp::getMaskKind() { return maskKindOf(*this); }

void AttentionOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  addDPSEffects(getOperation(), *this, effects);
}

//===----------------------------------------------------------------------===//
// dma.attention_grad
//===----------------------------------------------------------------------===//

LogicalResult AttentionGradOp::verify() {
  Operation *op = getOperation();
  unsigned expected = getBias() ? 4 : 3;
  if (failed(verifyDestinationStyle(op, getOuts(), expected,
                                    getBias() ? "dQ, dK, dV, dBias"
                                              : "dQ, dK, dV")))
    return failure();
  FailureOr<AttentionDims> dims = verifyAttentionInputs(*this);
  if (failed(dims))
    return failure();
  Type elt = shaped(getQ()).getElementType();
  SmallVector<int64_t> oShape = {dims->b, dims->lq, dims->h, dims->dv};
  if (failed(checkDest(op, getGrad(), "grad", oShape, elt)) ||
      failed(checkDest(op, getOut(), "out", oShape, elt)) ||
      failed(checkDest(op, getLse(), "lse", {dims->b, dims->h, dims->lq},
                       Float32Type::get(getContext()))))
    return failure();
  auto shapeOf = [](Value v) {
    return SmallVector<int64_t>(shaped(v).getShape());
  };
  if (failed(checkDest(op, getOuts()[0], "dQ", shapeOf(getQ()), elt)) ||
      failed(checkDest(op, getOuts()[1], "dK", shapeOf(getK()), elt)) ||
      failed(checkDest(op, getOuts()[2], "dV", shapeOf(getV()), elt)))
    return failure();
  if (getBias() &&
      failed(checkDest(op, getOuts()[3], "dBias", shapeOf(getBias()),
                       shaped(getBias()).getElementType())))
    return failure();
  return success();
}

MaskKind AttentionGradOp::getMaskKind() { return maskKindOf(*this); }

void AttentionGradOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  addDPSEffects(getOperation(), *this, effects);
}
