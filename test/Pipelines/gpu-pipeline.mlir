// REQUIRES: cuda-toolkit
// RUN: dma-opt %s --dma-gpu-pipeline="chip=sm_90a format=isa toolkit=%cuda_toolkit" | FileCheck %s --check-prefix=PTX90
// RUN: dma-opt %s --dma-gpu-pipeline="chip=sm_80 q-tile=64 k-tile=64 format=isa toolkit=%cuda_toolkit" | FileCheck %s --check-prefix=PTX80
// RUN: dma-opt %s --dma-gpu-pipeline="chip=sm_90a format=bin toolkit=%cuda_toolkit" | FileCheck %s --check-prefix=CUBIN
// RUN: dma-opt %s --dma-gpu-pipeline="format=none" | FileCheck %s --check-prefix=NVVM

// The whole GPU pipeline on a shared top-k forward with a per-key bias:
// dma.attention -> tiles -> gathered key walk -> generated kernel -> NVVM
// -> PTX (format=isa) or a cubin assembled by ptxas (format=bin). The PTX
// shows the kernel's building blocks: cp.async copies of gathered K/V rows
// into shared memory, ldmatrix (plain for Q and K, transposed for V),
// mma.sync m16n8k16 on bf16 with f32 accumulation, quad shuffles for the
// row max and sum, and ex2.approx for the exponentials.

// PTX90-LABEL: gpu.binary @dma_kernels
//  PTX90-SAME:   #nvvm.target<O = 3, chip = "sm_90a"
//       PTX90:   .target sm_90a
//       PTX90:   .entry dma_attention_fwd_bf16_d128_m128n32w4_keep_keybias_causal_0
//       PTX90:   .maxntid 128, 1, 1
//       PTX90:   .minnctapersm 1
//       PTX90:   cp.async.cg.shared.global
//       PTX90:   cp.async.commit_group
//       PTX90:   cp.async.wait_group
//       PTX90:   ldmatrix.sync.aligned.m8n8.x4.shared.b16
//       PTX90:   mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
//       PTX90:   shfl.sync.bfly.b32
//       PTX90:   ex2.approx.ftz.f32
//       PTX90:   ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16
//       PTX90:   mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32

// PTX80-LABEL: gpu.binary @dma_kernels
//       PTX80:   .target sm_80
//       PTX80:   .entry dma_attention_fwd_bf16_d128_m64n64w2_keep_keybias_causal_0
//       PTX80:   mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32

// CUBIN-LABEL: gpu.binary @dma_kernels
//  CUBIN-SAME:   #gpu.object<#nvvm.target<O = 3, chip = "sm_90a"{{.*}}>, properties = {ISAToBinaryTimeInMs
//  CUBIN-SAME:   bin = "\7FELF

// NVVM-LABEL: gpu.module @dma_kernels [#nvvm.target<O = 3, chip = "sm_90a"
//       NVVM:   llvm.func @dma_attention_fwd_bf16_d128_m128n32w4_keep_keybias_causal_0
//       NVVM:     nvvm.mma.sync
func.func @layer(%q: tensor<1x4096x32x128xbf16>, %k: tensor<1x4096x8x128xbf16>,
    %v: tensor<1x4096x8x128xbf16>, %bias: tensor<1x8x1x4096xbf16>,
    %keep: tensor<1x8x1024xi32>, %o: tensor<1x4096x32x128xbf16>,
    %l: tensor<1x32x4096xf32>) -> (tensor<1x4096x32x128xbf16>, tensor<1x32x4096xf32>) {
  %out, %lse = dma.attention q(%q : tensor<1x4096x32x128xbf16>)
      k(%k : tensor<1x4096x8x128xbf16>) v(%v : tensor<1x4096x8x128xbf16>)
      bias(%bias : tensor<1x8x1x4096xbf16>) keep(%keep : tensor<1x8x1024xi32>)
      outs(%o, %l : tensor<1x4096x32x128xbf16>, tensor<1x32x4096xf32>) causal
      -> tensor<1x4096x32x128xbf16>, tensor<1x32x4096xf32>
  return %out, %lse : tensor<1x4096x32x128xbf16>, tensor<1x32x4096xf32>
}
