//===- MaskKernels.h - the mask-generation kernels --------------*- C++ -*-===//
//
// The kernels convert-dma-mask-to-gpu emits for dma.value_bias, its
// backward dma.value_bias_grad, and dma.topk (shared and per query). Like
// the attention kernels they take raw pointers, i32 sizes and i64 element
// strides (the innermost dimension of every tensor is contiguous), listed
// by the *KernelParams functions in launch order.
//
//===----------------------------------------------------------------------===//

#ifndef DMA_CONVERSION_DMATOGPU_MASKKERNELS_H
#define DMA_CONVERSION_DMATOGPU_MASKKERNELS_H

#include "dma/Conversion/DMAToGPU/ForwardKernel.h"

namespace mlir::dma {

/// Threads per CTA of the element-wise mask kernels (value_bias, the
/// per-query top-k steps).
inline constexpr int64_t kMaskThreads = 256;
/// Keys per warp and per CTA of the value-bias kernels (4 keys x 8 heads:
/// one dot product per lane).
inline constexpr int64_t kValueBiasKeysPerWarp = 4;
inline constexpr int64_t kValueBiasKeysPerCTA =
    kMaskThreads / 32 * kValueBiasKeysPerWarp;
/// Threads of the shared top-k CTA (one per (batch, KV head)).
inline constexpr int64_t kTopKSharedThreads = 512;
/// Dynamic shared memory of the shared top-k: per-warp slots of its block
/// sums, then the radix select's histogram, scan sums and picked digit.
inline constexpr int64_t kTopKSharedBytes =
    4 * kTopKSharedThreads / 32 + 1024 + 2 * (kTopKSharedThreads / 32) * 4 +
    8;
/// Keys per thread the shared top-k keeps in registers (rows up to
/// kTopKRegisterKeys * kTopKSharedThreads keys, 3/4 of that with a padding
/// mask; longer rows recompute the keys from the scores at every step).
inline constexpr int64_t kTopKRegisterKeys = 32;
/// The largest value head dim the value-bias kernels take (a multiple of
/// 8): sizes are i32 in the kernels, and a bound checked before any IR is
/// built keeps a huge static D from reaching the generators.
inline constexpr int64_t kMaxValueBiasHeadDim = 1024;

struct ValueBiasKernelConfig {
  Type element;      // of the values (bf16, f16 or f32)
  Type paramElement; // of weight, dt_bias and a
  int64_t headDim = 0;
  bool dtBias = false;
  bool expForm = false;
};

/// score[b, h, j] = A[h] * softplus(W[h] . V[b, j] + b_dt[h]) (or its exp),
/// a warp per kValueBiasKeysPerWarp keys (its lanes split the Hkv * D dot
/// products, 16-byte loads, each weight load serving the warp's keys; a
/// transposing butterfly sums them), grid (ceil(Lk / kValueBiasKeysPerCTA),
/// B). D % 8 == 0; value rows and weight rows 16-byte aligned.
SmallVector<KernelParam> valueBiasKernelParams(const ValueBiasKernelConfig &c);
gpu::GPUFuncOp emitValueBiasKernel(OpBuilder &b, Location loc,
                                   gpu::GPUModuleOp module, StringRef name,
                                   const ValueBiasKernelConfig &c);

/// The value-bias backward, from dScore = `grad` [B, Hkv, Lk] (f32), in
/// four launches sharing one parameter list (valueBiasGradKernelParams);
/// every sum runs in a fixed order (deterministic, no atomics):
///  * `dt`, a warp per 4 keys as in the forward, grid (ceil(Lk /
///    kValueBiasKeysPerCTA), B): recomputes dt, writes g = dScore * dscore/ddt
///    and e = dScore * dscore/dA into f32 scratch [B, Lk, Hkv];
///  * `value`, one thread per 8 columns (j, h', d..d+7), grid (ceil(Lk *
///    Hkv * D / 8 / kMaskThreads), B): dV[b, j, h', d] = sum_h g[b, j, h]
///    W[h, h' D + d];
///  * `params`, one thread per (h, 8 columns of W) plus one per h for b_dt
///    and A, grid (ceil(Hkv * (Hkv * D / 8 + 1) / kMaskThreads), S): sums
///    chunk s (kValueBiasGradRows keys of one batch) into partial[s] (f32
///    scratch, [S, Hkv, Hkv * D + 2]);
///  * `reduce`, grid (ceil(Hkv * (Hkv * D + 2) / kMaskThreads)): sums the
///    S partials and writes dW, db_dt and dA.
/// S = B * ceil(Lk / kValueBiasGradRows).
inline constexpr int64_t kValueBiasGradRows = 128;
enum class ValueBiasGradStep { Dt, Value, Params, Reduce };
struct ValueBiasGradKernelConfig {
  ValueBiasKernelConfig forward;
  Type gradValueElement; // of dV
  Type gradParamElement; // of dW, db_dt and dA
};
SmallVector<KernelParam>
valueBiasGradKernelParams(const ValueBiasGradKernelConfig &c);
gpu::GPUFuncOp emitValueBiasGradKernel(OpBuilder &b, Location loc,
                                       gpu::GPUModuleOp module, StringRef name,
                                       const ValueBiasGradKernelConfig &c,
                                       ValueBiasGradStep step);

struct TopKKernelConfig {
  bool padding = false; // a [B, Lk] key padding mask (bytes, 1 = exists)
  Type indexElement;    // i32 or i64: the kept positions / tiebreak
};

/// Shared top-k: one CTA of kTopKSharedThreads per (KV head, batch), grid
/// (Hkv, B): the w-th largest score by a radix select over the scores'
/// order-preserving integer keys (4 passes of 8-bit digits, histograms in
/// shared memory), then the kept positions in ascending order: thread t
/// owns keys [t * per, (t + 1) * per), per = ceil(Lk / threads), so one
/// block-wide prefix sum of per-thread counts places them all; -1 padded.
SmallVector<KernelParam> topkSharedKernelParams(const TopKKernelConfig &c);
gpu::GPUFuncOp emitTopKSharedKernel(OpBuilder &b, Location loc,
                                    gpu::GPUModuleOp module, StringRef name,
                                    const TopKKernelConfig &c);

/// Per-query top-k, one kernel over grid (ceil(Lk / kMaskThreads), Hkv, B):
/// a CTA per block of kMaskThreads prefix ends [c0, c0 + T) finds, for
/// each, the w-th best allowed key of [0, c] among A's keys of rank s+1 to
/// w (A = the allowed keys of [0, c0), s = w - T - 1; a radix select over
/// [0, c0)) and the block's own keys, sorted in shared memory (a bitonic
/// sort); writes the masked score of the block's keys and the threshold and
/// tiebreak of its prefix ends (TopKPerQueryKernel.cpp says why that is
/// exact). O(Lk^2 / T) work per (b, h) row, every CTA independent.
SmallVector<KernelParam> topkPerQueryKernelParams(const TopKKernelConfig &c);
/// Slots of the per-query kernel's key list (at most 2 T + 1 keys, padded
/// to a power of two for the bitonic sort).
inline constexpr int64_t kTopKListSlots = 1024;
static_assert(kTopKListSlots >= 2 * kMaskThreads + 1 &&
                  (kTopKListSlots & (kTopKListSlots - 1)) == 0,
              "the list holds 2 T + 1 keys and sorts as a power of two");
/// Its dynamic shared memory: histograms, scan and selection state, and
/// the key list (64-bit keys, sorted in place).
inline constexpr int64_t kTopKPerQuerySharedBytes = 2176 + 8 * kTopKListSlots;
gpu::GPUFuncOp emitTopKPerQueryKernel(OpBuilder &b, Location loc,
                                      gpu::GPUModuleOp module, StringRef name,
                                      const TopKKernelConfig &c);

} // namespace mlir::dma

#endif
