/*===- dma_runtime.h - load dma kernel bundles and launch them -----------===*
 *
 * A small C API over the CUDA driver API (no MLIR): open a kernel bundle
 * written by dma-compile, build launch plans for attention and the mask
 * generation (every argument checked once: ranks, shapes, dtypes,
 * strides, options), then launch them on device pointers as often as
 * needed. Every CUDA error is turned into a message; functions return 0 on
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
  /* The softmax scale; NaN asks for the default 1/sqrt(D). Any finite
   * value is used as given, 0 included (dma_attention_default_options()
   * returns options with scale = NaN). */
  float scale;
  float softcap; /* 0: no soft cap */
  /* Tile sizes of the kernel variant (query rows, keys per tile, multiples
   * of 16 up to 128); 0 picks the default for the device (`arch`): 128 x 32
   * on mma.sync; on sm_90a, whose bundles hold the forwards on the
   * warpgroup MMA, 128 x 128 at d = dv = 128 and 128 x 64 otherwise, 128 x
   * 64 for the per-query top-k, 128 x 32 for the shared top-k and dense masks (the fastest
   * measured on an H100, docs/performance.md; include/dma/KernelDefaults.h). */
  int32_t q_tile;
  int32_t k_tile;
  /* The backward's tiles (queries per step, keys per CTA); 0: 64 queries
   * by dma_attention_backward_default_k_tile(d, dv) keys. */
  int32_t backward_q_tile;
  int32_t backward_k_tile;
  /* Non-zero: the deterministic backward (bitwise reproducible gradients:
   * CTAs add into shared rows in a fixed order; variants with
   * deterministic=1). Needs kept-key lists per KV head (or shared) and a
   * full-shape bias not broadcast over batch or heads. */
  int32_t deterministic;
  /* The compute capability (major * 10 + minor) of the device the call
   * runs on, which the default tiles follow; 0: the bundle's (a plan
   * builder's runtime: its chip and forwards), or mma.sync's defaults
   * (dma_attention_variant). */
  int32_t arch;
} dma_attention_options;

/* Options with every field 0 but scale = NaN (the default scale). */
dma_attention_options dma_attention_default_options(void);

/* The backward's default keys per CTA for head dims d and dv: 128 while
 * the tiles fit shared memory (d + dv <= 256), else 64, lowered to the
 * largest multiple of 16 whose warps split d / 8 evenly (d = 80: 80,
 * d = 96: 96); include/dma/KernelDefaults.h. */
int dma_attention_backward_default_k_tile(int64_t d, int64_t dv);

/* Opens the bundle in `bundle_dir` (its manifest.json). NULL on failure.
 * The runtime stays alive while plans built from it do. */
dma_runtime *dma_runtime_open(const char *bundle_dir, char *error,
                              size_t error_size);
void dma_runtime_close(dma_runtime *runtime);

/*===------------------------------------------------------------------===*
 * Plans: the fast path.
 *
 * A plan holds everything a call does that depends only on its arguments'
 * shapes, dtypes and strides, the options and the device: the argument
 * checks, the bundle variants (loaded into the device's CUDA context when
 * the plan is built), the grids and the kernels' parameter layout. The
 * tensors' `data` fields are not read when a plan is built (they may be
 * NULL). A launch passes one data pointer per *slot* (the builder's tensor
 * parameters, in order; then the workspace, when the plan has one), checks
 * that each is present (empty tensors may pass NULL) and aligned as the
 * kernels need, and enqueues the plan's steps on `stream` (a CUstream;
 * NULL = the legacy default stream): no allocation, no synchronisation, so
 * launches can be captured in a CUDA graph. A launch does not check that
 * the pointers are device memory of the plan's device: that is the
 * caller's promise (the one-shot entry points below do check it).
 *
 * `device` is the CUDA device ordinal whose primary context (PyTorch's)
 * the plan runs in; -1 takes the calling thread's current context (device
 * 0's primary context when there is none). Builders return NULL and write
 * a message into `error` on invalid arguments.
 *===------------------------------------------------------------------===*/
typedef struct dma_plan dma_plan;

/* Number of data pointers a launch passes. */
int dma_plan_slots(const dma_plan *plan);
/* Bytes of device workspace the last slot must point to (256-byte
 * aligned; 0: the plan has no workspace). */
int64_t dma_plan_workspace_bytes(const dma_plan *plan);
/* Enqueues the plan on `stream` with `data[dma_plan_slots(plan)]`. */
int dma_plan_launch(const dma_plan *plan, void *const *data, void *stream,
                    char *error, size_t error_size);
void dma_plan_destroy(dma_plan *plan);

/* The bundle variant name (`dma-compile --variant` spec) these arguments
 * need; 0 on success. Validates the arguments like a plan does. */
int dma_attention_variant(const dma_tensor *q, const dma_tensor *k,
                          const dma_tensor *v, const dma_tensor *bias,
                          const dma_tensor *mask, const dma_tensor *keep,
                          const dma_tensor *keep_score,
                          const dma_tensor *keep_threshold,
                          const dma_tensor *keep_tiebreak,
                          const dma_tensor *o, const dma_tensor *lse,
                          const dma_attention_options *options, char *variant,
                          size_t variant_size, char *error, size_t error_size);

/* O, LSE = attention(q, k, v, bias, one mask form): slots q, k, v, bias,
 * mask, keep, keep_score, keep_threshold, keep_tiebreak, o, lse (absent
 * tensors NULL when building, any pointer when launching). One kernel;
 * with no keys (Lk = 0) two fills (O = 0, LSE = -inf). */
dma_plan *dma_attention_forward_plan(
    dma_runtime *runtime, int device, const dma_tensor *q,
    const dma_tensor *k, const dma_tensor *v, const dma_tensor *bias,
    const dma_tensor *mask, const dma_tensor *keep,
    const dma_tensor *keep_score, const dma_tensor *keep_threshold,
    const dma_tensor *keep_tiebreak, const dma_tensor *o,
    const dma_tensor *lse, const dma_attention_options *options, char *error,
    size_t error_size);

/* The forward once, on the tensors' own data (plan, launch, destroy; the
 * pointers are checked to be device memory). */
int dma_attention_forward(dma_runtime *runtime, const dma_tensor *q,
                          const dma_tensor *k, const dma_tensor *v,
                          const dma_tensor *bias, const dma_tensor *mask,
                          const dma_tensor *keep, const dma_tensor *keep_score,
                          const dma_tensor *keep_threshold,
                          const dma_tensor *keep_tiebreak, const dma_tensor *o,
                          const dma_tensor *lse,
                          const dma_attention_options *options, void *stream,
                          char *error, size_t error_size);

/* The backward of the forward with its inputs, O and LSE: grad_q, grad_k,
 * grad_v and grad_bias (NULL without a bias), contiguous, in their inputs'
 * dtypes, for dO = grad_o. Slots grad_o, q, k, v, o, lse, bias, mask,
 * keep, keep_score, keep_threshold, keep_tiebreak, grad_q, grad_k, grad_v,
 * grad_bias, then the workspace (dma_plan_workspace_bytes). A launch
 * zeroes the float32 sums in the workspace (one memset), runs the Delta
 * kernel, the backward kernel (sums by atomics, or in a fixed order when
 * deterministic) and the conversion kernel that writes the gradients. The
 * bundle needs the variants `kind=bwd,<forward variant at the backward's
 * tiles>`, `kind=bwd_delta,dtype=<dtype>,dv=<Dv>` and
 * `kind=bwd_convert,dtype=<dtype>`. */
dma_plan *dma_attention_backward_plan(
    dma_runtime *runtime, int device, const dma_tensor *grad_o,
    const dma_tensor *q, const dma_tensor *k, const dma_tensor *v,
    const dma_tensor *o, const dma_tensor *lse, const dma_tensor *bias,
    const dma_tensor *mask, const dma_tensor *keep,
    const dma_tensor *keep_score, const dma_tensor *keep_threshold,
    const dma_tensor *keep_tiebreak, const dma_tensor *grad_q,
    const dma_tensor *grad_k, const dma_tensor *grad_v,
    const dma_tensor *grad_bias, const dma_attention_options *options,
    char *error, size_t error_size);

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
/* Its plan: slots value, weight, dt_bias, a, score. */
dma_plan *dma_value_bias_plan(dma_runtime *runtime, int device,
                              const dma_tensor *value,
                              const dma_tensor *weight,
                              const dma_tensor *dt_bias, const dma_tensor *a,
                              const dma_tensor *score, int32_t exp_form,
                              char *error, size_t error_size);

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
/* Its plan: slots grad, value, weight, dt_bias, a, grad_value,
 * grad_weight, grad_dt_bias, grad_a, then the workspace (the scratch). */
dma_plan *dma_value_bias_backward_plan(
    dma_runtime *runtime, int device, const dma_tensor *grad,
    const dma_tensor *value, const dma_tensor *weight,
    const dma_tensor *dt_bias, const dma_tensor *a,
    const dma_tensor *grad_value, const dma_tensor *grad_weight,
    const dma_tensor *grad_dt_bias, const dma_tensor *grad_a,
    int32_t exp_form, char *error, size_t error_size);

/* Shared top-k: keep [B, Hkv, W] (int32) receives the W best keys of each
 * (b, h) of score [B, Hkv, Lk] (float32) in ascending position, ties to the
 * lower index, -1 padded; NaN scores and keys whose padding [B, Lk] (bool,
 * NULL: none) is false are never kept. Variant
 * `kind=topk,selection=shared,padding=<0|1>`. */
int dma_topk_shared(dma_runtime *runtime, const dma_tensor *score,
                    const dma_tensor *padding, const dma_tensor *keep,
                    void *stream, char *error, size_t error_size);
/* Its plan: slots score, padding, keep. */
dma_plan *dma_topk_shared_plan(dma_runtime *runtime, int device,
                               const dma_tensor *score,
                               const dma_tensor *padding,
                               const dma_tensor *keep, char *error,
                               size_t error_size);

/* Per-query top-k of `keep` keys: masked_score, threshold (float32) and
 * tiebreak (int32), each [B, Hkv, Lk], as dma.topk per_query defines them.
 * Variant `kind=topk,selection=per_query,padding=<0|1>`: one kernel, a
 * CTA per 256 prefix ends, O(Lk^2 / 256) work per (b, h). */
int dma_topk_per_query(dma_runtime *runtime, const dma_tensor *score,
                       const dma_tensor *padding, int64_t keep,
                       const dma_tensor *masked_score,
                       const dma_tensor *threshold,
                       const dma_tensor *tiebreak, void *stream, char *error,
                       size_t error_size);
/* Its plan: slots score, padding, masked_score, threshold, tiebreak. */
dma_plan *dma_topk_per_query_plan(dma_runtime *runtime, int device,
                                  const dma_tensor *score,
                                  const dma_tensor *padding, int64_t keep,
                                  const dma_tensor *masked_score,
                                  const dma_tensor *threshold,
                                  const dma_tensor *tiebreak, char *error,
                                  size_t error_size);

#ifdef __cplusplus
}
#endif

#endif /* DMA_RUNTIME_H */
