//===- Launch.cpp - kernel launches from their launch interface -----------===//

#include "Launch.h"
#include "dma/GridExpr.h"

using namespace mlir;
using namespace mlir::dma;

void LaunchArgs::tensor(StringRef name, Value memref, StringRef dims) {
  set(name, pointer(memref));
  for (auto [d, c] : llvm::enumerate(dims))
    if (c != '.')
      set((name + "_stride_" + Twine(c)).str(), stride(memref, d));
}

void LaunchArgs::broadcast4(StringRef name, Value memref) {
  tensor(name, memref, "bhqk");
  set((name + "_heads").str(), dimI32(memref, 1));
}

void LaunchArgs::attention(const ForwardKernelConfig &c, Value q, Value k,
                           const MaskOperands &m) {
  if (m.bias)
    broadcast4("bias", m.bias);
  if (m.mask)
    broadcast4("mask", m.mask);
  if (c.blockSkip) {
    set("mask_state", pointer(m.maskState));
    set("mask_tiles", pointer(m.maskTiles));
    set("mask_count", pointer(m.maskCount));
  }
  if (m.keep) {
    tensor("keep", m.keep, "bh");
    set("keep_heads", dimI32(m.keep, 1));
    set("keep_w", dimI32(m.keep, 2));
  }
  if (m.keepScore) {
    set("keep_score", pointer(m.keepScore));
    set("keep_threshold", pointer(m.keepThreshold));
    set("keep_tiebreak", pointer(m.keepTiebreak));
    set("keep_rows_heads", dimI32(m.keepScore, 1));
    set("keep_rows_stride_b", stride(m.keepScore, 0));
    set("keep_rows_stride_h", stride(m.keepScore, 1));
  }
  set("B", dimI32(q, 0));
  set("Lq", dimI32(q, 1));
  set("Lk", dimI32(k, 1));
  set("H", dimI32(q, 2));
  set("Hkv", dimI32(k, 2));
  set("scale", e.f32(c.scale));
  if (c.softcap > 0.0)
    set("softcap", e.f32(c.softcap));
}

namespace {

/// Grid expressions evaluated into index values over the launch operands.
struct IRGridAlgebra {
  using Value = mlir::Value;
  LoopEmitter &e;
  const llvm::StringMap<mlir::Value> &named;

  Value constant(int64_t v) { return e.index(v); }
  std::optional<Value> symbol(const std::string &name) {
    auto it = named.find(name);
    if (it == named.end() || !it->second.getType().isSignlessInteger())
      return std::nullopt;
    return e.indexCast(e.builder().getIndexType(), it->second);
  }
  Value add(Value a, Value b) { return e.add(a, b); }
  Value mul(Value a, Value b) { return e.mul(a, b); }
  Value max(Value a, Value b) { return e.maxsi(a, b); }
  Value ceilDiv(Value a, int64_t d) { return e.ceilDiv(a, d); }
};

Type typeOf(const KernelParam &p, MLIRContext *ctx) {
  switch (p.kind) {
  case KernelParam::Pointer:
    return LLVM::LLVMPointerType::get(ctx, 0);
  case KernelParam::I32:
    return IntegerType::get(ctx, 32);
  case KernelParam::I64:
    return IntegerType::get(ctx, 64);
  case KernelParam::F32:
    return Float32Type::get(ctx);
  }
  llvm_unreachable("parameter kind");
}

} // namespace

LogicalResult LaunchArgs::launch(gpu::GPUFuncOp kernel) {
  FailureOr<KernelABI> abi = readKernelABI(kernel);
  if (failed(abi))
    return emitError(loc) << "kernel @" << kernel.getName()
                          << " has no launch interface (dma.kernel_params, "
                             "dma.grid, ...): not made by createKernelFunc";
  SmallVector<Value> operands;
  for (const KernelParam &p : abi->params) {
    auto it = named.find(p.name);
    if (it == named.end())
      return emitError(loc) << "the launch of @" << kernel.getName()
                            << " has no value for its parameter '" << p.name
                            << "'";
    Type want = typeOf(p, b.getContext());
    if (it->second.getType() != want)
      return emitError(loc)
             << "the launch of @" << kernel.getName() << " binds parameter '"
             << p.name << "' (" << p.kindName() << ") to a value of type "
             << it->second.getType();
    operands.push_back(it->second);
  }
  IRGridAlgebra algebra{e, named};
  Value grid[3];
  for (auto [i, text] : llvm::enumerate(abi->grid)) {
    ::dma::GridExprEvaluator<IRGridAlgebra> evaluator(algebra, text);
    std::optional<Value> v = evaluator.evaluate();
    if (!v)
      return emitError(loc) << "the launch of @" << kernel.getName() << ": "
                            << evaluator.error();
    grid[i] = *v;
  }
  Value one = e.index(1);
  gpu::LaunchFuncOp::create(
      b, loc, kernel, gpu::KernelDim3{grid[0], grid[1], grid[2]},
      gpu::KernelDim3{e.index(abi->threads), one, one},
      e.intOf(b.getI32Type(), abi->sharedBytes), operands);
  return success();
}
