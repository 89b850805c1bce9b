/*===- CPU.h - C API of the CPU path (libdma_cpu) -----------------*- C -*-===//
 *
 * dma.attention and dma.attention_grad on host memory, compiled by
 * --dma-cpu-pipeline and JIT-run (MLIR ExecutionEngine). The tensor and
 * option structs are the GPU runtime's (dma_runtime.h), so a front end
 * describes its arguments once for both paths. The CPU path computes in
 * float32: q, k, v, o, bias, the gradients, keep_score/keep_threshold are
 * DMA_F32, mask DMA_BOOL (one byte per element), keep and keep_tiebreak
 * DMA_I32; every tensor is contiguous. Shapes and broadcasting as in
 * docs/semantics.md. A compiled kernel is cached per signature (mask form,
 * bias, causal, scale, softcap), so only the first call of each compiles.
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

#ifdef __cplusplus
}
#endif

#endif
