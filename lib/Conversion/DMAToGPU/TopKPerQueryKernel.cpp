//===- TopKPerQueryKernel.cpp - the per-query top-k kernel ----------------===//
//
// dma.topk per_query: for every prefix end c of a (batch, KV head) row of
// scores, the w-th best allowed key of [0, c] (score descending, index
// ascending): threshold[c] is its score and tiebreak[c] its position, or
// -inf and the largest index where the prefix has at most w allowed keys
// (keep all). masked_score is the score, NaN where top-k may not keep the
// key.
//
// Keys compare as 64-bit integers, (order-preserving score bits << 32) |
// ~position, so every key is distinct and "larger" is "better"; 0 stands
// for a key top-k may not keep. One CTA per block of T consecutive prefix
// ends [c0, c0 + T). With A the allowed keys of [0, c0) and N those of the
// block, the w-th best key of [0, c] is the w-th best of A and the keys of
// N up to c. At most T keys of N rank above it, so at least s = w - T - 1
// keys of A do: it is at or below A's (s+1)-th best and at or above A's
// w-th best. So each CTA
//  1. finds A's (s+1)-th and min(w, |A|)-th best keys by a radix select
//     over [0, c0) (8-bit digits from the top, both selections at once,
//     histograms in shared memory). Its first pass also counts |A|. A
//     selection is done as soon as its bin bounds the same keys as the key
//     itself: the (s+1)-th best when it is the best of its bin (keys <= the
//     bin's top), the w-th when it is the last (keys >= the bin's bottom);
//     distinct scores mostly end after three of the eight passes;
//  2. gathers the keys of A between the bounds (at most T + 1) and the
//     block's keys (at most T) into shared memory and sorts them (bitonic,
//     padded with 0 to kTopKListSlots);
//  3. walks the sorted list per prefix end c (a thread each), counting the
//     keys at positions <= c: the (w - s)-th is the answer.
// The passes over [0, c0) load kBatch keys per thread before using any:
// one at a time, each load's latency was exposed (the loop is not
// unrolled for us). The work is O(c0) per CTA instead of the O(Lk) per
// prefix end of a rank-by-counting walk: O(Lk^2 / T) per row, with every
// CTA independent. When |A| + T <= w the whole block keeps all its
// prefixes' keys.
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"
#include "MaskEmitter.h"
#include "TileEmitter.h"
#include "dma/Conversion/DMAToGPU/MaskKernels.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

#include <limits>

using namespace mlir;
using namespace mlir::dma;

namespace {

constexpr int64_t T = kMaskThreads;
constexpr int64_t kWarps = T / 32;
static_assert(T == 256, "one histogram bin per thread");
// Shared memory (bytes): the radix select's histograms and scan state,
// per-warp sums of blockSum, the list's length, then the list.
constexpr int64_t kRadix = 0;
constexpr int64_t kWarpSums = kRadix + RadixSelect::sharedBytes(T, 2);
constexpr int64_t kCount = kWarpSums + 4 * kWarps;
constexpr int64_t kList = 2176;
static_assert(kCount + 4 <= kList, "the shared layout overlaps");
static_assert(kList + 8 * kTopKListSlots == kTopKPerQuerySharedBytes,
              "MaskKernels.h states the kernel's shared memory");
/// Keys each thread loads per step of a pass over [0, c0).
constexpr int64_t kBatch = 8;

class PerQueryEmitter {
public:
  PerQueryEmitter(OpBuilder &b, Location loc, gpu::GPUFuncOp func,
                  ArrayRef<KernelParam> params, const TopKKernelConfig &c)
      : m(b, loc, func, params), k(m.k), c(c) {
    tid = m.tid;
    lane = k.remsi(tid, k.c32(32));
    warp = k.divsi(tid, k.c32(32));
    h = k.blockId(1);
    bi = k.blockId(2);
    Lk = m.arg("Lk");
    W = m.arg("W");
    smem = LLVM::AddressOfOp::create(b, loc, k.ptrShared, kSharedMemoryGlobal);
  }

  void emit() {
    Value blocks = k.blockId(0); // blocks before this one: A is [0, c0)
    Value c0 = k.mul(blocks, k.c32(T));
    Value cEnd = k.add(c0, tid); // this thread's prefix end
    Value inRow = k.cmpi(ip(IPred::slt), cEnd, Lk);
    k.ifThen(inRow, [&] {
      KeyScore own = keyScore(m, c.padding, bi, h, cEnd);
      Value nan = k.f32(std::numeric_limits<double>::quiet_NaN());
      k.storeTo(k.select(own.allowed, own.score, nan),
                at("masked_score", k.f32Type, cEnd));
    });
    // The radix select's first pass counts every allowed key of A by its
    // top digit (both selections' candidates): the bins sum to |A|.
    RadixSelect radix(k, smem, kRadix, tid, T, 2);
    radix.clear();
    overPrior(blocks, {}, [&](Value key, ValueRange) {
      k.ifThen(nonzero(key), [&] { radix.countOne(0, digit(key, 56)); });
      return SmallVector<Value>{};
    });
    k.barrier();
    Value allowedBefore = blockSum(radix.binCount(0, tid));
    // Keys of A certainly above the answer: s = max(0, w - T - 1). When
    // |A| + T <= w no prefix of the block has more than w allowed keys:
    // all keep all. Otherwise |A| > s (s > 0 means |A| > w - T > s), so
    // A's (s+1)-th best exists unless A is empty (then w < T and only the
    // block's own keys count).
    Value s = k.maxsi(k.sub(W, k.c32(T + 1)), k.c32(0));
    k.ifThenElse(
        k.cmpi(ip(IPred::sle), k.add(allowedBefore, k.c32(T)), W),
        [&] { store(inRow, cEnd, Value()); },
        [&] {
          Value none = k.cmpi(ip(IPred::eq), allowedBefore, k.c32(0));
          SmallVector<Value> bounds = k.ifElse(
              none, {k.i64Type, k.i64Type},
              [&] { // an empty range: lo > hi
                return SmallVector<Value>{k.c64(0), k.c64(-1)};
              },
              [&] {
                auto [hi, lo] = select(radix, blocks, k.add(s, k.c32(1)),
                                       k.minsi(W, allowedBefore));
                return SmallVector<Value>{hi, lo};
              });
          Value n = gather(blocks, c0, bounds[0], bounds[1]);
          sortList();
          Value need = k.sub(W, s);
          store(inRow, cEnd,
                walk(n, c0, cEnd, need, k.sub(W, allowedBefore)));
        });
    gpu::ReturnOp::create(k.builder(), k.location());
  }

private:
  MaskEmitter m;
  KernelBuilder &k;
  const TopKKernelConfig &c;
  Value tid, lane, warp, h, bi, Lk, W, smem;

  Value at(const char *t, Type elt, Value j) {
    return k.gep(m.ptr(t), elt, m.bhj(t, bi, h, j));
  }
  Value shared(int64_t base, Type elt, Value index) {
    return k.gep(k.gep(smem, k.i8Type, k.c32(base)), elt, index);
  }
  Value count(Value acc, Value pred) { return m.count(acc, pred); }
  Value nonzero(Value key) {
    return k.cmpi(ip(IPred::ne), key, k.c64(0));
  }
  Value zext64(Value v) {
    return arith::ExtUIOp::create(k.builder(), k.location(), k.i64Type, v);
  }
  Value trunc32(Value v) {
    return arith::TruncIOp::create(k.builder(), k.location(), k.i32Type, v);
  }
  Value shr64(Value v, int64_t bits) { return k.shrui(v, k.c64(bits)); }

  /// Key j's 64-bit key: order-preserving score bits (-0 folded into +0)
  /// above ~j; 0 when top-k may not keep it.
  Value keyOf(Value j) {
    KeyScore ks = keyScore(m, c.padding, bi, h, j);
    Value bits = k.bitcast(k.i32Type, k.fadd(ks.score, k.f32(0.0)));
    Value negative = k.cmpi(ip(IPred::slt), bits, k.c32(0));
    Value ordered =
        k.select(negative, k.xori(bits, k.c32(-1)),
                 k.ori(bits, k.c32(std::numeric_limits<int32_t>::min())));
    Value key = k.ori(k.shli(zext64(ordered), k.c64(32)),
                      zext64(k.xori(j, k.c32(-1))));
    return k.select(ks.allowed, key, k.c64(0));
  }
  /// The position of a (nonzero) key.
  Value positionOf(Value key) { return k.xori(trunc32(key), k.c32(-1)); }

  /// body(key, acc) over the keys of [0, c0), c0 = blocks * T: thread t
  /// takes keys t, t + T, ... (all below c0, hence below Lk), kBatch at a
  /// time, all loaded before the first is used. Past the end the key is 0
  /// (one top-k may not keep), which every body skips.
  SmallVector<Value>
  overPrior(Value blocks, ValueRange init,
            function_ref<SmallVector<Value>(Value, ValueRange)> body) {
    Value steps = k.divsi(k.add(blocks, k.c32(kBatch - 1)), k.c32(kBatch));
    return m.loop(steps, init, [&](Value i, ValueRange acc) {
      SmallVector<Value> keys;
      for (int64_t u = 0; u < kBatch; ++u) {
        Value block = k.add(k.mul(i, k.c32(kBatch)), k.c32(u));
        Value in = k.cmpi(ip(IPred::slt), block, blocks);
        // Key tid exists whenever the loop runs (blocks >= 1).
        Value j = k.select(in, k.add(k.mul(block, k.c32(T)), tid), tid);
        keys.push_back(k.select(in, keyOf(j), k.c64(0)));
      }
      SmallVector<Value> state(acc);
      for (Value key : keys)
        state = body(key, state);
      return state;
    });
  }

  /// The 8-bit digit of `key` at bit `shift`.
  Value digit(Value key, int64_t shift) {
    return trunc32(k.andi(shr64(key, shift), k.c64(255)));
  }

  /// The sum of i32 `x` over the CTA, in every thread.
  Value blockSum(Value x) {
    for (int offset : {16, 8, 4, 2, 1})
      x = k.add(x, k.shuffleXor(x, offset));
    k.ifThen(k.cmpi(ip(IPred::eq), lane, k.c32(0)),
             [&] { k.storeTo(x, shared(kWarpSums, k.i32Type, warp)); });
    k.barrier();
    Value total = k.c32(0);
    for (int64_t w = 0; w < kWarps; ++w)
      total = k.add(total, k.loadAs(k.i32Type,
                                    shared(kWarpSums, k.i32Type, k.c32(w))));
    k.barrier();
    return total;
  }

  /// Bounds of the keys of A at ranks rankHi and rankLo (1 = the best): a
  /// key at least the rankLo-th best's, one at most the rankHi-th best's,
  /// bounding the same keys of A. A radix select, one 8-bit digit per pass
  /// from the top, both at once, after the first pass's histogram
  /// (emit()). A selection whose key is the best of its bin (rank left 1;
  /// rankHi) or the last (rank left = the bin's count; rankLo) is done:
  /// the bin's top (bottom) bounds the same keys. An atomic per candidate:
  /// the warp-aggregated count measured slower here (45 against 37 us at
  /// L = 4096, run 33).
  std::pair<Value, Value> select(RadixSelect &radix, Value blocks,
                                 Value rankHi, Value rankLo) {
    // Per selection: (prefix, rank left, done), then the rankHi key's
    // bound: the prefix has the digits picked so far, zeros below (so it
    // is the rankLo key's bound itself). CTA-uniform (read from shared
    // memory after pick's barrier), so the passes' barriers are too.
    enum { kPrefix, kRank, kDone, kFields, kHiBound = 2 * kFields };
    SmallVector<Value> st;
    SmallVector<Type> types;
    for (int64_t sel = 0; sel < 2; ++sel) {
      st.append({k.c64(0), sel == 0 ? rankHi : rankLo, k.boolean(false)});
      types.append({k.i64Type, k.i32Type, k.i1Type});
    }
    st.push_back(k.c64(0));
    types.push_back(k.i64Type);
    auto update = [&](SmallVector<Value> &state, int64_t shift,
                      ArrayRef<std::pair<Value, Value>> picked,
                      int64_t histogram) {
      for (int64_t sel = 0; sel < 2; ++sel) {
        Value *f = &state[kFields * sel];
        Value prefix = f[kPrefix], done = f[kDone];
        auto [dig, rank] = picked[sel];
        Value next = k.ori(prefix, k.shli(zext64(dig), k.c64(shift)));
        Value finished =
            sel == 0 ? k.cmpi(ip(IPred::eq), rank, k.c32(1))
                     : k.cmpi(ip(IPred::eq), rank,
                              radix.binCount(histogram ? 1 : 0, dig));
        auto keep = [&](Value old, Value fresh) {
          return k.select(done, old, fresh);
        };
        if (sel == 0)
          state[kHiBound] =
              keep(state[kHiBound],
                   k.ori(next, k.c64((int64_t(1) << shift) - 1)));
        f[kPrefix] = keep(prefix, next);
        f[kRank] = keep(f[kRank], rank);
        f[kDone] = k.ori(done, finished);
      }
    };
    update(st, 56, radix.pick({rankHi, rankLo}, /*firstHistogram=*/true),
           0);
    for (int64_t pass = 1; pass < 8; ++pass) {
      int64_t shift = 56 - 8 * pass;
      Value allDone = k.andi(st[kDone], st[kFields + kDone]);
      st = k.ifElse(allDone, types, [&] { return st; }, [&] {
        // Every thread has read the last pass's bin counts (the done
        // test) before the bins are zeroed.
        k.barrier();
        radix.clear();
        auto matches = [&](Value key, int64_t sel) {
          Value prefix = st[kFields * sel + kPrefix];
          Value done = st[kFields * sel + kDone];
          return k.andi(k.andi(nonzero(key), k.notb(done)),
                        k.cmpi(ip(IPred::eq), shr64(key, shift + 8),
                               shr64(prefix, shift + 8)));
        };
        overPrior(blocks, {}, [&](Value key, ValueRange) {
          Value d = digit(key, shift);
          k.ifThen(matches(key, 0), [&] { radix.countOne(0, d); });
          k.ifThen(matches(key, 1), [&] { radix.countOne(1, d); });
          return SmallVector<Value>{};
        });
        SmallVector<Value> next(st);
        update(next, shift,
               radix.pick({st[kRank], st[kFields + kRank]}), 1);
        return next;
      });
    }
    return {st[kHiBound], st[kFields + kPrefix]};
  }

  Value listLength() { return shared(kCount, k.i32Type, k.c32(0)); }

  /// Gathers A's keys in [lo, hi] and the block's allowed keys into the
  /// list (unordered); returns its length (at most 2 T + 1).
  Value gather(Value blocks, Value c0, Value hi, Value lo) {
    k.ifThen(k.cmpi(ip(IPred::eq), tid, k.c32(0)),
             [&] { k.storeTo(k.c32(0), listLength()); });
    k.barrier();
    auto append = [&](Value key) {
      Value slot = k.atomicAddI32(listLength(), k.c32(1));
      k.storeTo(key, shared(kList, k.i64Type, slot));
    };
    overPrior(blocks, {}, [&](Value key, ValueRange) {
      k.ifThen(k.andi(nonzero(key),
                      k.andi(k.cmpi(ip(IPred::uge), key, lo),
                             k.cmpi(ip(IPred::ule), key, hi))),
               [&] { append(key); });
      return SmallVector<Value>{};
    });
    Value j = k.add(c0, tid);
    k.ifThen(k.cmpi(ip(IPred::slt), j, Lk), [&] {
      Value key = keyOf(j);
      k.ifThen(nonzero(key), [&] { append(key); });
    });
    k.barrier();
    return k.loadAs(k.i32Type, listLength());
  }

  /// The list in descending order, in place: the slots past its length
  /// hold 0 (below every key), then a bitonic sort of all kTopKListSlots
  /// (a barrier per step: ~55 steps against the n^2 / T loads of ranking
  /// each key by counting).
  void sortList() {
    Value n = k.loadAs(k.i32Type, listLength());
    for (int64_t part = 0; part * T < kTopKListSlots; ++part) {
      Value i = k.add(tid, k.c32(part * T));
      k.ifThen(k.cmpi(ip(IPred::sge), i, n), [&] {
        k.storeTo(k.c64(0), shared(kList, k.i64Type, i));
      });
    }
    k.barrier();
    constexpr int64_t N = kTopKListSlots;
    for (int64_t size = 2; size <= N; size *= 2)
      for (int64_t stride = size / 2; stride > 0; stride /= 2) {
        for (int64_t part = 0; part * T < N / 2; ++part) {
          // Pair p compares slots i and i + stride; descending where
          // i & size is 0 (all of the last merge).
          Value p = k.add(tid, k.c32(part * T));
          Value i = k.add(k.mul(k.divsi(p, k.c32(stride)), k.c32(2 * stride)),
                          k.remsi(p, k.c32(stride)));
          Value j = k.add(i, k.c32(stride));
          Value a = k.loadAs(k.i64Type, shared(kList, k.i64Type, i));
          Value b = k.loadAs(k.i64Type, shared(kList, k.i64Type, j));
          Value descending =
              k.cmpi(ip(IPred::eq), k.andi(i, k.c32(size)), k.c32(0));
          Value swap = k.select(descending, k.cmpi(ip(IPred::ult), a, b),
                                k.cmpi(ip(IPred::ugt), a, b));
          k.ifThen(swap, [&] {
            k.storeTo(b, shared(kList, k.i64Type, i));
            k.storeTo(a, shared(kList, k.i64Type, j));
          });
        }
        k.barrier();
      }
  }

  /// The need-th key of the sorted list at a position <= cEnd, or 0 when
  /// the prefix [0, cEnd] keeps all: at most w allowed keys, that is at
  /// most w - |A| = `blockRoom` of the block's (positions >= c0).
  Value walk(Value n, Value c0, Value cEnd, Value need, Value blockRoom) {
    // kBatch slots a step (slots past n hold 0: not keys).
    Value steps = k.divsi(k.add(n, k.c32(kBatch - 1)), k.c32(kBatch));
    SmallVector<Value> r = m.loop(
        steps, {k.c32(0), k.c32(0), k.c64(0)}, [&](Value i, ValueRange acc) {
          SmallVector<Value> keys;
          for (int64_t u = 0; u < kBatch; ++u)
            keys.push_back(k.loadAs(
                k.i64Type,
                shared(kList, k.i64Type,
                       k.add(k.mul(i, k.c32(kBatch)), k.c32(u)))));
          Value seen = acc[0], ownSeen = acc[1], found = acc[2];
          for (Value key : keys) {
            Value pos = positionOf(key);
            Value present =
                k.andi(nonzero(key), k.cmpi(ip(IPred::sle), pos, cEnd));
            seen = count(seen, present);
            ownSeen = count(
                ownSeen, k.andi(present, k.cmpi(ip(IPred::sge), pos, c0)));
            Value hit = k.andi(present, k.cmpi(ip(IPred::eq), seen, need));
            found = k.select(hit, key, found);
          }
          return SmallVector<Value>{seen, ownSeen, found};
        });
    return k.select(k.cmpi(ip(IPred::sgt), r[1], blockRoom), r[2],
                    k.c64(0));
  }

  /// Writes prefix end cEnd's tiebreak and threshold: the position and the
  /// score of `key`, or keep all when there is none (a null `key`, or 0).
  void store(Value inRow, Value cEnd, Value key) {
    Type tieType = c.indexElement;
    Value keepAll = k.intOf(tieType, tieType.isInteger(32)
                                         ? std::numeric_limits<int32_t>::max()
                                         : std::numeric_limits<int64_t>::max());
    Value ninf = k.f32(-std::numeric_limits<double>::infinity());
    k.ifThen(inRow, [&] {
      Value tie = keepAll, thr = ninf;
      if (key) {
        Value found = nonzero(key);
        Value pos = k.select(found, positionOf(key), k.c32(0));
        Value score = keyScore(m, c.padding, bi, h, pos).score;
        tie = k.select(found, tieType.isInteger(32) ? pos : k.sext64(pos),
                       keepAll);
        thr = k.select(found, score, ninf);
      }
      k.storeTo(tie, at("tiebreak", tieType, cEnd));
      k.storeTo(thr, at("threshold", k.f32Type, cEnd));
    });
  }
};

} // namespace

SmallVector<KernelParam>
mlir::dma::topkPerQueryKernelParams(const TopKKernelConfig &c) {
  SmallVector<KernelParam> p;
  addTopKParams(p, c, {"masked_score", "threshold", "tiebreak"});
  return p;
}

gpu::GPUFuncOp mlir::dma::emitTopKPerQueryKernel(OpBuilder &b, Location loc,
                                                 gpu::GPUModuleOp module,
                                                 StringRef name,
                                                 const TopKKernelConfig &c) {
  OpBuilder::InsertionGuard guard(b);
  SmallVector<KernelParam> params = topkPerQueryKernelParams(c);
  auto func = createKernelFunc(
      b, loc, module, name,
      {"topk_per_query", params,
       {"ceil(Lk/" + std::to_string(T) + ")", "Hkv", "B"}, T,
       kTopKPerQuerySharedBytes});
  func->setAttr("dma.block_m", b.getI64IntegerAttr(T));
  PerQueryEmitter(b, loc, func, params, c).emit();
  return func;
}
