// RUN: dma-opt %s -split-input-file --dma-tile-attention="q-tile=64 k-tile=32" --dma-gather-keys=per-query=false --dma-assign-layouts --convert-dma-tiles-to-gpu -verify-diagnostics
// RUN: not dma-opt %s -split-input-file --dma-tile-attention="q-tile=64 k-tile=32" --dma-gather-keys=per-query=false --dma-assign-layouts=warps=3 --convert-dma-tiles-to-gpu 2>&1 | FileCheck %s --check-prefix=WARPS
// RUN: not dma-opt %s -split-input-file --dma-tile-attention="q-tile=64 k-tile=32" --dma-gather-keys=per-query=false --dma-assign-layouts=stages=5 --convert-dma-tiles-to-gpu 2>&1 | FileCheck %s --check-prefix=STAGES
// RUN: not dma-opt %s -split-input-file --dma-tile-attention="q-tile=64 k-tile=32" --dma-gather-keys=per-query=false --dma-assign-layouts=swizzle=3 2>&1 | FileCheck %s --check-prefix=SWIZZLE
// RUN: not dma-opt %s -split-input-file --dma-tile-attention="q-tile=64 k-tile=32" --dma-gather-keys=per-query=false --convert-dma-tiles-to-gpu 2>&1 | FileCheck %s --check-prefix=NOLAYOUTS

// What the kernel generator does not handle is an error at the tiled loop
// nest, saying what to do instead.

// STAGES: error: stages must be 2, 3 or 4 (K/V buffers in flight), got 5
// SWIZZLE: error: dma-assign-layouts: #dma.shared: swizzle must be 1, 2, 4 or 8 (16-byte chunks per group), got 3
// NOLAYOUTS: error: convert-dma-tiles-to-gpu: the tiled forward has no tile layouts (run dma-assign-layouts first)
// WARPS: error: warps must divide q-tile / 16 = 4 (each warp owns whole 16-row tiles), got 3
func.func @f32_inputs(%q: memref<?x?x?x64xf32>, %k: memref<?x?x?x64xf32>,
    %v: memref<?x?x?x64xf32>, %o: memref<?x?x?x64xf32>,
    %l: memref<?x?x?xf32>) {
  // expected-error @+1 {{the GPU kernels take bf16 or f16 q/k/v (use the CPU pipeline for f32)}}
  dma.attention q(%q : memref<?x?x?x64xf32>) k(%k : memref<?x?x?x64xf32>)
      v(%v : memref<?x?x?x64xf32>)
      outs(%o, %l : memref<?x?x?x64xf32>, memref<?x?x?xf32>)
  return
}

// -----

func.func @backward_f32(%do: memref<1x64x4x16xf32>, %q: memref<1x64x4x16xf32>,
    %k: memref<1x64x2x16xf32>, %v: memref<1x64x2x16xf32>,
    %o: memref<1x64x4x16xf32>, %lse: memref<1x4x64xf32>,
    %dq: memref<1x64x4x16xf32>, %dk: memref<1x64x2x16xf32>,
    %dv: memref<1x64x2x16xf32>) {
  // expected-error @+1 {{the GPU kernels take bf16 or f16 q/k/v (use the CPU pipeline for f32)}}
  dma.attention_grad grad(%do : memref<1x64x4x16xf32>)
      q(%q : memref<1x64x4x16xf32>) k(%k : memref<1x64x2x16xf32>)
      v(%v : memref<1x64x2x16xf32>) out(%o : memref<1x64x4x16xf32>)
      lse(%lse : memref<1x4x64xf32>)
      outs(%dq, %dk, %dv : memref<1x64x4x16xf32>, memref<1x64x2x16xf32>,
           memref<1x64x2x16xf32>)
  return
}

// -----

// A forward the generator handles: only warps=3, stages=5, swizzle=3 and
// missing layouts reject it.
func.func @bf16_forward(%q: memref<?x?x?x64xbf16>,
    %k: memref<?x?x?x64xbf16>, %v: memref<?x?x?x64xbf16>,
    %o: memref<?x?x?x64xbf16>, %l: memref<?x?x?xf32>) {
  dma.attention q(%q : memref<?x?x?x64xbf16>) k(%k : memref<?x?x?x64xbf16>)
      v(%v : memref<?x?x?x64xbf16>)
      outs(%o, %l : memref<?x?x?x64xbf16>, memref<?x?x?xf32>)
  return
}
