//===- ForwardEmitter.h - warp-level code of the forward's tile ops -*- C++ -*-===//
//
// The code each tile op of a tiled forward becomes inside the generated
// kernel, one method per op, called by that op's conversion pattern
// (ForwardPatterns.cpp). The methods work on the per-thread values the
// layouts give each tile (the #dma.mma fragments, #dma.rows rows, the ring
// slot of a #dma.shared tile) and share what the kernel computes once: the
// CTA's tile, the thread's rows, the shared-memory plan and the key walk
// (its length, the cp.async pipeline, block-skip lists, per-query
// candidates), which the configuration describes.
//
//===----------------------------------------------------------------------===//

#ifndef DMA_LIB_CONVERSION_DMATOGPU_FORWARDEMITTER_H
#define DMA_LIB_CONVERSION_DMATOGPU_FORWARDEMITTER_H

#include "TileEmitter.h"

#include <array>
#include <vector>

namespace mlir::dma {

class ForwardEmitter : public TileEmitter {
public:
  ForwardEmitter(OpBuilder &b, Location loc, const ForwardKernelConfig &cfg,
                 gpu::GPUFuncOp func)
      : TileEmitter(b, loc, cfg, func) {}

  using Frag = std::array<Value, 4>;
  /// Per-thread accumulator values of a #dma.mma tile: [row tile][8-column
  /// block] x 4, the order of the layout's value index.
  using Fragments = std::vector<std::vector<Frag>>;

  /// Emits through `b` (the conversion pattern's rewriter) from now on, at
  /// location `l`.
  void use(OpBuilder &b, Location l) {
    k.setBuilder(b);
    k.setLocation(l);
  }
  KernelBuilder &builder() { return k; }

  // Once per kernel, at its top, before the tile ops' code.
  /// The kernel's arguments, thread geometry, the CTA's (batch, head,
  /// query tile) and the shared-memory plan.
  void emitSetUp();
  /// The CTA's batch, head and query tile (i32), for the loop nest's
  /// induction variables.
  std::array<Value, 3> ctaCoordinates() const { return {b, h, qt}; }

  // The tile ops, one step each.
  /// dma.tile.iota of the query rows: the positions of the thread's rows
  /// (2 per row tile, #dma.rows).
  SmallVector<Value> emitThreadRows();
  /// dma.tile.gather of Q (before the key loop): cp.async into its buffer.
  void emitQueryLoad();
  /// dma.tile.candidates: the keys some row of the tile may keep, into
  /// shared memory.
  void emitCandidates();
  /// Their count (i32; null before emitCandidates).
  Value candidateTotal() const { return candidateCount; }
  /// The key loop's prologue (its length, the first stages - 1 tiles in
  /// flight, per-row thresholds) and its loop-carried state: per row tile
  /// the O accumulator, row max x2, row sum x2 (from `acc`, `max`, `sum`,
  /// #dma.mma / #dma.rows values), then the block-skip walk's.
  SmallVector<Value> emitKeyWalkStart(ValueRange acc, ValueRange max,
                                      ValueRange sum);
  /// The walk's length (index), set by emitKeyWalkStart.
  Value keyWalkLength() const { return nTiles; }
  /// The pipeline step at the top of iteration `t` (index) carrying `st`:
  /// wait for tile t, copy tile t + stages - 1, load the next key bias.
  void emitKeyTileStart(Value t, ValueRange st);
  /// The ring slot (i32) of iteration `t`'s tiles.
  Value stageOf(Value t);
  /// dma.tile.dot S = Q K^T from the K tile in slot `stage`, accumulating
  /// into `init`.
  Fragments emitScores(Value stage, Fragments init);
  /// The same on sm_90a's warpgroup MMA (#dma.mma<..., wgmma>): one
  /// wgmma.mma_async per 16 columns of D, Q and K through descriptors.
  Fragments emitScoresWgmma(Value stage, Fragments init);
  /// dma.tile.logits of iteration `t` (index), keys in slot `stage`.
  void emitLogits(Fragments &s, Value t, Value stage);
  /// dma.tile.softmax: P replaces S in `s`; returns the rescaled
  /// accumulators; `max`, `sum` (2 per row tile) are updated.
  Fragments emitSoftmax(Fragments &s, Fragments acc,
                        SmallVectorImpl<Value> &max,
                        SmallVectorImpl<Value> &sum);
  /// dma.tile.dot O += P V, V in slot `stage`.
  void emitUpdate(Fragments &p, Fragments &acc, Value stage);
  /// The same on the warpgroup MMA: P from registers, V (N-major) through a
  /// descriptor, one wgmma.mma_async per 16 keys.
  void emitUpdateWgmma(Fragments &p, Fragments &acc, Value stage);
  /// The key loop's yield: the next key bias into its slot, the state in
  /// emitKeyWalkStart's order.
  SmallVector<Value> emitKeyTileEnd(Value t, const Fragments &acc,
                                    ValueRange max, ValueRange sum);
  /// After the key loop: no copy may be in flight at exit.
  void emitKeyWalkEnd();
  /// dma.tile.store_output: O = acc / l and LSE = m + log(l) per valid row.
  void emitStoreOutput(const Fragments &acc, ValueRange max, ValueRange sum);
  /// The kernel's end: the keep-list check (gathered kernels), return.
  void emitReturn();

  /// Conversions between a #dma.mma tile's flat per-thread values and
  /// Fragments.
  Fragments toFragments(ValueRange flat, int64_t columns) const;
  static SmallVector<Value> flatten(const Fragments &f);
  /// The key loop's state (the carried values before the block-skip walk's)
  /// back into its (acc, max, sum) values.
  std::array<SmallVector<Value>, 3> splitLoopState(ValueRange state) const;
  int64_t rowTiles() const { return cfg.rowTilesPerWarp(); }

private:
  Value qt, q0, g;
  Value qBase, kBase, vBase; // i64 element offsets of (b, head) in q, k, v
  int64_t qOff = 0, kOff = 0, vOff = 0, posOff = 0, biasOff = 0; // bytes
  // Block skipping: the query tile's summary row (its index in mask_count,
  // and the i64 element offset of its entries in mask_state / mask_tiles)
  // and the byte offset of the tiles' full flags.
  Value summaryIndex, listStart;
  int64_t fullOff = 0;

  /// Issues the cp.async copies of key tile `t` into buffer `stage`.
  void loadKeyTile(Value t, Value stage);
  /// The per-key bias of key tile `t`: thread `tid` loads rows tid,
  /// tid + threads, ... into registers (0 where there is no key), so the
  /// global loads are in flight while the current tile is computed ...
  SmallVector<Value> loadKeyBias(Value t);
  /// ... and stores them into buffer `stage` after it.
  void storeKeyBias(Value stage, ValueRange values);
  int64_t keyBiasRowsPerThread() const {
    return (cfg.blockN + cfg.threads() - 1) / cfg.threads();
  }
  /// Number of key tiles (or chunks) the CTA walks.
  Value keyTileCount();
  /// The last key position any row of the tile may see (causally; Lk - 1
  /// without a causal mask).
  Value lastVisibleKey();

  /// Whether every element of the current tile is visible, so the logits
  /// need no masking: all rows exist, all keys exist, the tile is wholly
  /// below the causal diagonal and no mask is read per element.
  Value tileFullyVisible(Value t, Value stage, Value lastKeyPos);
  /// The key loop's state from (acc, max, sum): emitKeyWalkStart's order.
  SmallVector<Value> loopState(ValueRange acc, ValueRange max,
                               ValueRange sum) const;
  /// Block skipping: the key tile of walk step `i` (< the walk's length)
  /// and its summary state.
  Value listedTile(Value i) {
    return summaryAt("mask_tiles", listStart, i);
  }
  Value tileState(Value kt) { return summaryAt("mask_state", listStart, kt); }
  /// Block skipping: records whether the tile copied into buffer `stage`
  /// is full (`state` 2), for its logits to skip the mask.
  void storeFull(Value stage, Value state);
  void checkKeepList();
  /// `listIndex`: t * blockN + row, the key's index in the walk.
  Value neededByTile(Value pos, Value safePos, Value listIndex);
  /// The key tile of walk step `i`.
  Value keyTileOf(Value i);
  /// The Q fragment (A operand) of row tile `mt`, k-step `s`.
  Frag qFragment(int64_t mt, int64_t s);
  /// wgmma with two warpgroups: they take turns issuing S = Q K^T (named
  /// barriers 1 and 2), so one's softmax overlaps the other's matrix work.
  bool pingPong() const { return cfg.wgmma && cfg.warps() == 8; }
  /// P's columns [16 s, 16 s + 16) of row tile `mt` as the A operand of
  /// P V (two accumulator blocks of 8 columns, repacked as 16-bit pairs).
  Frag pFragment(const Fragments &p, int64_t mt, int64_t s);
  /// The tile column of value e of column block j of the thread's
  /// fragments (the same for every row tile and row half).
  Value fragmentColumn(int64_t j, int64_t e) {
    return fragmentAt(0, j, e).second;
  }

  // Set by the steps for the later ones.
  Value nTiles32, nTiles;             // key tiles walked (i32, index)
  int64_t nOut = 0, nS = 0;           // O and S n-tiles
  size_t carried = 0;                 // block skipping: index of its state
  Value qRowLane, kRowLane, vRowLane; // ldmatrix row of the lane
  SmallVector<Value> qpos, qvalid;    // per thread row (2 per row tile)
  SmallVector<Value> rowThr, rowTie;  // per-query top-k, per thread row
  Value ninf;
  // emitKeyTileStart for emitKeyTileEnd: the next tile's key bias, and the
  // block-skip walk's next (tile, state).
  SmallVector<Value> nextBias;
  Value laterTile;
};

} // namespace mlir::dma

#endif
