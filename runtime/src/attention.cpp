//===- attention.cpp - attention plans: checks, variants, parameters ------===//
//
// dma_attention_forward_plan and dma_attention_backward_plan check every
// argument (ranks, shapes, dtypes, strides, options), name the bundle
// variants the call needs (the same spec strings dma-compile takes) and lay
// out their parameters. The forward is one kernel; the backward a memset of
// its float32 sums, the Delta kernel, the backward kernel and the
// conversion kernel that writes the gradients in their dtypes.
//
//===----------------------------------------------------------------------===//

#include "internal.h"

#include "dma/KernelDefaults.h"

#include <cmath>
#include <cstdio>
#include <limits>

using namespace dma;

namespace {

/// Which plan slot holds each tensor of an attention call.
struct AttentionSlots {
  int q, k, v, bias, mask, keep, keepScore, keepThreshold, keepTiebreak, o,
      lse;
};
// dma_attention_forward_plan's order.
constexpr AttentionSlots kForwardSlots{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
// dma_attention_backward_plan's: grad_o, q, k, v, o, lse, bias, mask,
// keep, keep_score, keep_threshold, keep_tiebreak, the four gradients,
// then the workspace.
constexpr AttentionSlots kBackwardSlots{1, 2, 3, 6, 7, 8, 9, 10, 11, 4, 5};

/// What a call derives from its arguments.
struct Attention {
  std::string variant; // the forward's, tiles included
  Args args;           // the forward kernel's parameters
  int64_t B = 0, Lq = 0, H = 0, Lk = 0, Hkv = 0, D = 0, Dv = 0;
  int64_t keepW = -1; // the shared top-k list's length
  int64_t kTile = 0;  // the forward's keys per tile
  int64_t maskBatch = 0, maskHeads = 0; // a dense mask's dims 0 and 1
};

/// dma-block-skip's summary of a dense mask (the bundle's `<variant>,step=
/// mask_summary` kernel), when the variant `name` has one: reserves its
/// buffers in the workspace, adds their parameters to `a.args` and the
/// summary's launch to the plan (before the attention kernel reading them)
/// for blocks of `qTile` x `kTile`. False (with `message`) on failure.
bool addMaskSummary(PlanBuilder &plan, Attention &a, const std::string &name,
                    int64_t kTile, std::string &message) {
  std::string states = name + ",step=mask_summary";
  std::string lists = name + ",step=mask_list";
  if (a.maskHeads == 0 || !plan.has(states))
    return true;
  int64_t qTile = std::max<int64_t>(plan.blockOf(states), 1);
  int64_t nQT = ceilDiv(a.Lq, qTile), nKT = ceilDiv(a.Lk, kTile);
  int64_t rows = a.maskBatch * a.maskHeads * nQT;
  a.args["mask_state"] = plan.workspace(plan.reserve(rows * nKT * 4));
  a.args["mask_tiles"] = plan.workspace(plan.reserve(rows * nKT * 4));
  a.args["mask_count"] = plan.workspace(plan.reserve(rows * 4));
  a.args["mask_batch"] = Arg::i32Of(a.maskBatch);
  return plan.kernel(states, a.args, message) &&
         plan.kernel(lists, a.args, message);
}

/// A [d0, ..., dn] float32 tensor laid out contiguously (the sums in the
/// workspace): the sizes of `like`, its own strides.
dma_tensor contiguousF32(const dma_tensor &like) {
  dma_tensor t = like;
  t.data = nullptr;
  t.dtype = DMA_F32;
  int64_t stride = 1;
  for (int d = t.ndim - 1; d >= 0; --d) {
    t.strides[d] = stride;
    stride *= t.sizes[d];
  }
  return t;
}

/// The compute capability a call's default tiles follow: its own, else the
/// bundle's (its chip and forwards), else 0 (mma.sync's).
int archOf(const dma_attention_options *options, const dma_runtime *rt) {
  if (options && options->arch)
    return options->arch;
  return rt ? rt->defaultArch : 0;
}

/// Checks the forward's arguments and fills `a`; the tensors' data is not
/// read. With a builder, marks the slots the kernels use. The default tiles
/// are those of compute capability `arch`.
bool prepare(const dma_tensor *q, const dma_tensor *k, const dma_tensor *v,
             const dma_tensor *bias, const dma_tensor *mask,
             const dma_tensor *keep, const dma_tensor *keepScore,
             const dma_tensor *keepThreshold, const dma_tensor *keepTiebreak,
             const dma_tensor *o, const dma_tensor *lse,
             const dma_attention_options *options, int arch,
             const AttentionSlots &slot, PlanBuilder *plan, Attention &a,
             std::string &error) {
  auto fail = [&](const std::string &m) {
    error = m;
    return false;
  };
  if (!q || !k || !v || !o || !lse)
    return fail("q, k, v, o and lse are required");
  auto rank = [&](const dma_tensor &t, const char *name, int r,
                  const char *layout) {
    if (t.ndim != r)
      return fail(std::string(name) + " must have " + std::to_string(r) +
                  " dimensions " + layout + ", got " + shapeOf(t));
    return true;
  };
  if (!rank(*q, "q", 4, "[B, Lq, H, D]") ||
      !rank(*k, "k", 4, "[B, Lk, Hkv, D]") ||
      !rank(*v, "v", 4, "[B, Lk, Hkv, Dv]") ||
      !rank(*o, "o", 4, "[B, Lq, H, Dv]") || !rank(*lse, "lse", 3, "[B, H, Lq]"))
    return false;
  if (q->dtype != DMA_BF16 && q->dtype != DMA_F16)
    return fail(std::string("the GPU kernels take bf16 or f16 q, got ") +
                dtypeName(q->dtype));
  for (const dma_tensor *t : {k, v, o})
    if (t->dtype != q->dtype)
      return fail("q, k, v and o must have one dtype");
  if (lse->dtype != DMA_F32)
    return fail("lse must be float32");
  int64_t B = q->sizes[0], Lq = q->sizes[1], H = q->sizes[2], D = q->sizes[3];
  int64_t Lk = k->sizes[1], Hkv = k->sizes[2], Dv = v->sizes[3];
  if (k->sizes[0] != B || v->sizes[0] != B || k->sizes[3] != D ||
      v->sizes[1] != Lk || v->sizes[2] != Hkv)
    return fail("shapes do not agree: q " + shapeOf(*q) + ", k " +
                shapeOf(*k) + ", v " + shapeOf(*v));
  if (o->sizes[0] != B || o->sizes[1] != Lq || o->sizes[2] != H ||
      o->sizes[3] != Dv)
    return fail("o must be [B, Lq, H, Dv], got " + shapeOf(*o));
  if (lse->sizes[0] != B || lse->sizes[1] != H || lse->sizes[2] != Lq)
    return fail("lse must be [B, H, Lq], got " + shapeOf(*lse));
  if (Hkv < 1 ? H != 0 : H % Hkv != 0)
    return fail("query heads (" + std::to_string(H) +
                ") must be a multiple of KV heads (" + std::to_string(Hkv) +
                ")");
  for (int64_t n : {B, Lq, Lk, H, Hkv})
    if (n < 0 || n > INT32_MAX)
      return fail("sizes must be in [0, 2^31), got " + shapeOf(*q) + " and " +
                  shapeOf(*k));
  for (auto [n, name] : {std::pair{D, "D"}, std::pair{Dv, "Dv"}})
    if (n < 16 || n > 256 || n % 16)
      return fail(std::string("the GPU kernels take head dims that are "
                              "multiples of 16 from 16 to 256, got ") +
                  name + " = " + std::to_string(n));
  // cp.async moves 16-byte chunks: rows start 16-byte aligned. Empty
  // tensors have no rows (and arbitrary strides).
  const char *names[] = {"q", "k", "v", "o"};
  const dma_tensor *rows[] = {q, k, v, o};
  int rowSlots[] = {slot.q, slot.k, slot.v, slot.o};
  for (int i = 0; i < 4; ++i) {
    const dma_tensor &t = *rows[i];
    if (plan)
      plan->use(rowSlots[i], &t, 16);
    if (numel(t) == 0)
      continue;
    if (t.strides[3] != 1)
      return fail(std::string(names[i]) +
                  " must be contiguous in its last dimension (call "
                  ".contiguous())");
    for (int d = 0; d < 3; ++d)
      if (t.sizes[d] > 1 && t.strides[d] % 8 != 0)
        return fail(std::string(names[i]) +
                    " strides must be multiples of 8 elements (16 bytes)");
  }
  if (plan)
    plan->use(slot.lse, lse, 4);

  int forms = (mask ? 1 : 0) + (keep ? 1 : 0) + (keepScore ? 1 : 0);
  if (forms > 1)
    return fail("give at most one mask form (mask, keep or keep rows)");
  auto broadcast4 = [&](const dma_tensor &t, const char *name) {
    if (!rank(t, name, 4, "[{B|1}, {H|Hkv|1}, {Lq|1}, Lk]"))
      return false;
    int64_t hb = t.sizes[1];
    bool ok = (t.sizes[0] == B || t.sizes[0] == 1) &&
              (hb == H || hb == Hkv || hb == 1) &&
              (t.sizes[2] == Lq || t.sizes[2] == 1) && t.sizes[3] == Lk;
    if (!ok)
      return fail(std::string(name) +
                  " must broadcast as [{B|1}, {H|Hkv|1}, {Lq|1}, Lk], got " +
                  shapeOf(t));
    return true;
  };
  std::string biasKind = "none";
  if (bias) {
    if (!broadcast4(*bias, "bias"))
      return false;
    if (bias->dtype != q->dtype)
      return fail("bias must have q's dtype");
    biasKind = bias->sizes[2] == 1 ? "key" : "full";
    if (plan)
      plan->use(slot.bias, bias, 2);
  }
  std::string maskKind = "none";
  if (mask) {
    if (!broadcast4(*mask, "mask"))
      return false;
    if (mask->dtype != DMA_BOOL)
      return fail("mask must be bool");
    maskKind = "mask";
    if (plan)
      plan->use(slot.mask, mask, 1);
  }
  if (keep) {
    if (!rank(*keep, "keep", 3, "[{B|1}, {Hkv|H|1}, W]"))
      return false;
    if (keep->dtype != DMA_I32)
      return fail("keep must be int32 (ascending positions, -1 padded)");
    if ((keep->sizes[0] != B && keep->sizes[0] != 1) ||
        (keep->sizes[1] != Hkv && keep->sizes[1] != H && keep->sizes[1] != 1))
      return fail("keep must broadcast as [{B|1}, {Hkv|H|1}, W], got " +
                  shapeOf(*keep));
    if (keep->strides[2] != 1 && keep->sizes[2] > 1)
      return fail("keep must be contiguous in its last dimension");
    maskKind = "keep";
    if (plan)
      plan->use(slot.keep, keep, 4);
  }
  if (keepScore) {
    if (!keepThreshold || !keepTiebreak)
      return fail("keep rows need a score, a threshold and a tiebreak");
    for (const dma_tensor *t : {keepScore, keepThreshold, keepTiebreak}) {
      if (!rank(*t, "keep rows", 3, "[{B|1}, {Hkv|H|1}, Lk]"))
        return false;
      for (int d = 0; d < 3; ++d)
        if (t->sizes[d] != keepScore->sizes[d] ||
            strideOf(*t, d) != strideOf(*keepScore, d))
          return fail("keep rows tensors must have one shape and layout");
    }
    if (keepScore->sizes[2] != Lk ||
        (keepScore->strides[2] != 1 && Lk > 1))
      return fail("keep rows must be [{B|1}, {Hkv|H|1}, Lk], contiguous");
    if (keepScore->dtype != DMA_F32 || keepThreshold->dtype != DMA_F32 ||
        keepTiebreak->dtype != DMA_I32)
      return fail("keep rows are float32 score and threshold, int32 "
                  "tiebreak");
    maskKind = "keep_rows";
    if (plan) {
      plan->use(slot.keepScore, keepScore, 4);
      plan->use(slot.keepThreshold, keepThreshold, 4);
      plan->use(slot.keepTiebreak, keepTiebreak, 4);
    }
  }

  bool causal = options && options->causal;
  float softcap = options ? options->softcap : 0.0f;
  if (!(softcap >= 0.0f) || std::isinf(softcap))
    return fail("softcap must be finite and >= 0");
  using namespace dma_defaults;
  int qTile = options && options->q_tile ? options->q_tile : kForwardQTile;
  int kTile = options && options->k_tile
                  ? options->k_tile
                  : forwardKTile(arch, maskKind, D, Dv);
  if (qTile < 16 || qTile > 128 || qTile % 16 || kTile < 16 || kTile > 128 ||
      kTile % 16)
    return fail("q_tile and k_tile must be multiples of 16 in [16, 128], got " +
                std::to_string(qTile) + " and " + std::to_string(kTile));
  // NaN asks for the default 1/sqrt(D); any finite value (0 too) is used.
  float scale = options ? options->scale : NAN;
  if (std::isnan(scale))
    scale = 1.0f / std::sqrt(static_cast<float>(D));
  if (!std::isfinite(scale))
    return fail("scale must be finite (or NaN for 1/sqrt(D))");

  a.variant = std::string("dtype=") + dtypeName(q->dtype) +
              ",d=" + std::to_string(D) + ",dv=" + std::to_string(Dv) +
              ",mask=" + maskKind + ",bias=" + biasKind +
              ",causal=" + (causal ? "1" : "0") +
              ",softcap=" + (softcap > 0 ? "1" : "0") +
              ",q_tile=" + std::to_string(qTile) +
              ",k_tile=" + std::to_string(kTile);
  a.B = B;
  a.Lq = Lq;
  a.H = H;
  a.Lk = Lk;
  a.Hkv = Hkv;
  a.D = D;
  a.Dv = Dv;
  if (keep)
    a.keepW = keep->sizes[2];
  Args &p = a.args;
  p["q"] = Arg::slotAt(slot.q);
  p["k"] = Arg::slotAt(slot.k);
  p["v"] = Arg::slotAt(slot.v);
  p["o"] = Arg::slotAt(slot.o);
  p["lse"] = Arg::slotAt(slot.lse);
  p["B"] = Arg::i32Of(B);
  p["Lq"] = Arg::i32Of(Lq);
  p["Lk"] = Arg::i32Of(Lk);
  p["H"] = Arg::i32Of(H);
  p["Hkv"] = Arg::i32Of(Hkv);
  p["scale"] = Arg::f32Of(scale);
  p["softcap"] = Arg::f32Of(softcap);
  for (int i = 0; i < 4; ++i)
    for (int d = 0; d < 3; ++d)
      p[std::string(names[i]) + "_stride_" + "blh"[d]] =
          Arg::i64Of(strideOf(*rows[i], d));
  p["lse_stride_b"] = Arg::i64Of(strideOf(*lse, 0));
  p["lse_stride_h"] = Arg::i64Of(strideOf(*lse, 1));
  auto strides4 = [&](const std::string &n, const dma_tensor *t, int s) {
    p[n] = Arg::slotAt(s);
    p[n + "_heads"] = Arg::i32Of(t->sizes[1]);
    const char *dims = "bhqk";
    for (int d = 0; d < 4; ++d)
      p[n + "_stride_" + dims[d]] = Arg::i64Of(strideOf(*t, d));
  };
  if (bias)
    strides4("bias", bias, slot.bias);
  if (mask) {
    strides4("mask", mask, slot.mask);
    a.maskBatch = mask->sizes[0];
    a.maskHeads = mask->sizes[1];
  }
  a.kTile = kTile;
  if (keep) {
    p["keep"] = Arg::slotAt(slot.keep);
    p["keep_heads"] = Arg::i32Of(keep->sizes[1]);
    p["keep_w"] = Arg::i32Of(keep->sizes[2]);
    p["keep_stride_b"] = Arg::i64Of(strideOf(*keep, 0));
    p["keep_stride_h"] = Arg::i64Of(strideOf(*keep, 1));
  }
  if (keepScore) {
    p["keep_score"] = Arg::slotAt(slot.keepScore);
    p["keep_threshold"] = Arg::slotAt(slot.keepThreshold);
    p["keep_tiebreak"] = Arg::slotAt(slot.keepTiebreak);
    p["keep_rows_heads"] = Arg::i32Of(keepScore->sizes[1]);
    p["keep_rows_stride_b"] = Arg::i64Of(strideOf(*keepScore, 0));
    p["keep_rows_stride_h"] = Arg::i64Of(strideOf(*keepScore, 1));
  }
  return true;
}

} // namespace

extern "C" int dma_attention_backward_default_k_tile(int64_t d, int64_t dv) {
  return dma_defaults::backwardKTile(d, dv);
}

extern "C" dma_attention_options dma_attention_default_options(void) {
  dma_attention_options o{};
  o.scale = NAN;
  return o;
}

extern "C" int dma_attention_variant(
    const dma_tensor *q, const dma_tensor *k, const dma_tensor *v,
    const dma_tensor *bias, const dma_tensor *mask, const dma_tensor *keep,
    const dma_tensor *keepScore, const dma_tensor *keepThreshold,
    const dma_tensor *keepTiebreak, const dma_tensor *o, const dma_tensor *lse,
    const dma_attention_options *options, char *variant, size_t variantSize,
    char *error, size_t errorSize) {
  Attention a;
  std::string message;
  if (!prepare(q, k, v, bias, mask, keep, keepScore, keepThreshold,
               keepTiebreak, o, lse, options, archOf(options, nullptr),
               kForwardSlots, nullptr, a, message))
    return Error(error, errorSize)(message);
  std::snprintf(variant, variantSize, "%s", a.variant.c_str());
  return 0;
}

extern "C" dma_plan *dma_attention_forward_plan(
    dma_runtime *rt, int device, const dma_tensor *q, const dma_tensor *k,
    const dma_tensor *v, const dma_tensor *bias, const dma_tensor *mask,
    const dma_tensor *keep, const dma_tensor *keepScore,
    const dma_tensor *keepThreshold, const dma_tensor *keepTiebreak,
    const dma_tensor *o, const dma_tensor *lse,
    const dma_attention_options *options, char *error, size_t errorSize) {
  Error err(error, errorSize);
  std::string message;
  Attention a;
  if (!prepare(q, k, v, bias, mask, keep, keepScore, keepThreshold,
               keepTiebreak, o, lse, options, archOf(options, rt),
               kForwardSlots, nullptr, a, message)) {
    err(message);
    return nullptr;
  }
  if (!rt) {
    err("no runtime (dma_runtime_open failed?)");
    return nullptr;
  }
  PlanBuilder plan(rt, device,
                   {"q", "k", "v", "bias", "mask", "keep", "keep_score",
                    "keep_threshold", "keep_tiebreak", "o", "lse",
                    "workspace"});
  prepare(q, k, v, bias, mask, keep, keepScore, keepThreshold, keepTiebreak,
          o, lse, options, archOf(options, rt), kForwardSlots, &plan, a,
          message);
  if (a.Lk == 0) {
    // No keys: every row is empty (O = 0, LSE = -inf), no kernel to run.
    if (!isContiguous(*o) || !isContiguous(*lse)) {
      err("with no keys (Lk = 0) o and lse must be contiguous");
      return nullptr;
    }
    // 16-bit zeros as 32-bit words: Dv is a multiple of 16.
    plan.memset32(Arg::slotAt(kForwardSlots.o), numel(*o) / 2);
    plan.memset32(Arg::slotAt(kForwardSlots.lse), numel(*lse), 0xFF800000u);
    return finished(plan, err);
  }
  if (!addMaskSummary(plan, a, a.variant, a.kTile, message) ||
      !plan.kernel(a.variant, a.args, message)) {
    err(message);
    return nullptr;
  }
  return finished(plan, err);
}

extern "C" int dma_attention_forward(
    dma_runtime *rt, const dma_tensor *q, const dma_tensor *k,
    const dma_tensor *v, const dma_tensor *bias, const dma_tensor *mask,
    const dma_tensor *keep, const dma_tensor *keepScore,
    const dma_tensor *keepThreshold, const dma_tensor *keepTiebreak,
    const dma_tensor *o, const dma_tensor *lse,
    const dma_attention_options *options, void *stream, char *error,
    size_t errorSize) {
  Error err(error, errorSize);
  dma_plan *plan = dma_attention_forward_plan(
      rt, -1, q, k, v, bias, mask, keep, keepScore, keepThreshold,
      keepTiebreak, o, lse, options, error, errorSize);
  if (!plan)
    return 1;
  int rc = launchOnce(plan,
                      {q, k, v, bias, mask, keep, keepScore, keepThreshold,
                       keepTiebreak, o, lse},
                      nullptr, stream, err);
  dma_plan_destroy(plan);
  return rc;
}

extern "C" dma_plan *dma_attention_backward_plan(
    dma_runtime *rt, int device, const dma_tensor *gradO, const dma_tensor *q,
    const dma_tensor *k, const dma_tensor *v, const dma_tensor *o,
    const dma_tensor *lse, const dma_tensor *bias, const dma_tensor *mask,
    const dma_tensor *keep, const dma_tensor *keepScore,
    const dma_tensor *keepThreshold, const dma_tensor *keepTiebreak,
    const dma_tensor *gradQ, const dma_tensor *gradK, const dma_tensor *gradV,
    const dma_tensor *gradBias, const dma_attention_options *options,
    char *error, size_t errorSize) {
  Error err(error, errorSize);
  std::string message;
  Attention a;
  auto failed = [&](const std::string &m) -> dma_plan * {
    err(m);
    return nullptr;
  };
  if (!prepare(q, k, v, bias, mask, keep, keepScore, keepThreshold,
               keepTiebreak, o, lse, options, archOf(options, rt),
               kBackwardSlots, nullptr, a, message))
    return failed(message);
  if (!gradO || !gradQ || !gradK || !gradV)
    return failed("grad_o, grad_q, grad_k and grad_v are required");
  if (!bias != !gradBias)
    return failed("grad_bias is given exactly when bias is given");
  auto same = [&](const dma_tensor *t, const dma_tensor *like,
                  const char *name) {
    bool ok = t->ndim == like->ndim && t->dtype == like->dtype;
    for (int d = 0; ok && d < t->ndim; ++d)
      ok = t->sizes[d] == like->sizes[d];
    if (!ok)
      err(std::string(name) + " must be " + dtypeName(like->dtype) +
          " shaped " + shapeOf(*like) + ", got " + dtypeName(t->dtype) + " " +
          shapeOf(*t));
    return ok;
  };
  if (!same(gradO, o, "grad_o") || !same(gradQ, q, "grad_q") ||
      !same(gradK, k, "grad_k") || !same(gradV, v, "grad_v") ||
      (bias && !same(gradBias, bias, "grad_bias")))
    return nullptr;
  if (numel(*gradO) > 0) {
    if (gradO->strides[3] != 1)
      return failed("grad_o must be contiguous in its last dimension");
    for (int d = 0; d < 3; ++d)
      if (gradO->sizes[d] > 1 && gradO->strides[d] % 8 != 0)
        return failed(
            "grad_o strides must be multiples of 8 elements (16 bytes)");
  }
  // The conversion kernel writes the gradients as flat arrays.
  for (auto [t, n] : {std::pair{gradQ, "grad_q"}, std::pair{gradK, "grad_k"},
                      std::pair{gradV, "grad_v"},
                      std::pair{gradBias, "grad_bias"}})
    if (t && !isContiguous(*t))
      return failed(std::string(n) + " must be contiguous");
  bool deterministic = options && options->deterministic;
  if (deterministic) {
    if (keep && keep->sizes[1] != 1 && keep->sizes[1] != k->sizes[2])
      return failed("the deterministic backward needs kept-key lists per KV "
                    "head or shared (keep's dim 1 of 1 or Hkv), got " +
                    std::to_string(keep->sizes[1]));
    if (bias && bias->sizes[2] != 1 &&
        (bias->sizes[0] != q->sizes[0] || bias->sizes[1] != q->sizes[2]))
      return failed("the deterministic backward takes a per-element bias "
                    "only unbroadcast over batch and heads ([B, H, Lq, Lk]); "
                    "a per-key bias may broadcast");
  }
  if (!rt)
    return failed("no runtime (dma_runtime_open failed?)");
  PlanBuilder plan(rt, device,
                   {"grad_o", "q", "k", "v", "o", "lse", "bias", "mask",
                    "keep", "keep_score", "keep_threshold", "keep_tiebreak",
                    "grad_q", "grad_k", "grad_v", "grad_bias", "workspace"});
  prepare(q, k, v, bias, mask, keep, keepScore, keepThreshold, keepTiebreak,
          o, lse, options, archOf(options, rt), kBackwardSlots, &plan, a,
          message);
  plan.use(0, gradO, 16);
  plan.use(12, gradQ, 16);
  plan.use(13, gradK, 16);
  plan.use(14, gradV, 16);
  plan.use(15, gradBias, 16);

  // The variants: the forward's, at the backward's tiles.
  std::string base = a.variant.substr(0, a.variant.find(",q_tile="));
  int bq = options && options->backward_q_tile
               ? options->backward_q_tile
               : dma_defaults::kBackwardQTile;
  int bk = options && options->backward_k_tile
               ? options->backward_k_tile
               : dma_defaults::backwardKTile(a.D, a.Dv);
  std::string name = "kind=bwd," + base +
                     (deterministic ? ",deterministic=1" : "") +
                     ",q_tile=" + std::to_string(bq) +
                     ",k_tile=" + std::to_string(bk);
  std::string deltaName = std::string("kind=bwd_delta,dtype=") +
                          dtypeName(q->dtype) + ",dv=" + std::to_string(a.Dv);
  std::string convertName =
      std::string("kind=bwd_convert,dtype=") + dtypeName(q->dtype);
  if ((a.D > 192 || a.Dv > 192) && !plan.has(name))
    return failed("no variant '" + name + "' in bundle " + rt->dir +
                  ": the GPU backward of head dims above 192 is not shipped "
                  "(on mma.sync tiles it spills; the Hopper lowering will "
                  "bring it). dma-compile --allow-spills --variant " + name +
                  " builds a slow one");
  int64_t keys = a.keepW >= 0 ? a.keepW : a.Lk;
  int64_t keyTiles = ceilDiv(keys, std::max<int64_t>(plan.blockOf(name), 1));

  // The workspace: the float32 sums and the semaphores (zeroed by one
  // memset), then Delta.
  dma_tensor dq32 = contiguousF32(*q), dk32 = contiguousF32(*k),
             dv32 = contiguousF32(*v);
  dma_tensor dbias32 = bias ? contiguousF32(*bias) : dma_tensor{};
  int64_t atDq = plan.reserve(numel(dq32) * 4);
  int64_t atDk = plan.reserve(numel(dk32) * 4);
  int64_t atDv = plan.reserve(numel(dv32) * 4);
  int64_t atDbias = bias ? plan.reserve(numel(dbias32) * 4) : 0;
  // Deterministic turns: a semaphore per (batch, query head, query tile of
  // at least 16 rows) for dQ, per (batch, KV head, key tile) for the rest.
  int64_t semDq = deterministic ? a.B * a.H * ceilDiv(a.Lq, 16) : 0;
  int64_t semDkv = deterministic ? a.B * a.Hkv * keyTiles : 0;
  int64_t atSems = deterministic ? plan.reserve((semDq + semDkv) * 4) : 0;
  int64_t zeroed = plan.reserve(0);
  int64_t atDelta = plan.reserve(a.B * a.H * a.Lq * 4);
  plan.memset32(plan.workspace(0), zeroed / 4);
  std::string summaryMessage;
  if (!addMaskSummary(plan, a, name,
                      std::max<int64_t>(plan.blockOf(name), 1),
                      summaryMessage))
    return failed(summaryMessage);

  Args &p = a.args;
  p["do"] = Arg::slotAt(0);
  p["delta"] = plan.workspace(atDelta);
  p["dq"] = plan.workspace(atDq);
  p["dk"] = plan.workspace(atDk);
  p["dv"] = plan.workspace(atDv);
  const char *names[] = {"do", "dq", "dk", "dv"};
  const dma_tensor *rows[] = {gradO, &dq32, &dk32, &dv32};
  for (int i = 0; i < 4; ++i)
    for (int d = 0; d < 3; ++d)
      p[std::string(names[i]) + "_stride_" + "blh"[d]] =
          Arg::i64Of(strideOf(*rows[i], d));
  p["delta_stride_b"] = Arg::i64Of(a.B == 1 ? 0 : a.H * a.Lq);
  p["delta_stride_h"] = Arg::i64Of(a.H == 1 ? 0 : a.Lq);
  if (bias) {
    p["dbias"] = plan.workspace(atDbias);
    p["dbias_heads"] = Arg::i32Of(bias->sizes[1]);
    const char *dims = "bhqk";
    for (int d = 0; d < 4; ++d)
      p[std::string("dbias_stride_") + dims[d]] =
          Arg::i64Of(strideOf(dbias32, d));
  }
  p["sem_dq"] = plan.workspace(atSems);
  p["sem_dkv"] = plan.workspace(atSems + semDq * 4);

  if (!plan.kernel(deltaName, p, message) || !plan.kernel(name, p, message))
    return failed(message);

  // The conversion: a grid row per gradient.
  Args c;
  const dma_tensor *grads[] = {gradQ, gradK, gradV, gradBias};
  int64_t sums[] = {atDq, atDk, atDv, atDbias};
  int64_t pairs = bias ? 4 : 3;
  for (int s = 0; s < 4; ++s) {
    std::string i = std::to_string(s);
    bool here = s < pairs;
    c["src" + i] = here ? plan.workspace(sums[s]) : Arg::i64Of(0);
    c["dst" + i] = here ? Arg::slotAt(12 + s) : Arg::i64Of(0);
    c["n" + i] = Arg::i64Of(here ? numel(*grads[s]) : 0);
  }
  c["pairs"] = Arg::i32Of(pairs);
  if (!plan.kernel(convertName, c, message))
    return failed(message);
  return finished(plan, err);
}
