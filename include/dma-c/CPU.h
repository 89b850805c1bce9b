/*===- CPU.h - C API of the CPU path (libdma_cpu) -----------------*- C -*-===//
 *
 * dma.attention, dma.attention_grad, dma.value_bias,
 * dma.value_bias_grad and dma.topk on host memory, compiled by
 * --dma-cpu-pipeline and JIT-run (MLIR ExecutionEngine). The tensor and
 * option structs are the GPU runtime's (dma_runtime.h), so a front end
 * describes its arguments once for both paths. The CPU path computes in
 * float32: q, k, v, o, bias, the gradients, keep_score/keep_threshold are
 * DMA_F32, mask DMA_BOOL (one byte per element), keep and keep_tiebreak
 * DMA_I32; every tensor is contiguous. Shapes and broadcasting as in
 * docs/semantics.md. A compiled kernel is cached per signature (shapes,
 * mask form, bias, causal, scale, softcap), so only the first call of each
 * compiles; the cache keeps the DMA_CPU_KERNEL_CACHE (default 64) most
 * recently used kernels (each ~2 MB) and compiles an evicted one again.
 *
 * Options (dma_attention_options) on the CPU path: `scale` NaN selects
 * the default 1/sqrt(D); any other finite value is the scale, 0 included.
 * `softcap` 0 means no soft cap. The tile and arch fields are ignored. A NULL
 * options pointer means not causal, default scale, no soft cap.
 *
 * Empty sizes are valid: B, H, Hkv or Lq = 0 compute nothing; Lk = 0
 * gives O = 0 and LSE = -inf (the gradients are then 0, dK/dV empty).
 * The head dim D must be >= 1. A keep list must hold, per row, key
 * positions in [0, Lk), strictly ascending, followed only by -1 padding;
 * otherwise the call fails naming the first offending entry.
 *
 * Every function returns 0 on success, otherwise writes a message to
 * `error` and returns non-zero.
 *
 *===----------------------------------------------------------------------===*/

#ifndef DMA_C_CPU_H
#define DMA_C_CPU_H

#include "dma_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* O [B, Lq, H, Dv], LSE [B, H, Lq] = attention(q, k, v, bias, mask form). */
int dma_cpu_attention(const dma_tensor *q, const dma_tensor *k,
                      const dma_tensor *v, const dma_tensor *bias,
                      const dma_tensor *mask, const dma_tensor *keep,
                      const dma_tensor *keep_score,
                      const dma_tensor *keep_threshold,
                      const dma_tensor *keep_tiebreak, const dma_tensor *o,
                      const dma_tensor *lse,
                      const dma_attention_options *options, char *error,
                      size_t error_size);

/* dQ, dK, dV (and dBias, shaped like bias, when bias is given) from dO and
 * the forward's inputs, O and LSE. */
int dma_cpu_attention_grad(
    const dma_tensor *grad_o, const dma_tensor *q, const dma_tensor *k,
    const dma_tensor *v, const dma_tensor *o, const dma_tensor *lse,
    const dma_tensor *bias, const dma_tensor *mask, const dma_tensor *keep,
    const dma_tensor *keep_score, const dma_tensor *keep_threshold,
    const dma_tensor *keep_tiebreak, const dma_tensor *grad_q,
    const dma_tensor *grad_k, const dma_tensor *grad_v,
    const dma_tensor *grad_bias, const dma_attention_options *options,
    char *error, size_t error_size);

/* score [B, Hkv, Lk] = dma.value_bias(value [B, Lk, Hkv, D], weight
 * [Hkv, Hkv*D], dt_bias [Hkv] (NULL: none), a [Hkv]); the exp form when
 * exp_form is non-zero. */
int dma_cpu_value_bias(const dma_tensor *value, const dma_tensor *weight,
                       const dma_tensor *dt_bias, const dma_tensor *a,
                       const dma_tensor *score, int32_t exp_form, char *error,
                       size_t error_size);

/* The gradients of dma_cpu_value_bias for the score's gradient `grad`
 * [B, Hkv, Lk]: grad_value, grad_weight, grad_dt_bias (exactly when dt_bias
 * is given) and grad_a, each shaped like its input (dma.value_bias_grad). */
int dma_cpu_value_bias_grad(
    const dma_tensor *grad, const dma_tensor *value, const dma_tensor *weight,
    const dma_tensor *dt_bias, const dma_tensor *a,
    const dma_tensor *grad_value, const dma_tensor *grad_weight,
    const dma_tensor *grad_dt_bias, const dma_tensor *grad_a,
    int32_t exp_form, char *error, size_t error_size);

/* dma.topk on the CPU: with per_query == 0, keep_or_score is the kept
 * positions [B, Hkv, keep] (int32); otherwise the masked score, threshold
 * (float32) and tiebreak (int32), each [B, Hkv, Lk]. padding [B, Lk] (bool)
 * or NULL. */
int dma_cpu_topk(const dma_tensor *score, const dma_tensor *padding,
                 int32_t per_query, int64_t keep,
                 const dma_tensor *keep_or_score, const dma_tensor *threshold,
                 const dma_tensor *tiebreak, char *error, size_t error_size);

/* The number of compiled kernels the cache holds now (at most
 * DMA_CPU_KERNEL_CACHE). */
size_t dma_cpu_kernel_cache_size(void);

#ifdef __cplusplus
}
#endif

#endif
