//===- BackwardEmitter.h - the main backward kernel's emitter --*- C++ -*-===//
//
// The main backward kernel has two loop bodies sharing one prologue and
// one per-element gradient: the key-rows layout (BackwardKernel.cpp: every
// warp owns 16 keys for every product) and the warp-grid layout
// (BackwardWarpGrid.cpp: warps split the tile 2-D, P^T and dS^T go through
// shared memory), chosen by useWarpGridBackward.
//
//===----------------------------------------------------------------------===//

#ifndef DMA_LIB_CONVERSION_DMATOGPU_BACKWARDEMITTER_H
#define DMA_LIB_CONVERSION_DMATOGPU_BACKWARDEMITTER_H

#include "TileEmitter.h"
#include "dma/Conversion/DMAToGPU/BackwardKernel.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

#include <array>

namespace mlir::dma {

inline constexpr double kLog2e = 1.4426950408889634;
/// An mma fragment: four 32-bit registers.
using Frag = std::array<Value, 4>;

class BackwardEmitter : public TileEmitter {
public:
  BackwardEmitter(OpBuilder &b, Location loc, const ForwardKernelConfig &cfg,
                  gpu::GPUFuncOp func)
      : TileEmitter(b, loc, cfg, func) {}

  void emit();

private:
  Value kt, g, group, zero32;
  int64_t kOff = 0, vOff = 0, posOff = 0, qOff = 0, doOff = 0, lseOff = 0,
          deltaOff = 0, dsOff = 0, pOff = 0; // bytes
  // Set by the prologue: the first query tile of the walk, its length, the
  // number of query tiles and the tile's last key position (-1 when the
  // tile is not full).
  Value qtStart, total, nQT, lastKey;
  // Block skipping: the element of the summary's state for this key tile
  // in query tile 0's row, and the distance between query tiles' rows
  // (i64); the states of steps 0 and 1 (read by the prologue).
  Value skipBase, skipStride, firstStates[2];

  /// Shared-memory layout, kernel arguments, the key positions, K and V
  /// of the tile, and the first query tile's copy.
  void prologue();
  /// Ranked key tiles (cfg.rankChunk): sorts the tile's chunk by score in
  /// shared memory, writes the tile's slice of it as the key positions and
  /// returns (first query tile, query tiles) of the rows that may keep its
  /// keys.
  std::pair<Value, Value> rankKeyTile();
  /// The main loop where warp w owns keys [16 w, 16 w + 16) for every
  /// product (dQ split by columns): see BackwardKeyRows.cpp. Its steps
  /// below are named after the tile ops of the query loop they generate.
  void emitKeyRows();
  /// The main loop over a (key group x query group) warp grid with P^T and
  /// dS^T exchanged through shared memory (BackwardWarpGrid.cpp), one
  /// method per tile op of the query loop like the key-rows loop.
  void emitWarpGrid();
  /// swizzledAt for a column slice starting at chunk `chunk0`, a multiple
  /// of `chunk0Multiple` known only at run time: a plain byte offset when
  /// that is a multiple of the swizzle period, else inside the XOR.
  Value sliceAt(int64_t base, Value stage, Value rowLane, int64_t rowConst,
                Value chunk0, int64_t chunk0Multiple, Value chunkLane,
                int64_t chunkConst, int64_t cols);
  /// A step of the walk over query tiles: its index, buffer, first query
  /// row and the byte offsets of its Q and dO buffers.
  struct Step {
    Value it, stage, q0, qStage, doStage;
    /// Block skipping: whether the (query tile, key tile) block keeps any
    /// entry, whether it keeps all, and the states carried to the next
    /// step (see skipCarry).
    Value active, blockFull;
    SmallVector<Value> carry;
  };
  /// Waits for step `itIdx`'s tiles and starts copying the next step's
  /// (with block skipping: only when that step's block is not empty).
  /// `skip` is the loop-carried skipCarry.
  Step beginStep(Value itIdx, ValueRange skip = {});
  /// Block skipping: the summary states of the steps `it` and `it` + 1,
  /// carried through the walk so that each is read a step before its use;
  /// appended to the loop's initial values (empty without skipping).
  void appendSkipCarry(SmallVector<Value> &init);
  /// The walk over query tiles shared by both main loops: `body` computes
  /// a step from its loop-carried values (`init` on entry) and returns
  /// them; the double-buffered copies, block skipping and the final
  /// cp.async wait are done here. Returns the carried values after the walk.
  SmallVector<Value>
  walkQueryTiles(SmallVector<Value> init,
                 function_ref<SmallVector<Value>(const Step &, ValueRange)>
                     body);
  /// The summary state (i32) of the block of step `it` (< total).
  Value stepState(Value it);
  /// Runs `body` for step `step` with loop state `st`, or (block skipping,
  /// an empty block) passes `st` on, taking the dQ turn if deterministic;
  /// appends the step's skip carry.
  SmallVector<Value> runStep(const Step &step, ValueRange st,
                             function_ref<SmallVector<Value>()> body);
  /// The deterministic dQ semaphore and turn of step `it`.
  std::pair<Value, Value> dqTurnOfStep(Value it, Value &lastVisitor);
  /// The thread's two keys in the key-rows loop (rows gid and gid + 8 of
  /// its warp's 16) and its ldmatrix lane rows.
  struct KeyRows {
    Value warpKey, kpos[2], kvalid[2];
    Value keyScore[2]; // per-query top-k: the keys' scores
    Value aRowLane, bRowLane, tRowLane;
  };
  KeyRows keyRowsThread();
  /// The keys' bias for this head when it is per key (else null).
  std::array<Value, 2> keyRowsKeyBias(const KeyRows &t);
  /// tile.dot (S = Q K^T, dP = dO V^T) transposed: 16 keys x bm queries
  /// per warp, A = K or V (at aOff), B = Q or dO (at bOff + bStage).
  std::vector<Frag> keyRowsScores(const KeyRows &t, int64_t aOff,
                                  int64_t bOff, Value bStage, int64_t cols);
  /// tile.logits' visibility of the thread's elements (causal, masks),
  /// all true on a full step.
  SmallVector<Value> keyRowsVisibility(const KeyRows &t, const Step &step);
  /// tile.probs and tile.dscores per element: P^T, dS^T w.r.t. the logit
  /// (for dBias) and w.r.t. the scaled score (for dQ and dK).
  struct KeyRowsGrads {
    std::vector<Frag> p, dsLogit, dsScore;
  };
  KeyRowsGrads keyRowsGrads(const KeyRows &t, const Step &step,
                            ArrayRef<Frag> s, ArrayRef<Frag> dp,
                            ArrayRef<Value> vis,
                            const std::array<Value, 2> &keyBias);
  /// tile.dot with transpose_lhs (dV += P^T dO, dK += dS^T Q): k-steps
  /// over the step's queries into the carried fragments `accIn`.
  SmallVector<Value> keyRowsAccumulate(const KeyRows &t, ValueRange accIn,
                                       ArrayRef<Frag> a16, int64_t bOff,
                                       Value bStage, int64_t cols);
  /// tile.bias_grad: per key the row sums (into `biasSums` when they are
  /// carried, else atomics), per element atomics otherwise.
  void keyRowsBiasGrad(const KeyRows &t, const Step &step,
                       ArrayRef<Frag> dsLogit, MutableArrayRef<Value> biasSums);
  /// tile.dot (dQ = dS K) and its accumulating tile.scatter: dS^T through
  /// shared memory, warp w adding dQ's column tiles [w nD / warps, ...).
  void keyRowsQueryGrad(const KeyRows &t, const Step &step,
                        ArrayRef<Frag> dsScore, Value &lastVisitor);
  /// The tile.scatter of dK (times the scale) and dV at the keys'
  /// positions, and carried per-key dBias sums (in turns if deterministic).
  void keyRowsStore(const KeyRows &t, ValueRange fin);
  /// The thread's place in the warp-grid loop: key group kg and query
  /// group qg (32 each), its four keys (rows keyBase + 16 mt + gid + 8 r,
  /// index 2 mt + r: positions, per-key bias, per-query top-k scores), its
  /// ldmatrix lane rows, and the fragment columns of dK and dV (half qg's
  /// columns) and of dQ (slice kg).
  struct WarpGrid {
    Value kg, qg, keyBase, queryBase;
    Value kpos[4], keyBias[4], keyScore[4];
    Value aRow, bRow, bRowLane, tRowLane;
    int64_t nDk = 0, nDv = 0, nDq = 0;
  };
  WarpGrid warpGridThread();
  /// Key kr's position, read again from shared memory.
  Value warpGridKeyPos(const WarpGrid &t, int kr);
  /// Element (mt, nt, v)'s query column queryBase + 8 nt + 2 tig + e.
  Value warpGridQueryCol(const WarpGrid &t, int64_t nt, int64_t e);
  /// Query column c's value in a per-row shared array (LSE, Delta).
  Value warpGridRowValue(const WarpGrid &t, Value base, int64_t c);
  /// The 16-bit pairs of fragment (mt, nt) into the keys x queries tile at
  /// `base`.
  void warpGridStorePairs(const WarpGrid &t, int64_t base, int mt, int64_t nt,
                          ArrayRef<Value> pairs);
  /// tile.dot S^T = K Q^T or dP^T = V dO^T: 32 keys x 32 queries per warp
  /// as acc[4 mt + nt].
  std::vector<Frag> warpGridScores(const WarpGrid &t, int64_t aOff,
                                   int64_t bOff, Value bStage, int64_t cols);
  /// tile.logits and tile.probs: P^T into shared memory; returns per
  /// fragment its two packed pairs (and four cap derivatives if capped).
  SmallVector<Value> warpGridProbs(const WarpGrid &t, const Step &step,
                                   ArrayRef<Frag> s, Value lseBase);
  /// tile.dscores (dS^T into shared memory) and tile.bias_grad.
  void warpGridDScores(const WarpGrid &t, const Step &step,
                       ArrayRef<Value> probs, ArrayRef<Frag> dp,
                       Value deltaBase);
  /// tile.dot dV += P^T dO or dK += dS^T Q into the carried `accIn`.
  SmallVector<Value> warpGridAccumulate(const WarpGrid &t, ValueRange accIn,
                                        int64_t aOff, int64_t bOff,
                                        Value bStage, int64_t cols, int64_t n);
  /// tile.dot dQ += dS K and its accumulating tile.scatter.
  void warpGridQueryGrad(const WarpGrid &t, const Step &step);
  /// The tile.scatter of dK (times the scale) and dV after the walk.
  void warpGridStore(const WarpGrid &t, ValueRange fin);
  /// Four f32 zeros.
  Frag zeroFrag() {
    return Frag{k.f32(0.0), k.f32(0.0), k.f32(0.0), k.f32(0.0)};
  }
  /// acc[lo] += a b[0:2], acc[hi] += a b[2:4]: the two n-tiles of an x4 B
  /// fragment.
  void mmaPair(const Frag &a, const Frag &bf, Frag &lo, Frag &hi) {
    bool f16 = cfg.element.isF16();
    lo = k.mma(a, {bf[0], bf[1]}, lo, f16);
    hi = k.mma(a, {bf[2], bf[3]}, hi, f16);
  }
  /// Whether every element of the step starting at query row `q0` is
  /// visible (no per-element test needed); `blockFull`: the summary says
  /// the mask keeps the whole block (block skipping).
  Value fullStep(Value q0, Value blockFull);

  /// One element's probability P^T from its score S^T (`visible` says
  /// whether the key is, `qs` is its query clamped to a valid row,
  /// `lseScaled` = -LSE log2 e of the row) and with a soft cap the cap's
  /// derivative.
  struct ElementProb {
    Value p, deriv;
  };
  ElementProb elementProb(Value score, Value visible, Value qs, Value kpos,
                          Value keyBias, Value lseScaled);
  /// One element's gradients from its probability and dP^T: P^T, dS^T
  /// w.r.t. the logit (for dBias) and w.r.t. the scaled score (for dQ and
  /// dK).
  struct ElementGrads {
    Value p, dsLogit, dsScore;
  };
  ElementGrads elementGrads(const ElementProb &pr, Value dp, Value delta);

  /// The first query row of step `it` of the walk.
  Value firstRow(Value it, Value qtStart) {
    return k.mul(k.add(qtStart, it), k.c32(cfg.blockM));
  }
  /// ptr[0] += a, ptr[1] += b (f32 atomics; one vector atomic on sm_90).
  void addPair(Value ptr, Value a, Value b) {
    if (cfg.vectorAtomics) {
      k.atomicAddF32x2(ptr, a, b);
      return;
    }
    k.atomicAddF32(ptr, a);
    k.atomicAddF32(k.gep(ptr, k.f32Type, k.c32(1)), b);
  }
  /// Copies Q, dO, LSE and Delta of step `it` into buffer `stage`.
  void loadQueryTile(Value it, Value stage, Value qtStart);

  // Deterministic mode: CTAs adding into the same rows take turns. Thread 0
  // waits until the semaphore reads `turn` (the CTAs before this one have
  // added and released), the CTA adds, every thread fences its additions,
  // and thread 0 releases `turn + 1`.
  void waitTurn(Value sem, Value turn) {
    k.ifThen(k.cmpi(ip(IPred::eq), tid, k.c32(0)), [&] {
      k.whileLoop(
          {},
          [&](ValueRange) {
            Value seen = k.loadAcquireI32(sem);
            return std::make_pair(k.cmpi(ip(IPred::ne), seen, turn),
                                  SmallVector<Value>{});
          },
          [&](ValueRange) { return SmallVector<Value>{}; });
    });
    k.barrier();
  }
  /// This CTA's turn at query tile `qt`'s dQ rows. Without causality every
  /// key tile visits every query tile and they go in key-tile order. With
  /// it, key tile kt's walk starts at its first visible query tile, which
  /// grows with kt, so the later tiles reach a query tile first: the turns
  /// go in descending key-tile order, last(qt) - kt, where last(qt) is the
  /// last key tile visiting qt. Either order is fixed, which is all
  /// determinism needs; the descending one rarely makes a CTA wait. For a
  /// gathered list `last` carries last(qt) from step to step (it never
  /// decreases, so a step rarely reads more than one list entry).
  Value dqTurn(Value qt, Value &last) {
    if (!cfg.causal)
      return kt;
    if (!cfg.gathered) {
      // Contiguous tiles: c visits qt iff c * bn - (Lk - Lq) < (qt + 1) *
      // bm, so the last visitor is ceil(((qt + 1) bm + Lk - Lq) / bn) - 1.
      Value reach =
          k.add(k.mul(k.add(qt, k.c32(1)), k.c32(cfg.blockM)), keyOffset);
      Value last =
          k.sub(k.divsi(k.add(reach, k.c32(cfg.blockN - 1)), k.c32(cfg.blockN)),
                k.c32(1));
      return k.sub(k.minsi(last, k.sub(k.gridDimX(), k.c32(1))), kt);
    }
    // Key tile c visits qt iff its first key exists and its first causal
    // row falls in a query tile <= qt (a prefix of the key tiles).
    auto visits = [&](Value c) {
      Value pos0 = keyPosition(c, k.c32(0));
      Value start =
          k.divsi(k.maxsi(k.sub(pos0, keyOffset), k.c32(0)), k.c32(cfg.blockM));
      return k.andi(k.cmpi(ip(IPred::sge), pos0, k.c32(0)),
                    k.cmpi(ip(IPred::sle), start, qt));
    };
    Value lastTile = k.sub(k.gridDimX(), k.c32(1));
    last = k.whileLoop(
        {last},
        [&](ValueRange l) {
          Value next = k.add(l[0], k.c32(1));
          Value more = k.ifElse(
              k.cmpi(ip(IPred::sle), next, lastTile), {k.i1Type},
              [&] { return SmallVector<Value>{visits(next)}; },
              [&] { return SmallVector<Value>{k.boolean(false)}; })[0];
          return std::make_pair(more, SmallVector<Value>(l));
        },
        [&](ValueRange l) {
          return SmallVector<Value>{k.add(l[0], k.c32(1))};
        })[0];
    return k.sub(last, kt);
  }
  void passTurn(Value sem, Value turn) {
    k.fenceGpu();
    k.barrier();
    k.ifThen(k.cmpi(ip(IPred::eq), tid, k.c32(0)),
             [&] { k.storeReleaseI32(sem, k.add(turn, k.c32(1))); });
  }
};

} // namespace mlir::dma

#endif
