//===- CPUAttention.cpp - the C API of the CPU path: attention ------------===//
//
// Writes a one-op function for the call's signature (static shapes, so the
// dialect's verifier checks every shape and broadcast rule and its message
// becomes the caller's error), compiles it once through --dma-cpu-pipeline
// and calls it on the caller's buffers (CPUKernel.h).
//
//===----------------------------------------------------------------------===//

#include "CPUKernel.h"

#include <cmath>
#include <cstdio>
#include <string>

using namespace mlir::dma::capi;

namespace {

/// The mask and attribute clauses shared by the forward and the backward.
bool maskClauses(const Kernel &k, const dma_attention_options *options,
                 int64_t headDim, std::string &clauses, std::string &attrs,
                 std::string &error) {
  std::ostringstream os;
  if (k.has("bias"))
    os << " bias(" << k.use("bias") << ")";
  int forms = k.has("mask") + k.has("keep") + k.has("keep_score");
  if (forms > 1) {
    error = "give at most one of mask, keep and keep_rows";
    return false;
  }
  if (k.has("mask"))
    os << " mask(" << k.use("mask") << ")";
  if (k.has("keep"))
    os << " keep(" << k.use("keep") << ")";
  if (k.has("keep_score")) {
    if (!k.has("keep_threshold") || !k.has("keep_tiebreak")) {
      error = "keep rows need a score, a threshold and a tiebreak";
      return false;
    }
    os << " keep_rows(%keep_score, %keep_threshold, %keep_tiebreak : "
       << k.types.at("keep_score") << ", " << k.types.at("keep_threshold")
       << ", " << k.types.at("keep_tiebreak") << ")";
  }
  clauses = os.str();

  std::ostringstream as;
  // NaN asks for the default 1/sqrt(D); every other value is the scale
  // itself, 0 included (0 is a legal scale: uniform attention).
  float requested = options ? options->scale : NAN;
  float scale = std::isnan(requested)
                    ? 1.0f / std::sqrt(static_cast<float>(headDim))
                    : requested;
  float softcap = options ? options->softcap : 0.0f;
  if (!std::isfinite(scale)) {
    error = "scale must be finite (NaN selects the default 1/sqrt(D))";
    return false;
  }
  if (!(softcap >= 0.0f) || std::isinf(softcap)) {
    error = "softcap must be finite and >= 0";
    return false;
  }
  if (options && options->causal)
    as << " causal";
  char buf[64];
  std::snprintf(buf, sizeof buf, " scale(%.9e)", scale);
  as << buf;
  if (softcap > 0) {
    std::snprintf(buf, sizeof buf, " softcap(%.9e)", softcap);
    as << buf;
  }
  attrs = as.str();
  return true;
}

/// D = 0 has no default scale (1/sqrt(0)) and no meaning: the caller's
/// shapes are wrong.
bool checkHeadDim(const dma_tensor *q, std::string &error) {
  int64_t d = q->sizes[q->ndim - 1];
  if (d >= 1)
    return true;
  error = "the head dim D (q's last dimension) must be >= 1, got " +
          std::to_string(d);
  return false;
}

/// The keep list's contract, which the kernels rely on but cannot check
/// (it is data): per row, kept key positions in [0, Lk), strictly
/// ascending (a repeated position would count its key twice), then only
/// -1 padding. Names the first entry that breaks it.
bool checkKeepList(const dma_tensor *keep, const dma_tensor *k,
                   std::string &error) {
  // Other ranks are the verifier's to report (with the expected shape).
  if (!keep || keep->ndim != 3 || k->ndim != 4)
    return true;
  const int32_t *data = static_cast<const int32_t *>(keep->data);
  int64_t heads = keep->sizes[1], w = keep->sizes[2], lk = k->sizes[1];
  for (int64_t b = 0; b < keep->sizes[0]; ++b)
    for (int64_t h = 0; h < heads; ++h) {
      const int32_t *row = data + (b * heads + h) * w;
      int64_t previous = -1;
      bool padding = false;
      for (int64_t i = 0; i < w; ++i) {
        int64_t v = row[i];
        std::string entry = "keep[" + std::to_string(b) + ", " +
                            std::to_string(h) + ", " + std::to_string(i) +
                            "] = " + std::to_string(v);
        if (v == -1) {
          padding = true;
          continue;
        }
        if (v < 0 || v >= lk)
          error = entry + " is not a key position in [0, " +
                  std::to_string(lk) + ") nor -1 (padding)";
        else if (padding)
          error = entry + " follows -1 padding: kept positions come first, "
                          "then only -1";
        else if (v <= previous)
          error = entry + " is not greater than the entry before it (" +
                  std::to_string(previous) +
                  "): kept positions must be strictly ascending, each key "
                  "once";
        if (!error.empty())
          return false;
        previous = v;
      }
    }
  return true;
}

bool addMaskOperands(Kernel &k, const dma_tensor *bias, const dma_tensor *mask,
                     const dma_tensor *keep, const dma_tensor *score,
                     const dma_tensor *threshold, const dma_tensor *tiebreak) {
  return k.add("bias", bias, DMA_F32) && k.add("mask", mask, DMA_BOOL) &&
         k.add("keep", keep, DMA_I32) &&
         k.add("keep_score", score, DMA_F32) &&
         k.add("keep_threshold", threshold, DMA_F32) &&
         k.add("keep_tiebreak", tiebreak, DMA_I32);
}
} // namespace

extern "C" int dma_cpu_attention(
    const dma_tensor *q, const dma_tensor *k, const dma_tensor *v,
    const dma_tensor *bias, const dma_tensor *mask, const dma_tensor *keep,
    const dma_tensor *keepScore, const dma_tensor *keepThreshold,
    const dma_tensor *keepTiebreak, const dma_tensor *o, const dma_tensor *lse,
    const dma_attention_options *options, char *error, size_t errorSize) {
  if (!q || !k || !v || !o || !lse)
    return fail(error, errorSize, "q, k, v, o and lse are required");
  Kernel kern;
  if (!kern.add("q", q, DMA_F32) || !kern.add("k", k, DMA_F32) ||
      !kern.add("v", v, DMA_F32) ||
      !addMaskOperands(kern, bias, mask, keep, keepScore, keepThreshold,
                       keepTiebreak) ||
      !kern.add("o", o, DMA_F32) || !kern.add("lse", lse, DMA_F32))
    return fail(error, errorSize, kern.error);
  std::string clauses, attrs, message;
  if (!checkHeadDim(q, message) || !checkKeepList(keep, k, message) ||
      !maskClauses(kern, options, q->sizes[q->ndim - 1], clauses, attrs,
                   message))
    return fail(error, errorSize, message);
  std::string op = "dma.attention q(" + kern.use("q") + ") k(" + kern.use("k") +
                   ") v(" + kern.use("v") + ")" + clauses + " outs(%o, %lse : " +
                   kern.types["o"] + ", " + kern.types["lse"] + ")" + attrs;
  return run(kern, op, error, errorSize);
}

extern "C" int dma_cpu_attention_grad(
    const dma_tensor *gradO, const dma_tensor *q, const dma_tensor *k,
    const dma_tensor *v, const dma_tensor *o, const dma_tensor *lse,
    const dma_tensor *bias, const dma_tensor *mask, const dma_tensor *keep,
    const dma_tensor *keepScore, const dma_tensor *keepThreshold,
    const dma_tensor *keepTiebreak, const dma_tensor *gradQ,
    const dma_tensor *gradK, const dma_tensor *gradV,
    const dma_tensor *gradBias, const dma_attention_options *options,
    char *error, size_t errorSize) {
  if (!gradO || !q || !k || !v || !o || !lse || !gradQ || !gradK || !gradV)
    return fail(error, errorSize,
                "grad_o, q, k, v, o, lse, grad_q, grad_k and grad_v are "
                "required");
  if (!bias != !gradBias)
    return fail(error, errorSize,
                "grad_bias is given exactly when bias is given");
  Kernel kern;
  if (!kern.add("grad", gradO, DMA_F32) || !kern.add("q", q, DMA_F32) ||
      !kern.add("k", k, DMA_F32) || !kern.add("v", v, DMA_F32) ||
      !kern.add("out", o, DMA_F32) || !kern.add("lse", lse, DMA_F32) ||
      !addMaskOperands(kern, bias, mask, keep, keepScore, keepThreshold,
                       keepTiebreak) ||
      !kern.add("dq", gradQ, DMA_F32) || !kern.add("dk", gradK, DMA_F32) ||
      !kern.add("dv", gradV, DMA_F32) || !kern.add("dbias", gradBias, DMA_F32))
    return fail(error, errorSize, kern.error);
  std::string clauses, attrs, message;
  if (!checkHeadDim(q, message) || !checkKeepList(keep, k, message) ||
      !maskClauses(kern, options, q->sizes[q->ndim - 1], clauses, attrs,
                   message))
    return fail(error, errorSize, message);
  std::string outs = "%dq, %dk, %dv";
  std::string outTypes =
      kern.types["dq"] + ", " + kern.types["dk"] + ", " + kern.types["dv"];
  if (gradBias) {
    outs += ", %dbias";
    outTypes += ", " + kern.types["dbias"];
  }
  std::string op = "dma.attention_grad grad(" + kern.use("grad") + ") q(" +
                   kern.use("q") + ") k(" + kern.use("k") + ") v(" +
                   kern.use("v") + ") out(" + kern.use("out") + ") lse(" +
                   kern.use("lse") + ")" + clauses + " outs(" + outs + " : " +
                   outTypes + ")" + attrs;
  return run(kern, op, error, errorSize);
}
