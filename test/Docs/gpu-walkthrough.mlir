// The listings quoted in docs/gpu-pipeline.md, checked against what dma-opt
// prints for docs/examples/gpu-walkthrough.mlir.

// 1. Layouts.
// RUN: dma-opt %dma_src_root/docs/examples/gpu-walkthrough.mlir --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --dma-tile-attention="q-tile=128 k-tile=32" --dma-gather-keys=per-query=false --dma-assign-layouts --canonicalize | FileCheck %s --check-prefix=LAYOUT
// LAYOUT: #mma = #dma.mma<warps = 4, row_tiles = 2, (d0, d1, d2) -> (d0 * 32 + ((d2 floordiv 4) mod 2) * 16 + d1 floordiv 4 + ((d2 floordiv 2) mod 2) * 8, (d2 floordiv 8) * 8 + (d1 mod 4) * 2 + d2 mod 2)>
// LAYOUT: #shared = #dma.shared<stages = 2, swizzle = 1>
// LAYOUT: #shared1 = #dma.shared<stages = 1, swizzle = 8>
// LAYOUT: #shared2 = #dma.shared<stages = 2, swizzle = 8>
// LAYOUT: #rows = #dma.rows<#mma>
// LAYOUT: %28 = dma.tile.gather %arg1[%c0, %0] rows(%27 : tensor<32xi32, #shared>) {{.*}} -> tensor<32x64xbf16, #shared2>
// LAYOUT: %31 = dma.tile.dot %11, %28 transpose_rhs : tensor<128x64xbf16, #shared1>, tensor<32x64xbf16, #shared2> outs(%30 : tensor<128x32xf32, #mma>) -> tensor<128x32xf32, #mma>
// LAYOUT: %33:4 = dma.tile.softmax %32 : tensor<128x32xf32, #mma> outs({{.*}}) -> tensor<128x32xf32, #mma>, tensor<128x64xf32, #mma>, tensor<128xf32, #rows>, tensor<128xf32, #rows>

// 2a. One conversion pattern per tile op: each instruction located at its tile op.
// RUN: dma-opt %dma_src_root/docs/examples/gpu-walkthrough.mlir --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --dma-tile-attention="q-tile=128 k-tile=32" --dma-gather-keys=per-query=false --dma-assign-layouts --convert-dma-tiles-to-gpu -mlir-print-debuginfo -mlir-print-local-scope | FileCheck %s --check-prefix=PATTERN
// PATTERN: gpu.func @dma_attention_fwd_bf16_d64_m128n32w4_keep_keybias_causal_0(
// PATTERN: nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache =  cg, %{{.*}} : !llvm.ptr<3>, !llvm.ptr<1>, i32 loc("dma.tile.gather"(
// PATTERN: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{.*}} iter_args(
// PATTERN: nvvm.cp.async.wait.group 0 loc("scf.for"(
// PATTERN: nvvm.mma.sync A[{{.*}}]  B[{{.*}}]  C[{{.*}} loc("dma.tile.dot"(
// PATTERN: nvvm.shfl.sync  bfly %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : f32 -> f32 loc("dma.tile.softmax"(
// PATTERN: scf.yield {{.*}} loc("scf.yield"(
// PATTERN: } loc("scf.for"(
// PATTERN: llvm.store %{{.*}}, %{{.*}} : i32, !llvm.ptr<1> loc("dma.tile.store_output"(

// 2. Mapped to the GPU.
// RUN: dma-opt %dma_src_root/docs/examples/gpu-walkthrough.mlir --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --dma-tile-attention="q-tile=128 k-tile=32" --dma-gather-keys=per-query=false --dma-assign-layouts --convert-dma-tiles-to-gpu --canonicalize | FileCheck %s --check-prefix=GPU
// GPU: gpu.launch_func  @dma_kernels::@dma_attention_fwd_bf16_d64_m128n32w4_keep_keybias_causal_0 blocks in (%c2, %c8, %c1) threads in (%c128, %c1, %c1)  dynamic_shared_memory_size %c33280_i32 args(%1 : !llvm.ptr,
// GPU: gpu.module @dma_kernels {
// GPU: gpu.func @dma_attention_fwd_bf16_d64_m128n32w4_keep_keybias_causal_0(
// GPU-SAME: kernel attributes {dma.block_m = 128 : i64, dma.grid = ["ceil(Lq/128)", "H", "B"], dma.kernel_params = ["q:ptr", "k:ptr", "v:ptr", "o:ptr", "lse:ptr", "bias:ptr", "keep:ptr", "B:i32", "Lq:i32", "Lk:i32", "H:i32", "Hkv:i32", "scale:f32",
// GPU-SAME: dma.shared_bytes = 33280 : i64, dma.threads = 128 : i64
// GPU: scf.while
// GPU: nvvm.cp.async.shared.global
// GPU: scf.for
// Each K fragment feeds both row tiles of the warp.
// GPU: nvvm.mma.sync A[[[Q0:%[0-9]+, %[0-9]+, %[0-9]+, %[0-9]+]]]  B[[[B0:%[0-9]+, %[0-9]+]]]  C[
// GPU-SAME: shape = #nvvm.shape<m = 16, n = 8, k = 16>
// GPU: nvvm.mma.sync A[[[Q0]]]  B[[[B1:%[0-9]+, %[0-9]+]]]  C[
// GPU: nvvm.mma.sync A[[[Q1:%[0-9]+, %[0-9]+, %[0-9]+, %[0-9]+]]]  B[[[B0]]]  C[
// GPU: nvvm.mma.sync A[[[Q1]]]  B[[[B1]]]  C[
// GPU: nvvm.shfl.sync bfly
// GPU: llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f"

// 3. NVVM.
// RUN: dma-opt %dma_src_root/docs/examples/gpu-walkthrough.mlir --dma-gpu-pipeline="format=none" | FileCheck %s --check-prefix=NVVM
// NVVM: gpu.module @dma_kernels [#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx81">] {
// NVVM: llvm.func @dma_attention_fwd_bf16_d64_m128n32w4_keep_keybias_causal_0(%arg0: !llvm.ptr,

// 4. PTX (the escaped assembly string; \09 is a tab, \0A a newline).
// REQUIRES: cuda-toolkit
// RUN: dma-opt %dma_src_root/docs/examples/gpu-walkthrough.mlir --dma-gpu-pipeline="format=isa toolkit=%cuda_toolkit" | FileCheck %s --check-prefix=PTX
// PTX: .target sm_90a
// PTX: .visible .entry dma_attention_fwd_bf16_d64_m128n32w4_keep_keybias_causal_0(
// PTX: .maxntid 128, 1, 1
// PTX: .minnctapersm 1
// PTX: ldmatrix.sync.aligned.m8n8.x4.shared.b16 {{{[^}]*}}}, [%rd{{[0-9]+}}];
// PTX-SAME: ldmatrix.sync.aligned.m8n8.x4.shared.b16 {{{[^}]*}}}, [%rd{{[0-9]+}}];
// PTX-SAME: ldmatrix.sync.aligned.m8n8.x4.shared.b16 {{{[^}]*}}}, [%rd{{[0-9]+}}+16384];
// PTX-SAME: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
