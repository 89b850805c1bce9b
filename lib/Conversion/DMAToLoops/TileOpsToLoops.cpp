//===- TileOpsToLoops.cpp - the tile ops as scalar loops (CPU) ------------===//
//
// One lowering per tile op, on memrefs (after the tiles are bufferized). Each
// is the plain loop nest of the op's definition in DMATileOps.td; the CPU
// gets its speed from the tiling itself (work proportional to the visited
// tiles) and from LLVM's optimizer on these small, static-shaped loops.
//
//===----------------------------------------------------------------------===//

#include "Lowerings.h"
#include "dma/Utils/LoopEmitter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

#include <limits>

using namespace mlir;
using namespace mlir::dma;

namespace {

using IPred = arith::CmpIPredicate;
using FPred = arith::CmpFPredicate;
constexpr double kNegInf = -std::numeric_limits<double>::infinity();

int ip(IPred p) { return static_cast<int>(p); }
int fp(FPred p) { return static_cast<int>(p); }

/// Index of a broadcast dimension: 0 when the operand's size is 1.
Value bcast(LoopEmitter &e, Value size, Value iv) {
  return e.select(e.cmpi(ip(IPred::eq), size, e.index(1)), e.index(0), iv);
}

/// Head of an operand with `opHeads` heads serving head h of `heads`.
Value headFor(LoopEmitter &e, Value opHeads, Value heads, Value h) {
  Value per = e.divui(heads, e.maxsi(opHeads, e.index(1)));
  return bcast(e, opHeads, e.divui(h, e.maxsi(per, e.index(1))));
}

/// Broadcast indices (batch, head[, row]) of a bias/mask/keep operand.
SmallVector<Value> leadingIndices(LoopEmitter &e, Value operand, Value b,
                                  Value h, Value heads) {
  return {bcast(e, e.dim(operand, 0), b),
          headFor(e, e.dim(operand, 1), heads, h)};
}

Value minusOneI32(LoopEmitter &e) {
  return e.intOf(e.builder().getI32Type(), -1);
}

/// dma.topk per_query's rule: a prefix with (threshold, tiebreak) keeps key
/// `j` (an index) of score `s` when s > thr, or s == thr and j <= tie (in
/// the tiebreak's integer type).
Value keptByPrefix(LoopEmitter &e, Value s, Value j, Value thr, Value tie) {
  Value tied = e.andi(e.cmpf(fp(FPred::OEQ), s, thr),
                      e.cmpi(ip(IPred::sle), e.indexCast(tie.getType(), j), tie));
  return e.ori(e.cmpf(fp(FPred::OGT), s, thr), tied);
}

} // namespace

//===----------------------------------------------------------------------===//
// Positions
//===----------------------------------------------------------------------===//

void mlir::dma::lowerTileIotaToLoops(OpBuilder &b, TileIotaOp op) {
  LoopEmitter e(b, op.getLoc());
  Value out = op.getOuts()[0];
  e.forLoop(e.index(0), e.dim(out, 0), [&](Value i) {
    Value pos = e.add(op.getStart(), i);
    Value valid = e.cmpi(ip(IPred::slt), pos, op.getBound());
    e.store(e.select(valid, e.indexCast(b.getI32Type(), pos), minusOneI32(e)),
            out, {i});
  });
}

void mlir::dma::lowerTilePositionsToLoops(OpBuilder &b, TilePositionsOp op) {
  LoopEmitter e(b, op.getLoc());
  Value list = op.getList(), out = op.getOuts()[0];
  int64_t last = cast<ShapedType>(list.getType()).getRank() - 1;
  Value len = e.dim(list, last);
  e.forLoop(e.index(0), e.dim(out, 0), [&](Value i) {
    Value t = e.add(op.getOffset(), i);
    Value inside = e.cmpi(ip(IPred::slt), t, len);
    Value pos = e.ifElse(
        inside, b.getIndexType(),
        [&] {
          SmallVector<Value> idx(op.getIndices());
          idx.push_back(t);
          return SmallVector<Value>{e.loadIndex(list, idx)};
        },
        [&] { return SmallVector<Value>{e.index(-1)}; })[0];
    Value valid = e.andi(e.cmpi(ip(IPred::sge), pos, e.index(0)),
                         e.cmpi(ip(IPred::slt), pos, op.getBound()));
    e.store(e.select(valid, e.indexCast(b.getI32Type(), pos), minusOneI32(e)),
            out, {i});
  });
}

Value mlir::dma::lowerTileCountToLoops(OpBuilder &b, TileCountOp op) {
  LoopEmitter e(b, op.getLoc());
  Value pos = op.getPositions();
  return e.forLoop(e.index(0), e.dim(pos, 0), {e.index(0)},
                   [&](Value i, ValueRange acc) {
                     Value valid = e.cmpi(ip(IPred::sge), e.loadIndex(pos, {i}),
                                          e.index(0));
                     return SmallVector<Value>{e.add(
                         acc[0], e.select(valid, e.index(1), e.index(0)))};
                   })[0];
}

void mlir::dma::lowerTileCandidatesToLoops(OpBuilder &b, TileCandidatesOp op) {
  LoopEmitter e(b, op.getLoc());
  Value score = op.getKeepScore(), out = op.getOuts()[0];
  SmallVector<Value> lead =
      leadingIndices(e, score, op.getB(), op.getH(), op.getHeads());
  Value cap = e.dim(out, 0);
  // Keys after `last` are never candidates; the smallest prefix of a row
  // that sees any key gives the lowest threshold.
  Value end = e.minsi(e.add(op.getLast(), e.index(1)), e.dim(score, 2));
  end = e.minsi(e.maxsi(end, e.index(0)), cap);
  Value entry = e.maxsi(op.getFirst(), e.index(0));
  Value written = e.ifElse(
      e.cmpi(ip(IPred::sgt), end, e.index(0)), b.getIndexType(),
      [&] {
        SmallVector<Value> at = lead;
        at.push_back(entry);
        Value thr = e.loadF32(op.getKeepThreshold(), at);
        Value tie = e.load(op.getKeepTiebreak(), at);
        return e.forLoop(
            e.index(0), end, {e.index(0)}, [&](Value j, ValueRange n) {
              SmallVector<Value> sj = lead;
              sj.push_back(j);
              Value s = e.loadF32(score, sj);
              return e.ifElse(
                  keptByPrefix(e, s, j, thr, tie), b.getIndexType(),
                  [&] {
                    e.storeIndex(j, out, {n[0]});
                    return SmallVector<Value>{e.add(n[0], e.index(1))};
                  },
                  [&] { return SmallVector<Value>{n[0]}; });
            });
      },
      [&] { return SmallVector<Value>{e.index(0)}; })[0];
  e.forLoop(written, cap, [&](Value t) { e.store(minusOneI32(e), out, {t}); });
}

namespace {

/// Whether key `a` (score sa) comes before key `c` (score sc) in the order
/// of dma.tile.ranked_keys: higher score first, equal scores by position,
/// NaN scores after every other.
Value rankedBefore(LoopEmitter &e, Value sa, Value a, Value sc, Value c) {
  Value na = e.isNaN(sa), nc = e.isNaN(sc);
  Value numbers = e.andi(e.notb(na), e.notb(nc));
  Value higher = e.andi(numbers, e.cmpf(fp(FPred::OGT), sa, sc));
  Value tied = e.ori(e.andi(na, nc), e.cmpf(fp(FPred::OEQ), sa, sc));
  return e.ori(e.ori(e.andi(e.notb(na), nc), higher),
               e.andi(tied, e.cmpi(ip(IPred::slt), a, c)));
}

} // namespace

void mlir::dma::lowerTileRankedKeysToLoops(OpBuilder &b, TileRankedKeysOp op) {
  LoopEmitter e(b, op.getLoc());
  Value score = op.getKeepScore(), out = op.getOuts()[0];
  Value n = e.dim(out, 0);
  e.forLoop(e.index(0), n, [&](Value i) { e.store(minusOneI32(e), out, {i}); });
  Value chunk = e.index(op.getChunk());
  Value c0 = e.mul(e.divui(op.getOffset(), chunk), chunk);
  Value cEnd = e.minsi(e.add(c0, chunk), e.minsi(op.getBound(), e.dim(score, 2)));
  Value lo = e.sub(op.getOffset(), c0);
  // Each key's rank is the number of chunk keys before it (O(chunk^2) per
  // tile: the CPU's reference, the GPU sorts).
  e.forLoop(c0, cEnd, [&](Value j) {
    Value sj = e.loadF32(score, {op.getKb(), op.getKh(), j});
    Value rank = e.forLoop(c0, cEnd, {e.index(0)}, [&](Value c, ValueRange r) {
      Value sc = e.loadF32(score, {op.getKb(), op.getKh(), c});
      return SmallVector<Value>{e.add(
          r[0], e.select(rankedBefore(e, sc, c, sj, j), e.index(1),
                         e.index(0)))};
    })[0];
    Value at = e.sub(rank, lo);
    e.ifThen(e.andi(e.cmpi(ip(IPred::sge), rank, lo),
                    e.cmpi(ip(IPred::slt), at, n)),
             [&] { e.storeIndex(j, out, {at}); });
  });
}

std::pair<Value, Value>
mlir::dma::lowerTileKeepingRowsToLoops(OpBuilder &b, TileKeepingRowsOp op) {
  LoopEmitter e(b, op.getLoc());
  Value pos = op.getPositions(), rows = op.getRows(), off = op.getKeyOffset();
  Value kb = op.getKb(), kh = op.getKh();
  Value lk = e.dim(op.getKeepScore(), 2);
  Type idx = b.getIndexType();
  // The prefix ending at key p keeps key j (dma.topk per_query's rule).
  auto keeps = [&](Value j, Value sj, Value p) {
    return keptByPrefix(e, sj, j, e.loadF32(op.getKeepThreshold(), {kb, kh, p}),
                        e.load(op.getKeepTiebreak(), {kb, kh, p}));
  };
  // Per key: the prefixes keeping it are [j, last] (causal; a row i has
  // the prefix ending at i + key_offset), or all rows or none.
  auto keyRows = [&](Value j, Value sj) -> SmallVector<Value> {
    if (!op.getCausal())
      return {e.index(0), e.select(keeps(j, sj, e.sub(lk, e.index(1))), rows,
                                   e.index(0))};
    SmallVector<Value> lh = e.ifElse(
        keeps(j, sj, j), {idx, idx},
        [&] {
          // keeps(lo) holds; prefixes from hi on do not.
          return e.whileLoop(
              {j, lk},
              [&](ValueRange r) {
                return std::make_pair(
                    e.cmpi(ip(IPred::sgt), e.sub(r[1], r[0]), e.index(1)),
                    SmallVector<Value>(r));
              },
              [&](ValueRange r) {
                Value mid = e.divui(e.add(r[0], r[1]), e.index(2));
                Value k = keeps(j, sj, mid);
                return SmallVector<Value>{e.select(k, mid, r[0]),
                                          e.select(k, r[1], mid)};
              });
        },
        [&] { return SmallVector<Value>{j, j}; }); // never kept: empty
    Value last = e.select(e.cmpi(ip(IPred::eq), lh[0], lh[1]),
                          e.sub(j, e.index(1)), lh[0]);
    Value first = e.maxsi(e.sub(j, off), e.index(0));
    Value end = e.minsi(e.add(e.sub(last, off), e.index(1)), rows);
    return {first, e.maxsi(end, first)};
  };
  SmallVector<Value> range = e.forLoop(
      e.index(0), e.dim(pos, 0), {rows, e.index(0)},
      [&](Value t, ValueRange acc) {
        Value j = e.loadIndex(pos, {t});
        Value valid = e.andi(e.cmpi(ip(IPred::sge), j, e.index(0)),
                             e.cmpi(ip(IPred::slt), j, lk));
        return e.ifElse(
            valid, {idx, idx},
            [&] {
              Value sj = e.loadF32(op.getKeepScore(), {kb, kh, j});
              SmallVector<Value> r = keyRows(j, sj);
              Value some = e.cmpi(ip(IPred::slt), r[0], r[1]);
              return SmallVector<Value>{
                  e.select(some, e.minsi(acc[0], r[0]), acc[0]),
                  e.select(some, e.maxsi(acc[1], r[1]), acc[1])};
            },
            [&] { return SmallVector<Value>(acc); });
      });
  return {e.minsi(range[0], range[1]), range[1]};
}

//===----------------------------------------------------------------------===//
// Rows between memrefs and tiles
//===----------------------------------------------------------------------===//

void mlir::dma::lowerTileGatherToLoops(OpBuilder &b, TileGatherOp op) {
  LoopEmitter e(b, op.getLoc());
  Value src = op.getSource(), rows = op.getRows(), out = op.getOuts()[0];
  bool matrix = cast<MemRefType>(src.getType()).getRank() == 4;
  Value zero = e.f32(0.0);
  e.forLoop(e.index(0), e.dim(out, 0), [&](Value i) {
    Value r = e.loadIndex(rows, {i});
    Value valid = e.cmpi(ip(IPred::sge), r, e.index(0));
    if (!matrix) {
      Value v = e.ifElse(
          valid, b.getF32Type(),
          [&] {
            return SmallVector<Value>{
                e.loadF32(src, {op.getB(), op.getHead(), r})};
          },
          [&] { return SmallVector<Value>{zero}; })[0];
      e.storeF32(v, out, {i});
      return;
    }
    e.ifThenElse(
        valid,
        [&] {
          e.forLoop(e.index(0), e.dim(out, 1), [&](Value d) {
            e.storeF32(e.loadF32(src, {op.getB(), r, op.getHead(), d}), out,
                       {i, d});
          });
        },
        [&] {
          e.forLoop(e.index(0), e.dim(out, 1),
                    [&](Value d) { e.storeF32(zero, out, {i, d}); });
        });
  });
}

void mlir::dma::lowerTileScatterToLoops(OpBuilder &b, TileScatterOp op) {
  LoopEmitter e(b, op.getLoc());
  Value tile = op.getTile(), rows = op.getRows(), dest = op.getDest();
  bool matrix = cast<MemRefType>(dest.getType()).getRank() == 4;
  auto put = [&](Value v, ValueRange idx) {
    if (op.getAccumulate())
      memref::AtomicRMWOp::create(b, op.getLoc(), arith::AtomicRMWKind::addf,
                                  v, dest, idx);
    else
      e.storeF32(v, dest, idx);
  };
  e.forLoop(e.index(0), e.dim(tile, 0), [&](Value i) {
    Value r = e.loadIndex(rows, {i});
    e.ifThen(e.cmpi(ip(IPred::sge), r, e.index(0)), [&] {
      if (!matrix) {
        put(e.loadF32(tile, {i}), {op.getB(), op.getHead(), r});
        return;
      }
      e.forLoop(e.index(0), e.dim(tile, 1), [&](Value d) {
        put(e.loadF32(tile, {i, d}), {op.getB(), r, op.getHead(), d});
      });
    });
  });
}

//===----------------------------------------------------------------------===//
// Arithmetic
//===----------------------------------------------------------------------===//

void mlir::dma::lowerTileDotToLoops(OpBuilder &b, TileDotOp op) {
  LoopEmitter e(b, op.getLoc());
  Value lhs = op.getLhs(), rhs = op.getRhs(), acc = op.getOuts()[0];
  bool tl = op.getTransposeLhs(), tr = op.getTransposeRhs();
  Value M = e.dim(acc, 0), N = e.dim(acc, 1), K = e.dim(lhs, tl ? 0 : 1);
  auto a = [&](Value m, Value k) {
    return tl ? e.loadF32(lhs, {k, m}) : e.loadF32(lhs, {m, k});
  };
  auto bv = [&](Value k, Value n) {
    return tr ? e.loadF32(rhs, {n, k}) : e.loadF32(rhs, {k, n});
  };
  e.forLoop(e.index(0), M, [&](Value m) {
    if (tr) {
      // Dot-product order: both operands walk their contiguous k.
      e.forLoop(e.index(0), N, [&](Value n) {
        Value sum = e.forLoop(e.index(0), K, {e.load(acc, {m, n})},
                              [&](Value k, ValueRange s) {
                                return SmallVector<Value>{
                                    e.fadd(s[0], e.fmul(a(m, k), bv(k, n)))};
                              })[0];
        e.store(sum, acc, {m, n});
      });
      return;
    }
    // AXPY order: the accumulator row and the rhs row are contiguous in n.
    // A zero weight adds nothing and is skipped: in P V, dS K, P^T dO and
    // dS^T Q it is a hidden key's (or query's) probability, and 0 * NaN
    // would let a NaN or Inf in that hidden row reach the output.
    e.forLoop(e.index(0), K, [&](Value k) {
      Value av = a(m, k);
      e.ifThen(e.cmpf(fp(FPred::UNE), av, e.f32(0.0)), [&] {
        e.forLoop(e.index(0), N, [&](Value n) {
          e.store(e.fadd(e.load(acc, {m, n}), e.fmul(av, bv(k, n))), acc,
                  {m, n});
        });
      });
    });
  });
}

void mlir::dma::lowerTileLogitsToLoops(OpBuilder &b, TileLogitsOp op) {
  LoopEmitter e(b, op.getLoc());
  Value raw = op.getRaw(), rows = op.getRows(), keys = op.getKeys();
  Value out = op.getOuts()[0];
  Value ninf = e.f32(kNegInf);
  Value scale = e.f32(op.getScaleAttr().getValueAsDouble());
  double softcap = op.getSoftcapAttr().getValueAsDouble();
  Value B = op.getB(), H = op.getH(), heads = op.getHeads();

  SmallVector<Value> biasLead, maskLead, keepLead;
  if (op.getBias())
    biasLead = leadingIndices(e, op.getBias(), B, H, heads);
  if (op.getMask())
    maskLead = leadingIndices(e, op.getMask(), B, H, heads);
  if (op.getKeep())
    keepLead = leadingIndices(e, op.getKeep(), B, H, heads);
  if (op.getKeepScore())
    keepLead = leadingIndices(e, op.getKeepScore(), B, H, heads);

  // Whether key position `k` is in the sorted list keep[keepLead, :]
  // (negative padding sorts last).
  auto inKeepList = [&](Value k) {
    Value list = op.getKeep();
    Value w = e.dim(list, 2);
    auto at = [&](Value t) {
      SmallVector<Value> idx = keepLead;
      idx.push_back(t);
      return e.loadIndex(list, idx);
    };
    Value lo = e.partitionPoint(e.index(0), w, [&](Value i) {
      Value v = at(i);
      return e.andi(e.cmpi(ip(IPred::sge), v, e.index(0)),
                    e.cmpi(ip(IPred::slt), v, k));
    });
    return e.ifElse(
        e.cmpi(ip(IPred::slt), lo, w), b.getI1Type(),
        [&] {
          return SmallVector<Value>{e.cmpi(ip(IPred::eq), at(lo), k)};
        },
        [&] { return SmallVector<Value>{e.boolean(false)}; })[0];
  };

  e.forLoop(e.index(0), e.dim(out, 0), [&](Value i) {
    Value r = e.loadIndex(rows, {i});
    Value rowValid = e.cmpi(ip(IPred::sge), r, e.index(0));
    Value cLim = e.add(r, op.getKeyOffset());
    e.forLoop(e.index(0), e.dim(out, 1), [&](Value j) {
      Value k = e.loadIndex(keys, {j});
      Value visible =
          e.andi(rowValid, e.cmpi(ip(IPred::sge), k, e.index(0)));
      if (op.getCausal())
        visible = e.andi(visible, e.cmpi(ip(IPred::sle), k, cLim));
      Value x = e.ifElse(
          visible, b.getF32Type(),
          [&] {
            Value kept = e.boolean(true);
            if (Value mask = op.getMask()) {
              auto readMask = [&] {
                SmallVector<Value> idx = maskLead;
                idx.push_back(bcast(e, e.dim(mask, 2), r));
                idx.push_back(k);
                return SmallVector<Value>{e.load(mask, idx)};
              };
              if (Value full = op.getMaskFull())
                kept = e.ifElse(
                    full, b.getI1Type(),
                    [&] { return SmallVector<Value>{e.boolean(true)}; },
                    readMask)[0];
              else
                kept = readMask()[0];
            }
            if (op.getKeep() && !op.getKeysKept())
              kept = inKeepList(k);
            if (Value score = op.getKeepScore()) {
              Value entry = op.getCausal()
                                ? cLim
                                : e.sub(e.dim(score, 2), e.index(1));
              SmallVector<Value> kIdx = keepLead, eIdx = keepLead;
              kIdx.push_back(k);
              eIdx.push_back(entry);
              Value s = e.loadF32(score, kIdx);
              Value thr = e.loadF32(op.getKeepThreshold(), eIdx);
              Value tie = e.load(op.getKeepTiebreak(), eIdx);
              kept = keptByPrefix(e, s, k, thr, tie);
            }
            return e.ifElse(
                kept, b.getF32Type(),
                [&] {
                  Value v = e.fmul(scale, e.load(raw, {i, j}));
                  if (softcap > 0.0) {
                    Value cap = e.f32(softcap);
                    v = e.fmul(cap, e.tanh(e.fdiv(v, cap)));
                  }
                  if (Value bias = op.getBias()) {
                    SmallVector<Value> idx = biasLead;
                    idx.push_back(bcast(e, e.dim(bias, 2), r));
                    idx.push_back(k);
                    v = e.fadd(v, e.loadF32(bias, idx));
                  }
                  return SmallVector<Value>{v};
                },
                [&] { return SmallVector<Value>{ninf}; });
          },
          [&] { return SmallVector<Value>{ninf}; })[0];
      e.store(x, out, {i, j});
    });
  });
}

void mlir::dma::lowerTileSoftmaxToLoops(OpBuilder &b, TileSoftmaxOp op) {
  LoopEmitter e(b, op.getLoc());
  Value x = op.getLogits();
  ValueRange outs = op.getOuts();
  Value p = outs[0], acc = outs[1], mx = outs[2], sum = outs[3];
  Value ninf = e.f32(kNegInf);
  e.forLoop(e.index(0), e.dim(x, 0), [&](Value i) {
    Value old = e.load(mx, {i});
    Value rowMax = e.forLoop(e.index(0), e.dim(x, 1), {old},
                             [&](Value j, ValueRange m) {
                               return SmallVector<Value>{
                                   e.fmax(m[0], e.load(x, {i, j}))};
                             })[0];
    Value none = e.cmpf(fp(FPred::OEQ), rowMax, ninf);
    // While the row has seen no key, keep everything at its neutral value.
    Value corr = e.select(none, e.f32(1.0), e.exp(e.fsub(old, rowMax)));
    Value safeMax = e.select(none, e.f32(0.0), rowMax);
    Value rowSum = e.forLoop(e.index(0), e.dim(x, 1), {e.f32(0.0)},
                             [&](Value j, ValueRange s) {
                               Value pv = e.exp(e.fsub(e.load(x, {i, j}),
                                                       safeMax));
                               e.storeF32(pv, p, {i, j});
                               return SmallVector<Value>{e.fadd(s[0], pv)};
                             })[0];
    e.store(rowMax, mx, {i});
    e.store(e.fadd(e.fmul(e.load(sum, {i}), corr), rowSum), sum, {i});
    e.forLoop(e.index(0), e.dim(acc, 1), [&](Value d) {
      e.store(e.fmul(e.load(acc, {i, d}), corr), acc, {i, d});
    });
  });
}

void mlir::dma::lowerTileStoreOutputToLoops(OpBuilder &b,
                                            TileStoreOutputOp op) {
  LoopEmitter e(b, op.getLoc());
  Value acc = op.getAcc(), rows = op.getRows();
  Value ninf = e.f32(kNegInf);
  e.forLoop(e.index(0), e.dim(acc, 0), [&](Value i) {
    Value r = e.loadIndex(rows, {i});
    e.ifThen(e.cmpi(ip(IPred::sge), r, e.index(0)), [&] {
      Value m = e.load(op.getMax(), {i}), l = e.load(op.getSum(), {i});
      Value empty = e.cmpf(fp(FPred::OEQ), m, ninf);
      Value inv = e.select(empty, e.f32(0.0), e.fdiv(e.f32(1.0), l));
      e.forLoop(e.index(0), e.dim(acc, 1), [&](Value d) {
        e.storeF32(e.fmul(e.load(acc, {i, d}), inv), op.getOut(),
                   {op.getB(), r, op.getH(), d});
      });
      Value safeL = e.select(empty, e.f32(1.0), l);
      e.store(e.select(empty, ninf, e.fadd(m, e.log(safeL))), op.getLse(),
              {op.getB(), op.getH(), r});
    });
  });
}

void mlir::dma::lowerTileProbsToLoops(OpBuilder &b, TileProbsOp op) {
  LoopEmitter e(b, op.getLoc());
  Value x = op.getLogits(), out = op.getOuts()[0];
  Value ninf = e.f32(kNegInf);
  e.forLoop(e.index(0), e.dim(x, 0), [&](Value i) {
    Value lse = e.load(op.getLse(), {i});
    Value none = e.cmpf(fp(FPred::OEQ), lse, ninf);
    Value safe = e.select(none, e.f32(0.0), lse);
    e.forLoop(e.index(0), e.dim(x, 1), [&](Value j) {
      Value p = e.exp(e.fsub(e.load(x, {i, j}), safe));
      e.store(e.select(none, e.f32(0.0), p), out, {i, j});
    });
  });
}

void mlir::dma::lowerTileDScoresToLoops(OpBuilder &b, TileDScoresOp op) {
  LoopEmitter e(b, op.getLoc());
  Value p = op.getProbs(), dp = op.getDprobs();
  Value ds = op.getOuts()[0], dx = op.getOuts()[1];
  Value scale = e.f32(op.getScaleAttr().getValueAsDouble());
  double softcap = op.getSoftcapAttr().getValueAsDouble();
  Value zero = e.f32(0.0);
  e.forLoop(e.index(0), e.dim(p, 0), [&](Value i) {
    Value delta = e.load(op.getDelta(), {i});
    e.forLoop(e.index(0), e.dim(p, 1), [&](Value j) {
      Value pij = e.load(p, {i, j});
      // P = 0 (a hidden key) gives exactly 0: dP and raw of a hidden key
      // come from its K and V rows, which may hold NaN or Inf.
      Value hidden = e.cmpf(fp(FPred::OEQ), pij, zero);
      Value s = e.fmul(pij, e.fsub(e.load(dp, {i, j}), delta));
      Value x = e.fmul(scale, s);
      if (softcap > 0.0) {
        Value cap = e.f32(softcap);
        Value t = e.tanh(e.fdiv(e.fmul(scale, e.load(op.getRaw(), {i, j})),
                                cap));
        x = e.fmul(x, e.fsub(e.f32(1.0), e.fmul(t, t)));
      }
      e.store(e.select(hidden, zero, s), ds, {i, j});
      e.store(e.select(hidden, zero, x), dx, {i, j});
    });
  });
}

void mlir::dma::lowerTileRowDotToLoops(OpBuilder &b, TileRowDotOp op) {
  LoopEmitter e(b, op.getLoc());
  Value lhs = op.getLhs(), rhs = op.getRhs(), out = op.getOuts()[0];
  e.forLoop(e.index(0), e.dim(lhs, 0), [&](Value i) {
    Value s = e.forLoop(e.index(0), e.dim(lhs, 1), {e.f32(0.0)},
                        [&](Value d, ValueRange a) {
                          return SmallVector<Value>{
                              e.fadd(a[0], e.fmul(e.loadF32(lhs, {i, d}),
                                                  e.loadF32(rhs, {i, d})))};
                        })[0];
    e.store(s, out, {i});
  });
}

void mlir::dma::lowerTileBiasGradToLoops(OpBuilder &b, TileBiasGradOp op) {
  LoopEmitter e(b, op.getLoc());
  Value ds = op.getDs(), dbias = op.getDbias();
  SmallVector<Value> lead =
      leadingIndices(e, dbias, op.getB(), op.getH(), op.getHeads());
  e.forLoop(e.index(0), e.dim(ds, 0), [&](Value i) {
    Value r = e.loadIndex(op.getRows(), {i});
    e.ifThen(e.cmpi(ip(IPred::sge), r, e.index(0)), [&] {
      Value row = bcast(e, e.dim(dbias, 2), r);
      e.forLoop(e.index(0), e.dim(ds, 1), [&](Value j) {
        Value k = e.loadIndex(op.getKeys(), {j});
        e.ifThen(e.cmpi(ip(IPred::sge), k, e.index(0)), [&] {
          SmallVector<Value> idx = lead;
          idx.push_back(row);
          idx.push_back(k);
          memref::AtomicRMWOp::create(b, op.getLoc(),
                                      arith::AtomicRMWKind::addf,
                                      e.load(ds, {i, j}), dbias, idx);
        });
      });
    });
  });
}

//===----------------------------------------------------------------------===//
// Summaries
//===----------------------------------------------------------------------===//

void mlir::dma::lowerMaskSummaryToLoops(OpBuilder &b, MaskSummaryOp op) {
  LoopEmitter e(b, op.getLoc());
  Value mask = op.getMask();
  ValueRange outs = op.getOuts();
  Value state = outs[0], tiles = outs[1], count = outs[2];
  Value BM = e.index(op.getQTile()), BN = e.index(op.getKTile());
  Value Lq = op.getRows(), Lk = e.dim(mask, 3), Mq = e.dim(mask, 2);
  Value nKT = e.dim(state, 3);
  Type i32 = b.getI32Type();
  e.parallel({e.dim(state, 0), e.dim(state, 1), e.dim(state, 2)},
             [&](ValueRange ivs) {
               Value mb = ivs[0], mh = ivs[1], qt = ivs[2];
               Value r0 = e.mul(qt, BM);
               Value r1 = e.minsi(e.add(r0, BM), Lq);
               Value n = e.forLoop(
                   e.index(0), nKT, {e.index(0)}, [&](Value kt, ValueRange c) {
                     Value k0 = e.mul(kt, BN);
                     Value k1 = e.minsi(e.add(k0, BN), Lk);
                     // (any kept, all kept) over the block's valid entries.
                     SmallVector<Value> anyAll = e.forLoop(
                         r0, r1, {e.boolean(false), e.boolean(true)},
                         [&](Value r, ValueRange f) {
                           Value mr = bcast(e, Mq, r);
                           return e.forLoop(
                               k0, k1, f, [&](Value k, ValueRange g) {
                                 Value v = e.load(mask, {mb, mh, mr, k});
                                 return SmallVector<Value>{e.ori(g[0], v),
                                                           e.andi(g[1], v)};
                               });
                         });
                     Value st = e.select(
                         anyAll[0],
                         e.select(anyAll[1], e.intOf(i32, 2), e.intOf(i32, 1)),
                         e.intOf(i32, 0));
                     e.store(st, state, {mb, mh, qt, kt});
                     return e.ifElse(
                         anyAll[0], b.getIndexType(),
                         [&] {
                           e.storeIndex(kt, tiles, {mb, mh, qt, c[0]});
                           return SmallVector<Value>{e.add(c[0], e.index(1))};
                         },
                         [&] { return SmallVector<Value>{c[0]}; });
                   })[0];
               e.forLoop(n, nKT, [&](Value t) {
                 e.store(minusOneI32(e), tiles, {mb, mh, qt, t});
               });
               e.storeIndex(n, count, {mb, mh, qt});
             });
}

void mlir::dma::lowerTileConvertToLoops(OpBuilder &b, TileConvertOp op) {
  LoopEmitter e(b, op.getLoc());
  for (auto [from, to] : llvm::zip(op.getSources(), op.getDests()))
    e.copyConvert(from, to);
}
