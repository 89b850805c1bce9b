// RUN: dma-opt %s -split-input-file --dma-tile-attention="q-tile=128 k-tile=64" --dma-block-skip --dma-gather-keys --dma-assign-layouts="mma=auto" -mlir-print-local-scope | FileCheck %s

// mma=auto (what --dma-gpu-pipeline and dma-compile use on sm_90a) lays a
// forward out for the warpgroup MMA where that measured faster
// (KernelDefaults.h's wgmmaByDefault, performance.md runs 67-69): without
// a mask and with the per-query top-k; the shared top-k and block-skipped
// dense masks keep mma.sync's fragments and whole-row tiles.

// CHECK-LABEL: func.func @no_mask
//       CHECK:   tensor<128x64xf32, #dma.mma<warps = 8, row_tiles = 1, wgmma
//       CHECK:   dma.tile.store_output
func.func @no_mask(%q: memref<?x?x?x128xbf16>, %k: memref<?x?x?x128xbf16>,
    %v: memref<?x?x?x128xbf16>, %o: memref<?x?x?x128xbf16>,
    %l: memref<?x?x?xf32>) {
  dma.attention q(%q : memref<?x?x?x128xbf16>) k(%k : memref<?x?x?x128xbf16>)
      v(%v : memref<?x?x?x128xbf16>)
      outs(%o, %l : memref<?x?x?x128xbf16>, memref<?x?x?xf32>) causal
  return
}

// -----

// CHECK-LABEL: func.func @per_query
//       CHECK:   #dma.mma<warps = 8, row_tiles = 1, wgmma
//       CHECK:   dma.tile.store_output
func.func @per_query(%q: memref<?x?x?x128xbf16>, %k: memref<?x?x?x128xbf16>,
    %v: memref<?x?x?x128xbf16>, %s: memref<?x?x?xf32>, %t: memref<?x?x?xf32>,
    %tie: memref<?x?x?xi32>, %o: memref<?x?x?x128xbf16>,
    %l: memref<?x?x?xf32>) {
  dma.attention q(%q : memref<?x?x?x128xbf16>) k(%k : memref<?x?x?x128xbf16>)
      v(%v : memref<?x?x?x128xbf16>)
      keep_rows(%s, %t, %tie : memref<?x?x?xf32>, memref<?x?x?xf32>, memref<?x?x?xi32>)
      outs(%o, %l : memref<?x?x?x128xbf16>, memref<?x?x?xf32>) causal
  return
}

// -----

// CHECK-LABEL: func.func @shared_top_k
//   CHECK-NOT:   wgmma
//   CHECK-NOT:   block_cols
//       CHECK:   dma.tile.store_output
func.func @shared_top_k(%q: memref<?x?x?x128xbf16>, %k: memref<?x?x?x128xbf16>,
    %v: memref<?x?x?x128xbf16>, %keep: memref<?x?x?xi32>,
    %o: memref<?x?x?x128xbf16>, %l: memref<?x?x?xf32>) {
  dma.attention q(%q : memref<?x?x?x128xbf16>) k(%k : memref<?x?x?x128xbf16>)
      v(%v : memref<?x?x?x128xbf16>) keep(%keep : memref<?x?x?xi32>)
      outs(%o, %l : memref<?x?x?x128xbf16>, memref<?x?x?xf32>) causal
  return
}

// -----

// CHECK-LABEL: func.func @dense_mask
//   CHECK-NOT:   wgmma
//   CHECK-NOT:   block_cols
//       CHECK:   dma.tile.store_output
func.func @dense_mask(%q: memref<?x?x?x128xbf16>, %k: memref<?x?x?x128xbf16>,
    %v: memref<?x?x?x128xbf16>, %m: memref<?x?x?x?xi1>,
    %o: memref<?x?x?x128xbf16>, %l: memref<?x?x?xf32>) {
  dma.attention q(%q : memref<?x?x?x128xbf16>) k(%k : memref<?x?x?x128xbf16>)
      v(%v : memref<?x?x?x128xbf16>) mask(%m : memref<?x?x?x?xi1>)
      outs(%o, %l : memref<?x?x?x128xbf16>, memref<?x?x?xf32>)
  return
}
