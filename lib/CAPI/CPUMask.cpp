//===- CPUMask.cpp - the C API of the CPU path: mask generation -----------===//
//
// dma.value_bias, dma.value_bias_grad and dma.topk on the caller's buffers,
// through the same one-op compile-and-call as the attention (CPUKernel.h).
//
//===----------------------------------------------------------------------===//

#include "CPUKernel.h"

#include <string>

using namespace mlir::dma::capi;

namespace {

/// The value, weight, dt_bias and a clauses (shared by both ops).
bool addInputs(Kernel &k, const dma_tensor *value, const dma_tensor *weight,
               const dma_tensor *dtBias, const dma_tensor *a,
               std::string &clauses) {
  if (!k.add("value", value, DMA_F32) || !k.add("weight", weight, DMA_F32) ||
      !k.add("dt_bias", dtBias, DMA_F32) || !k.add("a", a, DMA_F32))
    return false;
  clauses = " value(" + k.use("value") + ") weight(" + k.use("weight") + ")" +
            (dtBias ? " dt_bias(" + k.use("dt_bias") + ")" : "") + " a(" +
            k.use("a") + ")";
  return true;
}

/// A value head dim of 0 leaves the score without its input (only b_dt):
/// the caller's shapes are wrong.
bool checkValueHeadDim(const dma_tensor *value, std::string &error) {
  int64_t d = value->sizes[value->ndim - 1];
  if (d >= 1)
    return true;
  error = "the value head dim D (value's last dimension) must be >= 1, got " +
          std::to_string(d);
  return false;
}

} // namespace

extern "C" int dma_cpu_value_bias(const dma_tensor *value,
                                  const dma_tensor *weight,
                                  const dma_tensor *dtBias, const dma_tensor *a,
                                  const dma_tensor *score, int32_t expForm,
                                  char *error, size_t errorSize) {
  if (!value || !weight || !a || !score)
    return fail(error, errorSize, "value, weight, a and score are required");
  Kernel kern;
  std::string inputs;
  if (!addInputs(kern, value, weight, dtBias, a, inputs) ||
      !kern.add("score", score, DMA_F32))
    return fail(error, errorSize, kern.error);
  std::string message;
  if (!checkValueHeadDim(value, message))
    return fail(error, errorSize, message);
  std::string op = std::string("dma.value_bias ") + (expForm ? "exp" : "log") +
                   inputs + " outs(" + kern.use("score") + ")";
  return run(kern, op, error, errorSize);
}

extern "C" int dma_cpu_value_bias_grad(
    const dma_tensor *grad, const dma_tensor *value, const dma_tensor *weight,
    const dma_tensor *dtBias, const dma_tensor *a, const dma_tensor *gradValue,
    const dma_tensor *gradWeight, const dma_tensor *gradDtBias,
    const dma_tensor *gradA, int32_t expForm, char *error, size_t errorSize) {
  if (!grad || !value || !weight || !a || !gradValue || !gradWeight || !gradA)
    return fail(error, errorSize,
                "grad, value, weight, a, grad_value, grad_weight and grad_a "
                "are required");
  if (!dtBias != !gradDtBias)
    return fail(error, errorSize,
                "grad_dt_bias is given exactly when dt_bias is given");
  Kernel kern;
  std::string inputs;
  if (!kern.add("grad", grad, DMA_F32) ||
      !addInputs(kern, value, weight, dtBias, a, inputs) ||
      !kern.add("dv", gradValue, DMA_F32) ||
      !kern.add("dw", gradWeight, DMA_F32) ||
      !kern.add("ddt", gradDtBias, DMA_F32) || !kern.add("da", gradA, DMA_F32))
    return fail(error, errorSize, kern.error);
  std::string message;
  if (!checkValueHeadDim(value, message))
    return fail(error, errorSize, message);
  std::string outs = "%dv, %dw",
              types = kern.types["dv"] + ", " + kern.types["dw"];
  if (gradDtBias) {
    outs += ", %ddt";
    types += ", " + kern.types["ddt"];
  }
  outs += ", %da";
  types += ", " + kern.types["da"];
  std::string op = std::string("dma.value_bias_grad ") +
                   (expForm ? "exp" : "log") + " grad(" + kern.use("grad") +
                   ")" + inputs + " outs(" + outs + " : " + types + ")";
  return run(kern, op, error, errorSize);
}

extern "C" int dma_cpu_topk(const dma_tensor *score, const dma_tensor *padding,
                            int32_t perQuery, int64_t keep,
                            const dma_tensor *out0, const dma_tensor *out1,
                            const dma_tensor *out2, char *error,
                            size_t errorSize) {
  if (!score || !out0 || (perQuery && (!out1 || !out2)))
    return fail(error, errorSize,
                "score and the outputs (keep, or masked score, threshold and "
                "tiebreak) are required");
  Kernel kern;
  if (!kern.add("score", score, DMA_F32) ||
      !kern.add("padding", padding, DMA_BOOL))
    return fail(error, errorSize, kern.error);
  std::string outs, types;
  if (perQuery) {
    if (!kern.add("ms", out0, DMA_F32) || !kern.add("thr", out1, DMA_F32) ||
        !kern.add("tie", out2, DMA_I32))
      return fail(error, errorSize, kern.error);
    outs = "%ms, %thr, %tie";
    types = kern.types["ms"] + ", " + kern.types["thr"] + ", " +
            kern.types["tie"];
  } else {
    if (!kern.add("keep", out0, DMA_I32))
      return fail(error, errorSize, kern.error);
    outs = "%keep";
    types = kern.types["keep"];
  }
  std::string op = std::string("dma.topk ") +
                   (perQuery ? "per_query" : "shared") + " keep(" +
                   std::to_string(keep) + ") score(" + kern.use("score") +
                   ")" +
                   (padding ? " padding(" + kern.use("padding") + ")" : "") +
                   " outs(" + outs + " : " + types + ")";
  return run(kern, op, error, errorSize);
}
