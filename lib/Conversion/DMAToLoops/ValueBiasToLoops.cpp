//===- ValueBiasToLoops.cpp - dma.value_bias(_grad) as loops --------------===//
//
//   dt = sum_{h',d} W[h, h'*D + d] * V[b, j, h', d] + b_dt[h]
//   score[b, h, j] = A[h] * softplus(dt)          (log form)
//                  = exp(A[h] * softplus(dt))     (exp form)
//
// The backward visits (b, j, h) in order, recomputes dt, and accumulates
// every gradient in f32 buffers that are converted into the destinations
// at the end (sequential, so deterministic).
//
//===----------------------------------------------------------------------===//

#include "Lowerings.h"
#include "dma/Utils/LoopEmitter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

using namespace mlir;
using namespace mlir::dma;

namespace {

/// dt[b, j, h] in f32.
Value computeDt(LoopEmitter &e, Value v, Value w, Value dtBias, Value bi,
                Value j, Value h) {
  Value Hkv = e.dim(v, 2), D = e.dim(v, 3);
  Value dt =
      e.forLoop(e.index(0), Hkv, {e.f32(0.0)}, [&](Value hp, ValueRange acc) {
        Value col0 = e.mul(hp, D);
        return e.forLoop(e.index(0), D, acc, [&](Value d, ValueRange a2) {
          Value wv = e.loadF32(w, {h, e.add(col0, d)});
          Value vv = e.loadF32(v, {bi, j, hp, d});
          return SmallVector<Value>{e.fadd(a2[0], e.fmul(wv, vv))};
        });
      })[0];
  if (dtBias)
    dt = e.fadd(dt, e.loadF32(dtBias, {h}));
  return dt;
}

/// buf[idx] += x (f32 buffers).
void accumulate(LoopEmitter &e, Value buf, ValueRange idx, Value x) {
  e.store(e.fadd(e.load(buf, idx), x), buf, idx);
}

} // namespace

void mlir::dma::lowerValueBiasToLoops(OpBuilder &b, ValueBiasOp op) {
  LoopEmitter e(b, op.getLoc());
  Value v = op.getValue(), w = op.getWeight(), a = op.getA();
  Value dtBias = op.getDtBias(), out = op.getOuts()[0];
  Value B = e.dim(v, 0), Lk = e.dim(v, 1), Hkv = e.dim(v, 2);

  e.parallel({B, Hkv, Lk}, [&](ValueRange ivs) {
    Value bi = ivs[0], h = ivs[1], j = ivs[2];
    Value dt = computeDt(e, v, w, dtBias, bi, j, h);
    Value score = e.fmul(e.loadF32(a, {h}), e.softplus(dt));
    if (op.getForm() == ScoreForm::exp)
      score = e.exp(score);
    e.storeF32(score, out, {bi, h, j});
  });
}

void mlir::dma::lowerValueBiasGradToLoops(OpBuilder &b, ValueBiasGradOp op) {
  LoopEmitter e(b, op.getLoc());
  Value v = op.getValue(), w = op.getWeight(), a = op.getA();
  Value dtBias = op.getDtBias(), grad = op.getGrad();
  ValueRange outs = op.getOuts();
  Value B = e.dim(v, 0), Lk = e.dim(v, 1), Hkv = e.dim(v, 2), D = e.dim(v, 3);
  Type f32 = b.getF32Type();
  SmallVector<Value> acc;
  for (Value o : outs) {
    acc.push_back(e.allocLike(o, f32));
    e.fill(acc.back(), 0.0);
  }
  Value dv = acc[0], dw = acc[1], da = acc.back();
  Value ddt = dtBias ? acc[2] : Value();

  e.forEach({B, Lk, Hkv}, [&](ValueRange ivs) {
    Value bi = ivs[0], j = ivs[1], h = ivs[2];
    Value dt = computeDt(e, v, w, dtBias, bi, j, h);
    Value sp = e.softplus(dt);
    // softplus' = sigmoid, and exactly 1 where softplus returns dt itself.
    Value big = e.cmpf(static_cast<int>(arith::CmpFPredicate::OGT), dt,
                       e.f32(20.0));
    Value sigmoid = e.fdiv(e.f32(1.0), e.fadd(e.f32(1.0), e.exp(e.fsub(
                                                              e.f32(0.0), dt))));
    sigmoid = e.select(big, e.f32(1.0), sigmoid);
    Value ah = e.loadF32(a, {h});
    Value ds = e.loadF32(grad, {bi, h, j});
    if (op.getForm() == ScoreForm::exp)
      ds = e.fmul(ds, e.exp(e.fmul(ah, sp))); // d exp(x) = exp(x) dx
    Value g = e.fmul(e.fmul(ds, ah), sigmoid);
    accumulate(e, da, {h}, e.fmul(ds, sp));
    if (ddt)
      accumulate(e, ddt, {h}, g);
    e.forEach({Hkv, D}, [&](ValueRange hd) {
      Value col = e.add(e.mul(hd[0], D), hd[1]);
      accumulate(e, dw, {h, col}, e.fmul(g, e.loadF32(v, {bi, j, hd[0], hd[1]})));
      accumulate(e, dv, {bi, j, hd[0], hd[1]}, e.fmul(g, e.loadF32(w, {h, col})));
    });
  });
  for (auto [buffer, out] : llvm::zip(acc, outs)) {
    e.copyConvert(buffer, out);
    e.dealloc(buffer);
  }
}
