//===- AttentionToLoops.cpp - dma.attention as a two-pass loop nest -------===//
//
// Per (batch, head, query row): one pass over the visible keys for the row
// maximum m, a second for l = sum exp(s - m) and acc = sum exp(s - m) V;
// then O = acc / l and LSE = m + log l. Rows that see no key (m = -inf)
// write O = 0 and LSE = -inf. Rows are independent: an scf.parallel.
//
//===----------------------------------------------------------------------===//

#include "AttentionEmitter.h"
#include "Lowerings.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

#include <limits>

using namespace mlir;
using namespace mlir::dma;

void mlir::dma::lowerAttentionToLoops(OpBuilder &b, AttentionOp op) {
  AttentionEmitter e(b, op.getLoc(), AttentionOperands::of(op));
  Value out = op.getOuts()[0], lse = op.getOuts()[1];
  const double ninf = -std::numeric_limits<double>::infinity();

  e.parallel({e.B, e.H, e.Lq}, [&](ValueRange ivs) {
    AttentionRow r = e.row(ivs[0], ivs[1], ivs[2]);
    Value m =
        e.forEachVisibleKey(r, {e.f32(ninf)}, [&](Value j, ValueRange args) {
          return SmallVector<Value>{e.fmax(args[0], e.score(r, j).s)};
        })[0];
    Value empty =
        e.cmpf(static_cast<int>(arith::CmpFPredicate::OEQ), m, e.f32(ninf));
    e.ifThenElse(
        empty,
        [&] {
          Value zero = e.f32(0.0);
          e.forLoop(e.index(0), e.Dv, [&](Value d) {
            e.storeF32(zero, out, {r.b, r.i, r.h, d});
          });
          e.store(e.f32(ninf), lse, {r.b, r.h, r.i});
        },
        [&] {
          // Heap, not stack: loops lowered to branches never pop allocas.
          Value acc = e.allocF32({e.Dv});
          e.fill(acc, 0.0);
          Value l = e.forEachVisibleKey(
              r, {e.f32(0.0)}, [&](Value j, ValueRange args) {
                Value p = e.exp(e.fsub(e.score(r, j).s, m));
                e.forLoop(e.index(0), e.Dv, [&](Value d) {
                  Value vv = e.loadF32(e.ops.v, {r.b, j, r.g, d});
                  e.store(e.fadd(e.load(acc, {d}), e.fmul(p, vv)), acc, {d});
                });
                return SmallVector<Value>{e.fadd(args[0], p)};
              })[0];
          e.forLoop(e.index(0), e.Dv, [&](Value d) {
            e.storeF32(e.fdiv(e.load(acc, {d}), l), out, {r.b, r.i, r.h, d});
          });
          e.store(e.fadd(m, e.log(l)), lse, {r.b, r.h, r.i});
          e.dealloc(acc);
        });
  });
}
