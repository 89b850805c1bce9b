//===- MaskEmitter.h - what the mask-generation kernels share --*- C++ -*-===//
//
// The argument binding and index helpers of the kernels of
// convert-dma-mask-to-gpu (MaskKernels.cpp, TopKPerQueryKernel.cpp), and
// the top-k kernels' view of a key: its score and whether top-k may keep
// it.
//
//===----------------------------------------------------------------------===//

#ifndef DMA_LIB_CONVERSION_DMATOGPU_MASKEMITTER_H
#define DMA_LIB_CONVERSION_DMATOGPU_MASKEMITTER_H

#include "KernelBuilder.h"
#include "dma/Conversion/DMAToGPU/MaskKernels.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"

#include <map>
#include <string>

namespace mlir::dma {

/// The kernel's arguments by name, and the index helpers every mask kernel
/// uses. The constructor positions the builder in the kernel's entry block.
class MaskEmitter {
public:
  MaskEmitter(OpBuilder &b, Location loc, gpu::GPUFuncOp func,
              ArrayRef<KernelParam> params)
      : k(b, loc) {
    Block &entry = func.getBody().front();
    b.setInsertionPointToStart(&entry);
    for (auto [i, p] : llvm::enumerate(params))
      args[p.name] = entry.getArgument(i);
    tid = k.threadIdX();
  }

  KernelBuilder k;
  std::map<std::string, Value> args;
  Value tid;

  Value arg(const std::string &name) { return args.at(name); }
  Value ptr(const std::string &name) { return k.toGlobal(arg(name)); }
  Value strided(const std::string &t, const char *d, Value index) {
    return k.mul(k.sext64(index), arg(t + "_stride_" + d));
  }
  /// Element offset of [b, h, j] in a [B, H, L] tensor (L contiguous).
  Value bhj(const std::string &t, Value b, Value h, Value j) {
    return k.add(k.add(strided(t, "b", b), strided(t, "h", h)), k.sext64(j));
  }
  /// blockIdx.x * threads + threadIdx.x.
  Value globalX(int64_t threads) {
    return k.add(k.mul(k.blockId(0), k.c32(threads)), tid);
  }
  /// An i32 loop [0, n) (n i32) over `body`, carrying `init`.
  SmallVector<Value>
  loop(Value n, ValueRange init,
       function_ref<SmallVector<Value>(Value, ValueRange)> body) {
    return k.forLoop(
        k.index(0), k.i32ToIndex(n), init,
        [&](Value iv, ValueRange acc) { return body(k.indexToI32(iv), acc); });
  }
  Value count(Value acc, Value pred) {
    return k.add(acc, k.select(pred, k.c32(1), k.c32(0)));
  }
  void finish() { gpu::ReturnOp::create(k.builder(), k.location()); }
};

/// The score of key j of (b, h) and whether top-k may keep it (not NaN,
/// not padded).
struct KeyScore {
  Value score, allowed;
};

inline KeyScore keyScore(MaskEmitter &m, bool padding, Value b, Value h,
                         Value j) {
  KernelBuilder &k = m.k;
  Value s = k.loadAs(k.f32Type,
                     k.gep(m.ptr("score"), k.f32Type, m.bhj("score", b, h, j)));
  Value allowed = k.notb(k.isNaN(s));
  if (padding) {
    Value off = k.add(m.strided("padding", "b", b), k.sext64(j));
    Value byte = k.loadAs(k.i8Type, k.gep(m.ptr("padding"), k.i8Type, off));
    allowed =
        k.andi(allowed, k.cmpi(ip(IPred::ne), byte, k.intOf(k.i8Type, 0)));
  }
  return {s, allowed};
}

inline void addTopKParams(SmallVector<KernelParam> &p, const TopKKernelConfig &c,
                   ArrayRef<const char *> outputs) {
  using K = KernelParam;
  p.push_back({"score", K::Pointer});
  if (c.padding)
    p.push_back({"padding", K::Pointer});
  for (const char *o : outputs)
    p.push_back({o, K::Pointer});
  for (const char *n : {"B", "Hkv", "Lk", "W"})
    p.push_back({n, K::I32});
  p.push_back({"score_stride_b", K::I64});
  p.push_back({"score_stride_h", K::I64});
  if (c.padding)
    p.push_back({"padding_stride_b", K::I64});
  for (const char *o : outputs) {
    p.push_back({std::string(o) + "_stride_b", K::I64});
    p.push_back({std::string(o) + "_stride_h", K::I64});
  }
}


} // namespace mlir::dma

#endif
