//===- mask.cpp - mask-generation plans: value bias and top-k -------------===//
//
// Plans (and the one-shot entry points over them) for the kernels that
// make a DMA layer's mask from its values: dma_value_bias and its
// backward, the shared and the per-query top-k (docs/semantics.md,
// "Generating the mask").
//
//===----------------------------------------------------------------------===//

#include "internal.h"

#include <algorithm>

using namespace dma;

namespace {

/// Checks `t` is given, `dtype` (or one of several), `ndim`-dimensional,
/// with a contiguous innermost dimension; the message names the argument.
bool checkTensor(const dma_tensor *t, const char *name, int ndim,
                 std::initializer_list<int32_t> dtypes, Error &err) {
  if (!t) {
    err(std::string(name) + " is required");
    return false;
  }
  bool typeOk = false;
  std::string allowed;
  for (int32_t d : dtypes) {
    typeOk |= t->dtype == d;
    allowed += std::string(allowed.empty() ? "" : " or ") + dtypeName(d);
  }
  if (!typeOk) {
    err(std::string(name) + " must be " + allowed + ", got " +
        dtypeName(t->dtype));
    return false;
  }
  if (t->ndim != ndim) {
    err(std::string(name) + " must have " + std::to_string(ndim) +
        " dimensions, got " + shapeOf(*t));
    return false;
  }
  if (t->sizes[ndim - 1] > 1 && numel(*t) > 0 && t->strides[ndim - 1] != 1) {
    err(std::string(name) + " must be contiguous in its last dimension");
    return false;
  }
  return true;
}

bool sameSizes(const dma_tensor *t, std::initializer_list<int64_t> sizes,
               const char *name, Error &err) {
  int d = 0;
  std::string want = "[";
  bool ok = true;
  for (int64_t s : sizes) {
    want += (d ? ", " : "") + std::to_string(s);
    ok &= t->sizes[d++] == s;
  }
  if (!ok)
    err(std::string(name) + " must be " + want + "], got " + shapeOf(*t));
  return ok;
}

/// Parameter setters for the mask kernels' naming scheme.
struct ParamSetter {
  Args &p;
  void slot(const std::string &n, int s) { p[n] = Arg::slotAt(s); }
  void i32(const std::string &n, int64_t v) { p[n] = Arg::i32Of(v); }
  void i64(const std::string &n, int64_t v) { p[n] = Arg::i64Of(v); }
  /// `name` and its _stride_b and _h of a [B, H, L] tensor.
  void rows(const std::string &n, int s, const dma_tensor *t) {
    slot(n, s);
    i64(n + "_stride_b", strideOf(*t, 0));
    i64(n + "_stride_h", strideOf(*t, 1));
  }
  /// `name` and its _stride_b, _l and _h of a [B, L, H, D] tensor.
  void sequence(const std::string &n, int s, const dma_tensor *t) {
    slot(n, s);
    i64(n + "_stride_b", strideOf(*t, 0));
    i64(n + "_stride_l", strideOf(*t, 1));
    i64(n + "_stride_h", strideOf(*t, 2));
  }
  /// What the value-bias kernels (forward and backward) read, from the
  /// slots of value, weight, dt_bias and a.
  void valueBiasInputs(const int (&s)[4], const dma_tensor *value,
                       const dma_tensor *weight, const dma_tensor *dtBias) {
    sequence("value", s[0], value);
    slot("weight", s[1]);
    i64("weight_stride_h", strideOf(*weight, 0));
    if (dtBias)
      slot("dt_bias", s[2]);
    slot("a", s[3]);
    i32("B", value->sizes[0]);
    i32("Lk", value->sizes[1]);
    i32("Hkv", value->sizes[2]);
  }
};

/// The value-bias kernels read and write 8 consecutive elements with one
/// 16-byte access (two for f32): the last dimension a multiple of 8 and
/// every stride 16-byte aligned (the data's alignment is a launch check).
bool vectorRows(const dma_tensor *t, const char *name, Error &err) {
  int64_t bytes = dtypeBytes(t->dtype);
  bool ok = t->sizes[t->ndim - 1] % 8 == 0;
  for (int d = 0; ok && numel(*t) > 0 && d + 1 < t->ndim; ++d)
    ok = t->sizes[d] == 1 || (t->strides[d] * bytes) % 16 == 0;
  if (!ok)
    err(std::string(name) + " must have a last dimension that is a multiple "
        "of 8 and 16-byte aligned strides (copy it into a fresh contiguous "
        "tensor)");
  return ok;
}

/// The kernels index with i32: sizes in [0, 2^30].
bool sizesFit(std::initializer_list<int64_t> sizes, Error &err) {
  for (int64_t s : sizes)
    if (s < 0 || s > (int64_t(1) << 30)) {
      err("sizes must be in [0, 2^30], got " + std::to_string(s));
      return false;
    }
  return true;
}

bool haveRuntime(dma_runtime *rt, Error &err) {
  if (!rt)
    err("no runtime (dma_runtime_open failed?)");
  return rt != nullptr;
}

dma_plan *failWith(Error &err, const std::string &message) {
  err(message);
  return nullptr;
}

std::string valueBiasVariant(const char *kind, const dma_tensor *value,
                             bool expForm, bool dtBias) {
  return std::string("kind=") + kind + ",dtype=" + dtypeName(value->dtype) +
         ",d=" + std::to_string(value->sizes[3]) +
         ",form=" + (expForm ? "exp" : "log") +
         ",dt_bias=" + (dtBias ? "1" : "0");
}

} // namespace

//===----------------------------------------------------------------------===//
// value_bias
//===----------------------------------------------------------------------===//

extern "C" dma_plan *dma_value_bias_plan(dma_runtime *rt, int device,
                                         const dma_tensor *value,
                                         const dma_tensor *weight,
                                         const dma_tensor *dtBias,
                                         const dma_tensor *a,
                                         const dma_tensor *score,
                                         int32_t expForm, char *error,
                                         size_t errorSize) {
  Error err(error, errorSize);
  if (!checkTensor(value, "value", 4, {DMA_BF16, DMA_F16}, err) ||
      !checkTensor(weight, "weight", 2, {DMA_F32}, err) ||
      !checkTensor(a, "a", 1, {DMA_F32}, err) ||
      !checkTensor(score, "score", 3, {DMA_F32}, err) ||
      (dtBias && !checkTensor(dtBias, "dt_bias", 1, {DMA_F32}, err)))
    return nullptr;
  int64_t B = value->sizes[0], Lk = value->sizes[1], Hkv = value->sizes[2],
          D = value->sizes[3];
  if (D < 8)
    return failWith(err, "value's head dim must be a positive multiple of "
                         "8, got " + std::to_string(D));
  if (!sizesFit({B, Lk, Hkv, D, Lk * Hkv}, err) ||
      !sameSizes(weight, {Hkv, Hkv * D}, "weight", err) ||
      !sameSizes(a, {Hkv}, "a", err) ||
      (dtBias && !sameSizes(dtBias, {Hkv}, "dt_bias", err)) ||
      !sameSizes(score, {B, Hkv, Lk}, "score", err))
    return nullptr;
  if (!vectorRows(value, "value", err) || !vectorRows(weight, "weight", err))
    return nullptr;
  if (!haveRuntime(rt, err))
    return nullptr;
  PlanBuilder plan(rt, device, {"value", "weight", "dt_bias", "a", "score"});
  plan.use(0, value, 16);
  plan.use(1, weight, 16);
  plan.use(2, dtBias, 4);
  plan.use(3, a, 4);
  plan.use(4, score, 4);
  Args args;
  ParamSetter p{args};
  p.valueBiasInputs({0, 1, 2, 3}, value, weight, dtBias);
  p.rows("score", 4, score);
  std::string name = valueBiasVariant("value_bias", value, expForm, dtBias);
  std::string message;
  if (!plan.kernel(name, args, message))
    return failWith(err, message);
  return finished(plan, err);
}

extern "C" int dma_value_bias(dma_runtime *rt, const dma_tensor *value,
                              const dma_tensor *weight,
                              const dma_tensor *dtBias, const dma_tensor *a,
                              const dma_tensor *score, int32_t expForm,
                              void *stream, char *error, size_t errorSize) {
  Error err(error, errorSize);
  dma_plan *plan = dma_value_bias_plan(rt, -1, value, weight, dtBias, a,
                                       score, expForm, error, errorSize);
  if (!plan)
    return 1;
  int rc = launchOnce(plan, {value, weight, dtBias, a, score}, nullptr,
                      stream, err);
  dma_plan_destroy(plan);
  return rc;
}

//===----------------------------------------------------------------------===//
// value_bias backward
//===----------------------------------------------------------------------===//

extern "C" int64_t dma_value_bias_backward_scratch(int64_t B, int64_t Lk,
                                                   int64_t Hkv, int64_t D) {
  // Must agree with convert-dma-mask-to-gpu (kValueBiasGradRows = 128).
  int64_t rows = B * Lk, chunks = B * ((Lk + 127) / 128);
  return 2 * rows * Hkv + chunks * Hkv * (Hkv * D + 2);
}

namespace {

/// The checks of dma_value_bias_backward(_plan)'s tensors.
bool checkValueBiasBackward(const dma_tensor *grad, const dma_tensor *value,
                            const dma_tensor *weight, const dma_tensor *dtBias,
                            const dma_tensor *a, const dma_tensor *gradValue,
                            const dma_tensor *gradWeight,
                            const dma_tensor *gradDtBias,
                            const dma_tensor *gradA, Error &err) {
  if (!checkTensor(value, "value", 4, {DMA_BF16, DMA_F16}, err) ||
      !checkTensor(weight, "weight", 2, {DMA_F32}, err) ||
      !checkTensor(a, "a", 1, {DMA_F32}, err) ||
      (dtBias && !checkTensor(dtBias, "dt_bias", 1, {DMA_F32}, err)) ||
      !checkTensor(grad, "grad", 3, {DMA_F32}, err) ||
      !checkTensor(gradValue, "grad_value", 4, {value->dtype}, err) ||
      !checkTensor(gradWeight, "grad_weight", 2, {DMA_F32}, err) ||
      !checkTensor(gradA, "grad_a", 1, {DMA_F32}, err))
    return false;
  if (!dtBias != !gradDtBias) {
    err("grad_dt_bias is given exactly when dt_bias is given");
    return false;
  }
  if (gradDtBias &&
      !checkTensor(gradDtBias, "grad_dt_bias", 1, {DMA_F32}, err))
    return false;
  int64_t B = value->sizes[0], Lk = value->sizes[1], Hkv = value->sizes[2],
          D = value->sizes[3];
  if (D < 8) {
    err("value's head dim must be a positive multiple of 8, got " +
        std::to_string(D));
    return false;
  }
  return sizesFit({B, Lk, Hkv, D, B * Lk * Hkv * D}, err) &&
         sameSizes(weight, {Hkv, Hkv * D}, "weight", err) &&
         sameSizes(a, {Hkv}, "a", err) &&
         (!dtBias || sameSizes(dtBias, {Hkv}, "dt_bias", err)) &&
         sameSizes(grad, {B, Hkv, Lk}, "grad", err) &&
         sameSizes(gradValue, {B, Lk, Hkv, D}, "grad_value", err) &&
         sameSizes(gradWeight, {Hkv, Hkv * D}, "grad_weight", err) &&
         sameSizes(gradA, {Hkv}, "grad_a", err) &&
         (!gradDtBias || sameSizes(gradDtBias, {Hkv}, "grad_dt_bias", err)) &&
         vectorRows(value, "value", err) &&
         vectorRows(gradValue, "grad_value", err) &&
         vectorRows(weight, "weight", err);
}

} // namespace

extern "C" dma_plan *dma_value_bias_backward_plan(
    dma_runtime *rt, int device, const dma_tensor *grad,
    const dma_tensor *value, const dma_tensor *weight,
    const dma_tensor *dtBias, const dma_tensor *a,
    const dma_tensor *gradValue, const dma_tensor *gradWeight,
    const dma_tensor *gradDtBias, const dma_tensor *gradA, int32_t expForm,
    char *error, size_t errorSize) {
  Error err(error, errorSize);
  if (!checkValueBiasBackward(grad, value, weight, dtBias, a, gradValue,
                              gradWeight, gradDtBias, gradA, err))
    return nullptr;
  int64_t B = value->sizes[0], Lk = value->sizes[1], Hkv = value->sizes[2],
          D = value->sizes[3];
  if (!haveRuntime(rt, err))
    return nullptr;
  PlanBuilder plan(rt, device,
                   {"grad", "value", "weight", "dt_bias", "a", "grad_value",
                    "grad_weight", "grad_dt_bias", "grad_a", "workspace"});
  plan.use(0, grad, 4);
  plan.use(1, value, 16);
  plan.use(2, weight, 16);
  plan.use(3, dtBias, 4);
  plan.use(4, a, 4);
  plan.use(5, gradValue, 16);
  plan.use(6, gradWeight, 4);
  plan.use(7, gradDtBias, 4);
  plan.use(8, gradA, 4);
  Args args;
  ParamSetter p{args};
  p.rows("grad", 0, grad);
  p.valueBiasInputs({1, 2, 3, 4}, value, weight, dtBias);
  // The scratch: g and e ([B, Lk, Hkv] each), then the partial sums.
  int64_t rows = B * Lk;
  int64_t scratch = plan.reserve(
      dma_value_bias_backward_scratch(B, Lk, Hkv, D) * 4);
  args["g"] = plan.workspace(scratch);
  args["e"] = plan.workspace(scratch + rows * Hkv * 4);
  args["partial"] = plan.workspace(scratch + 2 * rows * Hkv * 4);
  p.sequence("grad_value", 5, gradValue);
  p.slot("grad_weight", 6);
  p.i64("grad_weight_stride_h", strideOf(*gradWeight, 0));
  if (gradDtBias)
    p.slot("grad_dt_bias", 7);
  p.slot("grad_a", 8);
  std::string base =
      valueBiasVariant("value_bias_bwd", value, expForm, dtBias) + ",step=";
  std::string message;
  for (const char *step : {"dt", "value", "params", "reduce"})
    if (!plan.kernel(base + step, args, message))
      return failWith(err, message);
  return finished(plan, err);
}

extern "C" int dma_value_bias_backward(
    dma_runtime *rt, const dma_tensor *grad, const dma_tensor *value,
    const dma_tensor *weight, const dma_tensor *dtBias, const dma_tensor *a,
    const dma_tensor *gradValue, const dma_tensor *gradWeight,
    const dma_tensor *gradDtBias, const dma_tensor *gradA,
    const dma_tensor *scratch, int32_t expForm, void *stream, char *error,
    size_t errorSize) {
  Error err(error, errorSize);
  if (!checkValueBiasBackward(grad, value, weight, dtBias, a, gradValue,
                              gradWeight, gradDtBias, gradA, err) ||
      !checkTensor(scratch, "scratch", 1, {DMA_F32}, err))
    return 1;
  int64_t need = dma_value_bias_backward_scratch(
      value->sizes[0], value->sizes[1], value->sizes[2], value->sizes[3]);
  if (scratch->sizes[0] < need)
    return err("scratch must have at least " + std::to_string(need) +
               " float32 elements (dma_value_bias_backward_scratch), got " +
               std::to_string(scratch->sizes[0]));
  dma_plan *plan = dma_value_bias_backward_plan(
      rt, -1, grad, value, weight, dtBias, a, gradValue, gradWeight,
      gradDtBias, gradA, expForm, error, errorSize);
  if (!plan)
    return 1;
  int rc = launchOnce(plan,
                      {grad, value, weight, dtBias, a, gradValue, gradWeight,
                       gradDtBias, gradA},
                      scratch->data, stream, err);
  dma_plan_destroy(plan);
  return rc;
}

//===----------------------------------------------------------------------===//
// top-k
//===----------------------------------------------------------------------===//

namespace {

/// The checks and parameters both top-k forms share (score slot 0,
/// padding slot 1).
bool prepareTopK(const dma_tensor *score, const dma_tensor *padding,
                 int64_t &B, int64_t &Hkv, int64_t &Lk, Args &args,
                 Error &err) {
  if (!checkTensor(score, "score", 3, {DMA_F32}, err) ||
      (padding && !checkTensor(padding, "padding", 2, {DMA_BOOL}, err)))
    return false;
  B = score->sizes[0];
  Hkv = score->sizes[1];
  Lk = score->sizes[2];
  if (!sizesFit({B, Hkv, Lk}, err) ||
      (padding && !sameSizes(padding, {B, Lk}, "padding", err)))
    return false;
  ParamSetter p{args};
  p.rows("score", 0, score);
  if (padding) {
    p.slot("padding", 1);
    p.i64("padding_stride_b", strideOf(*padding, 0));
  }
  p.i32("B", B);
  p.i32("Hkv", Hkv);
  p.i32("Lk", Lk);
  return true;
}

} // namespace

extern "C" dma_plan *dma_topk_shared_plan(dma_runtime *rt, int device,
                                          const dma_tensor *score,
                                          const dma_tensor *padding,
                                          const dma_tensor *keep, char *error,
                                          size_t errorSize) {
  Error err(error, errorSize);
  Args args;
  int64_t B, Hkv, Lk;
  if (!prepareTopK(score, padding, B, Hkv, Lk, args, err) ||
      !checkTensor(keep, "keep", 3, {DMA_I32}, err))
    return nullptr;
  int64_t W = keep->sizes[2];
  if (!sizesFit({W}, err) || !sameSizes(keep, {B, Hkv, W}, "keep", err))
    return nullptr;
  if (!haveRuntime(rt, err))
    return nullptr;
  PlanBuilder plan(rt, device, {"score", "padding", "keep"});
  plan.use(0, score, 4);
  plan.use(1, padding, 1);
  plan.use(2, keep, 4);
  ParamSetter p{args};
  p.rows("keep", 2, keep);
  p.i32("W", W);
  std::string name = std::string("kind=topk,selection=shared,padding=") +
                     (padding ? "1" : "0");
  std::string message;
  // No keys: nothing to select (the keep list is filled below).
  if (!plan.kernel(name, args, message, /*run=*/Lk > 0))
    return failWith(err, message);
  if (Lk == 0) {
    // No keys to keep: all padding.
    if (!isContiguous(*keep))
      return failWith(err, "with no keys (Lk = 0) keep must be contiguous");
    plan.memset32(Arg::slotAt(2), B * Hkv * W, 0xFFFFFFFFu);
  }
  return finished(plan, err);
}

extern "C" int dma_topk_shared(dma_runtime *rt, const dma_tensor *score,
                               const dma_tensor *padding,
                               const dma_tensor *keep, void *stream,
                               char *error, size_t errorSize) {
  Error err(error, errorSize);
  dma_plan *plan =
      dma_topk_shared_plan(rt, -1, score, padding, keep, error, errorSize);
  if (!plan)
    return 1;
  int rc = launchOnce(plan, {score, padding, keep}, nullptr, stream, err);
  dma_plan_destroy(plan);
  return rc;
}

extern "C" dma_plan *dma_topk_per_query_plan(
    dma_runtime *rt, int device, const dma_tensor *score,
    const dma_tensor *padding, int64_t keep, const dma_tensor *maskedScore,
    const dma_tensor *threshold, const dma_tensor *tiebreak, char *error,
    size_t errorSize) {
  Error err(error, errorSize);
  Args args;
  int64_t B, Hkv, Lk;
  if (!prepareTopK(score, padding, B, Hkv, Lk, args, err) ||
      !checkTensor(maskedScore, "masked_score", 3, {DMA_F32}, err) ||
      !checkTensor(threshold, "threshold", 3, {DMA_F32}, err) ||
      !checkTensor(tiebreak, "tiebreak", 3, {DMA_I32}, err))
    return nullptr;
  if (keep < 1)
    return failWith(err, "keep must be >= 1, got " + std::to_string(keep));
  for (auto [t, n] : {std::pair{maskedScore, "masked_score"},
                      std::pair{threshold, "threshold"},
                      std::pair{tiebreak, "tiebreak"}})
    if (!sameSizes(t, {B, Hkv, Lk}, n, err))
      return nullptr;
  if (!haveRuntime(rt, err))
    return nullptr;
  PlanBuilder plan(rt, device,
                   {"score", "padding", "masked_score", "threshold",
                    "tiebreak"});
  plan.use(0, score, 4);
  plan.use(1, padding, 1);
  plan.use(2, maskedScore, 4);
  plan.use(3, threshold, 4);
  plan.use(4, tiebreak, 4);
  ParamSetter p{args};
  p.rows("masked_score", 2, maskedScore);
  p.rows("threshold", 3, threshold);
  p.rows("tiebreak", 4, tiebreak);
  p.i32("W", std::min<int64_t>(keep, int64_t(1) << 30));
  std::string name = std::string("kind=topk,selection=per_query,padding=") +
                     (padding ? "1" : "0");
  std::string message;
  if (!plan.kernel(name, args, message))
    return failWith(err, message);
  return finished(plan, err);
}

extern "C" int dma_topk_per_query(dma_runtime *rt, const dma_tensor *score,
                                  const dma_tensor *padding, int64_t keep,
                                  const dma_tensor *maskedScore,
                                  const dma_tensor *threshold,
                                  const dma_tensor *tiebreak, void *stream,
                                  char *error, size_t errorSize) {
  Error err(error, errorSize);
  dma_plan *plan =
      dma_topk_per_query_plan(rt, -1, score, padding, keep, maskedScore,
                              threshold, tiebreak, error, errorSize);
  if (!plan)
    return 1;
  int rc = launchOnce(plan, {score, padding, maskedScore, threshold, tiebreak},
                      nullptr, stream, err);
  dma_plan_destroy(plan);
  return rc;
}
