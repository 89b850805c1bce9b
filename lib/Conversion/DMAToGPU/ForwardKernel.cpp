//===- ForwardKernel.cpp - the generated attention forward kernel ---------===//
//
// One CTA computes one (batch, head, query tile) of the tiled forward, the
// way dma-tile-attention wrote it. This file holds the configuration, the
// ABI, and ForwardEmitter's steps: the code each tile op becomes, called by
// that op's conversion pattern (ForwardPatterns.cpp):
//
//  * dma.tile.gather  -> cp.async (16 bytes per thread and step) into
//    XOR-swizzled shared memory, rows addressed by position (zero-filled
//    where the position is -1); K and V tiles are double-buffered so the
//    next key tile loads while this one is computed (the key loop's
//    pattern: emitKeyWalkStart, emitKeyTileStart);
//  * dma.tile.dot     -> ldmatrix + mma.sync m16n8k16 (16-bit inputs, f32
//    accumulation); the accumulators' #dma.mma layout (dma-assign-layouts)
//    says which rows and columns each thread holds: warp w owns R 16-row
//    tiles, each thread two rows of each (lane/4 and lane/4 + 8);
//  * dma.tile.logits  -> element-wise on the accumulator fragments, from
//    the positions of the thread's rows and columns;
//  * dma.tile.softmax -> row max and sum with quad shuffles, P kept in
//    registers and repacked as the A operand of the P V mma;
//  * dma.tile.store_output -> normalise and store O, LSE per row.
//
// The key walk is contiguous key tiles (bounded causally) or, when the
// tiled IR was gathered, chunks of the shared top-k list.
//
//===----------------------------------------------------------------------===//

#include "dma/Conversion/DMAToGPU/ForwardKernel.h"
#include "dma/KernelDefaults.h"
#include "KernelBuilder.h"
#include "ForwardEmitter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <cmath>
#include <limits>
#include <map>

using namespace mlir;
using namespace mlir::dma;

namespace {


constexpr double kLog2e = 1.4426950408889634;
/// How far (log2 units) a row's tile max may exceed the max its P is taken
/// against before that max moves (and O is rescaled): P <= 2^8.
constexpr double kStaleMax = 8.0;
/// The first of the named barriers of the two wgmma warpgroups' turns (1
/// and 2; 0 is the CTA's).
constexpr int64_t kPingPongBarrier = 1;

using Frag = ForwardEmitter::Frag;

} // namespace

//===----------------------------------------------------------------------===//
// Configuration and ABI
//===----------------------------------------------------------------------===//

int64_t ForwardKernelConfig::sharedBytes() const {
  int64_t q = blockM * headDim * 2;
  int64_t kv = stages * blockN * (headDim + valueDim) * 2;
  int64_t positions = stages * blockN * 4;
  int64_t bias = biasPerKey ? stages * blockN * 4 : 0;
  return q + kv + positions + bias + candidateBytes() + blockSkipBytes();
}

int64_t ForwardKernelConfig::candidateSlots() const {
  if (!candidates)
    return 0;
  ForwardKernelConfig tiles = *this;
  tiles.candidates = false;
  int64_t rest = tiles.sharedBytes() + (8 * 32 + 1) * 4;
  // Two CTAs per SM on sm_80/sm_90 (227 KB of shared memory each SM).
  int64_t slots = 8192;
  while (slots > 1024 && rest + slots * 4 > 113 * 1024)
    slots /= 2;
  return slots;
}

int64_t ForwardKernelConfig::defaultWarps() const {
  // Two row tiles per warp halve the shared-memory reads per mma (the
  // bound of this kernel); they need ~2x the accumulator registers, which
  // fits where no per-element mask or bias state competes for them. The
  // per-query candidate walk's state is two registers per row (threshold,
  // tiebreak): 0.413 against 0.473 ms at one row tile per warp, L = 4096
  // (d = 128, 28 spilled bytes; probe_per_query.py, run 45). Its candidate
  // scan wants four warps at least: 64-row tiles at two warps ran 0.824 ms.
  // A dense mask walked by block lists reads the mask on partial tiles
  // only and fits too (d = 128: no spills; forwards 0.73-0.95x the time of
  // one row tile per warp on structured masks, compare_bundles.py --masks,
  // run 64).
  bool light = (mask == MaskKind::None || mask == MaskKind::SharedTopK ||
                (mask == MaskKind::PerQueryTopK && candidates &&
                 blockM >= 128) ||
                (mask == MaskKind::Dense && blockSkip)) &&
               (!biasElement || biasPerKey) && softcap == 0.0 &&
               valueDim <= 128 && headDim <= 128;
  if (light && blockM % 32 == 0 && blockM >= 64)
    return blockM / 32;
  return blockM / 16;
}

std::string ForwardKernelConfig::variantName() const {
  std::string s = element.isF16() ? "f16" : "bf16";
  s += "_d" + std::to_string(headDim);
  if (valueDim != headDim)
    s += "v" + std::to_string(valueDim);
  s += "_m" + std::to_string(blockM) + "n" + std::to_string(blockN) + "w" +
       std::to_string(warps());
  if (stages != 2)
    s += "s" + std::to_string(stages);
  if (swizzle != 8)
    s += "x" + std::to_string(swizzle);
  if (wgmma)
    s += "g";
  switch (mask) {
  case MaskKind::None:
    break;
  case MaskKind::Dense:
    s += blockSkip ? "_maskskip" : "_mask";
    break;
  case MaskKind::SharedTopK:
    s += gathered ? "_keep" : "_keepscan";
    break;
  case MaskKind::PerQueryTopK:
    s += candidates ? "_keeprows" : rankChunk ? "_keeprowsrank" : "_keeprowsscan";
    break;
  }
  if (biasElement)
    s += biasPerKey ? "_keybias" : "_bias";
  if (causal)
    s += "_causal";
  if (deterministic)
    s += "_det";
  if (softcap > 0)
    s += "_softcap";
  return s;
}

LogicalResult ForwardKernelConfig::verify(
    function_ref<InFlightDiagnostic()> emitError) const {
  if (!element || !(element.isBF16() || element.isF16()))
    return emitError() << "the GPU kernels take bf16 or f16 q/k/v (use the "
                          "CPU pipeline for f32)";
  if (blockM % 16 || blockM < 16 || blockM > 128)
    return emitError() << "q-tile must be 16, 32, 48, ..., 128 for the GPU, "
                          "got "
                       << blockM;
  if (warps() < 1 || (blockM / 16) % warps())
    return emitError() << "warps must divide q-tile / 16 = " << blockM / 16
                       << " (each warp owns whole 16-row tiles), got "
                       << warps();
  if (stages < 2 || stages > 4)
    return emitError() << "stages must be 2, 3 or 4 (K/V buffers in flight), "
                          "got "
                       << stages;
  if (fragments && (fragments.getWarps() != warps() ||
                    fragments.getRows() != blockM))
    return emitError() << "the fragment layout " << fragments
                       << " does not cover the " << blockM << "-row tile of "
                       << warps() << " warps";
  if (blockN % 16 || blockN < 16 || blockN > 128)
    return emitError() << "k-tile must be a multiple of 16 up to 128 for the "
                          "GPU, got "
                       << blockN;
  for (int64_t d : {headDim, valueDim})
    if (d % 16 || d < 16 || d > 256)
      return emitError() << "head dims must be multiples of 16 up to 256 for "
                            "the GPU, got "
                         << d;
  if (mask == MaskKind::SharedTopK && !gathered)
    return emitError() << "a shared top-k mask must be gathered "
                          "(dma-gather-keys) for the GPU";
  if (rankChunk)
    return emitError() << "ranked key tiles (dma.tile.ranked_keys) are for "
                          "the backward; the forward walks candidates";
  if (candidates && mask != MaskKind::PerQueryTopK)
    return emitError() << "candidate lists come from a per-query top-k mask";
  if (blockSkip && mask != MaskKind::Dense)
    return emitError() << "block skipping summarises a dense mask";
  if (wgmma && !wgmmaFits(*this))
    return emitError() << "wgmma computes 64 or 128 query rows per CTA with "
                          "head dims in multiples of "
                       << kWgmmaBlockCols << ", got a " << blockM
                       << "-row tile, d = " << headDim << ", dv = " << valueDim;
  if (wgmma && (warps() != blockM / 16 || swizzle != 8 ||
                blockCols != kWgmmaBlockCols))
    return emitError() << "wgmma needs one warp per 16 query rows ("
                       << blockM / 16 << "), swizzle 8 and "
                       << kWgmmaBlockCols << "-column blocks, got "
                       << warps() << " warps, swizzle " << swizzle
                       << ", blocks of " << blockCols;
  if (!wgmma && blockCols)
    return emitError() << "column blocks (block_cols) are wgmma's layout";
  if (sharedBytes() > 227 * 1024)
    return emitError() << "tiles need " << sharedBytes()
                       << " bytes of shared memory; at most 232448 exist";
  return success();
}

bool mlir::dma::wgmmaByDefault(const ForwardKernelConfig &c) {
  const char *names[] = {"none", "mask", "keep", "keep_rows"};
  static_assert(static_cast<int>(MaskKind::None) == 0 &&
                    static_cast<int>(MaskKind::Dense) == 1 &&
                    static_cast<int>(MaskKind::SharedTopK) == 2 &&
                    static_cast<int>(MaskKind::PerQueryTopK) == 3,
                "the runtime's mask names in MaskKind's order");
  return dma_defaults::wgmmaByDefault(names[static_cast<int>(c.mask)]);
}

SmallVector<KernelParam>
mlir::dma::forwardKernelParams(const ForwardKernelConfig &c) {
  using K = KernelParam;
  SmallVector<KernelParam> p = {{"q", K::Pointer}, {"k", K::Pointer},
                                {"v", K::Pointer}, {"o", K::Pointer},
                                {"lse", K::Pointer}};
  if (c.biasElement)
    p.push_back({"bias", K::Pointer});
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
  for (const char *t : {"q", "k", "v", "o"})
    for (const char *d : {"b", "l", "h"})
      p.push_back({std::string(t) + "_stride_" + d, K::I64});
  p.push_back({"lse_stride_b", K::I64});
  p.push_back({"lse_stride_h", K::I64});
  auto broadcast4 = [&](const std::string &t) {
    p.push_back({t + "_heads", K::I32});
    for (const char *d : {"b", "h", "q", "k"})
      p.push_back({t + "_stride_" + d, K::I64});
  };
  if (c.biasElement)
    broadcast4("bias");
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
  return p;
}

//===----------------------------------------------------------------------===//
// The kernel
//===----------------------------------------------------------------------===//

namespace {

/// Key steps per round of the candidate scan: step i of warp w tests keys
/// round + i * threads + 32 w + lane (coalesced loads, many in flight).
constexpr int64_t kCandidateSteps = 32;

} // namespace

void ForwardEmitter::loadKeyTile(Value t, Value stage) {
  int64_t threads = cfg.threads();
  // A copy's key position and whether to load it (the list lookup and the
  // per-query keep test), by copy index: K and V rows of equal width map
  // copy `it` of a thread to the same row, so V reuses K's (computed at
  // the top level of the tile load, where the V copies can see them).
  struct RowCopy {
    Value pos, safePos, load;
  };
  std::map<int64_t, RowCopy> kRows;
  auto loadRows = [&](const char *tensor, Value base, int64_t cols,
                      int64_t smemBase, bool isKey) {
    int64_t chunks = cols * elementBytes() / 16;
    int64_t total = cfg.blockN * chunks;
    int64_t tileBytes = cfg.blockN * cols * elementBytes();
    bool sameRows = !isKey && cols == cfg.headDim;
    Value src0 = ptrArg(tensor);
    for (int64_t it = 0; it < (total + threads - 1) / threads; ++it) {
      Value c = k.add(tid, k.c32(it * threads));
      bool full = (it + 1) * threads <= total;
      auto body = [&] {
        Value row, chunk;
        std::tie(row, chunk) = rowAndChunk(c, it, chunks);
        RowCopy rc;
        if (auto known = kRows.find(it); sameRows && known != kRows.end()) {
          rc = known->second;
        } else {
          rc.pos = keyPosition(t, row);
          Value valid = k.cmpi(ip(IPred::sge), rc.pos, k.c32(0));
          rc.safePos = k.select(valid, rc.pos, k.c32(0));
          Value listIndex = k.add(k.mul(t, k.c32(cfg.blockN)), row);
          rc.load = k.andi(valid, neededByTile(rc.pos, rc.safePos, listIndex));
          if (isKey && full)
            kRows[it] = rc;
        }
        Value off = k.add(k.add(base, strided(tensor, "l", rc.safePos)),
                          k.sext64(k.mul(chunk, k.c32(8))));
        Value src = k.gep(src0, cfg.element, off);
        Value dst = sharedAt(smemBase,
                             k.add(k.mul(stage, k.c32(tileBytes)),
                                   blockSwizzled(row, chunk, cfg.blockN, cols)));
        k.cpAsync16(dst, src, k.select(rc.load, k.c32(16), k.c32(0)));
        if (isKey)
          k.ifThen(k.cmpi(ip(IPred::eq), chunk, k.c32(0)), [&] {
            Value slot = k.add(k.mul(stage, k.c32(cfg.blockN)), row);
            k.storeTo(rc.pos, k.gep(smem, k.i32Type,
                                    k.add(slot, k.c32(posOff / 4))));
          });
      };
      if (full)
        body();
      else
        k.ifThen(k.cmpi(ip(IPred::slt), c, k.c32(total)), body);
    }
  };
  loadRows("k", kBase, cfg.headDim, kOff, /*isKey=*/true);
  loadRows("v", vBase, cfg.valueDim, vOff, /*isKey=*/false);
}

SmallVector<Value> ForwardEmitter::loadKeyBias(Value t) {
  SmallVector<Value> values;
  Type be = cfg.biasElement;
  for (int64_t r = 0; r < keyBiasRowsPerThread(); ++r) {
    Value row = k.add(tid, k.c32(r * cfg.threads()));
    Value inTile = k.cmpi(ip(IPred::slt), row, k.c32(cfg.blockN));
    Value pos = keyPosition(t, k.select(inTile, row, k.c32(0)));
    Value valid = k.andi(inTile, k.cmpi(ip(IPred::sge), pos, k.c32(0)));
    values.push_back(k.ifElse(
        valid, {k.f32Type},
        [&] {
          return SmallVector<Value>{k.loadF32(
              be, k.gep(ptrArg("bias"), be,
                        broadcastOffset("bias", k.c32(0), pos)))};
        },
        [&] { return SmallVector<Value>{k.f32(0.0)}; })[0]);
  }
  return values;
}

void ForwardEmitter::storeKeyBias(Value stage, ValueRange values) {
  for (size_t r = 0; r < values.size(); ++r) {
    Value value = values[r];
    Value row = k.add(tid, k.c32(static_cast<int64_t>(r) * cfg.threads()));
    k.ifThen(k.cmpi(ip(IPred::slt), row, k.c32(cfg.blockN)), [&] {
      Value slot = k.add(k.mul(stage, k.c32(cfg.blockN)), row);
      k.storeTo(value, k.gep(smem, k.f32Type,
                             k.add(slot, k.c32(biasOff / 4))));
    });
  }
}

/// Q's copies (one cp.async group with the first key tile's): they fly
/// while the key walk is worked out.
void ForwardEmitter::emitQueryLoad() {
  int64_t threads = cfg.threads();
  int64_t chunks = cfg.headDim * elementBytes() / 16;
  int64_t total = cfg.blockM * chunks;
  Value src0 = ptrArg("q");
  for (int64_t it = 0; it < (total + threads - 1) / threads; ++it) {
    Value c = k.add(tid, k.c32(it * threads));
    auto body = [&] {
      Value row, chunk;
        std::tie(row, chunk) = rowAndChunk(c, it, chunks);
      Value pos = k.add(q0, row);
      Value valid = k.cmpi(ip(IPred::slt), pos, Lq);
      Value safePos = k.select(valid, pos, k.c32(0));
      Value off = k.add(k.add(qBase, strided("q", "l", safePos)),
                        k.sext64(k.mul(chunk, k.c32(8))));
      k.cpAsync16(sharedAt(qOff, blockSwizzled(row, chunk, cfg.blockM,
                                               cfg.headDim)),
                  k.gep(src0, cfg.element, off),
                  k.select(valid, k.c32(16), k.c32(0)));
    };
    if ((it + 1) * threads <= total)
      body();
    else
      k.ifThen(k.cmpi(ip(IPred::slt), c, k.c32(total)), body);
  }
}

Value ForwardEmitter::lastVisibleKey() {
  if (!cfg.causal)
    return k.sub(Lk, k.c32(1));
  Value lastRow = k.sub(k.minsi(k.add(q0, k.c32(cfg.blockM)), Lq), k.c32(1));
  return k.add(lastRow, keyOffset);
}

Value ForwardEmitter::keyTileCount() {
  Value limit = lastVisibleKey();
  auto chunks = [&](Value n) {
    return k.divsi(k.add(n, k.c32(cfg.blockN - 1)), k.c32(cfg.blockN));
  };
  if (cfg.blockSkip) {
    // The listed key tiles (ascending) below the causal end: a binary
    // search of the summary row.
    Value listed = summaryAt("mask_count", k.c64(0), summaryIndex);
    if (!cfg.causal)
      return listed;
    Value endTile = chunks(k.maxsi(k.minsi(k.add(limit, k.c32(1)), Lk),
                                   k.c32(0)));
    return k.partitionPoint(k.c32(0), listed, [&](Value i) {
      return k.cmpi(ip(IPred::slt), listedTile(i), endTile);
    });
  }
  if (!cfg.gathered) {
    Value end = k.maxsi(k.minsi(k.add(limit, k.c32(1)), Lk), k.c32(0));
    if (cfg.candidates)
      return k.select(candidatesFit, chunks(candidateCount), chunks(end));
    return chunks(end);
  }
  // Binary search: list entries (ascending, -1 padded) that are <= limit.
  Value rowBase = headRow("keep");
  Value listed = k.partitionPoint(k.c32(0), arg("keep_w"), [&](Value i) {
    Value v = keepAt(rowBase, i);
    return k.andi(k.cmpi(ip(IPred::sge), v, k.c32(0)),
                  k.cmpi(ip(IPred::sle), v, limit));
  });
  return chunks(listed);
}




/// Whether some row of this CTA may see key `pos`. Keys none of them sees
/// are zero-filled instead of loaded: P is 0 for them, and 0 x NaN in P V
/// would carry a NaN or Inf of a hidden key's value row (an uninitialised
/// KV-cache row, say) into every row of the tile. Exact for keys past the
/// tile's causal bound, masks broadcast over queries and the per-query
/// top-k; a per-element mask leaves a key some row sees loaded.
Value ForwardEmitter::neededByTile(Value pos, Value safePos,
                                   Value listIndex) {
  Value needed = k.boolean(true);
  if (cfg.causal)
    needed = k.cmpi(ip(IPred::sle), pos, lastVisibleKey());
  if (cfg.mask == MaskKind::Dense) {
    // A mask broadcast over queries (stride 0) decides for every row.
    Value perRow = k.cmpi(ip(IPred::ne), arg("mask_stride_q"), k.c64(0));
    Value m = k.loadAs(k.i8Type, k.gep(ptrArg("mask"), k.i8Type,
                                       broadcastOffset("mask", k.c32(0),
                                                       safePos)));
    needed = k.andi(needed, k.ori(perRow, k.cmpi(ip(IPred::ne), m,
                                                 k.intOf(k.i8Type, 0))));
  }
  if (cfg.mask == MaskKind::PerQueryTopK) {
    // Thresholds grow with the prefix: the first row whose prefix reaches
    // the key keeps it if any row does.
    Value entry = cfg.causal
                      ? k.minsi(k.maxsi(safePos, k.maxsi(k.add(q0, keyOffset),
                                                         k.c32(0))),
                                k.sub(Lk, k.c32(1)))
                      : k.sub(Lk, k.c32(1));
    // Listed keys every row keeps need no test; the per-element ones and
    // the contiguous walk's are read where their first row may keep them.
    Value kept =
        cfg.candidates
            ? k.ifElse(k.andi(candidatesFit, k.cmpi(ip(IPred::slt), listIndex,
                                                     candidateFull)),
                       {k.i1Type},
                       [&] { return SmallVector<Value>{k.boolean(true)}; },
                       [&] {
                         return SmallVector<Value>{
                             keptAt(safePos, safePos, entry)};
                       })[0]
            : keptAt(safePos, safePos, entry);
    needed = k.andi(needed, kept);
  }
  return needed;
}

/// The candidates of the query tile are the keys j <= its last prefix end
/// that pass the threshold of its first: thresholds only grow with the
/// prefix, so a key no row of the tile keeps fails it. At most w + blockM -
/// 1 keys for w kept per row, against every key up to the diagonal for the
/// contiguous walk. They come in two classes: keys every row sees that also
/// pass the last row's threshold are kept by every row (slots 0, 1, ...
/// ascending: whole tiles of them need no per-element test), the others are
/// decided per element (slots from the end down). Far from the start almost
/// all are of the first kind: a tile's thresholds move by a few keys.
///
/// A round tests kCandidateSteps x threads consecutive keys, each warp step
/// 32 of them (one per lane: coalesced loads). A key's slot is the count of
/// passing keys before it: the lanes below it (ballot), then the earlier
/// (step, warp) pairs, whose packed counts (both classes in one i32) warp 0
/// scans in shared memory. A tile with more candidates than slots walks its
/// keys contiguously instead, deciding per element.
void ForwardEmitter::emitCandidates() {
  int64_t threads = cfg.threads(), steps = kCandidateSteps;
  int64_t warps = cfg.warps(), slots = cfg.candidateSlots();
  int64_t pairs = steps * warps; // (step, warp) counts per round
  Value end =
      k.maxsi(k.minsi(k.add(lastVisibleKey(), k.c32(1)), Lk), k.c32(0));
  // The first and last rows' prefix ends.
  Value first = prefixEntry(q0, k.boolean(true));
  Value last = k.maxsi(k.sub(end, k.c32(1)), k.c32(0));
  // The last key every row sees (none when the first row sees no key:
  // causal rows before the keys' start, Lq > Lk).
  Value seenByAll = cfg.causal ? k.add(q0, keyOffset) : k.sub(Lk, k.c32(1));
  Type tieType = cfg.tiebreakElement;
  SmallVector<Value> thresholds = k.ifElse(
      k.cmpi(ip(IPred::sgt), end, k.c32(0)),
      {k.f32Type, tieType, k.f32Type, tieType},
      [&] {
        auto [thr, tie] = thresholdAt(first);
        auto [thrLast, tieLast] = thresholdAt(last);
        return SmallVector<Value>{thr, tie, thrLast, tieLast};
      },
      [&] {
        Value z = k.intOf(tieType, 0);
        return SmallVector<Value>{k.f32(0.0), z, k.f32(0.0), z};
      });
  Value listBase = k.c32(candidateOff / 4);
  Value countBase = k.c32(candidateOff / 4 + slots);
  auto countAt = [&](Value i) {
    return k.gep(smem, k.i32Type, k.add(countBase, i));
  };
  Value lanesBelow = k.sub(k.shli(k.c32(1), lane), k.c32(1));
  Value mask16 = k.c32(0xffff);
  Value rounds = k.divsi(k.add(end, k.c32(threads * steps - 1)),
                         k.c32(threads * steps));
  SmallVector<Value> counts = k.forLoop(
      k.index(0), k.i32ToIndex(rounds), {k.c32(0), k.c32(0)},
      [&](Value r, ValueRange acc) {
        Value j0 = k.add(k.mul(k.indexToI32(r), k.c32(threads * steps)), tid);
        SmallVector<Value> everyRow, someRow;
        for (int64_t i = 0; i < steps; ++i) {
          Value j = k.add(j0, k.c32(i * threads));
          Value s = keepScoreAt(k.minsi(j, last));
          Value any = k.andi(k.cmpi(ip(IPred::slt), j, end),
                             passesThreshold(s, j, thresholds[0],
                                             thresholds[1]));
          Value all = k.andi(
              k.andi(any, k.cmpi(ip(IPred::sle), j, seenByAll)),
              passesThreshold(s, j, thresholds[2], thresholds[3]));
          everyRow.push_back(k.ballot(all));
          someRow.push_back(k.ballot(k.andi(any, k.notb(all))));
        }
        // Each warp's counts per step (both classes in one i32: at most
        // 32 * pairs < 2^16 a round).
        k.ifThen(k.cmpi(ip(IPred::eq), lane, k.c32(0)), [&] {
          for (int64_t i = 0; i < steps; ++i) {
            Value n = k.add(k.popc(everyRow[i]),
                            k.shli(k.popc(someRow[i]), k.c32(16)));
            k.storeTo(n, countAt(k.add(k.c32(i * warps), warp)));
          }
        });
        k.barrier();
        // Warp 0: exclusive prefix sums over the (step, warp) pairs in
        // order, in place, and the round's total after them.
        k.ifThen(k.cmpi(ip(IPred::eq), warp, k.c32(0)), [&] {
          int64_t each = (pairs + 31) / 32;
          Value own = k.c32(0);
          SmallVector<Value> vals;
          for (int64_t e = 0; e < each; ++e) {
            Value idx = k.add(k.mul(lane, k.c32(each)), k.c32(e));
            Value in = k.cmpi(ip(IPred::slt), idx, k.c32(pairs));
            Value v = k.ifElse(in, {k.i32Type},
                               [&] {
                                 return SmallVector<Value>{
                                     k.loadAs(k.i32Type, countAt(idx))};
                               },
                               [&] { return SmallVector<Value>{k.c32(0)}; })[0];
            vals.push_back(v);
            own = k.add(own, v);
          }
          Value incl = k.warpInclusiveSums({own}, lane)[0];
          Value run = k.sub(incl, own);
          for (int64_t e = 0; e < each; ++e) {
            Value idx = k.add(k.mul(lane, k.c32(each)), k.c32(e));
            Value at = run;
            k.ifThen(k.cmpi(ip(IPred::slt), idx, k.c32(pairs)),
                     [&] { k.storeTo(at, countAt(idx)); });
            run = k.add(run, vals[e]);
          }
          k.ifThen(k.cmpi(ip(IPred::eq), lane, k.c32(31)),
                   [&] { k.storeTo(incl, countAt(k.c32(pairs))); });
        });
        k.barrier();
        for (int64_t i = 0; i < steps; ++i) {
          Value before =
              k.loadAs(k.i32Type, countAt(k.add(k.c32(i * warps), warp)));
          Value j = k.add(j0, k.c32(i * threads));
          Value slotA = k.add(k.add(acc[0], k.andi(before, mask16)),
                              k.popc(k.andi(everyRow[i], lanesBelow)));
          Value slotB = k.add(k.add(acc[1], k.shrui(before, k.c32(16))),
                              k.popc(k.andi(someRow[i], lanesBelow)));
          Value bit = k.shli(k.c32(1), lane);
          auto mine = [&](Value ballot) {
            return k.cmpi(ip(IPred::ne), k.andi(ballot, bit), k.c32(0));
          };
          k.ifThen(k.andi(mine(everyRow[i]),
                          k.cmpi(ip(IPred::slt), slotA, k.c32(slots))),
                   [&] {
                     k.storeTo(j, k.gep(smem, k.i32Type,
                                        k.add(listBase, slotA)));
                   });
          k.ifThen(k.andi(mine(someRow[i]),
                          k.cmpi(ip(IPred::slt), slotB, k.c32(slots))),
                   [&] {
                     Value at = k.sub(k.c32(slots - 1), slotB);
                     k.storeTo(j, k.gep(smem, k.i32Type,
                                        k.add(listBase, at)));
                   });
        }
        Value total = k.loadAs(k.i32Type, countAt(k.c32(pairs)));
        // Nobody rewrites the counts before everybody has read them.
        k.barrier();
        return SmallVector<Value>{k.add(acc[0], k.andi(total, mask16)),
                                  k.add(acc[1], k.shrui(total, k.c32(16)))};
      });
  candidateFull = counts[0];
  candidateCount = k.add(counts[0], counts[1]);
  candidatesFit = k.cmpi(ip(IPred::sle), candidateCount, k.c32(slots));
  // The list is read by every thread's copies from here on.
  k.barrier();
}

Value ForwardEmitter::tileFullyVisible(Value t, Value stage, Value lastKeyPos) {
  if ((cfg.mask == MaskKind::Dense && !cfg.blockSkip) ||
      (cfg.mask == MaskKind::PerQueryTopK && !cfg.candidates))
    return k.boolean(false);
  Value rowsExist = k.cmpi(ip(IPred::sle), k.add(q0, k.c32(cfg.blockM)), Lq);
  if (cfg.blockSkip) {
    // The summary says the mask keeps every entry of the block's rows and
    // keys; the rows and keys must also all exist and lie below the
    // diagonal (below).
    Value state = k.loadAs(k.i32Type, k.gep(smem, k.i32Type,
                                            k.add(stage, k.c32(fullOff / 4))));
    rowsExist = k.andi(rowsExist, k.cmpi(ip(IPred::eq), state, k.c32(2)));
  }
  if (cfg.candidates) {
    // Whole tiles of keys every row keeps (at or before the first row's
    // prefix end, so causally visible too).
    Value endOfTile = k.mul(k.add(t, k.c32(1)), k.c32(cfg.blockN));
    return k.andi(k.andi(candidatesFit, rowsExist),
                  k.cmpi(ip(IPred::sle), endOfTile, candidateFull));
  }
  // Key positions ascend within a tile (contiguous keys, or a sorted list
  // padded with -1), so the last one decides for all.
  Value full = k.andi(rowsExist, k.cmpi(ip(IPred::sge), lastKeyPos, k.c32(0)));
  if (cfg.causal)
    full = k.andi(full,
                  k.cmpi(ip(IPred::sle), lastKeyPos, k.add(q0, keyOffset)));
  return full;
}

/// The CTA's tile and its shared-memory plan.
void ForwardEmitter::emitSetUp() {
  setUp(forwardKernelParams(cfg));

  int64_t bm = cfg.blockM, bn = cfg.blockN, d = cfg.headDim, dv = cfg.valueDim;
  qOff = 0;
  int64_t ns = cfg.stages;
  kOff = qOff + bm * d * 2;
  vOff = kOff + ns * bn * d * 2;
  posOff = vOff + ns * bn * dv * 2;
  biasOff = posOff + ns * bn * 4;
  candidateOff = biasOff + (cfg.biasPerKey ? ns * bn * 4 : 0);
  fullOff = candidateOff + cfg.candidateBytes();
  nOut = cfg.valueDim / 8;
  nS = cfg.blockN / 8;

  // The heaviest query tiles (last under a causal mask) start first, so
  // the grid's tail is made of short CTAs.
  qt = k.sub(k.sub(k.gridDimX(), k.c32(1)), k.blockId(0));
  h = k.blockId(1);
  b = k.blockId(2);
  q0 = k.mul(qt, k.c32(bm));
  Value group = k.maxsi(k.divsi(H, k.maxsi(Hkv, k.c32(1))), k.c32(1));
  g = k.divsi(h, group);
  hoistHeadRows();
  qBase = k.add(strided("q", "b", b), strided("q", "h", h));
  kBase = k.add(strided("k", "b", b), strided("k", "h", g));
  vBase = k.add(strided("v", "b", b), strided("v", "h", g));
  if (cfg.blockSkip) {
    summaryIndex = summaryRow(qt, bm);
    listStart =
        k.mul(k.sext64(summaryIndex), k.sext64(summaryKeyTiles(bn)));
  }
}

/// The walk's length and the first stages - 1 key tiles in flight, one
/// cp.async group per tile (Q joins the first); the key loop waits for
/// each in turn.
SmallVector<Value> ForwardEmitter::emitKeyWalkStart(ValueRange acc,
                                                    ValueRange max,
                                                    ValueRange sum) {
  int64_t ns = cfg.stages;
  nTiles32 = keyTileCount();
  nTiles = k.i32ToIndex(nTiles32);
  for (int64_t s = 0; s + 1 < ns; ++s) {
    k.ifThen(k.cmpi(ip(IPred::sgt), nTiles, k.index(s)), [&] {
      Value kt = keyTileOf(k.c32(s));
      loadKeyTile(kt, k.c32(s));
      if (cfg.blockSkip)
        storeFull(k.c32(s), tileState(kt));
    });
    k.cpAsyncCommit();
  }
  if (cfg.biasPerKey)
    storeKeyBias(k.c32(0), loadKeyBias(keyTileOf(k.c32(0))));
  // Per-query top-k: each row's (threshold, tiebreak), read once; the
  // elements compare their key's score against them.
  if (cfg.mask == MaskKind::PerQueryTopK)
    for (size_t r = 0; r < qpos.size(); ++r) {
      auto [thr, tie] = rowThreshold(qpos[r], qvalid[r]);
      rowThr.push_back(thr);
      rowTie.push_back(tie);
    }

  // Ping-pong: warpgroup 0 takes the first turn (warpgroup 1 arrives at its
  // barrier once; every later turn is handed over after an issue).
  if (pingPong())
    k.ifThen(k.cmpi(ip(IPred::eq), k.divsi(warp, k.c32(4)), k.c32(1)), [&] {
      k.namedBarrierArrive(k.c32(kPingPongBarrier), cfg.threads());
    });

  SmallVector<Value> init = loopState(acc, max, sum);
  // Block skipping: (key tile, state) of walk step ns - 1, the next copy.
  carried = init.size();
  if (cfg.blockSkip)
    init.append(k.ifElse(k.cmpi(ip(IPred::sgt), nTiles32, k.c32(0)),
                         {k.i32Type, k.i32Type},
                         [&] {
                           Value kt = keyTileOf(k.c32(ns - 1));
                           return SmallVector<Value>{kt, tileState(kt)};
                         },
                         [&] {
                           return SmallVector<Value>{k.c32(0), k.c32(0)};
                         }));
  return init;
}

void ForwardEmitter::storeFull(Value stage, Value state) {
  k.ifThen(k.cmpi(ip(IPred::eq), tid, k.c32(0)), [&] {
    k.storeTo(state,
              k.gep(smem, k.i32Type, k.add(stage, k.c32(fullOff / 4))));
  });
}

Value ForwardEmitter::keyTileOf(Value i) {
  // Block skipping walks the listed key tiles: step i copies tile
  // listed[i]; entries past the walk read its last one.
  return cfg.blockSkip ? listedTile(k.minsi(i, k.sub(nTiles32, k.c32(1))))
                       : i;
}

ForwardEmitter::Frag ForwardEmitter::qFragment(int64_t mt, int64_t s) {
  return k.ldmatrixX4(swizzledAt(qOff, k.c32(0), qRowLane, 16 * mt, laneHi,
                                 2 * s, cfg.headDim),
                      /*transpose=*/false);
}

/// The rows of the thread's fragments (#dma.mma) and what is read once per
/// row: positions and validity.
SmallVector<Value> ForwardEmitter::emitThreadRows() {
  // Warp w owns query rows [16 R w, 16 R (w + 1)): R row tiles of 16, each
  // thread two rows of each (gid and gid + 8). Q stays in shared memory; its
  // fragments are re-read per key tile (registers go to S, P and O).
  Value warpRow = k.mul(warp, k.c32(16 * rowTiles()));
  // ldmatrix.x4 lane roles: Q rows lane % 16, chunk lane / 16; K rows
  // lane % 8 + 8 (lane / 16), chunk (lane / 8) % 2; V (transposed) rows
  // lane % 8 + 8 ((lane / 8) % 2), chunk lane / 16.
  qRowLane = k.add(warpRow, lane16);
  kRowLane = k.add(lane8, k.mul(laneHi, k.c32(8)));
  vRowLane = k.add(lane8, k.mul(laneMid, k.c32(8)));

  // Position and validity of thread row r (= 2 mt + half) of the tile:
  // the row of its accumulator values 2 half and 2 half + 1 (#dma.mma).
  for (int64_t mt = 0; mt < rowTiles(); ++mt)
    for (int64_t half = 0; half < 2; ++half) {
      Value row = fragmentAt(mt, 0, 2 * half).first;
      qpos.push_back(k.add(q0, row));
      qvalid.push_back(k.cmpi(ip(IPred::slt), qpos.back(), Lq));
    }
  ninf = k.f32(-std::numeric_limits<double>::infinity());
  return qpos;
}

Value ForwardEmitter::stageOf(Value t) {
  return k.remsi(k.indexToI32(t), k.c32(cfg.stages));
}

/// The top of one iteration of the key loop: the pipeline's wait and next
/// copy.
void ForwardEmitter::emitKeyTileStart(Value t, ValueRange st) {
  int64_t ns = cfg.stages;
  Value t32 = k.indexToI32(t);
  // Groups 0..t are complete once at most stages - 2 are pending: tile
  // t has landed. After the barrier everybody is done with tile t - 1,
  // whose buffer receives tile t + stages - 1.
  k.cpAsyncWaitGroup(ns - 2);
  // wgmma reads shared memory through the async proxy: each thread's
  // landed copies are made visible to it before the barrier.
  if (cfg.wgmma)
    k.fenceProxyAsyncShared();
  k.barrier();
  Value ahead = k.add(t32, k.c32(ns - 1));
  // Block skipping: the tile after `ahead`, for the next iteration.
  Value aheadTile, aheadState;
  if (cfg.blockSkip) {
    aheadTile = st[carried];
    aheadState = st[carried + 1];
    laterTile = keyTileOf(k.add(ahead, k.c32(1)));
  }
  k.ifThen(k.cmpi(ip(IPred::slt), k.i32ToIndex(ahead), nTiles), [&] {
    Value aheadStage = k.remsi(ahead, k.c32(ns));
    loadKeyTile(cfg.blockSkip ? aheadTile : ahead, aheadStage);
    if (cfg.blockSkip)
      storeFull(aheadStage, aheadState);
  });
  k.cpAsyncCommit(); // possibly empty: one group per iteration
  nextBias.clear();
  if (cfg.biasPerKey)
    nextBias = loadKeyBias(keyTileOf(k.add(t32, k.c32(1))));
}

SmallVector<Value> ForwardEmitter::emitKeyTileEnd(Value t,
                                                  const Fragments &acc,
                                                  ValueRange max,
                                                  ValueRange sum) {
  // The next tile's key bias: nobody reads its slot before the next
  // iteration's barrier.
  if (cfg.biasPerKey) {
    Value next = k.add(k.indexToI32(t), k.c32(1));
    Value hasNext = k.cmpi(ip(IPred::slt), k.i32ToIndex(next), nTiles);
    k.ifThen(hasNext, [&] {
      storeKeyBias(k.remsi(next, k.c32(cfg.stages)), nextBias);
    });
  }
  SmallVector<Value> yielded = loopState(flatten(acc), max, sum);
  if (cfg.blockSkip)
    yielded.append({laterTile, tileState(laterTile)});
  return yielded;
}

void ForwardEmitter::emitKeyWalkEnd() { k.cpAsyncWaitAll(); }

void ForwardEmitter::emitReturn() {
  if (cfg.gathered)
    checkKeepList();
  gpu::ReturnOp::create(k.builder(), k.location());
}

ForwardEmitter::Fragments ForwardEmitter::toFragments(ValueRange flat,
                                                      int64_t columns) const {
  int64_t blocks = columns / 8;
  assert(static_cast<int64_t>(flat.size()) == rowTiles() * blocks * 4 &&
         "not a #dma.mma tile's per-thread values");
  Fragments f(rowTiles(), std::vector<Frag>(blocks));
  for (int64_t mt = 0; mt < rowTiles(); ++mt)
    for (int64_t j = 0; j < blocks; ++j)
      for (int64_t v = 0; v < 4; ++v)
        f[mt][j][v] = flat[(mt * blocks + j) * 4 + v];
  return f;
}

/// Per row tile: the O accumulator (dv/8 n-tiles x 4), row max x2, row
/// sum x2: one row tile's state is adjacent in the loop's arguments.
SmallVector<Value> ForwardEmitter::loopState(ValueRange acc, ValueRange max,
                                             ValueRange sum) const {
  SmallVector<Value> state;
  for (int64_t mt = 0; mt < rowTiles(); ++mt) {
    state.append(acc.begin() + mt * nOut * 4, acc.begin() + (mt + 1) * nOut * 4);
    state.append({max[2 * mt], max[2 * mt + 1], sum[2 * mt], sum[2 * mt + 1]});
  }
  return state;
}

std::array<SmallVector<Value>, 3>
ForwardEmitter::splitLoopState(ValueRange state) const {
  std::array<SmallVector<Value>, 3> parts; // acc, max, sum
  int64_t perTile = nOut * 4 + 4;
  for (int64_t mt = 0; mt < rowTiles(); ++mt) {
    ValueRange tile = state.slice(mt * perTile, perTile);
    parts[0].append(tile.begin(), tile.begin() + nOut * 4);
    parts[1].append({tile[nOut * 4], tile[nOut * 4 + 1]});
    parts[2].append({tile[nOut * 4 + 2], tile[nOut * 4 + 3]});
  }
  return parts;
}

SmallVector<Value> ForwardEmitter::flatten(const Fragments &f) {
  SmallVector<Value> flat;
  for (const auto &row : f)
    for (const Frag &frag : row)
      flat.append(frag.begin(), frag.end());
  return flat;
}

/// dma.tile.dot S = Q K^T: ldmatrix + mma.sync; each K fragment feeds every
/// row tile of the warp.
ForwardEmitter::Fragments ForwardEmitter::emitScores(Value stage,
                                                     Fragments s) {
  bool f16 = cfg.element.isF16();
  int64_t bn = cfg.blockN, d = cfg.headDim;
  Value kTileBase = k.mul(stage, k.c32(bn * d * 2));
  for (int64_t ks = 0; ks < d / 16; ++ks) {
    std::vector<Frag> qf;
    for (int64_t mt = 0; mt < rowTiles(); ++mt)
      qf.push_back(qFragment(mt, ks));
    for (int64_t jp = 0; jp < nS / 2; ++jp) {
      Frag bf = k.ldmatrixX4(swizzledAt(kOff, kTileBase, kRowLane,
                                        16 * jp, laneMid, 2 * ks, d),
                             /*transpose=*/false);
      for (int64_t mt = 0; mt < rowTiles(); ++mt) {
        s[mt][2 * jp] = k.mma(qf[mt], {bf[0], bf[1]}, s[mt][2 * jp], f16);
        s[mt][2 * jp + 1] =
            k.mma(qf[mt], {bf[2], bf[3]}, s[mt][2 * jp + 1], f16);
      }
    }
  }
  return s;
}

/// dma.tile.logits: from the positions of the thread's rows and columns.
/// Full tiles (most of a long sequence) skip the per-element masking.
void ForwardEmitter::emitLogits(Fragments &s, Value t, Value stage) {
  int64_t bn = cfg.blockN;
  Value t32 = k.indexToI32(t);
  Value posBase = k.add(k.mul(stage, k.c32(bn)), k.c32(posOff / 4));
  Value lastPos = k.loadAs(
      k.i32Type, k.gep(smem, k.i32Type, k.add(posBase, k.c32(bn - 1))));
  SmallVector<Type> sTypes(rowTiles() * nS * 4, k.f32Type);
  auto logits = [&](bool full) {
    SmallVector<Value> out;
    for (int64_t mt = 0; mt < rowTiles(); ++mt)
      for (int64_t j = 0; j < nS; ++j) {
        Value kpos[2], keyBias[2], score[2];
        for (int64_t e = 0; e < 2; ++e) {
          Value col = fragmentColumn(j, e);
          kpos[e] = k.loadAs(k.i32Type, k.gep(smem, k.i32Type,
                                              k.add(posBase, col)));
          if (cfg.biasPerKey)
            keyBias[e] = k.loadAs(
                k.f32Type,
                k.gep(smem, k.f32Type,
                      k.add(k.add(posBase,
                                  k.c32((biasOff - posOff) / 4)),
                            col)));
          if (!full && cfg.mask == MaskKind::PerQueryTopK)
            score[e] = keepScoreAt(k.maxsi(kpos[e], k.c32(0)));
        }
        for (int64_t v = 0; v < 4; ++v) {
          int64_t r = 2 * mt + v / 2, e = v % 2;
          Value kept;
          if (!full && cfg.mask == MaskKind::PerQueryTopK) {
            kept = passesThreshold(score[e], kpos[e], rowThr[r],
                                   rowTie[r]);
          }
          out.push_back(
              full ? visibleLogit(s[mt][j][v], qpos[r], kpos[e],
                                  keyBias[e])
                   : logit(s[mt][j][v], qpos[r], qvalid[r], kpos[e],
                           keyBias[e], kept));
        }
      }
    return out;
  };
  SmallVector<Value> sl =
      k.ifElse(tileFullyVisible(t32, stage, lastPos), sTypes,
               [&] { return logits(true); },
               [&] { return logits(false); });
  for (int64_t mt = 0; mt < rowTiles(); ++mt)
    for (int64_t j = 0; j < nS; ++j)
      for (int v = 0; v < 4; ++v)
        s[mt][j][v] = sl[(mt * nS + j) * 4 + v];
}

/// dma.tile.softmax: the online softmax step per row tile; P replaces S in
/// `s`, the rescaled accumulators are returned and the row max and sum
/// (two per row tile) updated.
ForwardEmitter::Fragments
ForwardEmitter::emitSoftmax(Fragments &s, Fragments acc,
                            SmallVectorImpl<Value> &max,
                            SmallVectorImpl<Value> &sum) {
  bool staleMax = cfg.mask != MaskKind::PerQueryTopK;
  for (int64_t mt = 0; mt < rowTiles(); ++mt) {
    // Online softmax, two rows per thread, reduced over the quad.
    // With staleMax the running max a row's P is taken against moves
    // only when the tile's max exceeds it by more than kStaleMax
    // (log2 units): P stays <= 2^kStaleMax (as precise in f32, bf16
    // and f16, and O / l and LSE = m + log l do not depend on which
    // m), and the warp rescales O only when one of its rows moved,
    // mostly in the first key tiles, against one FMUL per O element
    // and key tile: 3% on the shared top-k and 1% dense forwards
    // (run 55). The per-query forward keeps the plain update: the
    // branch's live O values spill there (68 bytes, or 8 warps),
    // 4% and 26% slower.
    Value m[2] = {max[2 * mt], max[2 * mt + 1]};
    Value l[2] = {sum[2 * mt], sum[2 * mt + 1]};
    Value corr[2], mNew[2], mScaled[2], grow[2];
    for (int r = 0; r < 2; ++r) {
      Value mx = m[r];
      for (int64_t j = 0; j < nS; ++j)
        mx = k.fmax(mx, k.fmax(s[mt][j][2 * r], s[mt][j][2 * r + 1]));
      mx = k.fmax(mx, k.shuffleXor(mx, 1));
      mx = k.fmax(mx, k.shuffleXor(mx, 2));
      // False while every logit so far is -inf; true at the first
      // finite one (m = -inf).
      grow[r] = k.cmpf(fpr(FPred::OGT), mx,
                       staleMax ? k.fadd(m[r], k.f32(kStaleMax / kLog2e))
                                : m[r]);
      mNew[r] = k.select(grow[r], mx, m[r]);
      Value none = k.cmpf(fpr(FPred::OEQ), mNew[r], ninf);
      Value msafe = k.select(none, k.f32(0.0), mNew[r]);
      // p = 2^(x log2 e - m log2 e): one FFMA and one EX2 per element.
      mScaled[r] = k.fneg(k.fmul(msafe, k.f32(kLog2e)));
      corr[r] = k.select(
          grow[r], k.exp2(k.fmul(k.fsub(m[r], mx), k.f32(kLog2e))),
          k.f32(1.0));
    }
    for (int64_t j = 0; j < nS; ++j)
      for (int v = 0; v < 4; ++v)
        s[mt][j][v] =
            k.exp2(k.fma(s[mt][j][v], k.f32(kLog2e), mScaled[v / 2]));
    for (int r = 0; r < 2; ++r) {
      Value sum = k.f32(0.0);
      for (int64_t j = 0; j < nS; ++j)
        sum = k.fadd(sum, k.fadd(s[mt][j][2 * r], s[mt][j][2 * r + 1]));
      l[r] = k.fadd(k.fmul(l[r], corr[r]), sum);
      m[r] = mNew[r];
    }
    SmallVector<Value> old;
    for (const Frag &f : acc[mt])
      old.append(f.begin(), f.end());
    auto scaled = [&] {
      SmallVector<Value> o;
      for (int64_t j = 0; j < nOut; ++j)
        for (int v = 0; v < 4; ++v)
          o.push_back(k.fmul(old[j * 4 + v], corr[v / 2]));
      return o;
    };
    SmallVector<Value> o;
    if (staleMax) {
      // Warp-uniform: the branch keeps the warp converged.
      Value rescale = k.cmpi(
          ip(IPred::ne), k.ballot(k.ori(grow[0], grow[1])), k.c32(0));
      SmallVector<Type> oTypes(nOut * 4, k.f32Type);
      o = k.ifElse(rescale, oTypes, scaled, [&] { return old; });
    } else {
      o = scaled();
    }
    for (int64_t j = 0; j < nOut; ++j)
      for (int v = 0; v < 4; ++v)
        acc[mt][j][v] = o[j * 4 + v];
    max[2 * mt] = m[0];
    max[2 * mt + 1] = m[1];
    sum[2 * mt] = l[0];
    sum[2 * mt + 1] = l[1];
  }

  return acc;
}

/// dma.tile.dot O += P V: P repacked in registers as A fragments, V via
/// ldmatrix.trans; each V fragment feeds every row tile of the warp.
void ForwardEmitter::emitUpdate(Fragments &s, Fragments &acc, Value stage) {
  bool f16 = cfg.element.isF16();
  int64_t bn = cfg.blockN, dv = cfg.valueDim;
  Value vTileBase = k.mul(stage, k.c32(bn * dv * 2));
  for (int64_t ks = 0; ks < bn / 16; ++ks) {
    std::vector<Frag> a;
    for (int64_t mt = 0; mt < rowTiles(); ++mt)
      a.push_back(pFragment(s, mt, ks));
    for (int64_t jp = 0; jp < nOut / 2; ++jp) {
      Frag bf = k.ldmatrixX4(swizzledAt(vOff, vTileBase, vRowLane,
                                        16 * ks, laneHi, 2 * jp, dv),
                             /*transpose=*/true);
      for (int64_t mt = 0; mt < rowTiles(); ++mt) {
        acc[mt][2 * jp] =
            k.mma(a[mt], {bf[0], bf[1]}, acc[mt][2 * jp], f16);
        acc[mt][2 * jp + 1] =
            k.mma(a[mt], {bf[2], bf[3]}, acc[mt][2 * jp + 1], f16);
      }
    }
  }
}

ForwardEmitter::Frag ForwardEmitter::pFragment(const Fragments &s,
                                               int64_t mt, int64_t ks) {
  const auto &p = s[mt];
  Type e = cfg.element;
  return {k.pack2(p[2 * ks][0], p[2 * ks][1], e),
          k.pack2(p[2 * ks][2], p[2 * ks][3], e),
          k.pack2(p[2 * ks + 1][0], p[2 * ks + 1][1], e),
          k.pack2(p[2 * ks + 1][2], p[2 * ks + 1][3], e)};
}

//===----------------------------------------------------------------------===//
// The dots on sm_90a's warpgroup MMA
//===----------------------------------------------------------------------===//
//
// Warpgroup g (warps 4g .. 4g + 3) computes rows [64 g, 64 g + 64) of the
// tile; its accumulators are laid out as mma.sync's (#dma.mma<..., wgmma>),
// so logits, softmax and store are the same code. Q, K and V sit in shared
// memory in 64-column blocks (cfg.blockCols) of 128-byte rows, swizzled
// (16-byte chunk c of row r at c xor (r mod 8)): 8 rows of a block are one
// 1024-byte atom of wgmma's 128-byte swizzle. One instruction takes 16 of
// the reduction dimension: 32 bytes further along a row of Q and K (the
// hardware applies the swizzle to the address), 16 rows further down V.

namespace {

/// Bytes of one 8-row atom of the 128-byte swizzle: the stride-dimension
/// byte offset of every operand here.
constexpr int64_t kSwizzleAtomBytes = 1024;

} // namespace

ForwardEmitter::Fragments ForwardEmitter::emitScoresWgmma(Value stage,
                                                          Fragments s) {
  bool f16 = cfg.element.isF16();
  int64_t bm = cfg.blockM, bn = cfg.blockN, d = cfg.headDim;
  int64_t blockBytes = cfg.blockCols * elementBytes(); // one row of a block
  int64_t stepsPerBlock = cfg.blockCols / 16;
  Value group = k.divsi(warp, k.c32(4));
  // K-major operands: the leading byte offset is unused with a swizzle (1).
  Value qDesc = k.wgmmaDescriptor(
      sharedAt(qOff, k.mul(group, k.c32(64 * blockBytes))), 16,
      kSwizzleAtomBytes);
  Value kDesc = k.wgmmaDescriptor(
      sharedAt(kOff, k.mul(stage, k.c32(bn * d * elementBytes()))), 16,
      kSwizzleAtomBytes);
  SmallVector<Value> acc = flatten(s);
  // Ping-pong: warpgroup g waits its turn (barrier 1 + g: its own 128
  // threads and the other's arrival), issues, then hands the turn over.
  // The other's S queues behind this one's on the tensor cores, so this
  // one's softmax runs while the other's S computes (FlashAttention-3's
  // warpgroup scheduling).
  if (pingPong())
    k.namedBarrierSync(k.add(group, k.c32(kPingPongBarrier)), cfg.threads());
  k.wgmmaFence();
  for (int64_t ks = 0; ks < d / 16; ++ks) {
    int64_t block = ks / stepsPerBlock, step = ks % stepsPerBlock;
    Value a = k.wgmmaAdvance(qDesc, block * bm * blockBytes + step * 32);
    Value b = k.wgmmaAdvance(kDesc, block * bn * blockBytes + step * 32);
    acc = k.wgmmaSS(a, b, acc, bn, f16, /*transposeB=*/false);
  }
  k.wgmmaCommit();
  if (pingPong())
    k.namedBarrierArrive(k.sub(k.c32(kPingPongBarrier + 1), group),
                         cfg.threads());
  k.wgmmaWait(0);
  return toFragments(acc, bn);
}

void ForwardEmitter::emitUpdateWgmma(Fragments &s, Fragments &acc,
                                     Value stage) {
  bool f16 = cfg.element.isF16();
  int64_t bn = cfg.blockN, dv = cfg.valueDim;
  int64_t blockBytes = cfg.blockCols * elementBytes();
  // V is N-major (Dv contiguous): the leading byte offset steps from one
  // 64-column block of Dv to the next.
  Value vDesc = k.wgmmaDescriptor(
      sharedAt(vOff, k.mul(stage, k.c32(bn * dv * elementBytes()))),
      bn * blockBytes, kSwizzleAtomBytes);
  // Every A fragment is packed before the fence: a register the
  // instructions read that is written after it makes ptxas insert a wait.
  std::vector<Frag> a;
  for (int64_t ks = 0; ks < bn / 16; ++ks)
    a.push_back(pFragment(s, 0, ks));
  SmallVector<Value> o = flatten(acc);
  k.wgmmaFence();
  for (int64_t ks = 0; ks < bn / 16; ++ks)
    o = k.wgmmaRS(a[ks], k.wgmmaAdvance(vDesc, ks * 16 * blockBytes), o, dv,
                  f16, /*transposeB=*/true);
  k.wgmmaCommit();
  k.wgmmaWait(0);
  acc = toFragments(o, dv);
}

/// dma.tile.store_output: O = acc / l and LSE = m + log(l) per valid row.
void ForwardEmitter::emitStoreOutput(const Fragments &acc, ValueRange max,
                                     ValueRange sum) {
  OpBuilder &ob = k.builder();
  Value oBase = k.add(strided("o", "b", b), strided("o", "h", h));
  for (int64_t mt = 0; mt < rowTiles(); ++mt)
    for (int r = 0; r < 2; ++r) {
      Value mr = max[2 * mt + r];
      Value lr = sum[2 * mt + r];
      lr = k.fadd(lr, k.shuffleXor(lr, 1));
      lr = k.fadd(lr, k.shuffleXor(lr, 2));
      Value none = k.cmpf(fpr(FPred::OEQ), mr, ninf);
      Value inv = k.select(none, k.f32(0.0), k.fdiv(k.f32(1.0), lr));
      Value pos = qpos[2 * mt + r];
      k.ifThen(qvalid[2 * mt + r], [&] {
        Value rowBase = k.add(oBase, strided("o", "l", pos));
        for (int64_t j = 0; j < nOut; ++j) {
          Value col = fragmentColumn(j, 0); // and col + 1: value 1
          Value packed = k.pack2(k.fmul(acc[mt][j][2 * r], inv),
                                 k.fmul(acc[mt][j][2 * r + 1], inv),
                                 cfg.element);
          Value ptr = k.gep(ptrArg("o"), cfg.element,
                            k.add(rowBase, k.sext64(col)));
          k.storeTo(packed, ptr);
        }
        k.ifThen(k.cmpi(ip(IPred::eq), tig, k.c32(0)), [&] {
          Value safeL = k.select(none, k.f32(1.0), lr);
          Value lse = k.select(
              none, ninf,
              k.fadd(mr, math::LogOp::create(ob, k.location(), safeL)));
          Value off = k.add(
              k.add(strided("lse", "b", b), strided("lse", "h", h)),
              k.sext64(pos));
          k.storeTo(lse, k.gep(ptrArg("lse"), k.f32Type, off));
        });
      });
    }
}

/// The keep-list contract, checked once per list rather than in every CTA
/// that walks it: the CTA of the first query tile and of the first query
/// head reading a list (the lightest CTA under a causal mask) reads all of
/// it after its own work and asserts. A device assert stops the whole
/// grid, so every CTA's result is covered. Checking in the copy loop
/// instead cost 13-17% (measured, run 33-34): each check's second load
/// exposed its latency before the tile's math could start.
void ForwardEmitter::checkKeepList() {
  Value checker =
      k.andi(k.cmpi(ip(IPred::eq), qt, k.c32(0)),
             k.cmpi(ip(IPred::eq), k.remsi(h, headsPer("keep")), k.c32(0)));
  k.ifThen(checker, [&] {
    int64_t threads = cfg.threads();
    Value w = arg("keep_w");
    Value rounds = k.divsi(k.add(w, k.c32(threads - 1)), k.c32(threads));
    Value broken = k.forLoop(
        k.index(0), k.i32ToIndex(rounds), {k.boolean(false)},
        [&](Value r, ValueRange bad) {
          Value entry = k.add(tid, k.mul(k.indexToI32(r), k.c32(threads)));
          return SmallVector<Value>{
              k.ori(bad[0], keepListBroken(k.c32(0), entry))};
        })[0];
    assertKeepList(broken);
  });
}

gpu::GPUFuncOp mlir::dma::createForwardKernel(OpBuilder &b, Location loc,
                                              gpu::GPUModuleOp module,
                                              StringRef name,
                                              const ForwardKernelConfig &config) {
  // wgmma's swizzle atoms must be 1024-byte aligned: the tiles' offsets
  // are multiples of 1024 from the base.
  if (config.wgmma)
    declareSharedMemory(b, module, 1024);
  auto func = createKernelFunc(
      b, loc, module, name,
      {"forward", forwardKernelParams(config),
       {"ceil(Lq/" + std::to_string(config.blockM) + ")", "H", "B"},
       config.threads(), config.sharedBytes()});
  func->setAttr("dma.block_m", b.getI64IntegerAttr(config.blockM));
  func->setAttr("dma.mma",
                b.getStringAttr(config.wgmma ? "wgmma" : "mma_sync"));
  return func;
}
