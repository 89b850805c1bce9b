//===- TopKToLoops.cpp - dma.topk as one heap pass per (batch, KV head) ---===//
//
// Keys are visited in order c = 0 .. Lk-1 while a min-heap holds the best w
// allowed keys seen so far, worst at the root ("worse" = lower score, or the
// same score and a higher index: ties go to the lower index). A new key
// replaces the root only if its score is strictly higher, since on a tie
// the root has the lower index.
//
//  * per_query: after key c the heap is the top-w of prefix [0, c], so its
//    root gives that prefix's threshold and tiebreak position; fewer than w
//    allowed keys means "keep all" (-inf, max).
//  * shared: after the last key the heap is the kept set; it is emitted in
//    ascending order through a flag per key, then padded with -1.
//
// O(Lk log w) per (batch, KV head); keys that are padded or NaN never enter.
//
//===----------------------------------------------------------------------===//

#include "Lowerings.h"
#include "dma/Utils/LoopEmitter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

#include <limits>

using namespace mlir;
using namespace mlir::dma;

namespace {

using IPred = arith::CmpIPredicate;
using FPred = arith::CmpFPredicate;

/// The heap of kept key indices for one (batch, KV head).
struct KeyHeap {
  LoopEmitter &e;
  Value heap;  // memref<?xindex>
  Value score; // memref [B, Hkv, Lk]
  Value b, h;  // the (batch, KV head) being selected

  Value scoreOf(Value key) { return e.loadF32(score, {b, h, key}); }

  /// Key x ranks below key y: lower score, or equal score and higher index.
  Value worse(Value x, Value y) {
    Value sx = scoreOf(x), sy = scoreOf(y);
    Value lower = e.cmpf(static_cast<int>(FPred::OLT), sx, sy);
    Value tie = e.andi(e.cmpf(static_cast<int>(FPred::OEQ), sx, sy),
                       e.cmpi(static_cast<int>(IPred::ugt), x, y));
    return e.ori(lower, tie);
  }

  void swap(Value i, Value j) {
    Value a = e.load(heap, {i}), c = e.load(heap, {j});
    e.store(c, heap, {i});
    e.store(a, heap, {j});
  }

  /// Restores the heap after the key at position k was appended.
  void siftUp(Value k) {
    auto parentOf = [&](Value x) {
      Value p = e.divui(e.sub(x, e.index(1)), e.index(2));
      return e.select(e.cmpi(static_cast<int>(IPred::ugt), x, e.index(0)), p,
                      e.index(0));
    };
    e.whileLoop(
        {k},
        [&](ValueRange args) {
          Value x = args[0], p = parentOf(x);
          Value up = e.andi(e.cmpi(static_cast<int>(IPred::ugt), x, e.index(0)),
                            worse(e.load(heap, {x}), e.load(heap, {p})));
          return std::make_pair(up, SmallVector<Value>{x});
        },
        [&](ValueRange args) {
          Value p = parentOf(args[0]);
          swap(args[0], p);
          return SmallVector<Value>{p};
        });
  }

  /// Restores the heap of size n after its root was replaced.
  void siftDown(Value n) {
    Value zero = e.index(0);
    e.whileLoop(
        {zero, zero},
        [&](ValueRange args) {
          Value x = args[0], best = x;
          for (int64_t off : {1, 2}) {
            Value child = e.add(e.mul(x, e.index(2)), e.index(off));
            Value inside = e.cmpi(static_cast<int>(IPred::ult), child, n);
            Value safe = e.select(inside, child, x);
            Value better = e.andi(
                inside, worse(e.load(heap, {safe}), e.load(heap, {best})));
            best = e.select(better, safe, best);
          }
          Value moved = e.cmpi(static_cast<int>(IPred::ne), best, x);
          return std::make_pair(moved, SmallVector<Value>{x, best});
        },
        [&](ValueRange args) {
          swap(args[0], args[1]);
          return SmallVector<Value>{args[1], args[1]};
        });
  }
};

} // namespace

void mlir::dma::lowerTopKToLoops(OpBuilder &b, TopKOp op) {
  LoopEmitter e(b, op.getLoc());
  Value score = op.getScore(), pad = op.getPadding();
  bool shared = op.getSelection() == TopKSelection::shared;
  Value B = e.dim(score, 0), Hkv = e.dim(score, 1), Lk = e.dim(score, 2);
  Value w = e.index(op.getKeepAttr().getInt());
  Value heapSize = e.maxsi(e.minsi(w, Lk), e.index(1));
  const double ninf = -std::numeric_limits<double>::infinity();

  e.parallel({B, Hkv}, [&](ValueRange ivs) {
    KeyHeap heap{e, e.allocOf(b.getIndexType(), {heapSize}), score, ivs[0],
                 ivs[1]};
    // The loop carries how many allowed keys were seen; the heap holds the
    // best min(seen, w) of them.
    Value seen =
        e.forLoop(e.index(0), Lk, {e.index(0)}, [&](Value c, ValueRange args) {
          Value count = args[0];
          Value sc = heap.scoreOf(c);
          Value allowed = e.notb(e.isNaN(sc));
          if (pad)
            allowed = e.andi(allowed, e.load(pad, {ivs[0], c}));
          Type indexType = b.getIndexType();
          Value next = e.ifElse(
              allowed, indexType,
              [&] {
                Value full = e.cmpi(static_cast<int>(IPred::uge), count, w);
                return e.ifElse(
                    full, indexType,
                    [&] {
                      Value root = e.load(heap.heap, {e.index(0)});
                      Value better = e.cmpf(static_cast<int>(FPred::OGT), sc,
                                            heap.scoreOf(root));
                      e.ifThen(better, [&] {
                        e.store(c, heap.heap, {e.index(0)});
                        heap.siftDown(w);
                      });
                      return SmallVector<Value>{e.add(count, e.index(1))};
                    },
                    [&] {
                      e.store(c, heap.heap, {count});
                      heap.siftUp(count);
                      return SmallVector<Value>{e.add(count, e.index(1))};
                    });
              },
              [&] { return SmallVector<Value>{count}; })[0];

          if (!shared) {
            ValueRange outs = op.getOuts();
            SmallVector<Value> at = {ivs[0], ivs[1], c};
            e.storeF32(e.select(allowed, sc, e.f32(std::nan(""))), outs[0], at);
            Type tieType = cast<MemRefType>(outs[2].getType()).getElementType();
            int64_t keepAll = tieType.isInteger(32)
                                  ? std::numeric_limits<int32_t>::max()
                                  : std::numeric_limits<int64_t>::max();
            // With at most w allowed keys the prefix keeps them all.
            Value more = e.cmpi(static_cast<int>(IPred::ugt), next, w);
            SmallVector<Value> rowRep = e.ifElse(
                more, {b.getF32Type(), tieType},
                [&] {
                  Value root = e.load(heap.heap, {e.index(0)});
                  return SmallVector<Value>{heap.scoreOf(root),
                                            e.indexCast(tieType, root)};
                },
                [&] {
                  return SmallVector<Value>{e.f32(ninf),
                                            e.intOf(tieType, keepAll)};
                });
            e.storeF32(rowRep[0], outs[1], at);
            e.store(rowRep[1], outs[2], at);
          }
          return SmallVector<Value>{next};
        })[0];
    Value n = e.minsi(seen, w);

    if (shared) {
      Value out = op.getOuts()[0];
      Value flags = e.allocOf(b.getI1Type(), {e.maxsi(Lk, e.index(1))});
      e.forLoop(e.index(0), Lk,
                [&](Value j) { e.store(e.boolean(false), flags, {j}); });
      e.forLoop(e.index(0), n, [&](Value t) {
        e.store(e.boolean(true), flags, {e.load(heap.heap, {t})});
      });
      Value written = e.forLoop(
          e.index(0), Lk, {e.index(0)}, [&](Value j, ValueRange args) {
            return e.ifElse(
                e.load(flags, {j}), b.getIndexType(),
                [&] {
                  e.storeIndex(j, out, {ivs[0], ivs[1], args[0]});
                  return SmallVector<Value>{e.add(args[0], e.index(1))};
                },
                [&] { return SmallVector<Value>{args[0]}; });
          })[0];
      Value minusOne =
          e.intOf(cast<MemRefType>(out.getType()).getElementType(), -1);
      e.forLoop(written, e.dim(out, 2), [&](Value t) {
        e.store(minusOne, out, {ivs[0], ivs[1], t});
      });
      e.dealloc(flags);
    }
    e.dealloc(heap.heap);
  });
}
