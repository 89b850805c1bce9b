/*===- dma_runtime.h - load dma kernel bundles and launch them -----------===*
 *
 * A small C API over the CUDA driver API (no MLIR): open a kernel bundle
 * written by dma-compile, then launch attention on device tensors. Every
 * argument is checked (ranks, shapes, dtypes, strides, alignment, device)
 * and every CUDA error is turned into a message; functions return 0 on
 * success and otherwise write a NUL-terminated message into `error`.
 *
 *===----------------------------------------------------------------------===*/

#ifndef DMA_RUNTIME_H
#define DMA_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dma_runtime dma_runtime;

enum dma_dtype {
  DMA_F32 = 0,
  DMA_F16 = 1,
  DMA_BF16 = 2,
  DMA_BOOL = 3, /* one byte per element */
  DMA_I32 = 4,
  DMA_I64 = 5
};

/* A strided view of device memory; strides in elements. */
typedef struct {
  void *data;
  int32_t dtype;
  int32_t ndim;
  int64_t sizes[4];
  int64_t strides[4];
} dma_tensor;

typedef struct {
  int32_t causal;
  float scale;   /* 0: 1/sqrt(D) */
  float softcap; /* 0: no soft cap */
  /* Tile sizes of the kernel variant (query rows, keys per tile, multiples
   * of 16 up to 128); 0 picks the default: 128 x 32, or 64 x 64 for the
   * per-query top-k (the fastest measured on an H100, docs/performance.md). */
  int32_t q_tile;
  int32_t k_tile;
  /* The backward's tiles (queries per step, keys per CTA); 0: 64 x 128,
   * or 64 x 64 when the head dims d + dv exceed 256 (128-key tiles of
   * those do not fit shared memory). */
  int32_t backward_q_tile;
  int32_t backward_k_tile;
  /* Non-zero: the deterministic backward (bitwise reproducible gradients:
   * CTAs add into shared rows in a fixed order; variants with
   * deterministic=1). Needs kept-key lists per KV head (or shared) and a
   * full-shape bias not broadcast over batch or heads. */
  int32_t deterministic;
} dma_attention_options;

/* Opens the bundle in `bundle_dir` (its manifest.json). Kernels are loaded
 * on first use into the calling thread's current CUDA context (or device
 * 0's primary context when there is none). NULL on failure. */
dma_runtime *dma_runtime_open(const char *bundle_dir, char *error,
                              size_t error_size);
void dma_runtime_close(dma_runtime *runtime);

/* The bundle variant name (`dma-compile --variant` spec) these arguments
 * need; 0 on success. Validates the arguments like the launch does. */
int dma_attention_variant(const dma_tensor *q, const dma_tensor *k,
                          const dma_tensor *v, const dma_tensor *bias,
                          const dma_tensor *mask, const dma_tensor *keep,
                          const dma_tensor *keep_score,
                          const dma_tensor *keep_threshold,
                          const dma_tensor *keep_tiebreak,
                          const dma_tensor *o, const dma_tensor *lse,
                          const dma_attention_options *options, char *variant,
                          size_t variant_size, char *error, size_t error_size);

/* O, LSE = attention(q, k, v, bias, one mask form) on `stream` (a CUstream;
 * NULL = the default stream). Optional tensors are NULL when absent. */
int dma_attention_forward(dma_runtime *runtime, const dma_tensor *q,
                          const dma_tensor *k, const dma_tensor *v,
                          const dma_tensor *bias, const dma_tensor *mask,
                          const dma_tensor *keep, const dma_tensor *keep_score,
                          const dma_tensor *keep_threshold,
                          const dma_tensor *keep_tiebreak, const dma_tensor *o,
                          const dma_tensor *lse,
                          const dma_attention_options *options, void *stream,
                          char *error, size_t error_size);

/* The backward of dma_attention_forward with the forward's inputs, O and
 * LSE: dQ, dK, dV and dBias for dO = grad_o, on `stream`. The caller gives
 * zeroed float32 accumulators shaped like q, k, v and the bias (NULL
 * without a bias), which receive sums by atomics and which the caller
 * converts to its dtypes; delta (float32 [B, H, Lq]) is scratch. The
 * bundle needs the variants `kind=bwd,<forward variant with q_tile=64,
 * k_tile=128>` (64 when d + dv > 256; or the options' backward tiles) and
 * `kind=bwd_delta,dtype=<dtype>,dv=<Dv>`. */
int dma_attention_backward(
    dma_runtime *runtime, const dma_tensor *grad_o, const dma_tensor *q,
    const dma_tensor *k, const dma_tensor *v, const dma_tensor *o,
    const dma_tensor *lse, const dma_tensor *bias, const dma_tensor *mask,
    const dma_tensor *keep, const dma_tensor *keep_score,
    const dma_tensor *keep_threshold, const dma_tensor *keep_tiebreak,
    const dma_tensor *delta, const dma_tensor *grad_q_accum,
    const dma_tensor *grad_k_accum, const dma_tensor *grad_v_accum,
    const dma_tensor *grad_bias_accum, const dma_attention_options *options,
    void *stream, char *error, size_t error_size);

/* Mask generation (docs/semantics.md, "Generating the mask"). */

/* score[b, h, j] = a[h] * softplus(weight[h] . value[b, j] + dt_bias[h]),
 * or its exp with exp_form: value [B, Lk, Hkv, D] (bf16/f16, the heads of
 * a key adjacent), weight [Hkv, Hkv*D], dt_bias [Hkv] (NULL: none), a
 * [Hkv] (float32), score [B, Hkv, Lk] (float32). Bundle variant
 * `kind=value_bias,dtype=<dtype>,d=<D>,form=<log|exp>,dt_bias=<0|1>`. */
int dma_value_bias(dma_runtime *runtime, const dma_tensor *value,
                   const dma_tensor *weight, const dma_tensor *dt_bias,
                   const dma_tensor *a, const dma_tensor *score,
                   int32_t exp_form, void *stream, char *error,
                   size_t error_size);

/* The float32 elements of scratch dma_value_bias_backward needs. */
int64_t dma_value_bias_backward_scratch(int64_t B, int64_t Lk, int64_t Hkv,
                                        int64_t D);

/* The gradients of dma_value_bias for the score's gradient `grad`
 * [B, Hkv, Lk] (float32): grad_value (value's shape and dtype), grad_weight,
 * grad_dt_bias (exactly when dt_bias is given) and grad_a (float32, shaped
 * like their inputs); every sum in a fixed order (deterministic). `scratch`
 * is a float32 vector of dma_value_bias_backward_scratch elements. Variants
 * `kind=value_bias_bwd,<the forward's keys>,step=<dt|value|params|reduce>`
 * (one dma-compile --variant without step= writes all four). */
int dma_value_bias_backward(
    dma_runtime *runtime, const dma_tensor *grad, const dma_tensor *value,
    const dma_tensor *weight, const dma_tensor *dt_bias, const dma_tensor *a,
    const dma_tensor *grad_value, const dma_tensor *grad_weight,
    const dma_tensor *grad_dt_bias, const dma_tensor *grad_a,
    const dma_tensor *scratch, int32_t exp_form, void *stream, char *error,
    size_t error_size);

/* Shared top-k: keep [B, Hkv, W] (int32) receives the W best keys of each
 * (b, h) of score [B, Hkv, Lk] (float32) in ascending position, ties to the
 * lower index, -1 padded; NaN scores and keys whose padding [B, Lk] (bool,
 * NULL: none) is false are never kept. Variant
 * `kind=topk,selection=shared,padding=<0|1>`. */
int dma_topk_shared(dma_runtime *runtime, const dma_tensor *score,
                    const dma_tensor *padding, const dma_tensor *keep,
                    void *stream, char *error, size_t error_size);

/* Per-query top-k of `keep` keys: masked_score, threshold (float32) and
 * tiebreak (int32), each [B, Hkv, Lk], as dma.topk per_query defines them.
 * Variants `kind=topk,selection=per_query,padding=<0|1>,step=<rank|rows|
 * threshold>` (one dma-compile --variant without step= writes all three).
 * O(Lk^2) work per (b, h), like the per-query attention. */
int dma_topk_per_query(dma_runtime *runtime, const dma_tensor *score,
                       const dma_tensor *padding, int64_t keep,
                       const dma_tensor *masked_score,
                       const dma_tensor *threshold,
                       const dma_tensor *tiebreak, void *stream, char *error,
                       size_t error_size);

#ifdef __cplusplus
}
#endif

#endif /* DMA_RUNTIME_H */
