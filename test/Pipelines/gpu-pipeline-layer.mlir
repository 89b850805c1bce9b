// REQUIRES: cuda-toolkit
// RUN: dma-opt %s --dma-gpu-pipeline="chip=sm_90a format=isa toolkit=%cuda_toolkit" | FileCheck %s --check-prefix=PTX
// RUN: dma-opt %s --dma-gpu-pipeline="format=none" | FileCheck %s --check-prefix=HOST

// A whole DMA layer on generated kernels: the per-key score from the
// values (dma.value_bias), the w = 1024 best keys per KV head (dma.topk
// shared), and the attention over them with the score as bias. The host
// function launches the three kernels in order; the mask kernels are
// scalar CUDA-core code (the top-k's CTA-wide prefix sums are warp
// shuffles), the attention's is tensor-core code.

// HOST-LABEL: func.func @dma_layer
//       HOST:   gpu.launch_func @dma_kernels::@dma_value_bias_bf16_d128_log_dtbias_0
//       HOST:   gpu.launch_func @dma_kernels::@dma_topk_shared_i32_1
//       HOST:   gpu.launch_func @dma_kernels::@dma_attention_fwd_bf16_d128_m128n32w4_keep_keybias_causal_0
//       HOST: gpu.module @dma_kernels [#nvvm.target<O = 3, chip = "sm_90a"

// PTX-LABEL: gpu.binary @dma_kernels
//       PTX:   .entry dma_value_bias_bf16_d128_log_dtbias_0
//       PTX:   fma.rn.f32
//       PTX:   .entry dma_topk_shared_i32_1
//       PTX:   .maxntid 512, 1, 1
//       PTX:   match.any.sync.b32
//       PTX:   shfl.sync.up.b32
//       PTX:   .entry dma_attention_fwd_bf16_d128_m128n32w4_keep_keybias_causal_0
//       PTX:   mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
func.func @dma_layer(%q: tensor<1x4096x32x128xbf16>,
    %k: tensor<1x4096x8x128xbf16>, %v: tensor<1x4096x8x128xbf16>,
    %w: tensor<8x1024xf32>, %bdt: tensor<8xf32>, %a: tensor<8xf32>)
    -> (tensor<1x4096x32x128xbf16>, tensor<1x32x4096xf32>) {
  %s0 = tensor.empty() : tensor<1x8x4096xf32>
  %score = dma.value_bias log value(%v : tensor<1x4096x8x128xbf16>)
      weight(%w : tensor<8x1024xf32>) dt_bias(%bdt : tensor<8xf32>)
      a(%a : tensor<8xf32>) outs(%s0 : tensor<1x8x4096xf32>)
      -> tensor<1x8x4096xf32>
  %k0 = tensor.empty() : tensor<1x8x1024xi32>
  %keep = dma.topk shared keep(1024) score(%score : tensor<1x8x4096xf32>)
      outs(%k0 : tensor<1x8x1024xi32>) -> tensor<1x8x1024xi32>
  %bias = tensor.expand_shape %score [[0], [1], [2, 3]]
      output_shape [1, 8, 1, 4096] : tensor<1x8x4096xf32> into tensor<1x8x1x4096xf32>
  %o0 = tensor.empty() : tensor<1x4096x32x128xbf16>
  %l0 = tensor.empty() : tensor<1x32x4096xf32>
  %out, %lse = dma.attention q(%q : tensor<1x4096x32x128xbf16>)
      k(%k : tensor<1x4096x8x128xbf16>) v(%v : tensor<1x4096x8x128xbf16>)
      bias(%bias : tensor<1x8x1x4096xf32>) keep(%keep : tensor<1x8x1024xi32>)
      outs(%o0, %l0 : tensor<1x4096x32x128xbf16>, tensor<1x32x4096xf32>) causal
      -> tensor<1x4096x32x128xbf16>, tensor<1x32x4096xf32>
  return %out, %lse : tensor<1x4096x32x128xbf16>, tensor<1x32x4096xf32>
}
