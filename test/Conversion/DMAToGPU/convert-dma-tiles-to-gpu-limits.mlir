// RUN: timeout 60 dma-opt %s -split-input-file --dma-tile-attention="q-tile=64 k-tile=32" --dma-gather-keys=per-query=false --dma-assign-layouts --convert-dma-tiles-to-gpu -verify-diagnostics

// Every limit of the kernel generators is checked before any kernel is
// built: the generators unroll over head dims and tiles, so a huge static
// head dim used to be unrolled into the Delta kernel before the
// backward's D <= 256 check ran (0.6 s at 2^20, unbounded memory at
// 2^32). `timeout` fails the test if that ever comes back.

func.func @backward_huge_head_dim(%do: memref<1x64x4x4294967296xbf16>,
    %q: memref<1x64x4x4294967296xbf16>, %k: memref<1x64x2x4294967296xbf16>,
    %v: memref<1x64x2x4294967296xbf16>, %o: memref<1x64x4x4294967296xbf16>,
    %lse: memref<1x4x64xf32>, %dq: memref<1x64x4x4294967296xbf16>,
    %dk: memref<1x64x2x4294967296xbf16>, %dv: memref<1x64x2x4294967296xbf16>) {
  // expected-error @+1 {{head dims must be multiples of 16 up to 256 for the GPU, got 4294967296}}
  dma.attention_grad grad(%do : memref<1x64x4x4294967296xbf16>)
      q(%q : memref<1x64x4x4294967296xbf16>) k(%k : memref<1x64x2x4294967296xbf16>)
      v(%v : memref<1x64x2x4294967296xbf16>) out(%o : memref<1x64x4x4294967296xbf16>)
      lse(%lse : memref<1x4x64xf32>)
      outs(%dq, %dk, %dv : memref<1x64x4x4294967296xbf16>,
           memref<1x64x2x4294967296xbf16>, memref<1x64x2x4294967296xbf16>)
  return
}

// -----

// Only the value head dim is out of range: the Delta kernel (over Dv) is
// the first generator the backward runs.
func.func @backward_huge_value_dim(%do: memref<1x64x4x1048576xbf16>,
    %q: memref<1x64x4x64xbf16>, %k: memref<1x64x2x64xbf16>,
    %v: memref<1x64x2x1048576xbf16>, %o: memref<1x64x4x1048576xbf16>,
    %lse: memref<1x4x64xf32>, %dq: memref<1x64x4x64xbf16>,
    %dk: memref<1x64x2x64xbf16>, %dv: memref<1x64x2x1048576xbf16>) {
  // expected-error @+1 {{head dims must be multiples of 16 up to 256 for the GPU, got 1048576}}
  dma.attention_grad grad(%do : memref<1x64x4x1048576xbf16>)
      q(%q : memref<1x64x4x64xbf16>) k(%k : memref<1x64x2x64xbf16>)
      v(%v : memref<1x64x2x1048576xbf16>) out(%o : memref<1x64x4x1048576xbf16>)
      lse(%lse : memref<1x4x64xf32>)
      outs(%dq, %dk, %dv : memref<1x64x4x64xbf16>, memref<1x64x2x64xbf16>,
           memref<1x64x2x1048576xbf16>)
  return
}

// -----

func.func @forward_huge_head_dim(%q: memref<1x64x4x4294967296xbf16>,
    %k: memref<1x64x2x4294967296xbf16>, %v: memref<1x64x2x64xbf16>,
    %o: memref<1x64x4x64xbf16>, %l: memref<1x4x64xf32>) {
  // expected-error @+1 {{head dims must be multiples of 16 up to 256 for the GPU, got 4294967296}}
  dma.attention q(%q : memref<1x64x4x4294967296xbf16>)
      k(%k : memref<1x64x2x4294967296xbf16>) v(%v : memref<1x64x2x64xbf16>)
      outs(%o, %l : memref<1x64x4x64xbf16>, memref<1x4x64xf32>)
  return
}

// -----

// Sizes reach the kernels as i32: a static size past 2^31 would wrap.
func.func @forward_huge_sequence(%q: memref<1x4294967296x4x64xbf16>,
    %k: memref<1x64x2x64xbf16>, %v: memref<1x64x2x64xbf16>,
    %o: memref<1x4294967296x4x64xbf16>, %l: memref<1x4x4294967296xf32>) {
  // expected-error @+1 {{the GPU kernels take sizes below 2^31, got 4294967296 in 'memref<1x4294967296x4x64xbf16>'}}
  dma.attention q(%q : memref<1x4294967296x4x64xbf16>)
      k(%k : memref<1x64x2x64xbf16>) v(%v : memref<1x64x2x64xbf16>)
      outs(%o, %l : memref<1x4294967296x4x64xbf16>, memref<1x4x4294967296xf32>)
  return
}

// -----

// dma-tile-attention leaves an op with a dynamic head dim untiled (for
// convert-dma-to-loops); on the GPU it would silently never run.
func.func @backward_dynamic_value_dim(%do: memref<1x64x4x?xbf16>,
    %q: memref<1x64x4x64xbf16>, %k: memref<1x64x2x64xbf16>,
    %v: memref<1x64x2x?xbf16>, %o: memref<1x64x4x?xbf16>,
    %lse: memref<1x4x64xf32>, %dq: memref<1x64x4x64xbf16>,
    %dk: memref<1x64x2x64xbf16>, %dv: memref<1x64x2x?xbf16>) {
  // expected-error @+1 {{convert-dma-tiles-to-gpu: the GPU kernels need static head dims (an op with dynamic ones is not tiled)}}
  dma.attention_grad grad(%do : memref<1x64x4x?xbf16>)
      q(%q : memref<1x64x4x64xbf16>) k(%k : memref<1x64x2x64xbf16>)
      v(%v : memref<1x64x2x?xbf16>) out(%o : memref<1x64x4x?xbf16>)
      lse(%lse : memref<1x4x64xf32>)
      outs(%dq, %dk, %dv : memref<1x64x4x64xbf16>, memref<1x64x2x64xbf16>,
           memref<1x64x2x?xbf16>)
  return
}

// -----

// The gradients reach their outputs through dma.tile.convert, whose GPU
// kernel walks flat arrays: a strided output fails before any kernel is
// built (dQ through the backward's convert op, dK/dV through the key-tile
// nest's checks).
func.func @backward_strided_dq(%do: memref<1x64x4x64xbf16>,
    %q: memref<1x64x4x64xbf16>, %k: memref<1x64x2x64xbf16>,
    %v: memref<1x64x2x64xbf16>, %o: memref<1x64x4x64xbf16>,
    %lse: memref<1x4x64xf32>,
    %dq: memref<1x64x4x64xbf16, strided<[32768, 512, 128, 1]>>,
    %dk: memref<1x64x2x64xbf16>, %dv: memref<1x64x2x64xbf16>) {
  // expected-error @+1 {{dma.tile.convert on the GPU takes contiguous (identity-layout) memrefs, got 'memref<1x64x4x64xbf16, strided<[32768, 512, 128, 1]>>'}}
  dma.attention_grad grad(%do : memref<1x64x4x64xbf16>)
      q(%q : memref<1x64x4x64xbf16>) k(%k : memref<1x64x2x64xbf16>)
      v(%v : memref<1x64x2x64xbf16>) out(%o : memref<1x64x4x64xbf16>)
      lse(%lse : memref<1x4x64xf32>)
      outs(%dq, %dk, %dv : memref<1x64x4x64xbf16, strided<[32768, 512, 128, 1]>>,
           memref<1x64x2x64xbf16>, memref<1x64x2x64xbf16>)
  return
}

// -----

func.func @backward_strided_dv(%do: memref<1x64x4x64xbf16>,
    %q: memref<1x64x4x64xbf16>, %k: memref<1x64x2x64xbf16>,
    %v: memref<1x64x2x64xbf16>, %o: memref<1x64x4x64xbf16>,
    %lse: memref<1x4x64xf32>, %dq: memref<1x64x4x64xbf16>,
    %dk: memref<1x64x2x64xbf16>,
    %dv: memref<1x64x2x64xbf16, strided<[16384, 256, 64, 1], offset: 64>>) {
  // expected-error @+1 {{dma.tile.convert on the GPU takes contiguous (identity-layout) memrefs, got 'memref<1x64x2x64xbf16, strided<[16384, 256, 64, 1], offset: 64>>'}}
  dma.attention_grad grad(%do : memref<1x64x4x64xbf16>)
      q(%q : memref<1x64x4x64xbf16>) k(%k : memref<1x64x2x64xbf16>)
      v(%v : memref<1x64x2x64xbf16>) out(%o : memref<1x64x4x64xbf16>)
      lse(%lse : memref<1x4x64xf32>)
      outs(%dq, %dk, %dv : memref<1x64x4x64xbf16>, memref<1x64x2x64xbf16>,
           memref<1x64x2x64xbf16, strided<[16384, 256, 64, 1], offset: 64>>)
  return
}
