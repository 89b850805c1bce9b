//===- ConvertDMAMaskToGPU.cpp - the convert-dma-mask-to-gpu pass ---------===//
//
// Replaces dma.value_bias, dma.value_bias_grad and dma.topk on memrefs by
// launches of the kernels MaskKernels.cpp generates, after checking what
// those kernels assume (f32 scores, i32/i64 positions, contiguous innermost
// dimensions, a static head dim for the value bias). The backward's f32
// scratch is allocated around its launches (memref.alloc, like the
// attention backward's accumulators; a runtime's caller passes its own).
//
//===----------------------------------------------------------------------===//

#include "Launch.h"
#include "dma/Conversion/DMAToGPU/MaskKernels.h"
#include "dma/Conversion/Passes.h"
#include "dma/Dialect/DMA/IR/DMAOps.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir::dma {
#define GEN_PASS_DEF_CONVERTDMAMASKTOGPU
#include "dma/Conversion/Passes.h.inc"
} // namespace mlir::dma

using namespace mlir;
using namespace mlir::dma;

namespace {

/// The innermost dimension is contiguous (the kernels index it directly).
bool innermostContiguous(Value v) {
  auto type = dyn_cast<MemRefType>(v.getType());
  if (!type)
    return false;
  if (type.getLayout().isIdentity())
    return true;
  SmallVector<int64_t> strides;
  int64_t offset;
  if (failed(type.getStridesAndOffset(strides, offset)))
    return false;
  return strides.empty() || strides.back() == 1;
}

LogicalResult checkOperands(Operation *op, ValueRange operands) {
  if (failed(checkI32Sizes(op, operands)))
    return failure();
  for (Value v : operands) {
    if (!v)
      continue;
    if (!isa<MemRefType>(v.getType()))
      return op->emitError("convert-dma-mask-to-gpu: operands must be "
                           "memrefs (run one-shot-bufferize first)");
    if (!innermostContiguous(v))
      return op->emitError("convert-dma-mask-to-gpu: the innermost dimension "
                           "of every operand must be contiguous (copy into "
                           "a contiguous buffer first)");
  }
  return success();
}

LogicalResult checkScore(Operation *op, Value score) {
  if (!eltOf(score).isF32())
    return op->emitError("convert-dma-mask-to-gpu: the GPU kernels take f32 "
                         "scores, got ")
           << eltOf(score);
  return success();
}

/// The kernels read and write these element types, converting to and from
/// f32 (KernelBuilder::loadF32x8 and friends); anything else (f64, f8, an
/// integer) would become an invalid conversion in the generated IR.
LogicalResult checkFloat(Operation *op, StringRef what, Value v) {
  Type t = eltOf(v);
  if (t.isBF16() || t.isF16() || t.isF32())
    return success();
  return op->emitError("convert-dma-mask-to-gpu: the GPU kernels take bf16, "
                       "f16 or f32 ")
         << what << ", got " << t << " (use the CPU pipeline)";
}

/// The value's head dim: static (the kernels are specialised on it), whole
/// 16-byte loads, and small enough for the kernels' i32 sizes. Checked
/// before any IR is built.
LogicalResult checkValueHeadDim(Operation *op, int64_t d) {
  if (ShapedType::isDynamic(d) || d % 8 || d < 8)
    return op->emitError("convert-dma-mask-to-gpu: the value's head dim must "
                         "be static and a multiple of 8 (16-byte loads)");
  if (d > kMaxValueBiasHeadDim)
    return op->emitError("convert-dma-mask-to-gpu: the value's head dim must "
                         "be at most ")
           << kMaxValueBiasHeadDim << " for the GPU kernels, got " << d;
  return success();
}

std::string typeName(Type t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << t;
  return s;
}

/// What the value-bias kernel takes (no IR is built).
LogicalResult checkValueBias(ValueBiasOp op) {
  Value v = op.getValue(), w = op.getWeight(), a = op.getA(),
        dtBias = op.getDtBias(), score = op.getOuts()[0];
  if (failed(checkOperands(op, {v, w, a, dtBias, score})) ||
      failed(checkScore(op, score)) ||
      failed(checkValueHeadDim(op, dimOf(v, 3))) ||
      failed(checkFloat(op, "values", v)) ||
      failed(checkFloat(op, "weight, dt_bias and a", w)))
    return failure();
  if (eltOf(a) != eltOf(w) || (dtBias && eltOf(dtBias) != eltOf(w)))
    return op.emitError("convert-dma-mask-to-gpu: weight, dt_bias and a must "
                        "have one element type");
  return success();
}

/// Binds what the value-bias kernels and their backward share: the values
/// [B, Lk, Hkv, D], the weight and the per-head parameters, the sizes.
void bindValueBias(LaunchArgs &args, Value v, Value w, Value dtBias, Value a) {
  args.tensor("value", v, "blh");
  args.tensor("weight", w, "h");
  if (dtBias)
    args.set("dt_bias", args.pointer(dtBias));
  args.set("a", args.pointer(a));
  args.set("B", args.dimI32(v, 0));
  args.set("Lk", args.dimI32(v, 1));
  args.set("Hkv", args.dimI32(v, 2));
}

/// Emits the kernel of a checked dma.value_bias and replaces the op by its
/// launch.
LogicalResult convertValueBias(OpBuilder &b, gpu::GPUModuleOp kernels,
                               ValueBiasOp op, unsigned index) {
  Value v = op.getValue(), w = op.getWeight(), a = op.getA(),
        dtBias = op.getDtBias(), score = op.getOuts()[0];
  ValueBiasKernelConfig c;
  c.element = eltOf(v);
  c.paramElement = eltOf(w);
  c.headDim = dimOf(v, 3);
  c.dtBias = static_cast<bool>(dtBias);
  c.expForm = op.getForm() == ScoreForm::exp;
  std::string name = "dma_value_bias_" + typeName(c.element) + "_d" +
                     std::to_string(c.headDim) + (c.expForm ? "_exp" : "_log") +
                     (c.dtBias ? "_dtbias" : "") + "_" + std::to_string(index);
  gpu::GPUFuncOp kernel = emitValueBiasKernel(b, op.getLoc(), kernels, name, c);

  b.setInsertionPoint(op);
  LaunchArgs args(b, op.getLoc());
  bindValueBias(args, v, w, dtBias, a);
  args.tensor("score", score, "bh");
  if (failed(args.launch(kernel)))
    return failure();
  op.erase();
  return success();
}

/// What the value-bias backward kernels take (no IR is built).
LogicalResult checkValueBiasGrad(ValueBiasGradOp op) {
  Value grad = op.getGrad(), v = op.getValue(), w = op.getWeight(),
        a = op.getA(), dtBias = op.getDtBias();
  SmallVector<Value> outs(op.getOuts());
  SmallVector<Value> all = {grad, v, w, a, dtBias};
  all.append(outs);
  if (failed(checkOperands(op, all)) || failed(checkScore(op, grad)) ||
      failed(checkValueHeadDim(op, dimOf(v, 3))) ||
      failed(checkFloat(op, "values", v)) ||
      failed(checkFloat(op, "weight, dt_bias and a", w)) ||
      failed(checkFloat(op, "value gradients", outs[0])) ||
      failed(checkFloat(op, "parameter gradients", outs[1])))
    return failure();
  if (eltOf(a) != eltOf(w) || (dtBias && eltOf(dtBias) != eltOf(w)))
    return op.emitError("convert-dma-mask-to-gpu: weight, dt_bias and a must "
                        "have one element type");
  for (Value o : ArrayRef<Value>(outs).drop_front(2))
    if (eltOf(o) != eltOf(outs[1]))
      return op.emitError("convert-dma-mask-to-gpu: grad_weight, "
                          "grad_dt_bias and grad_a must have one element "
                          "type");
  return success();
}

/// Emits the kernels of a checked dma.value_bias_grad and replaces the op
/// by their launches.
LogicalResult convertValueBiasGrad(OpBuilder &b, gpu::GPUModuleOp kernels,
                                   ValueBiasGradOp op, unsigned index) {
  Value grad = op.getGrad(), v = op.getValue(), w = op.getWeight(),
        a = op.getA(), dtBias = op.getDtBias();
  SmallVector<Value> outs(op.getOuts());
  ValueBiasGradKernelConfig c;
  c.forward.element = eltOf(v);
  c.forward.paramElement = eltOf(w);
  c.forward.headDim = dimOf(v, 3);
  c.forward.dtBias = static_cast<bool>(dtBias);
  c.forward.expForm = op.getForm() == ScoreForm::exp;
  c.gradValueElement = eltOf(outs[0]);
  c.gradParamElement = eltOf(outs[1]);

  b.setInsertionPoint(op);
  LaunchArgs args(b, op.getLoc());
  LoopEmitter &e = args.e;
  Value B = e.dim(v, 0), Lk = e.dim(v, 1), Hkv = e.dim(v, 2);
  int64_t D = c.forward.headDim;
  // Scratch: g and e per (b, j, h), and one partial sum per chunk of a
  // batch's keys and column of [W | b_dt | A].
  Value rows = e.mul(B, Lk);
  Value columns = e.mul(Hkv, e.add(e.mul(Hkv, e.index(D)), e.index(2)));
  Value chunks = e.mul(B, e.ceilDiv(Lk, kValueBiasGradRows));
  Type f32 = b.getF32Type();
  Value g = e.allocOf(f32, {e.mul(rows, Hkv)});
  Value eBuf = e.allocOf(f32, {e.mul(rows, Hkv)});
  Value partial = e.allocOf(f32, {e.mul(chunks, columns)});

  bindValueBias(args, v, w, dtBias, a);
  args.tensor("grad", grad, "bh");
  for (auto [name, m] : {std::pair{"g", g}, {"e", eBuf}, {"partial", partial}})
    args.set(name, args.pointer(m));
  args.tensor("grad_value", outs[0], "blh");
  args.tensor("grad_weight", outs[1], "h");
  if (dtBias)
    args.set("grad_dt_bias", args.pointer(outs[2]));
  args.set("grad_a", args.pointer(outs.back()));

  std::pair<ValueBiasGradStep, const char *> steps[] = {
      {ValueBiasGradStep::Dt, "dt"},
      {ValueBiasGradStep::Value, "value"},
      {ValueBiasGradStep::Params, "params"},
      {ValueBiasGradStep::Reduce, "reduce"}};
  std::string suffix = typeName(c.forward.element) + "_d" + std::to_string(D) +
                       (c.forward.expForm ? "_exp" : "_log") +
                       (c.forward.dtBias ? "_dtbias" : "") + "_" +
                       std::to_string(index);
  for (auto [step, stepName] : steps) {
    gpu::GPUFuncOp kernel = emitValueBiasGradKernel(
        b, op.getLoc(), kernels,
        std::string("dma_value_bias_bwd_") + stepName + "_" + suffix, c, step);
    b.setInsertionPoint(op);
    if (failed(args.launch(kernel)))
      return failure();
  }
  for (Value buffer : {g, eBuf, partial})
    e.dealloc(buffer);
  op.erase();
  return success();
}

/// What the top-k kernels take (no IR is built).
LogicalResult checkTopK(TopKOp op) {
  Value score = op.getScore(), padding = op.getPadding();
  SmallVector<Value> outs(op.getOuts());
  SmallVector<Value> all = {score, padding};
  all.append(outs);
  if (failed(checkOperands(op, all)) || failed(checkScore(op, score)))
    return failure();
  if (op.getKeep() > INT32_MAX)
    return op.emitError("convert-dma-mask-to-gpu: keep must be below 2^31 "
                        "for the GPU kernels (i32 sizes), got ")
           << op.getKeep();
  if (op.getSelection() == TopKSelection::per_query &&
      (!eltOf(outs[0]).isF32() || !eltOf(outs[1]).isF32()))
    return op.emitError("convert-dma-mask-to-gpu: the per-query score and "
                        "threshold must be f32");
  return success();
}

/// Emits the kernels of a checked dma.topk and replaces the op by their
/// launches.
LogicalResult convertTopK(OpBuilder &b, gpu::GPUModuleOp kernels, TopKOp op,
                          unsigned index) {
  Value score = op.getScore(), padding = op.getPadding();
  SmallVector<Value> outs(op.getOuts());
  bool perQuery = op.getSelection() == TopKSelection::per_query;
  TopKKernelConfig c;
  c.padding = static_cast<bool>(padding);
  c.indexElement = eltOf(perQuery ? outs[2] : outs[0]);
  std::string suffix = typeName(c.indexElement) +
                       (c.padding ? "_padded_" : "_") + std::to_string(index);

  b.setInsertionPoint(op);
  LaunchArgs args(b, op.getLoc());
  args.tensor("score", score, "bh");
  if (padding)
    args.tensor("padding", padding, "b");
  SmallVector<StringRef> outNames =
      perQuery ? SmallVector<StringRef>{"masked_score", "threshold",
                                        "tiebreak"}
               : SmallVector<StringRef>{"keep"};
  for (auto [name, o] : llvm::zip_equal(outNames, outs))
    args.tensor(name, o, "bh");
  args.set("B", args.dimI32(score, 0));
  args.set("Hkv", args.dimI32(score, 1));
  args.set("Lk", args.dimI32(score, 2));
  args.set("W", perQuery ? args.i32(args.e.index(op.getKeep()))
                         : args.dimI32(outs[0], 2));
  gpu::GPUFuncOp kernel =
      perQuery ? emitTopKPerQueryKernel(b, op.getLoc(), kernels,
                                        "dma_topk_per_query_" + suffix, c)
               : emitTopKSharedKernel(b, op.getLoc(), kernels,
                                      "dma_topk_shared_" + suffix, c);
  b.setInsertionPoint(op);
  if (failed(args.launch(kernel)))
    return failure();
  op.erase();
  return success();
}

struct ConvertDMAMaskToGPUPass
    : public dma::impl::ConvertDMAMaskToGPUBase<ConvertDMAMaskToGPUPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<Operation *> ops;
    module.walk([&](Operation *op) {
      if (isa<ValueBiasOp, ValueBiasGradOp, TopKOp>(op))
        ops.push_back(op);
    });
    if (ops.empty())
      return;
    // Every op is checked before any kernel is generated: a size or type
    // the kernels do not take fails here, never inside a generator.
    for (Operation *op : ops) {
      LogicalResult ok = isa<ValueBiasOp>(op)
                             ? checkValueBias(cast<ValueBiasOp>(op))
                         : isa<ValueBiasGradOp>(op)
                             ? checkValueBiasGrad(cast<ValueBiasGradOp>(op))
                             : checkTopK(cast<TopKOp>(op));
      if (failed(ok))
        return signalPassFailure();
    }
    OpBuilder b(&getContext());
    gpu::GPUModuleOp kernels = kernelModule(b, module);
    unsigned index = 0;
    for (Operation *op : ops) {
      LogicalResult done =
          isa<ValueBiasOp>(op)
              ? convertValueBias(b, kernels, cast<ValueBiasOp>(op), index++)
          : isa<ValueBiasGradOp>(op)
              ? convertValueBiasGrad(b, kernels, cast<ValueBiasGradOp>(op),
                                     index++)
              : convertTopK(b, kernels, cast<TopKOp>(op), index++);
      if (failed(done))
        return signalPassFailure();
    }
  }
};

} // namespace
