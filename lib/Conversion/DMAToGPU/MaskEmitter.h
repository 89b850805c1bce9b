//===- MaskEmitter.h - what the mask-generation kernels share --*- C++ -*-===//
//
// The argument binding and index helpers of the kernels of
// convert-dma-mask-to-gpu (MaskKernels.cpp, TopKPerQueryKernel.cpp), and
// the top-k kernels' view of a key: its score and whether top-k may keep
// it.
//
//===----------------------------------------------------------------------===//

#ifndef DMA_LIB_CONVERSION_DMATOGPU_MASKEMITTER_H
#define DMA_LIB_CONVERSION_DMATOGPU_MASKEMITTER_H

#include "KernelBuilder.h"
#include "dma/Conversion/DMAToGPU/MaskKernels.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"

#include <map>
#include <string>

namespace mlir::dma {

/// The kernel's arguments by name, and the index helpers every mask kernel
/// uses. The constructor positions the builder in the kernel's entry block.
class MaskEmitter {
public:
  MaskEmitter(OpBuilder &b, Location loc, gpu::GPUFuncOp func,
              ArrayRef<KernelParam> params)
      : k(b, loc) {
    Block &entry = func.getBody().front();
    b.setInsertionPointToStart(&entry);
    for (auto [i, p] : llvm::enumerate(params))
      args[p.name] = entry.getArgument(i);
    tid = k.threadIdX();
  }

  KernelBuilder k;
  std::map<std::string, Value> args;
  Value tid;

  Value arg(const std::string &name) { return args.at(name); }
  Value ptr(const std::string &name) { return k.toGlobal(arg(name)); }
  Value strided(const std::string &t, const char *d, Value index) {
    return k.mul(k.sext64(index), arg(t + "_stride_" + d));
  }
  /// Element offset of [b, h, j] in a [B, H, L] tensor (L contiguous).
  Value bhj(const std::string &t, Value b, Value h, Value j) {
    return k.add(k.add(strided(t, "b", b), strided(t, "h", h)), k.sext64(j));
  }
  /// blockIdx.x * threads + threadIdx.x.
  Value globalX(int64_t threads) {
    return k.add(k.mul(k.blockId(0), k.c32(threads)), tid);
  }
  /// An i32 loop [0, n) (n i32) over `body`, carrying `init`.
  SmallVector<Value>
  loop(Value n, ValueRange init,
       function_ref<SmallVector<Value>(Value, ValueRange)> body) {
    return k.forLoop(
        k.index(0), k.i32ToIndex(n), init,
        [&](Value iv, ValueRange acc) { return body(k.indexToI32(iv), acc); });
  }
  Value count(Value acc, Value pred) {
    return k.add(acc, k.select(pred, k.c32(1), k.c32(0)));
  }
  void finish() { gpu::ReturnOp::create(k.builder(), k.location()); }
};

/// The score of key j of (b, h) and whether top-k may keep it (not NaN,
/// not padded).
struct KeyScore {
  Value score, allowed;
};

inline KeyScore keyScore(MaskEmitter &m, bool padding, Value b, Value h,
                         Value j) {
  KernelBuilder &k = m.k;
  Value s = k.loadAs(k.f32Type,
                     k.gep(m.ptr("score"), k.f32Type, m.bhj("score", b, h, j)));
  Value allowed = k.notb(k.isNaN(s));
  if (padding) {
    Value off = k.add(m.strided("padding", "b", b), k.sext64(j));
    Value byte = k.loadAs(k.i8Type, k.gep(m.ptr("padding"), k.i8Type, off));
    allowed =
        k.andi(allowed, k.cmpi(ip(IPred::ne), byte, k.intOf(k.i8Type, 0)));
  }
  return {s, allowed};
}

inline void addTopKParams(SmallVector<KernelParam> &p, const TopKKernelConfig &c,
                   ArrayRef<const char *> outputs) {
  using K = KernelParam;
  p.push_back({"score", K::Pointer});
  if (c.padding)
    p.push_back({"padding", K::Pointer});
  for (const char *o : outputs)
    p.push_back({o, K::Pointer});
  for (const char *n : {"B", "Hkv", "Lk", "W"})
    p.push_back({n, K::I32});
  p.push_back({"score_stride_b", K::I64});
  p.push_back({"score_stride_h", K::I64});
  if (c.padding)
    p.push_back({"padding_stride_b", K::I64});
  for (const char *o : outputs) {
    p.push_back({std::string(o) + "_stride_b", K::I64});
    p.push_back({std::string(o) + "_stride_h", K::I64});
  }
}


/// The shared-memory machinery of a radix select for a CTA of `threads`
/// (a multiple of 32, at least 256): `selections` (1 or 2) selections at
/// once, each with a 256-bin histogram of its candidates' current 8-bit
/// digit. A pass clears the histograms, counts every candidate's digit and
/// picks, per selection, the digit whose bin holds the rank-th best
/// candidate (bins counted from the top) and the rank left within it.
/// Layout from byte `base`: the histograms (1 KB each), per-warp sums of
/// the scan (two sets), the picked (digit, rank) pairs.
class RadixSelect {
public:
  static constexpr int64_t sharedBytes(int64_t threads, int64_t selections) {
    return selections * 1024 + 2 * (threads / 32) * 4 + selections * 8;
  }

  RadixSelect(KernelBuilder &k, Value smem, int64_t base, Value tid,
              int64_t threads, int64_t selections)
      : k(k), smem(smem), base(base), tid(tid), threads(threads),
        selections(selections) {
    lane = k.remsi(tid, k.c32(32));
    warp = k.divsi(tid, k.c32(32));
    below = k.sub(k.shli(k.c32(1), lane), k.c32(1));
  }

  /// Zeroes the histograms; a barrier follows.
  void clear() {
    for (int64_t sel = 0; sel < selections; ++sel)
      k.ifThen(k.cmpi(ip(IPred::slt), tid, k.c32(256)),
               [&] { k.storeTo(k.c32(0), bin(sel, tid)); });
    k.barrier();
  }

  /// Counts one candidate with digit `digit` (i32 in [0, 256)): one atomic
  /// per lane, for callers whose candidates spread over the bins.
  void countOne(int64_t sel, Value digit) {
    k.atomicAddI32(bin(sel, digit), k.c32(1));
  }

  /// Counts the warp's candidates: lanes where `isCandidate` holds, with
  /// digit `digit` (i32 in [0, 256)). Scores cluster in few bins (the top
  /// digit is mostly sign and exponent), and an atomic per lane serialises
  /// on the hot bin: the lanes of one digit are counted by one atomic from
  /// the lowest of them. Every lane of the warp must call it.
  void count(int64_t sel, Value digit, Value isCandidate) {
    Value peers = k.matchAny(k.select(isCandidate, digit, k.c32(-1)));
    Value lowest = k.cmpi(ip(IPred::eq), k.andi(peers, below), k.c32(0));
    k.ifThen(k.andi(isCandidate, lowest),
             [&] { k.atomicAddI32(bin(sel, digit), k.popc(peers)); });
  }

  /// After the counts (this starts with a barrier): per selection, the
  /// digit of its ranks[sel]-th best candidate and the rank left within
  /// that digit's bin, in every thread. `firstHistogram`: every selection
  /// reads selection 0's bins (a first pass, whose candidates are the same
  /// for all).
  SmallVector<std::pair<Value, Value>> pick(ArrayRef<Value> ranks,
                                            bool firstHistogram = false) {
    k.barrier();
    // Thread t < 256 holds bin 255 - t: the scan counts from the top.
    Value inBins = k.cmpi(ip(IPred::slt), tid, k.c32(256));
    Value top = k.sub(k.c32(255), k.select(inBins, tid, k.c32(0)));
    SmallVector<Value> n, incl;
    for (int64_t sel = 0; sel < selections; ++sel) {
      Value v = k.loadAs(k.i32Type, bin(firstHistogram ? 0 : sel, top));
      n.push_back(k.select(inBins, v, k.c32(0)));
    }
    incl = inclusiveScan(n);
    for (int64_t sel = 0; sel < selections; ++sel) {
      Value excl = k.sub(incl[sel], n[sel]);
      k.ifThen(k.andi(k.cmpi(ip(IPred::slt), excl, ranks[sel]),
                      k.cmpi(ip(IPred::sle), ranks[sel], incl[sel])),
               [&] {
                 k.storeTo(top, picked(sel, 0));
                 k.storeTo(k.sub(ranks[sel], excl), picked(sel, 1));
               });
    }
    k.barrier();
    SmallVector<std::pair<Value, Value>> out;
    for (int64_t sel = 0; sel < selections; ++sel)
      out.push_back({k.loadAs(k.i32Type, picked(sel, 0)),
                     k.loadAs(k.i32Type, picked(sel, 1))});
    return out;
  }

  /// The count in `digit`'s bin of the last pass (valid after pick()
  /// until the next clear()).
  Value binCount(int64_t sel, Value digit) {
    return k.loadAs(k.i32Type, bin(sel, digit));
  }

private:
  KernelBuilder &k;
  Value smem;
  int64_t base;
  Value tid, lane, warp, below;
  int64_t threads, selections;

  Value at(int64_t offset, Value index) {
    return k.gep(k.gep(smem, k.i8Type, k.c32(base + offset)), k.i32Type,
                 index);
  }
  Value bin(int64_t sel, Value digit) { return at(sel * 1024, digit); }
  Value warpSum(int64_t set, Value w) {
    return at(selections * 1024 + set * (threads / 32) * 4, w);
  }
  Value picked(int64_t sel, int64_t which) {
    return at(selections * 1024 + 2 * (threads / 32) * 4,
              k.c32(2 * sel + which));
  }

  /// Inclusive prefix sums over the threads of each value.
  SmallVector<Value> inclusiveScan(SmallVector<Value> x) {
    x = k.warpInclusiveSums(std::move(x), lane);
    k.ifThen(k.cmpi(ip(IPred::eq), lane, k.c32(31)), [&] {
      for (size_t i = 0; i < x.size(); ++i)
        k.storeTo(x[i], warpSum(i, warp));
    });
    k.barrier();
    for (int64_t w = 0; w + 1 < threads / 32; ++w) {
      Value earlier = k.cmpi(ip(IPred::sgt), warp, k.c32(w));
      for (size_t i = 0; i < x.size(); ++i)
        x[i] = k.add(x[i], k.select(earlier,
                                    k.loadAs(k.i32Type, warpSum(i, k.c32(w))),
                                    k.c32(0)));
    }
    return x;
  }
};

} // namespace mlir::dma

#endif
