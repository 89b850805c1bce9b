//===- ConvertKernel.cpp - the f32-to-output conversion kernel ------------===//
//
// The last kernel of a backward: dma.tile.convert's f32 gradient sums into
// the outputs' dtype. One launch converts up to kConvertSegments pairs
// (dQ, dK, dV, dBias): blockIdx.y picks the pair, each thread converts 8
// consecutive elements with 16-byte accesses, and the thread at the end of
// a pair's vectors converts the 1 to 7 elements left one by one.
//
//===----------------------------------------------------------------------===//

#include "dma/Conversion/DMAToGPU/BackwardKernel.h"
#include "KernelBuilder.h"
#include "TileEmitter.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

using namespace mlir;
using namespace mlir::dma;

SmallVector<KernelParam> mlir::dma::convertKernelParams() {
  SmallVector<KernelParam> p;
  for (int64_t s = 0; s < kConvertSegments; ++s) {
    p.push_back({"src" + std::to_string(s), KernelParam::Pointer});
    p.push_back({"dst" + std::to_string(s), KernelParam::Pointer});
  }
  for (int64_t s = 0; s < kConvertSegments; ++s)
    p.push_back({"n" + std::to_string(s), KernelParam::I64});
  // The pairs a launch converts (its grid's y; the rest are null).
  p.push_back({"pairs", KernelParam::I32});
  return p;
}

gpu::GPUFuncOp mlir::dma::emitConvertKernel(OpBuilder &b, Location loc,
                                            gpu::GPUModuleOp module,
                                            StringRef name, Type source,
                                            Type dest) {
  OpBuilder::InsertionGuard guard(b);
  SmallVector<KernelParam> params = convertKernelParams();
  std::string largest = "max(n0";
  for (int64_t s = 1; s < kConvertSegments; ++s)
    largest += ",n" + std::to_string(s);
  auto func = createKernelFunc(
      b, loc, module, name,
      {"convert",
       params,
       {"ceil(" + largest + ")/" + std::to_string(8 * kConvertThreads) + ")",
        "pairs", "1"},
       kConvertThreads,
       0});
  func->setAttr("dma.block_m", b.getI64IntegerAttr(8 * kConvertThreads));
  Block &entry = func.getBody().front();
  b.setInsertionPointToStart(&entry);
  KernelBuilder k(b, loc);
  auto arg = [&](StringRef n) {
    for (auto [i, p] : llvm::enumerate(params))
      if (p.name == n)
        return entry.getArgument(i);
    llvm_unreachable("no such convert kernel parameter");
  };
  // The pair of this CTA row: a select chain over blockIdx.y.
  Value segment = k.blockId(1);
  Value src = arg("src0"), dst = arg("dst0"), n = arg("n0");
  for (int64_t s = 1; s < kConvertSegments; ++s) {
    Value here = k.cmpi(ip(IPred::eq), segment, k.c32(s));
    src = k.select(here, arg("src" + std::to_string(s)), src);
    dst = k.select(here, arg("dst" + std::to_string(s)), dst);
    n = k.select(here, arg("n" + std::to_string(s)), n);
  }
  src = k.toGlobal(src);
  dst = k.toGlobal(dst);
  Value first = k.mul(
      k.sext64(k.add(k.mul(k.blockId(0), k.c32(kConvertThreads)),
                     k.threadIdX())),
      k.c64(8));
  Value end = k.add(first, k.c64(8));
  k.ifThenElse(
      k.cmpi(ip(IPred::sle), end, n),
      [&] {
        k.storeF32x8(dest, k.loadF32x8(source, k.gep(src, source, first)),
                     k.gep(dst, dest, first));
      },
      [&] {
        // The tail: 1 to 7 elements, from the thread whose vector would
        // cross the end.
        k.ifThen(k.cmpi(ip(IPred::slt), first, n), [&] {
          Value lo = arith::IndexCastOp::create(b, loc, b.getIndexType(), first);
          Value hi = arith::IndexCastOp::create(b, loc, b.getIndexType(), n);
          k.forLoop(lo, hi, [&](Value i) {
            Value at = arith::IndexCastOp::create(b, loc, k.i64Type, i);
            Value x = k.loadF32(source, k.gep(src, source, at));
            if (dest != k.f32Type)
              x = arith::TruncFOp::create(b, loc, dest, x);
            k.storeTo(x, k.gep(dst, dest, at));
          });
        });
      });
  gpu::ReturnOp::create(b, loc);
  return func;
}
