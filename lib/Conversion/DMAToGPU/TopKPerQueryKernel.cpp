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
//     over [0, c0) (8 passes of 8-bit digits, both selections at once,
//     histograms in shared memory);
//  2. gathers the keys of A between them (at most T + 1) and the block's
//     keys (at most T) into shared memory and sorts them (each key's rank
//     by counting: the list is short);
//  3. walks the sorted list per prefix end c (a thread each), counting the
//     keys at positions <= c: the (w - s)-th is the answer.
// The work is O(c0) per CTA instead of the O(Lk) per prefix end of a
// rank-by-counting walk: O(Lk^2 / T) per row, with every CTA independent.
// When |A| + T <= w the whole block keeps all its prefixes' keys.
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
// per-warp sums of blockSum, the list's length, then the gathered and the
// sorted list.
constexpr int64_t kRadix = 0;
constexpr int64_t kWarpSums = kRadix + RadixSelect::sharedBytes(T, 2);
constexpr int64_t kCount = kWarpSums + 4 * kWarps;
constexpr int64_t kList = 2176, kSorted = kList + 8 * kTopKListSlots;
static_assert(kCount + 4 <= kList, "the shared layout overlaps");
static_assert(kSorted + 8 * kTopKListSlots == kTopKPerQuerySharedBytes,
              "MaskKernels.h states the kernel's shared memory");

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
    Value allowedBefore = blockSum(overPrior(blocks, {k.c32(0)},
                                             [&](Value key, ValueRange acc) {
      return SmallVector<Value>{count(acc[0], nonzero(key))};
    })[0]);
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
                auto [hi, lo] = select(blocks, k.add(s, k.c32(1)),
                                       k.minsi(W, allowedBefore));
                return SmallVector<Value>{hi, lo};
              });
          Value n = gather(blocks, c0, bounds[0], bounds[1]);
          sortList(n);
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
  /// takes keys t, t + T, ... (all below c0, hence below Lk).
  SmallVector<Value>
  overPrior(Value blocks, ValueRange init,
            function_ref<SmallVector<Value>(Value, ValueRange)> body) {
    return m.loop(blocks, init, [&](Value i, ValueRange acc) {
      return body(keyOf(k.add(k.mul(i, k.c32(T)), tid)), acc);
    });
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

  /// The keys of A at ranks rankHi and rankLo (1 = the best): a radix
  /// select, one 8-bit digit per pass from the top, both at once. An
  /// atomic per candidate: the warp-aggregated count measured slower here
  /// (45 against 37 us at L = 4096, run 33).
  std::pair<Value, Value> select(Value blocks, Value rankHi, Value rankLo) {
    RadixSelect radix(k, smem, kRadix, tid, T, 2);
    Value prefixHi = k.c64(0), prefixLo = k.c64(0);
    for (int64_t pass = 0; pass < 8; ++pass) {
      int64_t shift = 56 - 8 * pass;
      radix.clear();
      // Keys whose digits above this one are the selection's so far.
      auto matches = [&](Value key, Value prefix) {
        if (pass == 0)
          return nonzero(key);
        return k.andi(nonzero(key), k.cmpi(ip(IPred::eq), shr64(key, shift + 8),
                                           shr64(prefix, shift + 8)));
      };
      overPrior(blocks, {}, [&](Value key, ValueRange) {
        Value digit = trunc32(k.andi(shr64(key, shift), k.c64(255)));
        k.ifThen(matches(key, prefixHi), [&] { radix.countOne(0, digit); });
        k.ifThen(matches(key, prefixLo), [&] { radix.countOne(1, digit); });
        return SmallVector<Value>{};
      });
      auto picked = radix.pick({rankHi, rankLo});
      prefixHi = k.ori(prefixHi,
                       k.shli(zext64(picked[0].first), k.c64(shift)));
      prefixLo = k.ori(prefixLo,
                       k.shli(zext64(picked[1].first), k.c64(shift)));
      rankHi = picked[0].second;
      rankLo = picked[1].second;
    }
    return {prefixHi, prefixLo};
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

  /// The list in descending order into the sorted slots: each key's rank
  /// is the number of larger keys (all distinct).
  void sortList(Value n) {
    for (int64_t part = 0; part * T < kTopKListSlots; ++part) {
      Value i = k.add(tid, k.c32(part * T));
      k.ifThen(k.cmpi(ip(IPred::slt), i, n), [&] {
        Value key = k.loadAs(k.i64Type, shared(kList, k.i64Type, i));
        Value rank = m.loop(n, {k.c32(0)}, [&](Value x, ValueRange acc) {
          Value other = k.loadAs(k.i64Type, shared(kList, k.i64Type, x));
          return SmallVector<Value>{
              count(acc[0], k.cmpi(ip(IPred::ugt), other, key))};
        })[0];
        k.storeTo(key, shared(kSorted, k.i64Type, rank));
      });
    }
    k.barrier();
  }

  /// The need-th key of the sorted list at a position <= cEnd, or 0 when
  /// the prefix [0, cEnd] keeps all: at most w allowed keys, that is at
  /// most w - |A| = `blockRoom` of the block's (positions >= c0).
  Value walk(Value n, Value c0, Value cEnd, Value need, Value blockRoom) {
    SmallVector<Value> r = m.loop(
        n, {k.c32(0), k.c32(0), k.c64(0)}, [&](Value i, ValueRange acc) {
          Value key = k.loadAs(k.i64Type, shared(kSorted, k.i64Type, i));
          Value pos = positionOf(key);
          Value present = k.cmpi(ip(IPred::sle), pos, cEnd);
          Value seen = count(acc[0], present);
          Value ownSeen = count(
              acc[1], k.andi(present, k.cmpi(ip(IPred::sge), pos, c0)));
          Value hit = k.andi(present, k.cmpi(ip(IPred::eq), seen, need));
          return SmallVector<Value>{seen, ownSeen,
                                    k.select(hit, key, acc[2])};
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
  auto func = createKernelFunc(b, loc, module, name, params, T,
                               kTopKPerQuerySharedBytes, "topk_per_query");
  func->setAttr("dma.block_m", b.getI64IntegerAttr(T));
  PerQueryEmitter(b, loc, func, params, c).emit();
  return func;
}
