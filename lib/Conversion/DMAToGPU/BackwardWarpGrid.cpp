//===- BackwardWarpGrid.cpp - the backward's warp-grid main loop ----------===//
//
// The main loop of the backward when the query step is 64 rows
// (useWarpGridBackward). The key-rows loop (BackwardKernel.cpp) lets every
// warp own 16 keys for every product, so each warp reads the whole Q and
// dO tiles twice per step: shared memory, not the tensor cores, bounds it.
// Here the warps form a grid of key groups (32 keys, kg = warp / 2) by
// query groups (32 queries, qg = warp % 2), and each product is split the
// way that reads the fewest operand bytes:
//
//   S^T, dP^T (keys x queries)   warp (kg, qg): 32 keys x 32 queries
//   P^T, dS^T -> shared memory (16-bit, keys x queries)
//   dV += P^T dO, dK += dS^T Q   warp (kg, qg): 32 keys x columns of half qg
//   dQ += dS K                   warp (kg, qg): 32 queries of group qg x
//                                columns of slice kg
//
// dK and dV (32 keys x half the columns each) stay in registers; dQ goes
// out with atomics as in the key-rows loop. Per (key, query) pair this
// reads about 3/4 of the key-rows loop's shared bytes (the same split as
// FlashAttention-2's backward) and, with 128-key tiles, half its dQ
// atomics. One step of the walk, named after the tile ops of
// dma-tile-attention's query loop like the key-rows loop's:
//
//   warpGridScores      tile.dot S^T = K Q^T, dP^T = V dO^T
//   warpGridProbs       tile.logits' tests and tile.probs: P^T into shared
//                       memory (16-bit pairs, also kept for dS)
//   warpGridDScores     tile.dscores: dS^T into shared memory, and
//                       tile.bias_grad (per-key sums or atomics)
//   warpGridAccumulate  tile.dot dV += P^T dO, dK += dS^T Q
//   warpGridQueryGrad   tile.dot dQ += dS K and its accumulating
//                       tile.scatter (atomics)
//   warpGridStore       tile.scatter of dK (times the scale) and dV
//
//===----------------------------------------------------------------------===//

#include "BackwardEmitter.h"

using namespace mlir;
using namespace mlir::dma;

namespace {
constexpr int64_t kGroup = 32; // keys or queries per warp-grid group
} // namespace

Value BackwardEmitter::sliceAt(int64_t base, Value stage, Value rowLane,
                               int64_t rowConst, Value chunk0,
                               int64_t chunk0Multiple, Value chunkLane,
                               int64_t chunkConst, int64_t cols) {
  int64_t rowBytes = cols * elementBytes();
  // Whole groups of 8 chunks per row: a chunk0 that is a multiple of 8
  // moves by whole groups, the rest swizzles like swizzledAt.
  if (rowBytes / 16 % 8 == 0 && chunk0Multiple % 8 == 0)
    return swizzledAt(base, k.add(stage, k.mul(chunk0, k.c32(16))), rowLane,
                      rowConst, chunkLane, chunkConst, cols);
  // rowConst is a multiple of 8: it leaves row & mask as it is.
  Value chunk = k.add(k.add(chunk0, chunkLane), k.c32(chunkConst));
  Value phys =
      k.xori(chunk, k.andi(rowLane, swizzleMask(chunk, cols)));
  Value lanePart =
      k.add(k.mul(rowLane, k.c32(rowBytes)), k.mul(phys, k.c32(16)));
  Value p = k.gep(smem, k.i8Type, k.add(stage, lanePart));
  return k.gep(p, k.i8Type, k.c32(base + rowConst * rowBytes));
}

BackwardEmitter::WarpGrid BackwardEmitter::warpGridThread() {
  WarpGrid t;
  int64_t bm = cfg.blockM, bn = cfg.blockN;
  int64_t queryGroups = bm / kGroup, keyGroups = bn / kGroup;
  t.kg = k.divsi(warp, k.c32(queryGroups));
  t.qg = k.remsi(warp, k.c32(queryGroups));
  t.keyBase = k.mul(t.kg, k.c32(kGroup));
  t.queryBase = k.mul(t.qg, k.c32(kGroup));
  // The keys' positions stay in registers for the visibility tests; the
  // rarer uses (dBias, the final adds) read them again from shared memory
  // (warpGridKeyPos), which leaves ptxas fewer values to spill.
  for (int kr = 0; kr < 4; ++kr)
    t.kpos[kr] = warpGridKeyPos(t, kr);
  // A per-key bias does not change along the walk.
  if (cfg.biasPerKey)
    for (int kr = 0; kr < 4; ++kr) {
      Type be = cfg.biasElement;
      t.keyBias[kr] = k.loadF32(
          be, k.gep(ptrArg("bias"), be,
                    broadcastOffset("bias", zero32,
                                    k.maxsi(warpGridKeyPos(t, kr), zero32))));
    }
  // Per-query top-k: the keys' scores, read once; each step reads the
  // threshold of each of the thread's query columns once.
  if (cfg.mask == MaskKind::PerQueryTopK)
    for (int kr = 0; kr < 4; ++kr)
      t.keyScore[kr] = keepScoreAt(k.maxsi(t.kpos[kr], zero32));
  t.aRow = k.add(t.keyBase, lane16); // A: key rows
  t.bRow = k.add(t.queryBase, k.add(lane8, k.mul(laneHi, k.c32(8))));
  t.bRowLane = k.add(lane8, k.mul(laneHi, k.c32(8)));  // trans A rows
  t.tRowLane = k.add(lane8, k.mul(laneMid, k.c32(8))); // trans B rows
  // Columns of dK and dV per warp (half qg), and of dQ (slice kg).
  t.nDk = cfg.headDim / queryGroups / 8;
  t.nDv = cfg.valueDim / queryGroups / 8;
  t.nDq = cfg.headDim / keyGroups / 8;
  return t;
}

Value BackwardEmitter::warpGridKeyPos(const WarpGrid &t, int kr) {
  Value row =
      k.add(t.keyBase, k.add(gid, k.c32(16 * (kr / 2) + 8 * (kr % 2))));
  return k.loadAs(k.i32Type,
                  k.gep(smem, k.i32Type, k.add(k.c32(posOff / 4), row)));
}

Value BackwardEmitter::warpGridQueryCol(const WarpGrid &t, int64_t nt,
                                        int64_t e) {
  return k.add(t.queryBase, k.add(k.c32(8 * nt + e), k.mul(tig, k.c32(2))));
}

Value BackwardEmitter::warpGridRowValue(const WarpGrid &t, Value base,
                                        int64_t c) {
  return k.loadAs(k.f32Type,
                  k.gep(smem, k.f32Type,
                        k.add(base, warpGridQueryCol(t, c / 2, c % 2))));
}

void BackwardEmitter::warpGridStorePairs(const WarpGrid &t, int64_t base,
                                         int mt, int64_t nt,
                                         ArrayRef<Value> pairs) {
  for (int r = 0; r < 2; ++r) {
    Value row = k.add(t.keyBase, k.add(gid, k.c32(16 * mt + 8 * r)));
    Value chunk = k.add(k.mul(t.qg, k.c32(4)), k.c32(nt));
    Value off =
        k.add(swizzled(row, chunk, cfg.blockM), k.mul(tig, k.c32(4)));
    k.storeTo(pairs[r], sharedAt(base, off));
  }
}

std::vector<Frag> BackwardEmitter::warpGridScores(const WarpGrid &t,
                                                  int64_t aOff, int64_t bOff,
                                                  Value bStage, int64_t cols) {
  std::vector<Frag> acc(8, zeroFrag());
  for (int64_t ks = 0; ks < cols / 16; ++ks) {
    Frag a[2];
    for (int mt = 0; mt < 2; ++mt)
      a[mt] = k.ldmatrixX4(
          swizzledAt(aOff, zero32, t.aRow, 16 * mt, laneHi, 2 * ks, cols),
          /*transpose=*/false);
    for (int64_t jp = 0; jp < 2; ++jp) {
      Frag bf = k.ldmatrixX4(
          swizzledAt(bOff, bStage, t.bRow, 16 * jp, laneMid, 2 * ks, cols),
          /*transpose=*/false);
      for (int mt = 0; mt < 2; ++mt)
        mmaPair(a[mt], bf, acc[4 * mt + 2 * jp], acc[4 * mt + 2 * jp + 1]);
    }
  }
  return acc;
}

SmallVector<Value> BackwardEmitter::warpGridProbs(const WarpGrid &t,
                                                  const Step &step,
                                                  ArrayRef<Frag> s,
                                                  Value lseBase) {
  bool perQuery = cfg.mask == MaskKind::PerQueryTopK;
  bool capped = cfg.softcap > 0.0;
  Value q0 = step.q0;
  // A full step skips the visibility tests: two copies of the pass rather
  // than 32 live predicates.
  auto probPass = [&](bool full) {
    SmallVector<Value> out;
    Value lseScaled[8];
    for (int64_t c = 0; c < 8; ++c)
      lseScaled[c] =
          k.fneg(k.fmul(warpGridRowValue(t, lseBase, c), k.f32(kLog2e)));
    Value colThr[8], colTie[8];
    if (perQuery && !full)
      for (int64_t c = 0; c < 8; ++c) {
        Value qpos = k.add(q0, warpGridQueryCol(t, c / 2, c % 2));
        std::tie(colThr[c], colTie[c]) =
            rowThreshold(qpos, k.cmpi(ip(IPred::slt), qpos, Lq));
      }
    for (int mt = 0; mt < 2; ++mt)
      for (int64_t nt = 0; nt < 4; ++nt) {
        Value p[4], deriv[4];
        for (int v = 0; v < 4; ++v) {
          int kr = 2 * mt + v / 2;
          Value qpos = k.add(q0, warpGridQueryCol(t, nt, v % 2));
          Value qvalid = k.cmpi(ip(IPred::slt), qpos, Lq);
          Value kpos = t.kpos[kr];
          Value kept;
          if (perQuery && !full)
            kept = passesThreshold(t.keyScore[kr], kpos,
                                   colThr[2 * nt + v % 2],
                                   colTie[2 * nt + v % 2]);
          Value vis =
              full ? k.boolean(true) : visible(qpos, qvalid, kpos, kept);
          ElementProb pr = elementProb(
              s[4 * mt + nt][v], vis, k.select(qvalid, qpos, zero32), kpos,
              t.keyBias[kr], lseScaled[2 * nt + v % 2]);
          p[v] = pr.p;
          deriv[v] = pr.deriv;
        }
        SmallVector<Value> pairs;
        for (int r = 0; r < 2; ++r) {
          pairs.push_back(k.pack2(p[2 * r], p[2 * r + 1], cfg.element));
          out.push_back(pairs.back());
        }
        warpGridStorePairs(t, pOff, mt, nt, pairs);
        if (capped)
          out.append(std::begin(deriv), std::end(deriv));
      }
    return out;
  };
  // Per fragment: two packed pairs, then four derivatives if capped.
  int64_t perFrag = capped ? 6 : 2;
  SmallVector<Type> probTypes;
  for (int64_t f = 0; f < 8; ++f)
    for (int64_t i = 0; i < perFrag; ++i)
      probTypes.push_back(i < 2 ? k.i32Type : k.f32Type);
  return k.ifElse(
      fullStep(q0, step.blockFull), probTypes, [&] { return probPass(true); },
      [&] { return probPass(false); });
}

void BackwardEmitter::warpGridDScores(const WarpGrid &t, const Step &step,
                                      ArrayRef<Value> probs,
                                      ArrayRef<Frag> dp, Value deltaBase) {
  bool capped = cfg.softcap > 0.0;
  int64_t perFrag = capped ? 6 : 2;
  Value delta[8];
  for (int64_t c = 0; c < 8; ++c)
    delta[c] = warpGridRowValue(t, deltaBase, c);
  Value keyBiasSum[4];
  for (int kr = 0; kr < 4; ++kr)
    keyBiasSum[kr] = k.f32(0.0);
  for (int mt = 0; mt < 2; ++mt)
    for (int64_t nt = 0; nt < 4; ++nt) {
      int64_t frag = (4 * mt + nt) * perFrag;
      Value ds[4];
      for (int v = 0; v < 4; ++v) {
        int kr = 2 * mt + v / 2;
        auto pair = k.unpack2(probs[frag + v / 2], cfg.element);
        ElementProb pr{v % 2 ? pair.second : pair.first,
                       capped ? probs[frag + 2 + v] : Value()};
        ElementGrads gr =
            elementGrads(pr, dp[4 * mt + nt][v], delta[2 * nt + v % 2]);
        ds[v] = gr.dsScore;
        if (cfg.biasPerKey) {
          keyBiasSum[kr] = k.fadd(keyBiasSum[kr], gr.dsLogit);
        } else if (cfg.biasElement) {
          Value qpos = k.add(step.q0, warpGridQueryCol(t, nt, v % 2));
          Value kpos = warpGridKeyPos(t, kr);
          Value inside = k.andi(k.cmpi(ip(IPred::sge), kpos, zero32),
                                k.cmpi(ip(IPred::slt), qpos, Lq));
          k.ifThen(inside, [&] {
            k.atomicAddF32(k.gep(ptrArg("dbias"), k.f32Type,
                                 broadcastOffset("dbias", qpos, kpos)),
                           gr.dsLogit);
          });
        }
      }
      warpGridStorePairs(t, dsOff, mt, nt,
                         {k.pack2(ds[0], ds[1], cfg.element),
                          k.pack2(ds[2], ds[3], cfg.element)});
    }
  // Per-key dBias: the sums over the warp's 32 queries (quad reduction),
  // one atomic per key, step and query group.
  if (cfg.biasPerKey)
    for (int kr = 0; kr < 4; ++kr) {
      Value sum = keyBiasSum[kr];
      sum = k.fadd(sum, k.shuffleXor(sum, 1));
      sum = k.fadd(sum, k.shuffleXor(sum, 2));
      Value kpos = warpGridKeyPos(t, kr);
      k.ifThen(k.andi(k.cmpi(ip(IPred::sge), kpos, zero32),
                      k.cmpi(ip(IPred::eq), tig, zero32)),
               [&] {
                 k.atomicAddF32(k.gep(ptrArg("dbias"), k.f32Type,
                                      broadcastOffset("dbias", zero32, kpos)),
                                sum);
               });
    }
}

SmallVector<Value> BackwardEmitter::warpGridAccumulate(
    const WarpGrid &t, ValueRange accIn, int64_t aOff, int64_t bOff,
    Value bStage, int64_t cols, int64_t n) {
  int64_t bm = cfg.blockM;
  std::vector<Frag> acc(2 * n);
  for (int64_t j = 0; j < 2 * n; ++j)
    for (int v = 0; v < 4; ++v)
      acc[j][v] = accIn[j * 4 + v];
  for (int64_t ks = 0; ks < bm / 16; ++ks) {
    Frag a[2];
    for (int mt = 0; mt < 2; ++mt)
      a[mt] = k.ldmatrixX4(
          swizzledAt(aOff, zero32, t.aRow, 16 * mt, laneHi, 2 * ks, bm),
          /*transpose=*/false);
    for (int64_t jp = 0; jp < n / 2; ++jp) {
      Frag bf = k.ldmatrixX4(sliceAt(bOff, bStage, t.tRowLane, 16 * ks,
                                     k.mul(t.qg, k.c32(n)), n, laneHi, 2 * jp,
                                     cols),
                             /*transpose=*/true);
      for (int mt = 0; mt < 2; ++mt)
        mmaPair(a[mt], bf, acc[mt * n + 2 * jp], acc[mt * n + 2 * jp + 1]);
    }
  }
  SmallVector<Value> out;
  for (const Frag &f : acc)
    out.append(f.begin(), f.end());
  return out;
}

void BackwardEmitter::warpGridQueryGrad(const WarpGrid &t, const Step &step) {
  int64_t bm = cfg.blockM, bn = cfg.blockN, d = cfg.headDim, nDq = t.nDq;
  // k-steps over the tile's keys; A = dS from dS^T (ldmatrix.trans).
  std::vector<Frag> dq(2 * nDq, zeroFrag());
  for (int64_t ks = 0; ks < bn / 16; ++ks) {
    Frag a[2];
    for (int rt = 0; rt < 2; ++rt)
      a[rt] = k.ldmatrixX4(sliceAt(dsOff, zero32, t.bRowLane, 16 * ks,
                                   k.mul(t.qg, k.c32(4)), 4, laneMid, 2 * rt,
                                   bm),
                           /*transpose=*/true);
    for (int64_t jp = 0; jp < nDq / 2; ++jp) {
      Frag bf = k.ldmatrixX4(sliceAt(kOff, zero32, t.tRowLane, 16 * ks,
                                     k.mul(t.kg, k.c32(nDq)), nDq, laneHi,
                                     2 * jp, d),
                             /*transpose=*/true);
      for (int rt = 0; rt < 2; ++rt)
        mmaPair(a[rt], bf, dq[rt * nDq + 2 * jp], dq[rt * nDq + 2 * jp + 1]);
    }
  }
  for (int rt = 0; rt < 2; ++rt)
    for (int r = 0; r < 2; ++r) {
      Value row = k.add(step.q0, k.add(t.queryBase,
                                       k.add(gid, k.c32(16 * rt + 8 * r))));
      k.ifThen(k.cmpi(ip(IPred::slt), row, Lq), [&] {
        Value rowBase =
            k.add(k.add(strided("dq", "b", b), strided("dq", "h", h)),
                  strided("dq", "l", row));
        for (int64_t j = 0; j < nDq; ++j) {
          Value col =
              k.add(k.mul(k.add(k.mul(t.kg, k.c32(nDq)), k.c32(j)), k.c32(8)),
                    k.mul(tig, k.c32(2)));
          addPair(
              k.gep(ptrArg("dq"), k.f32Type, k.add(rowBase, k.sext64(col))),
              k.fmul(dq[rt * nDq + j][2 * r], arg("scale")),
              k.fmul(dq[rt * nDq + j][2 * r + 1], arg("scale")));
        }
      });
    }
}

void BackwardEmitter::warpGridStore(const WarpGrid &t, ValueRange fin) {
  // Added at the keys' positions into the f32 accumulators (the query heads
  // of a KV group add to the same rows).
  auto store = [&](const char *name, ValueRange acc, int64_t n,
                   bool scaled) {
    for (int kr = 0; kr < 4; ++kr) {
      Value kpos = warpGridKeyPos(t, kr);
      k.ifThen(k.cmpi(ip(IPred::sge), kpos, zero32), [&] {
        int mt = kr / 2, r = kr % 2;
        Value rowBase =
            k.add(k.add(strided(name, "b", b), strided(name, "h", g)),
                  strided(name, "l", kpos));
        for (int64_t j = 0; j < n; ++j) {
          Value lo = acc[(mt * n + j) * 4 + 2 * r];
          Value hi = acc[(mt * n + j) * 4 + 2 * r + 1];
          if (scaled) {
            lo = k.fmul(lo, arg("scale"));
            hi = k.fmul(hi, arg("scale"));
          }
          Value col = k.add(
              k.mul(k.add(k.mul(t.qg, k.c32(n)), k.c32(j)), k.c32(8)),
              k.mul(tig, k.c32(2)));
          addPair(
              k.gep(ptrArg(name), k.f32Type, k.add(rowBase, k.sext64(col))),
              lo, hi);
        }
      });
    }
  };
  int64_t dkValues = 2 * t.nDk * 4;
  store("dk", fin.take_front(dkValues), t.nDk, /*scaled=*/true);
  store("dv", fin.drop_front(dkValues), t.nDv, /*scaled=*/false);
}

void BackwardEmitter::emitWarpGrid() {
  WarpGrid t = warpGridThread();
  int64_t bm = cfg.blockM, d = cfg.headDim, dv = cfg.valueDim;
  int64_t dkValues = 2 * t.nDk * 4;
  SmallVector<Value> init(2 * (t.nDk + t.nDv) * 4, k.f32(0.0));
  SmallVector<Value> fin = walkQueryTiles(
      init, [&](const Step &step, ValueRange st) -> SmallVector<Value> {
        Value lseBase = k.add(k.c32(lseOff / 4), k.mul(step.stage, k.c32(bm)));
        Value deltaBase =
            k.add(k.c32(deltaOff / 4), k.mul(step.stage, k.c32(bm)));
        // S^T, then P^T as 16-bit pairs (into shared memory for dV, and
        // kept for dS) and, with a soft cap, its derivative. S^T and dP^T
        // are never live together and P^T is kept at half width: dK and dV
        // already hold half the registers. (dS is rounded to 16 bits for
        // the products anyway; dBias sees P's rounding, 2^-9 relative.)
        std::vector<Frag> s = warpGridScores(t, kOff, qOff, step.qStage, d);
        SmallVector<Value> probs = warpGridProbs(t, step, s, lseBase);
        // dP^T, then dS^T into shared memory, and dBias.
        std::vector<Frag> dp = warpGridScores(t, vOff, doOff, step.doStage, dv);
        warpGridDScores(t, step, probs, dp, deltaBase);
        k.barrier(); // P^T and dS^T of every warp
        // The warp's 32 keys x its half of the columns.
        SmallVector<Value> out = warpGridAccumulate(
            t, st.take_front(dkValues), dsOff, qOff, step.qStage, d, t.nDk);
        SmallVector<Value> dV = warpGridAccumulate(
            t, st.drop_front(dkValues), pOff, doOff, step.doStage, dv, t.nDv);
        // dQ: the 32 queries of group qg x column slice kg.
        warpGridQueryGrad(t, step);
        out.append(dV.begin(), dV.end());
        return out;
      });
  warpGridStore(t, fin);
}
