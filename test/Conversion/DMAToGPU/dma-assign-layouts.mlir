// RUN: dma-opt %s -split-input-file --dma-tile-attention="q-tile=64 k-tile=32" --dma-gather-keys --dma-assign-layouts | FileCheck %s
// RUN: dma-opt %s -split-input-file --dma-tile-attention="q-tile=64 k-tile=32" --dma-gather-keys --dma-assign-layouts="warps=4 stages=3 swizzle=4" | FileCheck %s --check-prefix=OPTS
// RUN: dma-opt %s -split-input-file --dma-tile-attention="q-tile=64 k-tile=32" --dma-gather-keys --dma-assign-layouts="swizzle=4" --convert-dma-tiles-to-gpu | FileCheck %s --check-prefix=GPU

// Every tile of the forward gets the layout its role needs, in its type:
// S, P and O in mma fragments, row max / sum and the query positions in
// the fragments' rows, gathered Q, K, V swizzled in shared memory (K and V
// in a ring of `stages`), the key positions unswizzled beside them. The
// default picks two 16-row tiles per warp here (no per-element state):
// 64 rows = 2 warps x 2 row tiles.

// CHECK-DAG: #[[MMA:.+]] = #dma.mma<warps = 2, row_tiles = 2,
// CHECK-DAG: #[[ROWS:.+]] = #dma.rows<#[[MMA]]>
// CHECK-DAG: #[[Q:.+]] = #dma.shared<stages = 1, swizzle = 8>
// CHECK-DAG: #[[KV:.+]] = #dma.shared<stages = 2, swizzle = 8>
// CHECK-DAG: #[[POS:.+]] = #dma.shared<stages = 2, swizzle = 1>
// CHECK-LABEL: func.func @dense_causal
//       CHECK: %[[QPOS:.+]] = dma.tile.iota {{.*}} -> tensor<64xi32, #[[ROWS]]>
//       CHECK: dma.tile.gather {{.*}} -> tensor<64x64xbf16, #[[Q]]>
//       CHECK: linalg.fill {{.*}} -> tensor<64x64xf32, #[[MMA]]>
//       CHECK: scf.for {{.*}} -> (tensor<64x64xf32, #[[MMA]]>, tensor<64xf32, #[[ROWS]]>, tensor<64xf32, #[[ROWS]]>)
//       CHECK:   dma.tile.iota {{.*}} -> tensor<32xi32, #[[POS]]>
//       CHECK:   dma.tile.gather {{.*}} -> tensor<32x64xbf16, #[[KV]]>
//       CHECK:   dma.tile.gather {{.*}} -> tensor<32x64xbf16, #[[KV]]>
//       CHECK:   dma.tile.dot {{.*}} -> tensor<64x32xf32, #[[MMA]]>
//       CHECK:   dma.tile.logits {{.*}} -> tensor<64x32xf32, #[[MMA]]>
//       CHECK:   dma.tile.softmax {{.*}} -> tensor<64x32xf32, #[[MMA]]>, tensor<64x64xf32, #[[MMA]]>, tensor<64xf32, #[[ROWS]]>, tensor<64xf32, #[[ROWS]]>
//       CHECK:   dma.tile.dot {{.*}} -> tensor<64x64xf32, #[[MMA]]>
//       CHECK: dma.tile.store_output

// Options: 4 warps of one row tile, three K/V buffers, 4-chunk swizzle.
// OPTS-DAG: #[[MMA:.+]] = #dma.mma<warps = 4, row_tiles = 1,
// OPTS-DAG: #dma.shared<stages = 3, swizzle = 4>
// OPTS-DAG: #dma.shared<stages = 1, swizzle = 4>
// OPTS-DAG: #dma.shared<stages = 3, swizzle = 1>
// OPTS-LABEL: func.func @dense_causal

// The kernel takes its swizzle from the layouts (and says so in its name).
// GPU-LABEL: func.func @dense_causal
//       GPU: gpu.launch_func @dma_kernels::@dma_attention_fwd_bf16_d64_m64n32w2x4_causal_0
func.func @dense_causal(%q: memref<?x?x?x64xbf16>, %k: memref<?x?x?x64xbf16>,
    %v: memref<?x?x?x64xbf16>, %o: memref<?x?x?x64xbf16>,
    %l: memref<?x?x?xf32>) {
  dma.attention q(%q : memref<?x?x?x64xbf16>) k(%k : memref<?x?x?x64xbf16>)
      v(%v : memref<?x?x?x64xbf16>)
      outs(%o, %l : memref<?x?x?x64xbf16>, memref<?x?x?xf32>) causal
  return
}

// -----

// The per-query top-k collects its candidates into shared memory: their
// list is a #dma.shared tile of one buffer. Its per-row thresholds are
// per-element state, so one row tile per warp: 4 warps.

// CHECK-DAG: #[[MMA:.+]] = #dma.mma<warps = 4, row_tiles = 1,
// CHECK-DAG: #[[LIST:.+]] = #dma.shared<stages = 1, swizzle = 1>
// CHECK-LABEL: func.func @per_query
//       CHECK: dma.tile.candidates {{.*}} -> tensor<?xi32, #[[LIST]]>
//       CHECK: dma.tile.dot {{.*}} -> tensor<64x32xf32, #[[MMA]]>
func.func @per_query(%q: memref<?x?x?x64xbf16>, %k: memref<?x?x?x64xbf16>,
    %v: memref<?x?x?x64xbf16>, %o: memref<?x?x?x64xbf16>,
    %l: memref<?x?x?xf32>, %s: memref<?x?x?xf32>, %thr: memref<?x?x?xf32>,
    %tie: memref<?x?x?xi32>) {
  dma.attention q(%q : memref<?x?x?x64xbf16>) k(%k : memref<?x?x?x64xbf16>)
      v(%v : memref<?x?x?x64xbf16>)
      keep_rows(%s, %thr, %tie : memref<?x?x?xf32>, memref<?x?x?xf32>, memref<?x?x?xi32>)
      outs(%o, %l : memref<?x?x?x64xbf16>, memref<?x?x?xf32>) causal
  return
}
