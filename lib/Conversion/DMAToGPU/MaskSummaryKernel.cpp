//===- MaskSummaryKernel.cpp - dma.tile.mask_summary on the GPU -----------===//
//
// One CTA per (query tile, mask head, mask batch). Each warp takes key tiles
// warp, warp + 4, ...: its lanes read the block's mask bytes row by row (a
// warp load covers 32 consecutive keys of a row, eight loads in flight per
// lane) and a ballot turns the lanes' (any kept, all kept) into the block's
// state. Warp 0 then compacts the non-empty tiles in key order (a ballot
// and a popc per 32 tiles) and pads the list with -1.
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
                                {"mask_heads", K::I32}};
  for (const char *d : {"b", "h", "q", "k"})
    p.push_back({std::string("mask_stride_") + d, K::I64});
  return p;
}

/// Mask bytes a lane has in flight per step of a block's walk.
constexpr int64_t kLoadsInFlight = 8;

gpu::GPUFuncOp mlir::dma::emitMaskSummaryKernel(OpBuilder &b, Location loc,
                                                gpu::GPUModuleOp module,
                                                StringRef name, int64_t qTile,
                                                int64_t kTile) {
  OpBuilder::InsertionGuard guard(b);
  SmallVector<KernelParam> params = maskSummaryKernelParams();
  constexpr int64_t threads = kMaskSummaryThreads, warps = threads / 32;
  auto func = createKernelFunc(b, loc, module, name, params, threads, 0,
                               "mask_summary");
  func->setAttr("dma.block_m", b.getI64IntegerAttr(qTile));
  func->setAttr("dma.block_n", b.getI64IntegerAttr(kTile));
  Block &entry = func.getBody().front();
  b.setInsertionPointToStart(&entry);
  KernelBuilder k(b, loc);
  auto arg = [&](StringRef n) {
    for (auto [i, p] : llvm::enumerate(params))
      if (p.name == n)
        return entry.getArgument(i);
    llvm_unreachable("no such mask summary parameter");
  };
  Value tid = k.threadIdX();
  Value warp = k.divsi(tid, k.c32(32)), lane = k.remsi(tid, k.c32(32));
  Value qt = k.blockId(0), mh = k.blockId(1), mb = k.blockId(2);
  Value Lq = arg("Lq"), Lk = arg("Lk");
  Value nQT = k.divsi(k.add(Lq, k.c32(qTile - 1)), k.c32(qTile));
  Value nKT = k.divsi(k.add(Lk, k.c32(kTile - 1)), k.c32(kTile));
  // This CTA's row of the [Mb, Mh, nQT, ...] outputs.
  Value row = k.add(k.mul(k.add(k.mul(mb, arg("mask_heads")), mh), nQT), qt);
  Value stateRow = k.mul(k.sext64(row), k.sext64(nKT));
  Value state = k.toGlobal(arg("mask_state")),
        tiles = k.toGlobal(arg("mask_tiles"));
  Value mask = k.toGlobal(arg("mask"));
  auto strided = [&](const char *d, Value i) {
    return k.mul(k.sext64(i), arg((std::string("mask_stride_") + d).c_str()));
  };
  Value r0 = k.mul(qt, k.c32(qTile));
  Value rows = k.minsi(k.c32(qTile), k.sub(Lq, r0));
  Value base = k.add(k.add(strided("b", mb), strided("h", mh)),
                     strided("q", r0));

  // The states: warp w walks key tiles w, w + warps, ...
  Value myTiles = k.divsi(k.add(k.sub(nKT, warp), k.c32(warps - 1)),
                          k.c32(warps));
  int64_t perLane = qTile * kTile / 32;
  k.forLoop(k.index(0), k.i32ToIndex(k.maxsi(myTiles, k.c32(0))),
            [&](Value i) {
    Value kt = k.add(warp, k.mul(k.indexToI32(i), k.c32(warps)));
    Value k0 = k.mul(kt, k.c32(kTile));
    Value cols = k.minsi(k.c32(kTile), k.sub(Lk, k0));
    Value tileBase = k.add(base, strided("k", k0));
    SmallVector<Value> anyAll = k.forLoop(
        k.index(0), k.index(perLane / kLoadsInFlight),
        {k.boolean(false), k.boolean(true)}, [&](Value s, ValueRange acc) {
          Value first = k.mul(k.indexToI32(s), k.c32(kLoadsInFlight));
          SmallVector<Value> kept, valid;
          for (int64_t j = 0; j < kLoadsInFlight; ++j) {
            Value e = k.add(k.mul(k.add(first, k.c32(j)), k.c32(32)), lane);
            Value r = k.divsi(e, k.c32(kTile)), c = k.remsi(e, k.c32(kTile));
            Value inside = k.andi(k.cmpi(ip(IPred::slt), r, rows),
                                  k.cmpi(ip(IPred::slt), c, cols));
            // Outside the block (past Lq or Lk) read its first byte.
            Value off = k.select(
                inside, k.add(k.add(tileBase, strided("q", r)),
                              strided("k", c)),
                tileBase);
            Value byte = k.loadAs(k.i8Type, k.gep(mask, k.i8Type, off));
            kept.push_back(k.cmpi(ip(IPred::ne), byte, k.intOf(k.i8Type, 0)));
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
    Value all = k.cmpi(ip(IPred::eq), k.ballot(k.notb(anyAll[1])), k.c32(0));
    Value st = k.select(any, k.select(all, k.c32(2), k.c32(1)), k.c32(0));
    k.ifThen(k.cmpi(ip(IPred::eq), lane, k.c32(0)), [&] {
      k.storeTo(st, k.gep(state, k.i32Type, k.add(stateRow, k.sext64(kt))));
    });
  });
  // Every state is written (a barrier orders the CTA's global writes
  // before its later reads).
  k.barrier();

  // Warp 0: the non-empty tiles in key order, then -1 up to nKT.
  k.ifThen(k.cmpi(ip(IPred::eq), warp, k.c32(0)), [&] {
    Value rounds = k.divsi(k.add(nKT, k.c32(31)), k.c32(32));
    Value below = k.sub(k.shli(k.c32(1), lane), k.c32(1)); // lanes < lane
    Value listed = k.forLoop(
        k.index(0), k.i32ToIndex(rounds), {k.c32(0)},
        [&](Value i, ValueRange n) {
          Value kt = k.add(k.mul(k.indexToI32(i), k.c32(32)), lane);
          Value inRange = k.cmpi(ip(IPred::slt), kt, nKT);
          Value at = k.add(stateRow, k.sext64(k.select(inRange, kt, k.c32(0))));
          Value st = k.loadAs(k.i32Type, k.gep(state, k.i32Type, at));
          Value nonEmpty =
              k.andi(inRange, k.cmpi(ip(IPred::ne), st, k.c32(0)));
          Value votes = k.ballot(nonEmpty);
          Value slot = k.add(n[0], k.popc(k.andi(votes, below)));
          k.ifThen(nonEmpty, [&] {
            k.storeTo(kt, k.gep(tiles, k.i32Type,
                                k.add(stateRow, k.sext64(slot))));
          });
          return SmallVector<Value>{k.add(n[0], k.popc(votes))};
        })[0];
    Value pad = k.divsi(k.add(k.sub(nKT, listed), k.c32(31)), k.c32(32));
    k.forLoop(k.index(0), k.i32ToIndex(pad), [&](Value i) {
      Value slot = k.add(listed, k.add(k.mul(k.indexToI32(i), k.c32(32)), lane));
      k.ifThen(k.cmpi(ip(IPred::slt), slot, nKT), [&] {
        k.storeTo(k.c32(-1), k.gep(tiles, k.i32Type,
                                   k.add(stateRow, k.sext64(slot))));
      });
    });
    k.ifThen(k.cmpi(ip(IPred::eq), lane, k.c32(0)), [&] {
      k.storeTo(listed, k.gep(k.toGlobal(arg("mask_count")), k.i32Type,
                              k.sext64(row)));
    });
  });
  gpu::ReturnOp::create(b, loc);
  return func;
}
