//===- TileEmitter.h - what the generated attention kernels share -*- C++ -*-===//
//
// The forward and backward kernel emitters both walk tiles of keys (by
// position: contiguous, or chunks of a shared top-k list), stage 16-bit
// tiles in XOR-swizzled shared memory for ldmatrix, and decide per element
// whether a key is visible to a query and what its logit is. This base
// class holds that common part; the emitters add their own loop nests.
//
//===----------------------------------------------------------------------===//

#ifndef DMA_LIB_CONVERSION_DMATOGPU_TILEEMITTER_H
#define DMA_LIB_CONVERSION_DMATOGPU_TILEEMITTER_H

#include "KernelBuilder.h"
#include "dma/Conversion/DMAToGPU/ForwardKernel.h"

#include <map>
#include <string>
#include <utility>

namespace mlir::dma {

/// Name of the dynamic shared memory global of `gpu.module @dma_kernels`.
inline constexpr llvm::StringLiteral kSharedMemoryGlobal = "dma_shared";

/// Declares the dynamic shared memory of the module once, aligned to at
/// least `alignment` bytes (a later call may raise it).
void declareSharedMemory(OpBuilder &b, gpu::GPUModuleOp module,
                         int64_t alignment = 16);

/// Creates `gpu.func @name` (a kernel) with `abi`'s parameters, stored with
/// the rest of its launch interface as attributes (KernelABI.h) for the
/// launch (launchKernel) and for dma-compile's manifest.
gpu::GPUFuncOp createKernelFunc(OpBuilder &b, Location loc,
                                gpu::GPUModuleOp module, StringRef name,
                                const KernelABI &abi);

class TileEmitter {
protected:
  TileEmitter(OpBuilder &b, Location loc, const ForwardKernelConfig &cfg,
              gpu::GPUFuncOp func)
      : k(b, loc), cfg(cfg), func(func),
        shared(SharedLayoutAttr::get(b.getContext(), cfg.stages,
                                     cfg.swizzle, cfg.blockCols)) {}

  KernelBuilder k;
  const ForwardKernelConfig &cfg;
  gpu::GPUFuncOp func;
  /// The layout of the 16-bit tiles staged in shared memory (its swizzle).
  SharedLayoutAttr shared;
  std::map<std::string, Value> args;
  std::map<std::string, Value> headRows; // hoistHeadRows()

  // Geometry and problem sizes (i32). `h` is the query head the per-head
  // lookups (bias, mask, keep lists) use; emitters set it.
  Value tid, warp, lane, gid, tig;
  Value b, h;
  Value B, Lq, Lk, H, Hkv, keyOffset;
  Value smem; // dynamic shared memory (ptr<3>)
  // ldmatrix.x4 lane roles (see swizzledAt): lane % 8, lane % 16,
  // lane / 16 and (lane / 8) % 2.
  Value lane8, lane16, laneHi, laneMid;
  // The per-query forward's candidate list (cfg.candidates): its shared
  // byte offset, its length, how many of its entries every row keeps
  // (slots 0, 1, ...; the rest fill slots from the end down), whether it
  // fit (else keys walk contiguously).
  int64_t candidateOff = 0;
  Value candidateCount, candidateFull, candidatesFit;

  /// Binds the kernel arguments by name and reads the thread geometry and
  /// the sizes every kernel takes (B, Lq, Lk, H, Hkv).
  void setUp(ArrayRef<KernelParam> params);

  Value arg(const std::string &name) { return args.at(name); }
  Value ptrArg(const std::string &name) { return k.toGlobal(arg(name)); }
  /// index * `t`_stride_`d` (i64).
  Value strided(const std::string &t, const char *d, Value index);

  int64_t elementBytes() const { return 2; }
  /// Row and column (i32, within the tile) of value `e` (0..3) of this
  /// thread's accumulator of 16 x 8 block (row tile mt, column block j):
  /// cfg.fragments' map at (warp, lane, its value index).
  std::pair<Value, Value> fragmentAt(int64_t mt, int64_t j, int64_t e);
  /// An affine expression of (warp, lane) as warp terms + (constant + lane
  /// terms) (a term of both counts as a lane term).
  Value warpLaneSum(AffineExpr e);
  /// The XOR mask of chunk `chunk`'s swizzle group in rows of `cols`
  /// 16-bit columns: groups of 8 chunks, then of 4, 2, 1 at the row's end
  /// (D = 80, 96: 8 + 2, 8 + 4), each aligned to its size so the swizzled
  /// chunk stays in its row.
  Value swizzleMask(Value chunk, int64_t cols);
  int64_t swizzleMask(int64_t chunk, int64_t cols);
  /// Byte offset of 16-byte chunk `chunk` of row `row` in a swizzled tile
  /// with `cols` 16-bit columns.
  Value swizzled(Value row, Value chunk, int64_t cols);
  /// The same in a tile of `rows` rows stored in column blocks
  /// (cfg.blockCols, wgmma's layout: block chunk / (blockCols / 8) is a
  /// [rows, blockCols] tile of its own); swizzled() without blocks.
  Value blockSwizzled(Value row, Value chunk, int64_t rows, int64_t cols);
  Value sharedAt(int64_t base, Value byteOffset);
  /// The shared address of (row, chunk) = (rowLane + rowConst, chunkLane +
  /// chunkConst) of the swizzled tile at byte `base` + `stageOffset`, for
  /// rowConst a multiple of 8 and chunkLane in {0, 1} with chunkConst even:
  /// the lane-dependent part is one of few values and the rest an
  /// immediate offset, so the fragment loads in a loop share a handful of
  /// address registers.
  Value swizzledAt(int64_t base, Value stageOffset, Value rowLane,
                   int64_t rowConst, Value chunkLane, int64_t chunkConst,
                   int64_t cols);
  /// Row and 16-byte chunk of copy `c` = tid + it * threads of a tile with
  /// `chunks` chunks per row; when the threads cover whole rows the row is
  /// tid / chunks plus a constant, which keeps address arithmetic simple.
  std::pair<Value, Value> rowAndChunk(Value c, int64_t it, int64_t chunks);
  /// Issues cp.async copies of `rows` rows of `cols` 16-bit columns into
  /// the swizzled tile at shared byte `dst`: row r comes from element
  /// offset `rowOffset(r)` of `tensor` (nullptr: zero-filled).
  void copyRows(const std::string &tensor, int64_t rows, int64_t cols,
                Value dst, function_ref<Value(Value row, Value &valid)> rowOffset);

  /// Position of key row `row` of key tile `t` (-1 when none): t * blockN +
  /// row, or entry t * blockN + row of the shared top-k list of head `h`
  /// (or of the CTA's candidate list, when it fit).
  /// Trusts the list; keepListBroken checks it.
  Value keyPosition(Value t, Value row);
  /// Whether that list entry breaks the keep-list contract (ascending,
  /// unique positions below Lk, then -1 padding). Gathered kernels only.
  Value keepListBroken(Value t, Value row);
  /// Stops the kernel (a device-side assert) where `broken` holds.
  void assertKeepList(Value broken);
  /// Query heads per head of broadcast operand `t` (its `t`_heads is H,
  /// Hkv or 1): max(H / max(t_heads, 1), 1).
  Value headsPer(const std::string &t);
  /// Element offset of (b, h)'s slice of `t`: head h / headsPer(t).
  Value headRow(const std::string &t);
  /// Computes headRow of every per-head tensor the kernel takes once, here
  /// (emitters call it at the kernel's top level once b and h are set);
  /// later headRow calls reuse it. Its two divisions are loop-invariant,
  /// but LLVM does not hoist a division out of the conditional blocks of
  /// the key loop (it may trap): per-element threshold tests recomputed
  /// them for every key (Nsight Compute, run 53).
  void hoistHeadRows();
  /// The block-skip summary row of query tile `qt` of this CTA's (b, h):
  /// the index (i32) of its entry in mask_count and of its row of nKT
  /// key tiles in mask_state and mask_tiles, contiguous
  /// [Mb, Mh, ceil(Lq / qTile), ceil(Lk / kTile)] (dma.tile.mask_summary).
  Value summaryRow(Value qt, int64_t qTile);
  /// ceil(Lk / kTile): the summary's key tiles per row.
  Value summaryKeyTiles(int64_t kTile);
  /// Entry `i` (i32) of `buffer` (mask_state or mask_tiles) in the summary
  /// row starting at element `rowStart` (i64).
  Value summaryAt(const char *buffer, Value rowStart, Value i);
  /// Offset of (b, h, row, key) in a [{B|1}, {H|Hx|1}, {Lq|1}, Lk] tensor.
  Value broadcastOffset(const std::string &t, Value row, Value key);
  /// Whether key `kpos` is visible to query `qpos` (causality and the mask
  /// form); `qvalid` says the query row exists, kpos < 0 means no key.
  /// `kept`, when given, is the per-query top-k's decision for the element
  /// (else it is read per element).
  Value visible(Value qpos, Value qvalid, Value kpos, Value kept = nullptr);
  /// Whether the per-query top-k keeps key `kpos` (clamped: `ks`) for the
  /// rows whose prefix ends at `entry`.
  Value keptAt(Value kpos, Value ks, Value entry);
  /// The (threshold, tiebreak) of the prefix ending at `entry` (head h).
  std::pair<Value, Value> thresholdAt(Value entry);
  /// The prefix end of the per-query top-k that query `qpos` sees, clamped
  /// into [0, Lk) (0 for rows that do not exist).
  Value prefixEntry(Value qpos, Value qvalid);
  /// thresholdAt(prefixEntry(qpos, qvalid)), (0, 0) when there are no keys:
  /// a row's threshold read once for all its elements.
  std::pair<Value, Value> rowThreshold(Value qpos, Value qvalid);
  /// The per-query score of key `ks` (clamped into [0, Lk)) of head h.
  Value keepScoreAt(Value ks);
  /// Whether a key of score `s` at `kpos` passes (`thr`, `tie`): s > thr,
  /// or s == thr and kpos <= tie (NaN scores never pass).
  Value passesThreshold(Value s, Value kpos, Value thr, Value tie);
  /// The logit of the thread's element (row r, key position kpos), -inf
  /// where invisible; `keyBias` is the bias of the key when it does not
  /// depend on the row; `kept` as for visible().
  Value logit(Value raw, Value qpos, Value qvalid, Value kpos, Value keyBias,
              Value kept = nullptr);
  /// The logit of an element known to be visible (a full tile).
  Value visibleLogit(Value raw, Value qpos, Value kpos, Value keyBias);
  /// The bias of (qpos, kpos) (`keyBias` when per key), or null.
  Value biasAt(Value qpos, Value kpos, Value keyBias);

  /// Entry `i` (i32) of the keep list whose row starts at element `base`.
  Value keepAt(Value base, Value i);

private:
  /// Entry t * blockN + row of head h's keep list (`inList`: below w;
  /// `index`: the entry, clamped into the list; `base`: the list's offset).
  Value keepEntry(Value t, Value row, Value &inList, Value &index,
                  Value &base);
};

} // namespace mlir::dma

#endif
