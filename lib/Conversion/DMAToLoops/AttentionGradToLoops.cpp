//===- AttentionGradToLoops.cpp - dma.attention_grad as loops -------------===//
//
// Delta = rowsum(dO * O); then, row by row and visible key by visible key,
//   p = exp(s - LSE), dS = p * (dO.V - Delta) (times 1 - tanh^2 with a cap),
//   dQ += scale dS K, dK += scale dS Q, dV += p dO, dBias += dS.
// Rows run sequentially because dK, dV and dBias gather from many rows; the
// sums are accumulated in f32 (in the destination itself when it is f32,
// else in scratch converted at the end). Rows with LSE = -inf saw no key and
// contribute nothing.
//
//===----------------------------------------------------------------------===//

#include "AttentionEmitter.h"
#include "Lowerings.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinTypes.h"

#include <limits>

using namespace mlir;
using namespace mlir::dma;

namespace {
/// An f32 buffer to accumulate a gradient into: the destination itself when
/// it is already f32, else fresh scratch of the same shape.
Value accumulatorFor(AttentionEmitter &e, Value dest) {
  if (cast<MemRefType>(dest.getType()).getElementType().isF32())
    return dest;
  return e.allocF32(e.dims(dest));
}
void finishAccumulator(AttentionEmitter &e, Value acc, Value dest) {
  if (acc == dest)
    return;
  e.copyConvert(acc, dest);
  e.dealloc(acc);
}
} // namespace

void mlir::dma::lowerAttentionGradToLoops(OpBuilder &b, AttentionGradOp op) {
  AttentionEmitter e(b, op.getLoc(), AttentionOperands::of(op));
  Value dO = op.getGrad(), o = op.getOut(), lse = op.getLse();
  ValueRange dests = op.getOuts();
  bool hasBias = static_cast<bool>(op.getBias());

  SmallVector<Value> acc;
  for (Value dest : dests)
    acc.push_back(accumulatorFor(e, dest));
  for (Value a : acc)
    e.fill(a, 0.0);
  Value dQ = acc[0], dK = acc[1], dV = acc[2];

  // Delta[b, h, i] = sum_d dO * O.
  Value delta = e.allocF32({e.B, e.H, e.Lq});
  e.parallel({e.B, e.H, e.Lq}, [&](ValueRange ivs) {
    Value sum = e.forLoop(
        e.index(0), e.Dv, {e.f32(0.0)}, [&](Value d, ValueRange args) {
          Value x = e.loadF32(dO, {ivs[0], ivs[2], ivs[1], d});
          Value y = e.loadF32(o, {ivs[0], ivs[2], ivs[1], d});
          return SmallVector<Value>{e.fadd(args[0], e.fmul(x, y))};
        })[0];
    e.store(sum, delta, {ivs[0], ivs[1], ivs[2]});
  });

  const double ninf = -std::numeric_limits<double>::infinity();
  e.forEach({e.B, e.H, e.Lq}, [&](ValueRange ivs) {
    AttentionRow r = e.row(ivs[0], ivs[1], ivs[2]);
    Value rowLse = e.load(lse, {r.b, r.h, r.i});
    Value seen = e.cmpf(static_cast<int>(arith::CmpFPredicate::ONE), rowLse,
                        e.f32(ninf));
    e.ifThen(seen, [&] {
      Value rowDelta = e.load(delta, {r.b, r.h, r.i});
      e.forEachVisibleKey(r, {}, [&](Value j, ValueRange) {
        Score sc = e.score(r, j);
        Value p = e.exp(e.fsub(sc.s, rowLse));
        Value dp = e.forLoop(
            e.index(0), e.Dv, {e.f32(0.0)}, [&](Value d, ValueRange args) {
              Value x = e.loadF32(dO, {r.b, r.i, r.h, d});
              Value y = e.loadF32(e.ops.v, {r.b, j, r.g, d});
              return SmallVector<Value>{e.fadd(args[0], e.fmul(x, y))};
            })[0];
        Value dS = e.fmul(p, e.fsub(dp, rowDelta));
        // Through the soft cap: d(c tanh(x/c))/dx = 1 - tanh^2(x/c).
        Value dX = dS;
        if (sc.capTanh)
          dX = e.fmul(dS, e.fsub(e.f32(1.0), e.fmul(sc.capTanh, sc.capTanh)));
        Value sdX = e.fmul(e.scale, dX);
        e.forLoop(e.index(0), e.D, [&](Value d) {
          SmallVector<Value> qi = {r.b, r.i, r.h, d}, kj = {r.b, j, r.g, d};
          Value kv = e.loadF32(e.ops.k, kj), qv = e.loadF32(e.ops.q, qi);
          e.store(e.fadd(e.load(dQ, qi), e.fmul(sdX, kv)), dQ, qi);
          e.store(e.fadd(e.load(dK, kj), e.fmul(sdX, qv)), dK, kj);
        });
        e.forLoop(e.index(0), e.Dv, [&](Value d) {
          SmallVector<Value> vj = {r.b, j, r.g, d};
          Value g = e.loadF32(dO, {r.b, r.i, r.h, d});
          e.store(e.fadd(e.load(dV, vj), e.fmul(p, g)), dV, vj);
        });
        if (hasBias) {
          SmallVector<Value> bi = r.biasIdx;
          bi.push_back(j);
          e.store(e.fadd(e.load(acc[3], bi), dS), acc[3], bi);
        }
        return SmallVector<Value>{};
      });
    });
  });

  e.dealloc(delta);
  for (auto [a, dest] : llvm::zip(acc, dests))
    finishAccumulator(e, a, dest);
}
