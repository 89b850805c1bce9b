//===- BackwardKeyRows.cpp - the backward's key-rows main loop ------------===//
//
// The main loop of the backward where warp w owns keys [16 w, 16 w + 16) of
// the tile for every product, each thread two of them (gid, gid + 8), in the
// transposed (key-major) orientation so that dK and dV accumulate in the
// registers of the warp that owns the keys. One step of the walk over query
// tiles, named after the tile ops of dma-tile-attention's query loop:
//
//   keyRowsScores      tile.dot S^T = K Q^T, dP^T = V dO^T (A = K or V)
//   keyRowsVisibility  tile.logits' causal and mask tests
//   keyRowsGrads       tile.probs P^T = exp(logit - LSE), tile.dscores
//                      dS^T = P^T (dP^T - Delta) (times the cap's derivative)
//   keyRowsAccumulate  tile.dot dK += dS^T Q, dV += P^T dO (A from registers)
//   keyRowsBiasGrad    tile.bias_grad (atomics, or per-key sums carried)
//   keyRowsQueryGrad   tile.dot dQ += dS K, tile.scatter accumulate (dS^T
//                      through shared memory, atomics)
//   keyRowsStore       tile.scatter of dK (times the scale) and dV after the
//                      walk (f32 accumulators: the query heads of a KV group
//                      add to the same rows)
//
// The warp-grid loop (BackwardWarpGrid.cpp) splits the same products over a
// 2-D warp grid when the query step is 64 rows.
//
//===----------------------------------------------------------------------===//

#include "BackwardEmitter.h"

using namespace mlir;
using namespace mlir::dma;

BackwardEmitter::KeyRows BackwardEmitter::keyRowsThread() {
  KeyRows t;
  t.warpKey = k.mul(warp, k.c32(16));
  for (int r = 0; r < 2; ++r) {
    Value row = k.add(t.warpKey, k.add(gid, k.c32(8 * r)));
    t.kpos[r] = k.loadAs(k.i32Type, k.gep(smem, k.i32Type,
                                          k.add(k.c32(posOff / 4), row)));
    t.kvalid[r] = k.cmpi(ip(IPred::sge), t.kpos[r], zero32);
  }
  // Per-query top-k: the keys' scores, read once; each step reads the
  // threshold of each of the thread's query columns once.
  if (cfg.mask == MaskKind::PerQueryTopK)
    for (int r = 0; r < 2; ++r)
      t.keyScore[r] = keepScoreAt(k.maxsi(t.kpos[r], zero32));
  t.aRowLane = k.add(t.warpKey, lane16); // A = K or V rows (keys)
  t.bRowLane = k.add(lane8, k.mul(laneHi, k.c32(8)));  // B non-trans
  t.tRowLane = k.add(lane8, k.mul(laneMid, k.c32(8))); // B trans
  return t;
}

std::array<Value, 2> BackwardEmitter::keyRowsKeyBias(const KeyRows &t) {
  std::array<Value, 2> keyBias;
  if (cfg.biasPerKey)
    for (int r = 0; r < 2; ++r) {
      Type be = cfg.biasElement;
      keyBias[r] = k.loadF32(
          be, k.gep(ptrArg("bias"), be,
                    broadcastOffset("bias", zero32,
                                    k.maxsi(t.kpos[r], zero32))));
    }
  return keyBias;
}

std::vector<Frag> BackwardEmitter::keyRowsScores(const KeyRows &t,
                                                 int64_t aOff, int64_t bOff,
                                                 Value bStage, int64_t cols) {
  int64_t nQ = cfg.blockM / 8;
  std::vector<Frag> acc(nQ, zeroFrag());
  for (int64_t ks = 0; ks < cols / 16; ++ks) {
    Frag a = k.ldmatrixX4(
        swizzledAt(aOff, zero32, t.aRowLane, 0, laneHi, 2 * ks, cols),
        /*transpose=*/false);
    for (int64_t jp = 0; jp < nQ / 2; ++jp) {
      Frag bf = k.ldmatrixX4(swizzledAt(bOff, bStage, t.bRowLane, 16 * jp,
                                        laneMid, 2 * ks, cols),
                             /*transpose=*/false);
      mmaPair(a, bf, acc[2 * jp], acc[2 * jp + 1]);
    }
  }
  return acc;
}

SmallVector<Value> BackwardEmitter::keyRowsVisibility(const KeyRows &t,
                                                      const Step &step) {
  int64_t nQ = cfg.blockM / 8;
  bool perQuery = cfg.mask == MaskKind::PerQueryTopK;
  Value q0 = step.q0;
  Value full = fullStep(q0, step.blockFull);
  SmallVector<Type> visTypes(nQ * 4, k.i1Type);
  return k.ifElse(
      full, visTypes,
      [&] { return SmallVector<Value>(nQ * 4, k.boolean(true)); },
      [&] {
        SmallVector<Value> out;
        for (int64_t j = 0; j < nQ; ++j) {
          Value thr[2], tie[2];
          if (perQuery)
            for (int64_t e = 0; e < 2; ++e) {
              Value qpos =
                  k.add(q0, k.add(k.c32(8 * j + e), k.mul(tig, k.c32(2))));
              std::tie(thr[e], tie[e]) =
                  rowThreshold(qpos, k.cmpi(ip(IPred::slt), qpos, Lq));
            }
          for (int64_t v = 0; v < 4; ++v) {
            Value qpos =
                k.add(q0, k.add(k.c32(8 * j + v % 2), k.mul(tig, k.c32(2))));
            Value kept;
            if (perQuery)
              kept = passesThreshold(t.keyScore[v / 2], t.kpos[v / 2],
                                     thr[v % 2], tie[v % 2]);
            out.push_back(visible(qpos, k.cmpi(ip(IPred::slt), qpos, Lq),
                                  t.kpos[v / 2], kept));
          }
        }
        return out;
      });
}

BackwardEmitter::KeyRowsGrads BackwardEmitter::keyRowsGrads(
    const KeyRows &t, const Step &step, ArrayRef<Frag> s, ArrayRef<Frag> dp,
    ArrayRef<Value> vis, const std::array<Value, 2> &keyBias) {
  int64_t bm = cfg.blockM, nQ = bm / 8;
  KeyRowsGrads out;
  out.p.resize(nQ);
  out.dsLogit.resize(nQ);
  out.dsScore.resize(nQ);
  Value lseBase = k.add(k.c32(lseOff / 4), k.mul(step.stage, k.c32(bm)));
  Value deltaBase = k.add(k.c32(deltaOff / 4), k.mul(step.stage, k.c32(bm)));
  for (int64_t j = 0; j < nQ; ++j)
    for (int64_t e = 0; e < 2; ++e) {
      Value col = k.add(k.c32(8 * j + e), k.mul(tig, k.c32(2)));
      Value qpos = k.add(step.q0, col);
      Value qvalid = k.cmpi(ip(IPred::slt), qpos, Lq);
      Value lse =
          k.loadAs(k.f32Type, k.gep(smem, k.f32Type, k.add(lseBase, col)));
      Value lseScaled = k.fneg(k.fmul(lse, k.f32(kLog2e)));
      Value delta =
          k.loadAs(k.f32Type, k.gep(smem, k.f32Type, k.add(deltaBase, col)));
      Value qs = k.select(qvalid, qpos, zero32);
      for (int r = 0; r < 2; ++r) {
        int64_t v = 2 * r + e;
        ElementGrads gr =
            elementGrads(elementProb(s[j][v], vis[4 * j + v], qs, t.kpos[r],
                                     keyBias[r], lseScaled),
                         dp[j][v], delta);
        out.p[j][v] = gr.p;
        out.dsLogit[j][v] = gr.dsLogit;
        out.dsScore[j][v] = gr.dsScore;
      }
    }
  return out;
}

SmallVector<Value> BackwardEmitter::keyRowsAccumulate(const KeyRows &t,
                                                      ValueRange accIn,
                                                      ArrayRef<Frag> a16,
                                                      int64_t bOff,
                                                      Value bStage,
                                                      int64_t cols) {
  std::vector<Frag> acc(cols / 8);
  for (int64_t j = 0; j < cols / 8; ++j)
    for (int v = 0; v < 4; ++v)
      acc[j][v] = accIn[j * 4 + v];
  for (int64_t ks = 0; ks < cfg.blockM / 16; ++ks) {
    const Frag &lo = a16[2 * ks], &hi = a16[2 * ks + 1];
    Frag a = {k.pack2(lo[0], lo[1], cfg.element),
              k.pack2(lo[2], lo[3], cfg.element),
              k.pack2(hi[0], hi[1], cfg.element),
              k.pack2(hi[2], hi[3], cfg.element)};
    for (int64_t jp = 0; jp < cols / 16; ++jp) {
      Frag bf = k.ldmatrixX4(swizzledAt(bOff, bStage, t.tRowLane, 16 * ks,
                                        laneHi, 2 * jp, cols),
                             /*transpose=*/true);
      mmaPair(a, bf, acc[2 * jp], acc[2 * jp + 1]);
    }
  }
  SmallVector<Value> out;
  for (const Frag &f : acc)
    out.append(f.begin(), f.end());
  return out;
}

void BackwardEmitter::keyRowsBiasGrad(const KeyRows &t, const Step &step,
                                      ArrayRef<Frag> dsLogit,
                                      MutableArrayRef<Value> biasSums) {
  int64_t nQ = cfg.blockM / 8;
  // Per key: the row sums over the tile's queries (quad reduction, one
  // atomic per key and step, or added to the carried sums); per element
  // otherwise.
  if (cfg.biasPerKey) {
    for (int r = 0; r < 2; ++r) {
      Value sum = k.f32(0.0);
      for (int64_t j = 0; j < nQ; ++j)
        sum = k.fadd(sum, k.fadd(dsLogit[j][2 * r], dsLogit[j][2 * r + 1]));
      sum = k.fadd(sum, k.shuffleXor(sum, 1));
      sum = k.fadd(sum, k.shuffleXor(sum, 2));
      if (!biasSums.empty()) {
        biasSums[r] = k.fadd(biasSums[r], sum);
        continue;
      }
      k.ifThen(k.andi(t.kvalid[r], k.cmpi(ip(IPred::eq), tig, zero32)), [&] {
        k.atomicAddF32(k.gep(ptrArg("dbias"), k.f32Type,
                             broadcastOffset("dbias", zero32, t.kpos[r])),
                       sum);
      });
    }
  } else if (cfg.biasElement) {
    for (int64_t j = 0; j < nQ; ++j)
      for (int64_t v = 0; v < 4; ++v) {
        int r = v / 2;
        Value col = k.add(k.c32(8 * j + v % 2), k.mul(tig, k.c32(2)));
        Value qpos = k.add(step.q0, col);
        Value inside = k.andi(t.kvalid[r], k.cmpi(ip(IPred::slt), qpos, Lq));
        k.ifThen(inside, [&] {
          k.atomicAddF32(k.gep(ptrArg("dbias"), k.f32Type,
                               broadcastOffset("dbias", qpos, t.kpos[r])),
                         dsLogit[j][v]);
        });
      }
  }
}

void BackwardEmitter::keyRowsQueryGrad(const KeyRows &t, const Step &step,
                                       ArrayRef<Frag> dsScore,
                                       Value &lastVisitor) {
  bool f16 = cfg.element.isF16();
  int64_t bm = cfg.blockM, bn = cfg.blockN, d = cfg.headDim;
  int64_t nQ = bm / 8, nD = d / 8, warps = bn / 16;
  // dS^T into shared memory (keys x queries, 16-bit).
  for (int64_t j = 0; j < nQ; ++j)
    for (int r = 0; r < 2; ++r) {
      Value row = k.add(t.warpKey, k.add(gid, k.c32(8 * r)));
      Value off = k.add(swizzled(row, k.c32(j), bm), k.mul(tig, k.c32(4)));
      k.storeTo(
          k.pack2(dsScore[j][2 * r], dsScore[j][2 * r + 1], cfg.element),
          sharedAt(dsOff, off));
    }
  k.barrier();
  // dQ rows of this query tile: in turn with the other key tiles.
  Value dqSem, dqTurnOf;
  if (cfg.deterministic) {
    std::tie(dqSem, dqTurnOf) = dqTurnOfStep(step.it, lastVisitor);
    waitTurn(dqSem, dqTurnOf);
  }
  // Warp w takes dQ's column tiles [w nD / warps, (w + 1) nD / warps) for
  // every query of the tile.
  int64_t perWarp = nD / warps;
  for (int64_t rt = 0; rt < bm / 16; ++rt) {
    std::vector<Frag> acc(perWarp, zeroFrag());
    for (int64_t ks = 0; ks < bn / 16; ++ks) {
      // A = dS (queries x keys) from its transpose: ldmatrix.trans.
      Frag a = k.ldmatrixX4(swizzledAt(dsOff, zero32, t.bRowLane, 16 * ks,
                                       laneMid, 2 * rt, bm),
                            /*transpose=*/true);
      for (int64_t jp = 0; jp < perWarp / 2; ++jp) {
        // B = K (keys x d): 16 columns from warp w's slice.
        Value chunk = k.add(k.mul(warp, k.c32(perWarp)),
                            k.add(k.c32(2 * jp), laneHi));
        Value row = k.add(k.c32(16 * ks), t.tRowLane);
        Frag bf = k.ldmatrixX4(sharedAt(kOff, swizzled(row, chunk, d)),
                               /*transpose=*/true);
        mmaPair(a, bf, acc[2 * jp], acc[2 * jp + 1]);
      }
      if (perWarp % 2) {
        // An odd column tile left: the lower half of an x4 load.
        Value chunk =
            k.add(k.mul(warp, k.c32(perWarp)), k.c32(perWarp - 1));
        Value row = k.add(k.c32(16 * ks), t.tRowLane);
        Value safeChunk = k.minsi(k.add(chunk, laneHi), k.c32(d / 8 - 1));
        Frag bf = k.ldmatrixX4(sharedAt(kOff, swizzled(row, safeChunk, d)),
                               /*transpose=*/true);
        acc[perWarp - 1] = k.mma(a, {bf[0], bf[1]}, acc[perWarp - 1], f16);
      }
    }
    // Column pairs (2 tig, 2 tig + 1) of rows gid and gid + 8.
    for (int64_t j = 0; j < perWarp; ++j)
      for (int r = 0; r < 2; ++r) {
        Value qpos = k.add(step.q0, k.add(k.c32(16 * rt + 8 * r), gid));
        Value col = k.add(
            k.mul(k.add(k.mul(warp, k.c32(perWarp)), k.c32(j)), k.c32(8)),
            k.mul(tig, k.c32(2)));
        k.ifThen(k.cmpi(ip(IPred::slt), qpos, Lq), [&] {
          Value off = k.add(
              k.add(k.add(strided("dq", "b", b), strided("dq", "h", h)),
                    strided("dq", "l", qpos)),
              k.sext64(col));
          addPair(k.gep(ptrArg("dq"), k.f32Type, off),
                  k.fmul(acc[j][2 * r], arg("scale")),
                  k.fmul(acc[j][2 * r + 1], arg("scale")));
        });
      }
  }
  if (cfg.deterministic)
    passTurn(dqSem, dqTurnOf);
}

void BackwardEmitter::keyRowsStore(const KeyRows &t, ValueRange fin) {
  int64_t d = cfg.headDim, dv = cfg.valueDim;
  int64_t nD = d / 8, nDv = dv / 8;
  auto store = [&](const char *name, ValueRange acc, int64_t cols,
                   bool scaled) {
    for (int r = 0; r < 2; ++r)
      k.ifThen(t.kvalid[r], [&] {
        Value rowBase =
            k.add(k.add(strided(name, "b", b), strided(name, "h", g)),
                  strided(name, "l", t.kpos[r]));
        for (int64_t j = 0; j < cols / 8; ++j) {
          Value lo = acc[j * 4 + 2 * r], hi = acc[j * 4 + 2 * r + 1];
          if (scaled) {
            lo = k.fmul(lo, arg("scale"));
            hi = k.fmul(hi, arg("scale"));
          }
          Value col = k.add(k.c32(8 * j), k.mul(tig, k.c32(2)));
          addPair(
              k.gep(ptrArg(name), k.f32Type, k.add(rowBase, k.sext64(col))),
              lo, hi);
        }
      });
  };
  // In deterministic mode the CTAs adding to the same rows (the query heads
  // of a KV group; with a batch-broadcast bias every batch too) take turns
  // per key tile, in CTA order.
  Value dkvSem, turn;
  if (cfg.deterministic) {
    Value nKT = k.gridDimX();
    Value inGroup = k.sub(h, k.mul(g, group));
    Value batchShared = k.boolean(false);
    if (cfg.biasElement)
      batchShared = k.cmpi(ip(IPred::eq), arg("dbias_stride_b"), k.c64(0));
    Value semB = k.select(batchShared, zero32, b);
    turn = k.select(batchShared, k.add(k.mul(b, group), inGroup), inGroup);
    Value idx = k.add(k.mul(k.add(k.mul(semB, Hkv), g), nKT), kt);
    dkvSem = k.gep(ptrArg("sem_dkv"), k.i32Type, k.sext64(idx));
    waitTurn(dkvSem, turn);
  }
  store("dk", fin.take_front(nD * 4), d, /*scaled=*/true);
  store("dv", fin.drop_front(nD * 4).take_front(nDv * 4), dv,
        /*scaled=*/false);
  if (cfg.deterministic && cfg.biasPerKey)
    for (int r = 0; r < 2; ++r)
      k.ifThen(k.andi(t.kvalid[r], k.cmpi(ip(IPred::eq), tig, zero32)), [&] {
        k.atomicAddF32(k.gep(ptrArg("dbias"), k.f32Type,
                             broadcastOffset("dbias", zero32, t.kpos[r])),
                       fin[(nD + nDv) * 4 + r]);
      });
  if (cfg.deterministic)
    passTurn(dkvSem, turn);
}

void BackwardEmitter::emitKeyRows() {
  int64_t d = cfg.headDim, dv = cfg.valueDim;
  int64_t nD = d / 8, nDv = dv / 8;
  KeyRows t = keyRowsThread();
  // Carried: dK and dV fragments, and in deterministic mode the thread's
  // two keys' dBias sums (per key bias), added once at the end ...
  bool keyBiasSums = cfg.deterministic && cfg.biasPerKey;
  SmallVector<Value> init((nD + nDv) * 4 + (keyBiasSums ? 2 : 0),
                          k.f32(0.0));
  // ... and the last key tile visiting the current query tile (the
  // deterministic dQ turns over a gathered list, dqTurn).
  bool trackLast = cfg.deterministic && cfg.causal && cfg.gathered;
  if (trackLast)
    init.push_back(kt);
  SmallVector<Value> fin = walkQueryTiles(
      init, [&](const Step &step, ValueRange st) -> SmallVector<Value> {
        std::array<Value, 2> keyBias = keyRowsKeyBias(t);
        std::vector<Frag> s = keyRowsScores(t, kOff, qOff, step.qStage, d);
        std::vector<Frag> dp =
            keyRowsScores(t, vOff, doOff, step.doStage, dv);
        SmallVector<Value> vis = keyRowsVisibility(t, step);
        KeyRowsGrads gr = keyRowsGrads(t, step, s, dp, vis, keyBias);
        SmallVector<Value> dK = keyRowsAccumulate(
            t, st.take_front(nD * 4), gr.dsScore, qOff, step.qStage, d);
        SmallVector<Value> dV =
            keyRowsAccumulate(t, st.drop_front(nD * 4).take_front(nDv * 4),
                              gr.p, doOff, step.doStage, dv);
        SmallVector<Value> biasSums(
            st.drop_front((nD + nDv) * 4).take_front(keyBiasSums ? 2 : 0));
        Value lastVisitor = trackLast ? st.back() : Value();
        keyRowsBiasGrad(t, step, gr.dsLogit, biasSums);
        keyRowsQueryGrad(t, step, gr.dsScore, lastVisitor);
        SmallVector<Value> out(dK);
        out.append(dV.begin(), dV.end());
        out.append(biasSums.begin(), biasSums.end());
        if (trackLast)
          out.push_back(lastVisitor);
        return out;
      });
  keyRowsStore(t, fin);
}
