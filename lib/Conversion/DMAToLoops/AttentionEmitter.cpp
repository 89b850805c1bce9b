//===- AttentionEmitter.cpp - shared pieces of the attention loops --------===//

#include "AttentionEmitter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::dma;

using IPred = arith::CmpIPredicate;
using FPred = arith::CmpFPredicate;

AttentionEmitter::AttentionEmitter(OpBuilder &b, Location loc,
                                   const AttentionOperands &ops)
    : LoopEmitter(b, loc), ops(ops) {
  B = dim(ops.q, 0);
  Lq = dim(ops.q, 1);
  H = dim(ops.q, 2);
  D = dim(ops.q, 3);
  Lk = dim(ops.k, 1);
  Hkv = dim(ops.k, 2);
  Dv = dim(ops.v, 3);
  int64_t staticD = cast<ShapedType>(ops.q.getType()).getDimSize(3);
  if (ops.scale) {
    scale = f32(*ops.scale);
  } else if (!ShapedType::isDynamic(staticD)) {
    scale = f32(1.0 / std::sqrt(static_cast<double>(staticD)));
  } else {
    // 1/sqrt(D), from the runtime head dim when it is dynamic.
    Value d = arith::IndexCastOp::create(b, loc, b.getI64Type(), D);
    Value df = arith::SIToFPOp::create(b, loc, b.getF32Type(), d);
    scale = math::RsqrtOp::create(b, loc, df);
  }
}

Value AttentionEmitter::bcast(Value operandDim, Value iv) {
  Value one = cmpi(static_cast<int>(IPred::eq), operandDim, index(1));
  return select(one, index(0), iv);
}

Value AttentionEmitter::headFor(Value heads, Value h) {
  // max(heads, 1) keeps an (empty) zero-head operand from dividing by zero;
  // a single head is index 0 outright (folds when the size is static).
  Value perHead = divui(H, maxsi(heads, index(1)));
  Value head = divui(h, maxsi(perHead, index(1)));
  return bcast(heads, head);
}

AttentionRow AttentionEmitter::row(Value b, Value h, Value i) {
  AttentionRow r;
  r.b = b;
  r.h = h;
  r.i = i;
  r.g = headFor(Hkv, h);
  if (ops.causal) {
    r.cLim = sub(add(i, Lk), Lq);
    r.keyEnd = maxsi(minsi(add(r.cLim, index(1)), Lk), index(0));
  } else {
    r.cLim = sub(Lk, index(1));
    r.keyEnd = Lk;
  }
  auto leading = [&](Value t, unsigned n) {
    SmallVector<Value> idx = {bcast(dim(t, 0), b), headFor(dim(t, 1), h)};
    if (n == 3)
      idx.push_back(bcast(dim(t, 2), i));
    return idx;
  };
  if (ops.bias)
    r.biasIdx = leading(ops.bias, 3);
  if (ops.mask)
    r.maskIdx = leading(ops.mask, 3);
  if (ops.keep)
    r.keepIdx = leading(ops.keep, 2);
  if (ops.keepScore)
    r.keepIdx = leading(ops.keepScore, 2);
  return r;
}

Score AttentionEmitter::score(const AttentionRow &r, Value j) {
  SmallVector<Value> dot =
      forLoop(index(0), D, {f32(0.0)}, [&](Value d, ValueRange acc) {
        Value qv = loadF32(ops.q, {r.b, r.i, r.h, d});
        Value kv = loadF32(ops.k, {r.b, j, r.g, d});
        return SmallVector<Value>{fadd(acc[0], fmul(qv, kv))};
      });
  Score out;
  out.s = fmul(scale, dot[0]);
  if (ops.softcap > 0.0) {
    Value cap = f32(ops.softcap);
    out.capTanh = tanh(fdiv(out.s, cap));
    out.s = fmul(cap, out.capTanh);
  }
  if (ops.bias) {
    SmallVector<Value> idx = r.biasIdx;
    idx.push_back(j);
    out.s = fadd(out.s, loadF32(ops.bias, idx));
  }
  return out;
}

Value AttentionEmitter::keptByMask(const AttentionRow &r, Value j) {
  if (ops.maskKind == MaskKind::Dense) {
    SmallVector<Value> idx = r.maskIdx;
    idx.push_back(j);
    return load(ops.mask, idx);
  }
  // Per-query top-k: row i reads the entry of its causal prefix end.
  Value entry = r.cLim;
  SmallVector<Value> keyIdx = r.keepIdx, rowIdx = r.keepIdx;
  keyIdx.push_back(j);
  rowIdx.push_back(entry);
  Value s = loadF32(ops.keepScore, keyIdx);
  Value thr = loadF32(ops.keepThreshold, rowIdx);
  Value tie = load(ops.keepTiebreak, rowIdx);
  Value jInt = indexCast(tie.getType(), j);
  Value above = cmpf(static_cast<int>(FPred::OGT), s, thr);
  Value tied = andi(cmpf(static_cast<int>(FPred::OEQ), s, thr),
                    cmpi(static_cast<int>(IPred::sle), jInt, tie));
  return ori(above, tied);
}

SmallVector<Value> AttentionEmitter::forEachVisibleKey(
    const AttentionRow &r, ValueRange init,
    function_ref<SmallVector<Value>(Value j, ValueRange args)> body) {
  SmallVector<Type> types(init.getTypes());
  auto guarded = [&](Value cond, Value j, ValueRange args) {
    if (types.empty()) {
      ifThen(cond, [&] { body(j, args); });
      return SmallVector<Value>{};
    }
    return ifElse(
        cond, types, [&] { return body(j, args); },
        [&] { return SmallVector<Value>(args); });
  };

  if (ops.maskKind == MaskKind::SharedTopK) {
    // Walk the kept positions; -1 (padding) and out-of-range entries are
    // skipped, causality is decided per position.
    Value w = dim(ops.keep, 2);
    return forLoop(index(0), w, init, [&](Value t, ValueRange args) {
      SmallVector<Value> idx = r.keepIdx;
      idx.push_back(t);
      Value j = loadIndex(ops.keep, idx);
      Value valid = andi(cmpi(static_cast<int>(IPred::sge), j, index(0)),
                         cmpi(static_cast<int>(IPred::slt), j, Lk));
      if (ops.causal)
        valid = andi(valid, cmpi(static_cast<int>(IPred::sle), j, r.cLim));
      // Clamp so that no load in the body can leave the tensor.
      Value safeJ = select(valid, j, index(0));
      return guarded(valid, safeJ, args);
    });
  }

  return forLoop(index(0), r.keyEnd, init, [&](Value j, ValueRange args) {
    if (ops.maskKind == MaskKind::None)
      return body(j, args);
    return guarded(keptByMask(r, j), j, args);
  });
}
