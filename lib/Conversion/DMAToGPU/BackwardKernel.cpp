//===- BackwardKernel.cpp - the generated attention backward --------------===//
//
// The main kernel, per CTA = (key tile kt, query head h, batch b), warp w
// owning keys [16 w, 16 w + 16) of the tile, each thread two of them (gid,
// gid + 8):
//
//   load the key positions, K and V of the tile (cp.async, swizzled)
//   for each query tile that sees a key of the tile:
//     (Q, dO, LSE, Delta of the next tile are copied meanwhile)
//     S^T  = K Q^T                      mma: A = K (ldmatrix), B = Q
//     P^T  = exp(logit - LSE), 0 where the key is invisible
//     dP^T = V dO^T                     mma: A = V, B = dO
//     dS^T = P^T (dP^T - Delta)         (times the soft cap's derivative)
//     dV  += P^T dO                     A = P^T repacked from registers
//     dK  += dS^T Q
//     dBias += dS^T, reduced over the bias's broadcast dimensions (atomics)
//     dS^T -> shared memory; dQ += dS K for the tile's queries (atomics)
//   dK *= scale; add dK, dV at the keys' positions (f32 accumulators: the
//   query heads of a KV group add to the same rows)
//
// Everything is in the transposed (key-major) orientation so that dK and dV
// accumulate in the registers of the warp that owns the keys. This file
// holds the configuration, the ABI, the prologue and the walk's steps shared
// by both main loops: the key-rows loop above (BackwardKeyRows.cpp, one
// method per tile op) and the warp grid (BackwardWarpGrid.cpp).
//
//===----------------------------------------------------------------------===//

#include "BackwardEmitter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"

#include <limits>

using namespace mlir;
using namespace mlir::dma;

//===----------------------------------------------------------------------===//
// Configuration and ABI
//===----------------------------------------------------------------------===//

LogicalResult mlir::dma::verifyBackward(
    const ForwardKernelConfig &c, function_ref<InFlightDiagnostic()> emitError) {
  if (!c.element || !(c.element.isBF16() || c.element.isF16()))
    return emitError() << "the GPU kernels take bf16 or f16 q/k/v (use the "
                          "CPU pipeline for f32)";
  if (c.blockN % 16 || c.blockN < 16 || c.blockN > 128)
    return emitError() << "the backward's k-tile must be a multiple of 16 up "
                          "to 128, got "
                       << c.blockN;
  if (c.blockM % 16 || c.blockM < 16 || c.blockM > 128)
    return emitError() << "the backward's q-tile must be a multiple of 16 up "
                          "to 128, got "
                       << c.blockM;
  for (int64_t d : {c.headDim, c.valueDim})
    if (d % 16 || d < 16 || d > 256)
      return emitError() << "head dims must be multiples of 16 up to 256 for "
                            "the GPU, got "
                         << d;
  int64_t warps = c.blockN / 16;
  if (!useWarpGridBackward(c) && (c.headDim / 8) % warps)
    return emitError() << "the backward splits dQ's " << c.headDim / 8
                       << " column tiles over " << warps
                       << " warps: use a k-tile of at most "
                       << c.headDim / 8 * 16 / 2 << " or another head dim";
  if (c.mask == MaskKind::SharedTopK && !c.gathered)
    return emitError() << "a shared top-k mask must be gathered "
                          "(dma-gather-keys) for the GPU";
  if (c.rankChunk > kMaxRankChunk)
    return emitError() << "the ranked chunk (" << c.rankChunk
                       << " keys) must be sorted in shared memory: use a "
                          "rank-chunk of at most "
                       << kMaxRankChunk << " in dma-gather-keys";
  if (c.rankChunk && c.rankChunk % c.blockN)
    return emitError() << "the ranked chunk (" << c.rankChunk
                       << " keys) must be a multiple of the k-tile ("
                       << c.blockN << ")";
  if (c.rankChunk && rankSortBytes(c) > backwardSharedBytes(c) -
                                            backwardQueryOffset(c))
    return emitError() << "a ranked chunk of " << c.rankChunk
                       << " keys needs " << rankSortBytes(c)
                       << " bytes of shared memory to sort; the backward "
                          "has "
                       << backwardSharedBytes(c) - backwardQueryOffset(c)
                       << " (use a smaller rank-chunk in dma-gather-keys)";
  if (backwardSharedBytes(c) > 227 * 1024)
    return emitError() << "the backward's tiles need "
                       << backwardSharedBytes(c)
                       << " bytes of shared memory; at most 232448 exist";
  return success();
}

bool mlir::dma::useWarpGridBackward(const ForwardKernelConfig &c) {
  // Two query groups of 32 and key groups of 32; dK and dV (32 keys x half
  // the columns each) must fit in registers, dQ's column slices must be
  // whole 16-column ldmatrix tiles. Deterministic mode keeps the key-rows
  // loop, whose turns it is written for.
  if (c.deterministic || c.blockM != 64 || c.blockN % 32)
    return false;
  int64_t keyGroups = c.blockN / 32;
  return c.headDim % 32 == 0 && c.valueDim % 32 == 0 &&
         c.headDim + c.valueDim <= 256 && c.headDim % (16 * keyGroups) == 0;
}

int64_t mlir::dma::backwardQueryOffset(const ForwardKernelConfig &c) {
  return c.blockN * (c.headDim + c.valueDim) * 2 + c.blockN * 4;
}

int64_t mlir::dma::rankSortBytes(const ForwardKernelConfig &c) {
  return static_cast<int64_t>(llvm::PowerOf2Ceil(c.rankChunk)) * 8;
}

int64_t mlir::dma::backwardSharedBytes(const ForwardKernelConfig &c) {
  int64_t bn = c.blockN, bm = c.blockM;
  int64_t kv = backwardQueryOffset(c); // K, V and the key positions
  int64_t queries = 2 * bm * (c.headDim + c.valueDim) * 2 + 2 * 2 * bm * 4;
  // dS^T, and P^T in the warp grid.
  int64_t scores = bn * bm * 2 * (useWarpGridBackward(c) ? 2 : 1);
  return kv + queries + scores;
}

SmallVector<KernelParam>
mlir::dma::backwardKernelParams(const ForwardKernelConfig &c) {
  using K = KernelParam;
  SmallVector<KernelParam> p;
  for (const char *n : {"q", "k", "v", "do", "lse", "delta", "dq", "dk", "dv"})
    p.push_back({n, K::Pointer});
  if (c.biasElement) {
    p.push_back({"bias", K::Pointer});
    p.push_back({"dbias", K::Pointer});
  }
  if (c.mask == MaskKind::Dense)
    p.push_back({"mask", K::Pointer});
  if (c.blockSkip)
    addMaskSummaryParams(p);
  if (c.mask == MaskKind::SharedTopK)
    p.push_back({"keep", K::Pointer});
  if (c.mask == MaskKind::PerQueryTopK) {
    p.push_back({"keep_score", K::Pointer});
    p.push_back({"keep_threshold", K::Pointer});
    p.push_back({"keep_tiebreak", K::Pointer});
  }
  for (const char *n : {"B", "Lq", "Lk", "H", "Hkv"})
    p.push_back({n, K::I32});
  p.push_back({"scale", K::F32});
  if (c.softcap > 0.0)
    p.push_back({"softcap", K::F32});
  for (const char *t : {"q", "k", "v", "do", "dq", "dk", "dv"})
    for (const char *d : {"b", "l", "h"})
      p.push_back({std::string(t) + "_stride_" + d, K::I64});
  for (const char *t : {"lse", "delta"})
    for (const char *d : {"b", "h"})
      p.push_back({std::string(t) + "_stride_" + d, K::I64});
  auto broadcast4 = [&](const std::string &t) {
    p.push_back({t + "_heads", K::I32});
    for (const char *d : {"b", "h", "q", "k"})
      p.push_back({t + "_stride_" + d, K::I64});
  };
  if (c.biasElement) {
    broadcast4("bias");
    broadcast4("dbias");
  }
  if (c.mask == MaskKind::Dense)
    broadcast4("mask");
  if (c.mask == MaskKind::SharedTopK) {
    p.push_back({"keep_heads", K::I32});
    p.push_back({"keep_w", K::I32});
    p.push_back({"keep_stride_b", K::I64});
    p.push_back({"keep_stride_h", K::I64});
  }
  if (c.mask == MaskKind::PerQueryTopK) {
    p.push_back({"keep_rows_heads", K::I32});
    p.push_back({"keep_rows_stride_b", K::I64});
    p.push_back({"keep_rows_stride_h", K::I64});
  }
  if (c.deterministic) {
    // Zeroed i32 semaphores: [B, H, ceil(Lq / blockM)] for dQ, [B, Hkv,
    // key tiles] for dK, dV and dBias.
    p.push_back({"sem_dq", K::Pointer});
    p.push_back({"sem_dkv", K::Pointer});
  }
  return p;
}

SmallVector<KernelParam> mlir::dma::deltaKernelParams() {
  using K = KernelParam;
  SmallVector<KernelParam> p = {{"do", K::Pointer}, {"o", K::Pointer},
                                {"delta", K::Pointer}, {"B", K::I32},
                                {"Lq", K::I32},        {"H", K::I32}};
  for (const char *t : {"do", "o"})
    for (const char *d : {"b", "l", "h"})
      p.push_back({std::string(t) + "_stride_" + d, K::I64});
  p.push_back({"delta_stride_b", K::I64});
  p.push_back({"delta_stride_h", K::I64});
  return p;
}

//===----------------------------------------------------------------------===//
// The main kernel
//===----------------------------------------------------------------------===//

void BackwardEmitter::loadQueryTile(Value it, Value stage, Value qtStart) {
  Value hq = h, q0 = firstRow(it, qtStart);
  int64_t bm = cfg.blockM, d = cfg.headDim, dv = cfg.valueDim;
  auto rows = [&](const char *t) {
    return [&, t](Value row, Value &valid) {
      Value pos = k.add(q0, row);
      valid = k.cmpi(ip(IPred::slt), pos, Lq);
      Value safe = k.select(valid, pos, k.c32(0));
      return k.add(k.add(strided(t, "b", b), strided(t, "h", hq)),
                   strided(t, "l", safe));
    };
  };
  copyRows("q", bm, d,
           sharedAt(qOff, k.mul(stage, k.c32(bm * d * 2))), rows("q"));
  copyRows("do", bm, dv,
           sharedAt(doOff, k.mul(stage, k.c32(bm * dv * 2))), rows("do"));
  // LSE and Delta of the rows, 4 bytes each.
  for (const char *t : {"lse", "delta"}) {
    int64_t base = std::string(t) == "lse" ? lseOff : deltaOff;
    for (int64_t r0 = 0; r0 < bm; r0 += cfg.threads()) {
      Value row = k.add(tid, k.c32(r0));
      k.ifThen(k.cmpi(ip(IPred::slt), row, k.c32(bm)), [&] {
        Value pos = k.add(q0, row);
        Value valid = k.cmpi(ip(IPred::slt), pos, Lq);
        Value off = k.add(k.add(strided(t, "b", b), strided(t, "h", hq)),
                          k.sext64(k.select(valid, pos, k.c32(0))));
        Value dst = sharedAt(base, k.mul(k.add(k.mul(stage, k.c32(bm)), row),
                                         k.c32(4)));
        k.cpAsync4(dst, k.gep(ptrArg(t), k.f32Type, off),
                   k.select(valid, k.c32(4), k.c32(0)));
      });
    }
  }
}

void BackwardEmitter::prologue() {
  setUp(backwardKernelParams(cfg));
  int64_t bm = cfg.blockM, bn = cfg.blockN, d = cfg.headDim, dv = cfg.valueDim;
  kOff = 0;
  vOff = kOff + bn * d * 2;
  posOff = vOff + bn * dv * 2;
  qOff = posOff + bn * 4;
  doOff = qOff + 2 * bm * d * 2;
  lseOff = doOff + 2 * bm * dv * 2;
  deltaOff = lseOff + 2 * bm * 4;
  dsOff = deltaOff + 2 * bm * 4;
  pOff = dsOff + bn * bm * 2; // the warp grid's P^T

  kt = k.blockId(0);
  h = k.blockId(1);
  b = k.blockId(2);
  group = k.maxsi(k.divsi(H, k.maxsi(Hkv, k.c32(1))), k.c32(1));
  g = k.divsi(h, group);
  zero32 = k.c32(0);
  hoistHeadRows();

  // Key positions, K and V of the tile.
  Value rankedStart, rankedTotal;
  if (cfg.rankChunk) {
    std::tie(rankedStart, rankedTotal) = rankKeyTile();
  } else {
    for (int64_t r0 = 0; r0 < bn; r0 += cfg.threads()) {
      Value row = k.add(tid, k.c32(r0));
      k.ifThen(k.cmpi(ip(IPred::slt), row, k.c32(bn)), [&] {
        if (cfg.gathered) // once per entry, outside the main loop
          assertKeepList(keepListBroken(kt, row));
        k.storeTo(keyPosition(kt, row),
                  k.gep(smem, k.i32Type, k.add(k.c32(posOff / 4), row)));
      });
    }
  }
  auto keyRows = [&](const char *t) {
    return [&, t](Value row, Value &valid) {
      Value pos = cfg.rankChunk
                      ? k.loadAs(k.i32Type,
                                 k.gep(smem, k.i32Type,
                                       k.add(k.c32(posOff / 4), row)))
                      : keyPosition(kt, row);
      valid = k.cmpi(ip(IPred::sge), pos, zero32);
      return k.add(k.add(strided(t, "b", b), strided(t, "h", g)),
                   strided(t, "l", k.select(valid, pos, zero32)));
    };
  };
  copyRows("k", bn, d, sharedAt(kOff, zero32), keyRows("k"));
  copyRows("v", bn, dv, sharedAt(vOff, zero32), keyRows("v"));
  k.cpAsyncCommit();
  k.barrier(); // the positions

  // The query tiles that see a key of the tile: from the one holding the
  // first key's causal row on (positions ascend within a tile).
  Value pos0 = k.loadAs(k.i32Type, k.gep(smem, k.i32Type, k.c32(posOff / 4)));
  nQT = k.divsi(k.add(Lq, k.c32(bm - 1)), k.c32(bm));
  if (cfg.rankChunk) {
    qtStart = rankedStart;
    total = rankedTotal;
  } else {
    qtStart = cfg.causal ? k.divsi(k.maxsi(k.sub(pos0, keyOffset), zero32),
                                   k.c32(bm))
                         : zero32;
    total = k.select(k.cmpi(ip(IPred::sge), pos0, zero32),
                     k.maxsi(k.sub(nQT, qtStart), zero32), zero32);
  }

  Value firstLoad = k.cmpi(ip(IPred::sgt), total, zero32);
  if (cfg.blockSkip) {
    // state[Mb, Mh, qt, kt]: the rows of successive query tiles are nKT
    // apart.
    skipStride = k.sext64(summaryKeyTiles(bn));
    skipBase = k.add(k.mul(k.sext64(summaryRow(zero32, bm)), skipStride),
                     k.sext64(kt));
    SmallVector<Value> states = k.ifElse(
        firstLoad, {k.i32Type, k.i32Type},
        [&] {
          return SmallVector<Value>{stepState(zero32),
                                    stepState(k.c32(1))};
        },
        [&] { return SmallVector<Value>{zero32, zero32}; });
    firstStates[0] = states[0];
    firstStates[1] = states[1];
    firstLoad = k.andi(firstLoad, k.cmpi(ip(IPred::ne), states[0], zero32));
  }
  k.ifThen(firstLoad, [&] { loadQueryTile(zero32, zero32, qtStart); });
  k.cpAsyncCommit();

  lastKey = k.loadAs(k.i32Type,
                     k.gep(smem, k.i32Type, k.c32(posOff / 4 + bn - 1)));
}

std::pair<Value, Value> BackwardEmitter::rankKeyTile() {
  int64_t bn = cfg.blockN, bm = cfg.blockM, threads = cfg.threads();
  int64_t chunk = cfg.rankChunk;
  int64_t slots = rankSortBytes(cfg) / 8; // a power of two >= chunk
  int64_t sortOff = qOff;                 // free until the first query tile
  OpBuilder &ob = k.builder();
  Location loc = k.location();
  auto zext64 = [&](Value v) {
    return arith::ExtUIOp::create(ob, loc, k.i64Type, v).getResult();
  };
  auto slot = [&](Value i) {
    return k.gep(smem, k.i64Type, k.add(k.c32(sortOff / 8), i));
  };
  // The tile's chunk and its rank offset in it.
  Value first = k.mul(kt, k.c32(bn));
  Value c0 = k.mul(k.divsi(first, k.c32(chunk)), k.c32(chunk));
  Value lo = k.sub(first, c0);

  // One u64 per chunk key, larger first in the order of
  // dma.tile.ranked_keys: the score's bits made monotone as unsigned
  // (-0 as +0, NaN as 0, below -inf) above the complemented position
  // (equal scores: lower position first); 0 for no key.
  for (int64_t e0 = 0; e0 < slots; e0 += threads) {
    Value e = k.add(tid, k.c32(e0));
    k.ifThen(k.cmpi(ip(IPred::slt), e, k.c32(slots)), [&] {
      Value pos = k.add(c0, e);
      Value valid = k.andi(k.cmpi(ip(IPred::slt), e, k.c32(chunk)),
                           k.cmpi(ip(IPred::slt), pos, Lk));
      Value key = k.ifElse(
          valid, {k.i64Type},
          [&] {
            Value sc = k.fadd(keepScoreAt(pos), k.f32(0.0));
            Value bits = k.bitcast(k.i32Type, sc);
            Value negative = k.cmpi(ip(IPred::slt), bits, zero32);
            Value mono = k.select(negative, k.xori(bits, k.c32(-1)),
                                  k.ori(bits, k.c32(INT32_MIN)));
            mono = k.select(k.cmpf(fpr(FPred::UNO), sc, sc), zero32, mono);
            Value hi = k.shli(zext64(mono), k.c64(32));
            return SmallVector<Value>{
                k.ori(hi, zext64(k.xori(pos, k.c32(-1))))};
          },
          [&] { return SmallVector<Value>{k.c64(0)}; })[0];
      k.storeTo(key, slot(e));
    });
  }
  k.barrier();
  // Bitonic sort, descending: pair (i, i + stride) of each block of `size`
  // goes descending where i & size is 0 (always, for the last size).
  for (int64_t size = 2; size <= slots; size *= 2)
    for (int64_t stride = size / 2; stride > 0; stride /= 2) {
      for (int64_t p0 = 0; p0 < slots / 2; p0 += threads) {
        Value p = k.add(tid, k.c32(p0));
        k.ifThen(k.cmpi(ip(IPred::slt), p, k.c32(slots / 2)), [&] {
          Value i = k.add(k.mul(k.divsi(p, k.c32(stride)), k.c32(2 * stride)),
                          k.remsi(p, k.c32(stride)));
          Value j = k.add(i, k.c32(stride));
          Value a = k.loadAs(k.i64Type, slot(i));
          Value c = k.loadAs(k.i64Type, slot(j));
          Value descending =
              size == slots
                  ? k.boolean(true)
                  : k.cmpi(ip(IPred::eq), k.andi(i, k.c32(size)), zero32);
          Value swap = k.select(descending, k.cmpi(ip(IPred::ult), a, c),
                                k.cmpi(ip(IPred::ugt), a, c));
          k.ifThen(swap, [&] {
            k.storeTo(c, slot(i));
            k.storeTo(a, slot(j));
          });
        });
      }
      k.barrier();
    }
  // The tile's slice: ranks lo .. lo + bn - 1.
  for (int64_t r0 = 0; r0 < bn; r0 += threads) {
    Value row = k.add(tid, k.c32(r0));
    k.ifThen(k.cmpi(ip(IPred::slt), row, k.c32(bn)), [&] {
      Value key = k.loadAs(k.i64Type, slot(k.add(lo, row)));
      Value low = arith::TruncIOp::create(ob, loc, k.i32Type, key);
      Value pos = k.select(k.cmpi(ip(IPred::eq), key, k.c64(0)), k.c32(-1),
                           k.xori(low, k.c32(-1)));
      k.storeTo(pos, k.gep(smem, k.i32Type, k.add(k.c32(posOff / 4), row)));
    });
  }
  k.barrier();

  // Warp 0 finds the rows that may keep a key of the tile. Entry 0 is its
  // best key: any prefix keeping another key of the tile passes the best
  // one's score too, so the prefixes from the tile's first key to the last
  // one the best key passes cover every kept element (thresholds only grow
  // with the prefix: a 32-way search).
  int64_t rangeOff = sortOff; // the sort is done with
  k.ifThen(k.cmpi(ip(IPred::eq), warp, zero32), [&] {
    Value firstKey = k.c32(INT32_MAX);
    for (int64_t r0 = 0; r0 < bn; r0 += 32) {
      Value row = k.add(lane, k.c32(r0));
      Value pos = k.ifElse(
          k.cmpi(ip(IPred::slt), row, k.c32(bn)), {k.i32Type},
          [&] {
            return SmallVector<Value>{k.loadAs(
                k.i32Type,
                k.gep(smem, k.i32Type, k.add(k.c32(posOff / 4), row)))};
          },
          [&] { return SmallVector<Value>{k.c32(-1)}; })[0];
      firstKey = k.select(k.cmpi(ip(IPred::sge), pos, zero32),
                          k.minsi(firstKey, pos), firstKey);
    }
    for (int offset : {16, 8, 4, 2, 1})
      firstKey = k.minsi(firstKey, k.shuffleXor(firstKey, offset));
    Value best = k.loadAs(k.i32Type, k.gep(smem, k.i32Type, k.c32(posOff / 4)));
    Value any = k.cmpi(ip(IPred::sge), best, zero32);
    Value bestScore = k.ifElse(
        any, {k.f32Type},
        [&] { return SmallVector<Value>{keepScoreAt(best)}; },
        [&] { return SmallVector<Value>{k.f32(0.0)}; })[0];
    auto passes = [&](Value prefix) {
      auto [thr, tie] = thresholdAt(prefix);
      return passesThreshold(bestScore, best, thr, tie);
    };
    Value top = k.sub(Lk, k.c32(1));
    SmallVector<Value> range;
    if (!cfg.causal) {
      // Every row has the whole sequence as its prefix.
      Value kept = k.ifElse(
          any, {k.i1Type}, [&] { return SmallVector<Value>{passes(top)}; },
          [&] { return SmallVector<Value>{k.boolean(false)}; })[0];
      range = {zero32, k.select(kept, Lq, zero32)};
    } else {
      Value pmin = k.select(any, firstKey, zero32);
      Value kept = k.ifElse(
          any, {k.i1Type}, [&] { return SmallVector<Value>{passes(pmin)}; },
          [&] { return SmallVector<Value>{k.boolean(false)}; })[0];
      // [lo, hi): passes(lo), not from hi on (hi = Lk: no such prefix).
      Value last = k.ifElse(
          kept, {k.i32Type},
          [&] {
            SmallVector<Value> lh = k.whileLoop(
                {pmin, Lk},
                [&](ValueRange r) {
                  return std::make_pair(
                      k.cmpi(ip(IPred::sgt), k.sub(r[1], r[0]), k.c32(1)),
                      SmallVector<Value>(r));
                },
                [&](ValueRange r) {
                  Value step = k.divsi(k.add(k.sub(r[1], r[0]), k.c32(31)),
                                       k.c32(32));
                  Value probe =
                      k.add(r[0], k.mul(k.add(lane, k.c32(1)), step));
                  Value inside = k.cmpi(ip(IPred::slt), probe, r[1]);
                  Value pass = k.ifElse(
                      inside, {k.i1Type},
                      [&] { return SmallVector<Value>{passes(probe)}; },
                      [&] { return SmallVector<Value>{k.boolean(false)}; })[0];
                  Value m = k.popc(k.ballot(pass));
                  Value nlo = k.add(r[0], k.mul(m, step));
                  Value nhi = k.minsi(
                      r[1], k.add(r[0], k.mul(k.add(m, k.c32(1)), step)));
                  return SmallVector<Value>{nlo, nhi};
                });
            return SmallVector<Value>{lh[0]};
          },
          [&] { return SmallVector<Value>{k.c32(-1)}; })[0];
      Value firstRow = k.maxsi(k.sub(pmin, keyOffset), zero32);
      Value endRow = k.minsi(k.add(k.sub(last, keyOffset), k.c32(1)), Lq);
      range = {firstRow, k.select(kept, k.maxsi(endRow, firstRow), firstRow)};
    }
    Value qt0 = k.divsi(range[0], k.c32(bm));
    Value qt1 = k.divsi(k.add(range[1], k.c32(bm - 1)), k.c32(bm));
    Value n = k.select(k.cmpi(ip(IPred::slt), range[0], range[1]),
                       k.sub(qt1, qt0), zero32);
    k.ifThen(k.cmpi(ip(IPred::eq), lane, zero32), [&] {
      k.storeTo(qt0, k.gep(smem, k.i32Type, k.c32(rangeOff / 4)));
      k.storeTo(n, k.gep(smem, k.i32Type, k.c32(rangeOff / 4 + 1)));
    });
  });
  k.barrier();
  Value qt0 = k.loadAs(k.i32Type, k.gep(smem, k.i32Type, k.c32(rangeOff / 4)));
  Value n =
      k.loadAs(k.i32Type, k.gep(smem, k.i32Type, k.c32(rangeOff / 4 + 1)));
  // Every thread has read them before the first query tile's copy lands
  // there.
  k.barrier();
  return {qt0, n};
}

Value BackwardEmitter::stepState(Value it) {
  // Past the walk (the look-ahead of its last steps): the last step's.
  Value last = k.maxsi(k.sub(total, k.c32(1)), zero32);
  Value qt = k.add(qtStart, k.minsi(it, last));
  return k.loadAs(k.i32Type,
                  k.gep(ptrArg("mask_state"), k.i32Type,
                        k.add(skipBase, k.mul(k.sext64(qt), skipStride))));
}

void BackwardEmitter::appendSkipCarry(SmallVector<Value> &init) {
  if (cfg.blockSkip)
    init.append({firstStates[0], firstStates[1]});
}

std::pair<Value, Value> BackwardEmitter::dqTurnOfStep(Value it,
                                                      Value &lastVisitor) {
  Value qt = k.add(qtStart, it);
  Value idx = k.add(k.mul(k.add(k.mul(b, H), h), nQT), qt);
  Value sem = k.gep(ptrArg("sem_dq"), k.i32Type, k.sext64(idx));
  return {sem, dqTurn(qt, lastVisitor)};
}

SmallVector<Value>
BackwardEmitter::runStep(const Step &step, ValueRange st,
                         function_ref<SmallVector<Value>()> body) {
  SmallVector<Value> out;
  if (!cfg.blockSkip) {
    out = body();
  } else {
    out = k.ifElse(step.active, TypeRange(st), body, [&] {
      // An empty block: nothing to add, but the deterministic dQ rows go
      // in turns every visiting key tile takes.
      if (cfg.deterministic) {
        Value noVisitor; // (tracked for gathered lists only)
        auto [sem, turn] = dqTurnOfStep(step.it, noVisitor);
        waitTurn(sem, turn);
        passTurn(sem, turn);
      }
      return SmallVector<Value>(st);
    });
  }
  out.append(step.carry);
  return out;
}

SmallVector<Value> BackwardEmitter::walkQueryTiles(
    SmallVector<Value> init,
    function_ref<SmallVector<Value>(const Step &, ValueRange)> body) {
  size_t carried = init.size();
  appendSkipCarry(init);
  SmallVector<Value> fin = k.forLoop(
      k.index(0), k.i32ToIndex(total), init, [&](Value itIdx, ValueRange all) {
        Step step = beginStep(itIdx, all.drop_front(carried));
        ValueRange st = all.take_front(carried);
        return runStep(step, st, [&] { return body(step, st); });
      });
  fin.resize(carried);
  k.cpAsyncWaitAll();
  return fin;
}

BackwardEmitter::Step BackwardEmitter::beginStep(Value itIdx, ValueRange skip) {
  Step s;
  s.it = k.indexToI32(itIdx);
  s.stage = k.remsi(s.it, k.c32(2));
  // This step's tiles have landed and every warp is done with the previous
  // step's: the other buffer takes the next step's copy.
  k.cpAsyncWaitAll();
  k.barrier();
  Value next = k.add(s.it, k.c32(1));
  Value loadNext = k.cmpi(ip(IPred::slt), next, total);
  if (cfg.blockSkip) {
    // Steps of empty blocks are neither copied nor computed.
    s.active = k.cmpi(ip(IPred::ne), skip[0], zero32);
    s.blockFull = k.cmpi(ip(IPred::eq), skip[0], k.c32(2));
    loadNext = k.andi(loadNext, k.cmpi(ip(IPred::ne), skip[1], zero32));
    s.carry = {skip[1], stepState(k.add(s.it, k.c32(2)))};
  }
  k.ifThen(loadNext, [&] {
    loadQueryTile(next, k.sub(k.c32(1), s.stage), qtStart);
  });
  k.cpAsyncCommit();
  s.q0 = firstRow(s.it, qtStart);
  s.qStage = k.mul(s.stage, k.c32(cfg.blockM * cfg.headDim * 2));
  s.doStage = k.mul(s.stage, k.c32(cfg.blockM * cfg.valueDim * 2));
  return s;
}

Value BackwardEmitter::fullStep(Value q0, Value blockFull) {
  // All elements are visible when every key and query exists, the keys lie
  // below the first query's causal diagonal and no mask is per element
  // (or the summary says the mask keeps the whole block).
  if (cfg.mask != MaskKind::None && cfg.mask != MaskKind::SharedTopK &&
      !cfg.blockSkip)
    return k.boolean(false);
  Value full = k.andi(k.cmpi(ip(IPred::sge), lastKey, zero32),
                      k.cmpi(ip(IPred::sle), k.add(q0, k.c32(cfg.blockM)), Lq));
  if (cfg.blockSkip)
    full = k.andi(full, blockFull);
  if (cfg.causal)
    full = k.andi(full,
                  k.cmpi(ip(IPred::sle), lastKey, k.add(q0, keyOffset)));
  return full;
}

BackwardEmitter::ElementProb
BackwardEmitter::elementProb(Value score, Value visible, Value qs, Value kpos,
                             Value keyBias, Value lseScaled) {
  Value x = k.fmul(score, arg("scale"));
  ElementProb pr;
  if (cfg.softcap > 0.0) {
    Value cap = arg("softcap");
    Value t = math::TanhOp::create(k.builder(), k.location(), k.fdiv(x, cap));
    x = k.fmul(cap, t);
    pr.deriv = k.fsub(k.f32(1.0), k.fmul(t, t));
  }
  if (Value bias = biasAt(qs, k.maxsi(kpos, zero32), keyBias))
    x = k.fadd(x, bias);
  // p = 2^(x log2 e - lse log2 e): one FFMA and one EX2. Invisible elements
  // (empty rows included, lse = -inf) give 0.
  Value pv = k.exp2(k.fma(x, k.f32(kLog2e), lseScaled));
  pr.p = k.select(visible, pv, k.f32(0.0));
  return pr;
}

BackwardEmitter::ElementGrads
BackwardEmitter::elementGrads(const ElementProb &pr, Value dp, Value delta) {
  ElementGrads gr;
  gr.p = pr.p;
  // P = 0 (hidden, or underflowed) gives dS = 0 even where dP is not
  // finite: a hidden key's NaN or Inf value row (dP = dO V^T) must not
  // reach dQ, dK or dBias through 0 x NaN.
  gr.dsLogit = k.select(k.cmpf(fpr(FPred::OEQ), pr.p, k.f32(0.0)), k.f32(0.0),
                        k.fmul(pr.p, k.fsub(dp, delta)));
  gr.dsScore = pr.deriv ? k.fmul(gr.dsLogit, pr.deriv) : gr.dsLogit;
  return gr;
}

void BackwardEmitter::emit() {
  prologue();
  if (useWarpGridBackward(cfg))
    emitWarpGrid();
  else
    emitKeyRows();
  gpu::ReturnOp::create(k.builder(), k.location());
}

namespace {

//===----------------------------------------------------------------------===//
// The Delta kernel
//===----------------------------------------------------------------------===//

/// One warp per row: lanes split the Dv columns, a shuffle reduction sums.
class DeltaEmitter : public TileEmitter {
public:
  DeltaEmitter(OpBuilder &b, Location loc, const ForwardKernelConfig &cfg,
               gpu::GPUFuncOp func)
      : TileEmitter(b, loc, cfg, func) {}

  void emit() {
    OpBuilder &ob = k.builder();
    Block &entry = func.getBody().front();
    ob.setInsertionPointToStart(&entry);
    for (auto [i, p] : llvm::enumerate(deltaKernelParams()))
      args[p.name] = entry.getArgument(i);
    tid = k.threadIdX();
    warp = k.divsi(tid, k.c32(32));
    lane = k.remsi(tid, k.c32(32));
    Value row = k.add(k.mul(k.blockId(0), k.c32(kDeltaRowsPerCTA)), warp);
    h = k.blockId(1);
    b = k.blockId(2);
    k.ifThen(k.cmpi(ip(IPred::slt), row, arg("Lq")), [&] {
      Value sum = k.f32(0.0);
      for (int64_t c0 = 0; c0 < cfg.valueDim; c0 += 32) {
        Value col = k.add(lane, k.c32(c0));
        Value in = k.cmpi(ip(IPred::slt), col, k.c32(cfg.valueDim));
        Value safe = k.select(in, col, k.c32(0));
        auto at = [&](const char *t) {
          Value off = k.add(k.add(strided(t, "b", b), strided(t, "h", h)),
                            k.add(strided(t, "l", row), k.sext64(safe)));
          return k.loadF32(cfg.element, k.gep(ptrArg(t), cfg.element, off));
        };
        sum = k.fadd(sum, k.select(in, k.fmul(at("do"), at("o")),
                                   k.f32(0.0)));
      }
      for (int offset : {16, 8, 4, 2, 1})
        sum = k.fadd(sum, k.shuffleXor(sum, offset));
      k.ifThen(k.cmpi(ip(IPred::eq), lane, k.c32(0)), [&] {
        Value off = k.add(k.add(strided("delta", "b", b),
                                strided("delta", "h", h)),
                          k.sext64(row));
        k.storeTo(sum, k.gep(ptrArg("delta"), k.f32Type, off));
      });
    });
    gpu::ReturnOp::create(ob, k.location());
  }
};

} // namespace

gpu::GPUFuncOp mlir::dma::emitBackwardKernel(OpBuilder &b, Location loc,
                                             gpu::GPUModuleOp module,
                                             StringRef name,
                                             const ForwardKernelConfig &config) {
  // A CTA per key tile: of the shared top-k list's W keys, or of Lk.
  std::string keys =
      config.mask == MaskKind::SharedTopK ? "keep_w" : "Lk";
  auto func = createKernelFunc(
      b, loc, module, name,
      {"backward", backwardKernelParams(config),
       {"ceil(" + keys + "/" + std::to_string(config.blockN) + ")", "H", "B"},
       config.threads(), backwardSharedBytes(config)});
  func->setAttr("dma.block_n", b.getI64IntegerAttr(config.blockN));
  func->setAttr("dma.layout", b.getStringAttr(useWarpGridBackward(config)
                                                  ? "warp_grid"
                                                  : "key_rows"));
  if (config.rankChunk)
    func->setAttr("dma.rank_chunk", b.getI64IntegerAttr(config.rankChunk));
  BackwardEmitter(b, loc, config, func).emit();
  return func;
}

gpu::GPUFuncOp mlir::dma::emitDeltaKernel(OpBuilder &b, Location loc,
                                          gpu::GPUModuleOp module,
                                          StringRef name, Type element,
                                          int64_t valueDim) {
  ForwardKernelConfig config;
  config.element = element;
  config.valueDim = valueDim;
  config.blockM = 16 * kDeltaRowsPerCTA;
  config.warpCount = kDeltaRowsPerCTA;
  auto func = createKernelFunc(
      b, loc, module, name,
      {"delta", deltaKernelParams(),
       {"ceil(Lq/" + std::to_string(kDeltaRowsPerCTA) + ")", "H", "B"},
       config.threads(), 0});
  func->setAttr("dma.block_m", b.getI64IntegerAttr(kDeltaRowsPerCTA));
  DeltaEmitter(b, loc, config, func).emit();
  return func;
}
