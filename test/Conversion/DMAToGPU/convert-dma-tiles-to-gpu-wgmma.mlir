// RUN: dma-opt %s -split-input-file --dma-tile-attention="q-tile=128 k-tile=64" --dma-assign-layouts="mma=wgmma" | FileCheck %s --check-prefix=LAYOUT
// RUN: dma-opt %s -split-input-file --dma-tile-attention="q-tile=128 k-tile=64" --dma-assign-layouts="mma=wgmma" --convert-dma-tiles-to-gpu -mlir-print-debuginfo -mlir-print-local-scope | FileCheck %s
// RUN: dma-opt %s -split-input-file --dma-gpu-pipeline="mma=wgmma q-tile=128 k-tile=64 format=isa" | FileCheck %s --check-prefix=PTX
// RUN: not dma-opt %s -split-input-file --dma-gpu-pipeline="chip=sm_80 mma=wgmma" 2>&1 | FileCheck %s --check-prefix=CHIP
// RUN: not dma-opt %s -split-input-file --dma-gpu-pipeline="mma=warpgroup" 2>&1 | FileCheck %s --check-prefix=BOGUS
// RUN: not dma-opt %s -split-input-file --dma-tile-attention="q-tile=128 k-tile=64" --dma-assign-layouts="mma=wgmma warps=4" 2>&1 | FileCheck %s --check-prefix=WARPS

// The forward on sm_90a's warpgroup MMA: dma-assign-layouts with mma=wgmma
// lays the fragments out for wgmma (one 16-row tile per warp, a warpgroup
// of 4 warps per 64 rows) and Q, K and V in 64-column blocks of 128-byte
// swizzled rows; the wgmma pattern of dma.tile.dot lowers S = Q K^T to one
// nvvm.wgmma.mma_async per 16 columns of D (both operands through shared-
// memory descriptors) and O += P V to one register-A wgmma per 16 keys
// (as inline assembly, since NVVM's op takes A from shared memory only). The logits,
// softmax and store patterns are mma.sync's: the accumulators have the
// same per-thread layout.

// LAYOUT-DAG: #[[MMA:.+]] = #dma.mma<warps = 8, row_tiles = 1, wgmma, {{.*}}>
// LAYOUT-DAG: #[[QL:.+]] = #dma.shared<stages = 1, swizzle = 8, block_cols = 64>
// LAYOUT-DAG: #[[KV:.+]] = #dma.shared<stages = 2, swizzle = 8, block_cols = 64>
// LAYOUT-DAG: #[[POS:.+]] = #dma.shared<stages = 2, swizzle = 1>
// LAYOUT-LABEL: func.func @causal_d128
//       LAYOUT: dma.tile.dot {{.*}} : tensor<128x128xbf16, #[[QL]]>, tensor<64x128xbf16, #[[KV]]> outs({{.*}} : tensor<128x64xf32, #[[MMA]]>)
//       LAYOUT: dma.tile.dot {{.*}} : tensor<128x64xf32, #[[MMA]]>, tensor<64x128xbf16, #[[KV]]> outs({{.*}} : tensor<128x128xf32, #[[MMA]]>)

// 8 warps (256 threads), the kernel's name says wgmma ("g"); Q, K and V
// land by cp.async, made visible to the async proxy before the barrier.
// CHECK-LABEL: gpu.func @dma_attention_fwd_bf16_d128_m128n64w8g_causal_0
//  CHECK-SAME:   dma.mma = "wgmma"
//  CHECK-SAME:   dma.threads = 256
//       CHECK:   nvvm.cp.async.shared.global {{.*}} loc("dma.tile.gather"
// Two warpgroups take turns issuing S (named barriers 1 and 2, FlashAttention-
// 3's ping-pong): warpgroup 1 hands warpgroup 0 the first turn.
//       CHECK:   nvvm.barrier.arrive id = {{.*}} number_of_threads = {{.*}} loc("scf.for"
//       CHECK:   scf.for
//       CHECK:     nvvm.cp.async.wait.group 0 loc("scf.for"
//  CHECK-NEXT:     nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>} loc("scf.for"
//  CHECK-NEXT:     nvvm.barrier0 loc("scf.for"
// S = Q K^T: 128 / 16 = 8 instructions of m64n64k16, K-major B ("col").
//       CHECK:     nvvm.barrier id = {{.*}} number_of_threads = {{.*}} loc("dma.tile.dot"
//  CHECK-NEXT:     nvvm.wgmma.fence.aligned loc("dma.tile.dot"
// CHECK-COUNT-8:   nvvm.wgmma.mma_async {{.*}} <m = 64, n = 64, k = 16>, D[<f32>, <one>], A[<bf16>, <one>, <row>], B[<bf16>, <one>, <col>] {{.*}} loc("dma.tile.dot"
//       CHECK:     nvvm.wgmma.commit.group.sync.aligned loc("dma.tile.dot"
//       CHECK:     nvvm.barrier.arrive id = {{.*}} loc("dma.tile.dot"
//  CHECK-NEXT:     nvvm.wgmma.wait.group.sync.aligned 0 loc("dma.tile.dot"
//       CHECK:     nvvm.shfl.sync bfly {{.*}} loc("dma.tile.softmax"
// O += P V: 64 / 16 = 4 instructions of m64n128k16, P in registers, V
// N-major (the transpose flag 1).
//       CHECK:     nvvm.wgmma.fence.aligned loc("dma.tile.dot"
// CHECK-COUNT-4:   llvm.inline_asm has_side_effects {{.*}}wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 1;{{.*}} loc("dma.tile.dot"
//       CHECK:     nvvm.wgmma.commit.group.sync.aligned loc("dma.tile.dot"
//  CHECK-NEXT:     nvvm.wgmma.wait.group.sync.aligned 0 loc("dma.tile.dot"
//       CHECK:   llvm.store {{.*}} loc("dma.tile.store_output"

// In the assembly: the 1024-byte aligned shared memory wgmma's swizzle atoms need, and
// the instructions.
//       PTX: .extern .shared .align 1024 .b8 dma_shared[];
//   PTX-DAG: fence.proxy.async.shared::cta;
//   PTX-DAG: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16
//   PTX-DAG: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16

// CHIP: error: mma=wgmma (the warpgroup MMA) needs chip=sm_90a, got 'sm_80': use mma=mma_sync or mma=auto
// BOGUS: error: unknown mma 'warpgroup': use mma_sync, wgmma (sm_90a) or auto
// WARPS: error: dma-assign-layouts: mma=wgmma (and auto) fix the warps (q-tile / 16) and the swizzle (8: wgmma's 128-byte pattern); leave warps and swizzle at their defaults
func.func @causal_d128(%q: memref<?x?x?x128xbf16>, %k: memref<?x?x?x128xbf16>,
    %v: memref<?x?x?x128xbf16>, %o: memref<?x?x?x128xbf16>,
    %l: memref<?x?x?xf32>) {
  dma.attention q(%q : memref<?x?x?x128xbf16>) k(%k : memref<?x?x?x128xbf16>)
      v(%v : memref<?x?x?x128xbf16>)
      outs(%o, %l : memref<?x?x?x128xbf16>, memref<?x?x?xf32>) causal
  return
}

// -----

// Head dims that are not whole 64-column blocks keep mma.sync's layouts.
// LAYOUT-LABEL: func.func @d96_keeps_mma_sync
//   LAYOUT-NOT:   wgmma
//       LAYOUT:   dma.tile.store_output
// CHECK-LABEL: gpu.func @dma_attention_fwd_bf16_d96_m128n64w4_causal_0
//  CHECK-SAME:   dma.mma = "mma_sync"
//       CHECK:   nvvm.mma.sync
func.func @d96_keeps_mma_sync(%q: memref<?x?x?x96xbf16>, %k: memref<?x?x?x96xbf16>,
    %v: memref<?x?x?x96xbf16>, %o: memref<?x?x?x96xbf16>,
    %l: memref<?x?x?xf32>) {
  dma.attention q(%q : memref<?x?x?x96xbf16>) k(%k : memref<?x?x?x96xbf16>)
      v(%v : memref<?x?x?x96xbf16>)
      outs(%o, %l : memref<?x?x?x96xbf16>, memref<?x?x?xf32>) causal
  return
}
