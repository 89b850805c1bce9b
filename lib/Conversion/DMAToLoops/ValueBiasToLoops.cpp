//===- ValueBiasToLoops.cpp - dma.value_bias as loops ---------------------===//
//
//   dt = sum_{h',d} W[h, h'*D + d] * V[b, j, h', d] + b_dt[h]
//   score[b, h, j] = A[h] * softplus(dt)          (log form)
//                  = exp(A[h] * softplus(dt))     (exp form)
//
//===----------------------------------------------------------------------===//

#include "Lowerings.h"
#include "dma/Utils/LoopEmitter.h"

using namespace mlir;
using namespace mlir::dma;

void mlir::dma::lowerValueBiasToLoops(OpBuilder &b, ValueBiasOp op) {
  LoopEmitter e(b, op.getLoc());
  Value v = op.getValue(), w = op.getWeight(), a = op.getA();
  Value dtBias = op.getDtBias(), out = op.getOuts()[0];
  Value B = e.dim(v, 0), Lk = e.dim(v, 1), Hkv = e.dim(v, 2), D = e.dim(v, 3);

  e.parallel({B, Hkv, Lk}, [&](ValueRange ivs) {
    Value bi = ivs[0], h = ivs[1], j = ivs[2];
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
    Value score = e.fmul(e.loadF32(a, {h}), e.softplus(dt));
    if (op.getForm() == ScoreForm::exp)
      score = e.exp(score);
    e.storeF32(score, out, {bi, h, j});
  });
}
