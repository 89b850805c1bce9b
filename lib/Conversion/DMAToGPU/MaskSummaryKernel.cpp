//===- MaskSummaryKernel.cpp - dma.tile.mask_summary on the GPU -----------===//
//
// Two kernels. The state kernel spreads the blocks over the whole GPU: a CTA
// per (query tile, kMaskSummaryTilesPerCTA key tiles, mask head and batch),
// each warp a key tile at a time, its lanes reading the block's mask bytes
// row by row (a warp load covers 32 consecutive keys of a row, eight loads
// in flight per lane); ballots turn the lanes' (any kept, all kept) into the
// block's state. The list kernel, a warp per (query tile, mask head, mask
// batch), compacts the non-empty tiles in key order (a ballot and a popc
// per 32 tiles) and pads the list with -1. (One CTA per query tile doing
// both ran 1 ms for a 4096 x 4096 mask: too few CTAs.)
//
//===----------------------------------------------------------------------===//

#include "dma/Conversion/DMAToGPU/MaskSummaryKernel.h"
#include "KernelBuilder.h"
#include "TileEmitter.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

using namespace mlir;
using namespace mlir::dma;

SmallVector<KernelParam> mlir::dma::maskSummaryKernelParams() {
  using K = KernelParam;
  SmallVector<KernelParam> p = {{"mask", K::Pointer}, {"mask_state", K::Pointer},
                                {"mask_tiles", K::Pointer}, {"mask_count", K::Pointer},
                                {"Lq", K::I32},        {"Lk", K::I32},
                                {"mask_heads", K::I32}, {"mask_batch", K::I32}};
  for (const char *d : {"b", "h", "q", "k"})
    p.push_back({std::string("mask_stride_") + d, K::I64});
  return p;
}

/// Mask bytes a lane has in flight per step of a block's walk.
constexpr int64_t kLoadsInFlight = 8;

namespace {

/// What both kernels read first: their arguments by name, the sizes and
/// the summary row of (query tile, mask head, mask batch).
struct SummaryKernel {
  gpu::GPUFuncOp func;
  SmallVector<KernelParam> params = maskSummaryKernelParams();
  KernelBuilder k;
  Value tid, warp, lane, Lq, Lk, nQT, nKT;

  SummaryKernel(OpBuilder &b, Location loc, gpu::GPUModuleOp module,
                StringRef name, int64_t threads, StringRef role,
                std::array<std::string, 3> grid, int64_t qTile, int64_t kTile)
      : k(b, loc) {
    func = createKernelFunc(b, loc, module, name,
                            {role.str(), params, grid, threads, 0});
    func->setAttr("dma.block_m", b.getI64IntegerAttr(qTile));
    func->setAttr("dma.block_n", b.getI64IntegerAttr(kTile));
    b.setInsertionPointToStart(&func.getBody().front());
    tid = k.threadIdX();
    warp = k.divsi(tid, k.c32(32));
    lane = k.remsi(tid, k.c32(32));
    Lq = arg("Lq");
    Lk = arg("Lk");
    nQT = k.divsi(k.add(Lq, k.c32(qTile - 1)), k.c32(qTile));
    nKT = k.divsi(k.add(Lk, k.c32(kTile - 1)), k.c32(kTile));
  }
  Value arg(StringRef n) {
    for (auto [i, p] : llvm::enumerate(params))
      if (p.name == n)
        return func.getBody().front().getArgument(i);
    llvm_unreachable("no such mask summary parameter");
  }
  Value ptr(StringRef n) { return k.toGlobal(arg(n)); }
  /// The summary row (i32) of query tile `qt` of (mb, mh).
  Value row(Value qt, Value mh, Value mb) {
    return k.add(k.mul(k.add(k.mul(mb, arg("mask_heads")), mh), nQT), qt);
  }
  /// Element `i` (i32) of the summary row's nKT entries starting at `row`.
  Value at(Value row, Value i) {
    return k.add(k.mul(k.sext64(row), k.sext64(nKT)), k.sext64(i));
  }
};

} // namespace

gpu::GPUFuncOp mlir::dma::emitMaskStateKernel(OpBuilder &b, Location loc,
                                              gpu::GPUModuleOp module,
                                              StringRef name, int64_t qTile,
                                              int64_t kTile) {
  OpBuilder::InsertionGuard guard(b);
  constexpr int64_t threads = kMaskSummaryThreads, warps = threads / 32;
  std::string queryTiles = "ceil(Lq/" + std::to_string(qTile) + ")";
  SummaryKernel s(b, loc, module, name, threads, "mask_summary",
                  {queryTiles,
                   "ceil(ceil(Lk/" + std::to_string(kTile) + ")/" +
                       std::to_string(kMaskSummaryTilesPerCTA) + ")",
                   "mask_heads*mask_batch"},
                  qTile, kTile);
  KernelBuilder &k = s.k;
  Value qt = k.blockId(0), chunk = k.blockId(1);
  Value mh = k.remsi(k.blockId(2), s.arg("mask_heads"));
  Value mb = k.divsi(k.blockId(2), s.arg("mask_heads"));
  Value row = s.row(qt, mh, mb);
  Value state = s.ptr("mask_state"), mask = s.ptr("mask");
  auto strided = [&](const char *d, Value i) {
    return k.mul(k.sext64(i), s.arg((std::string("mask_stride_") + d)));
  };
  Value r0 = k.mul(qt, k.c32(qTile));
  Value rows = k.minsi(k.c32(qTile), k.sub(s.Lq, r0));
  Value base = k.add(k.add(strided("b", mb), strided("h", mh)),
                     strided("q", r0));
  int64_t perLane = qTile * kTile / 32;
  // Warp w takes this CTA's key tiles w, w + warps, ...
  for (int64_t i = 0; i < kMaskSummaryTilesPerCTA / warps; ++i) {
    Value kt = k.add(k.mul(chunk, k.c32(kMaskSummaryTilesPerCTA)),
                     k.add(s.warp, k.c32(i * warps)));
    k.ifThen(k.cmpi(ip(IPred::slt), kt, s.nKT), [&] {
      Value k0 = k.mul(kt, k.c32(kTile));
      Value cols = k.minsi(k.c32(kTile), k.sub(s.Lk, k0));
      Value tileBase = k.add(base, strided("k", k0));
      SmallVector<Value> anyAll = k.forLoop(
          k.index(0), k.index(perLane / kLoadsInFlight),
          {k.boolean(false), k.boolean(true)}, [&](Value st, ValueRange acc) {
            Value first = k.mul(k.indexToI32(st), k.c32(kLoadsInFlight));
            SmallVector<Value> kept, valid;
            for (int64_t j = 0; j < kLoadsInFlight; ++j) {
              Value e = k.add(k.mul(k.add(first, k.c32(j)), k.c32(32)),
                              s.lane);
              Value r = k.divsi(e, k.c32(kTile)), c = k.remsi(e, k.c32(kTile));
              Value inside = k.andi(k.cmpi(ip(IPred::slt), r, rows),
                                    k.cmpi(ip(IPred::slt), c, cols));
              // Outside the block (past Lq or Lk) read its first byte.
              Value off = k.select(
                  inside,
                  k.add(k.add(tileBase, strided("q", r)), strided("k", c)),
                  tileBase);
              Value byte = k.loadAs(k.i8Type, k.gep(mask, k.i8Type, off));
              kept.push_back(
                  k.cmpi(ip(IPred::ne), byte, k.intOf(k.i8Type, 0)));
              valid.push_back(inside);
            }
            Value any = acc[0], all = acc[1];
            for (int64_t j = 0; j < kLoadsInFlight; ++j) {
              any = k.ori(any, k.andi(valid[j], kept[j]));
              all = k.andi(all, k.ori(k.notb(valid[j]), kept[j]));
            }
            return SmallVector<Value>{any, all};
          });
      Value any = k.cmpi(ip(IPred::ne), k.ballot(anyAll[0]), k.c32(0));
      Value all =
          k.cmpi(ip(IPred::eq), k.ballot(k.notb(anyAll[1])), k.c32(0));
      Value st = k.select(any, k.select(all, k.c32(2), k.c32(1)), k.c32(0));
      k.ifThen(k.cmpi(ip(IPred::eq), s.lane, k.c32(0)), [&] {
        k.storeTo(st, k.gep(state, k.i32Type, s.at(row, kt)));
      });
    });
  }
  gpu::ReturnOp::create(b, loc);
  return s.func;
}

gpu::GPUFuncOp mlir::dma::emitMaskListKernel(OpBuilder &b, Location loc,
                                             gpu::GPUModuleOp module,
                                             StringRef name, int64_t qTile,
                                             int64_t kTile) {
  OpBuilder::InsertionGuard guard(b);
  SummaryKernel s(b, loc, module, name, 32, "mask_list",
                  {"ceil(Lq/" + std::to_string(qTile) + ")", "mask_heads",
                   "mask_batch"},
                  qTile, kTile);
  KernelBuilder &k = s.k;
  Value row = s.row(k.blockId(0), k.blockId(1), k.blockId(2));
  Value state = s.ptr("mask_state"), tiles = s.ptr("mask_tiles");
  Value lane = s.lane, nKT = s.nKT;
  Value rounds = k.divsi(k.add(nKT, k.c32(31)), k.c32(32));
  Value below = k.sub(k.shli(k.c32(1), lane), k.c32(1)); // lanes < lane
  Value listed = k.forLoop(
      k.index(0), k.i32ToIndex(rounds), {k.c32(0)},
      [&](Value i, ValueRange n) {
        Value kt = k.add(k.mul(k.indexToI32(i), k.c32(32)), lane);
        Value inRange = k.cmpi(ip(IPred::slt), kt, nKT);
        Value st = k.loadAs(
            k.i32Type,
            k.gep(state, k.i32Type, s.at(row, k.select(inRange, kt, k.c32(0)))));
        Value nonEmpty = k.andi(inRange, k.cmpi(ip(IPred::ne), st, k.c32(0)));
        Value votes = k.ballot(nonEmpty);
        Value slot = k.add(n[0], k.popc(k.andi(votes, below)));
        k.ifThen(nonEmpty, [&] {
          k.storeTo(kt, k.gep(tiles, k.i32Type, s.at(row, slot)));
        });
        return SmallVector<Value>{k.add(n[0], k.popc(votes))};
      })[0];
  Value pad = k.divsi(k.add(k.sub(nKT, listed), k.c32(31)), k.c32(32));
  k.forLoop(k.index(0), k.i32ToIndex(pad), [&](Value i) {
    Value slot = k.add(listed, k.add(k.mul(k.indexToI32(i), k.c32(32)), lane));
    k.ifThen(k.cmpi(ip(IPred::slt), slot, nKT), [&] {
      k.storeTo(k.c32(-1), k.gep(tiles, k.i32Type, s.at(row, slot)));
    });
  });
  k.ifThen(k.cmpi(ip(IPred::eq), lane, k.c32(0)), [&] {
    k.storeTo(listed, k.gep(s.ptr("mask_count"), k.i32Type, k.sext64(row)));
  });
  gpu::ReturnOp::create(b, loc);
  return s.func;
}
