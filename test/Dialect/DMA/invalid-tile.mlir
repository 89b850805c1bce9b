// RUN: dma-opt %s -split-input-file -verify-diagnostics

// One case per verifier rule of the tile ops (lib/Dialect/DMA/IR/DMATileOps.cpp).
func.func @f(%i: index, %n: index, %e: tensor<?xi32>) {
  // expected-error @+1 {{positions must be a static-shaped tile}}
  %r = dma.tile.iota %i bound %n outs(%e : tensor<?xi32>) -> tensor<?xi32>
  return
}

// -----

func.func @f(%i: index, %n: index, %e: tensor<4x4xi32>) {
  // expected-error @+1 {{positions must have rank 1, got 2}}
  %r = dma.tile.iota %i bound %n outs(%e : tensor<4x4xi32>) -> tensor<4x4xi32>
  return
}

// -----

func.func @f(%q: tensor<8x4xf32>, %k: tensor<8x4xf32>, %e: tensor<8x9xf32>) {
  // expected-error @+1 {{accumulator has shape 'tensor<8x9xf32>' where size 8 was expected}}
  %r = dma.tile.dot %q, %k transpose_rhs : tensor<8x4xf32>, tensor<8x4xf32> outs(%e : tensor<8x9xf32>) -> tensor<8x9xf32>
  return
}

// -----

func.func @f(%i: index, %n: index, %e: tensor<4xi64>) {
  // expected-error @+1 {{positions must have i32 elements}}
  %r = dma.tile.iota %i bound %n outs(%e : tensor<4xi64>) -> tensor<4xi64>
  return
}

// -----

func.func @f(%q: tensor<8x4xf32>, %k: tensor<8x4xf32>, %e: tensor<8x8xf32>) {
  // expected-error @+1 {{expects 1 destination, got 2}}
  %r:2 = "dma.tile.dot"(%q, %k, %e, %e) : (tensor<8x4xf32>, tensor<8x4xf32>, tensor<8x8xf32>, tensor<8x8xf32>) -> (tensor<8x8xf32>, tensor<8x8xf32>)
  return
}

// -----

func.func @f(%x: tensor<8x8xf32>, %p: tensor<8x8xf32>, %a: memref<8x4xf32>, %m: tensor<8xf32>, %l: tensor<8xf32>) {
  // expected-error @+1 {{destinations must be all tensors or all memrefs}}
  %r:3 = dma.tile.softmax %x : tensor<8x8xf32> outs(%p, %a, %m, %l : tensor<8x8xf32>, memref<8x4xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<8x8xf32>, tensor<8xf32>, tensor<8xf32>
  return
}

// -----

func.func @f(%i: index, %n: index, %e: memref<4xi32>) {
  // expected-error @+1 {{on memref destinations has no results}}
  %r = dma.tile.iota %i bound %n outs(%e : memref<4xi32>) -> tensor<4xi32>
  return
}

// -----

func.func @f(%i: index, %n: index, %e: tensor<4xi32>) {
  // expected-error @+1 {{on tensor destinations returns one result of each destination's type}}
  dma.tile.iota %i bound %n outs(%e : tensor<4xi32>)
  return
}

// -----

func.func @f(%i: index, %n: index, %l: memref<2x3x8xi32>, %e: tensor<4xi32>) {
  // expected-error @+1 {{takes one index per leading dimension of the list (2), got 1}}
  %r = dma.tile.positions %l[%i] offset %i bound %n : memref<2x3x8xi32> outs(%e : tensor<4xi32>) -> tensor<4xi32>
  return
}

// -----

func.func @f(%i: index, %n: index, %l: memref<8xf32>, %e: tensor<4xi32>) {
  // expected-error @+1 {{list must have i32 or i64 elements}}
  %r = dma.tile.positions %l[] offset %i bound %n : memref<8xf32> outs(%e : tensor<4xi32>) -> tensor<4xi32>
  return
}

// -----

func.func @f(%p: tensor<4x2xi32>) {
  // expected-error @+1 {{positions must be a rank-1 i32 tile or list}}
  %r = dma.tile.count %p : tensor<4x2xi32>
  return
}

// -----

func.func @f(%i: index, %n: index, %s: memref<?x?xf32>, %t: memref<?x?x?xf32>, %p: memref<?x?x?xi32>, %e: tensor<?xi32>) {
  // expected-error @+1 {{keep_rows tensors must have rank 3}}
  %r = dma.tile.candidates %s, %t, %p at(%i, %i) heads(%n) prefixes(%i, %n) : memref<?x?xf32>, memref<?x?x?xf32>, memref<?x?x?xi32> outs(%e : tensor<?xi32>) -> tensor<?xi32>
  return
}

// -----

func.func @f(%i: index, %n: index, %s: memref<?x?x?xf32>, %t: memref<?x?x?xf32>, %p: memref<?x?x?xi32>, %e: tensor<?xi64>) {
  // expected-error @+1 {{candidate list must be a rank-1 i32 buffer}}
  %r = dma.tile.candidates %s, %t, %p at(%i, %i) heads(%n) prefixes(%i, %n) : memref<?x?x?xf32>, memref<?x?x?xf32>, memref<?x?x?xi32> outs(%e : tensor<?xi64>) -> tensor<?xi64>
  return
}

// -----

func.func @f(%i: index, %n: index, %s: memref<?x?xf32>, %e: tensor<64xi32>) {
  // expected-error @+1 {{keep_rows tensors must have rank 3}}
  %r = dma.tile.ranked_keys %s[%i, %i] offset %i bound %n chunk 512 : memref<?x?xf32> outs(%e : tensor<64xi32>) -> tensor<64xi32>
  return
}

// -----

func.func @f(%i: index, %n: index, %s: memref<?x?x?xi32>, %e: tensor<64xi32>) {
  // expected-error @+1 {{keep_score must have float elements}}
  %r = dma.tile.ranked_keys %s[%i, %i] offset %i bound %n chunk 512 : memref<?x?x?xi32> outs(%e : tensor<64xi32>) -> tensor<64xi32>
  return
}

// -----

func.func @f(%i: index, %n: index, %s: memref<?x?x?xf32>, %e: tensor<64xi64>) {
  // expected-error @+1 {{positions must have i32 elements}}
  %r = dma.tile.ranked_keys %s[%i, %i] offset %i bound %n chunk 512 : memref<?x?x?xf32> outs(%e : tensor<64xi64>) -> tensor<64xi64>
  return
}

// -----

func.func @f(%i: index, %n: index, %s: memref<?x?x?xf32>, %e: tensor<64xi32>) {
  // expected-error @+1 {{chunk (96) must be a multiple of the tile's 64 positions}}
  %r = dma.tile.ranked_keys %s[%i, %i] offset %i bound %n chunk 96 : memref<?x?x?xf32> outs(%e : tensor<64xi32>) -> tensor<64xi32>
  return
}

// -----

func.func @f(%i: index, %n: index, %s: memref<?x?x?xf32>, %e: tensor<64xi32>) {
  // expected-error @+1 {{attribute 'chunk' failed to satisfy constraint}}
  %r = dma.tile.ranked_keys %s[%i, %i] offset %i bound %n chunk 0 : memref<?x?x?xf32> outs(%e : tensor<64xi32>) -> tensor<64xi32>
  return
}

// -----

func.func @f(%i: index, %n: index, %k: tensor<64xi32>, %s: memref<?x?x?xf32>, %t: memref<?x?xf32>, %p: memref<?x?x?xi32>) {
  // expected-error @+1 {{keep_rows tensors must have rank 3}}
  %a, %b = dma.tile.keeping_rows %k, %s, %t, %p[%i, %i] key_offset(%i) rows(%n) : tensor<64xi32>, memref<?x?x?xf32>, memref<?x?xf32>, memref<?x?x?xi32>
  return
}

// -----

func.func @f(%i: index, %n: index, %k: tensor<64xi32>, %s: memref<?x?x?xf32>, %t: memref<?x?x?xf32>, %p: memref<?x?x?xf32>) {
  // expected-error @+1 {{tiebreak must have i32 or i64 elements}}
  %a, %b = dma.tile.keeping_rows %k, %s, %t, %p[%i, %i] key_offset(%i) rows(%n) : tensor<64xi32>, memref<?x?x?xf32>, memref<?x?x?xf32>, memref<?x?x?xf32>
  return
}

// -----

func.func @f(%i: index, %n: index, %k: tensor<?xi32>, %s: memref<?x?x?xf32>, %t: memref<?x?x?xf32>, %p: memref<?x?x?xi32>) {
  // expected-error @+1 {{positions must be a static-shaped tile}}
  %a, %b = dma.tile.keeping_rows %k, %s, %t, %p[%i, %i] key_offset(%i) rows(%n) : tensor<?xi32>, memref<?x?x?xf32>, memref<?x?x?xf32>, memref<?x?x?xi32>
  return
}

// -----

func.func @f(%i: index, %n: index, %s: memref<?x?xf32>, %p: tensor<4xi32>, %e: tensor<4xf32>) {
  // expected-error @+1 {{source must be [B, L, H, D] (rank 4) or [B, H, L] (rank 3)}}
  %r = dma.tile.gather %s[%i, %i] rows(%p : tensor<4xi32>) : memref<?x?xf32> outs(%e : tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @f(%i: index, %n: index, %t: tensor<4x8xf32>, %p: tensor<4xi32>, %d: memref<?x?x?x8xbf16>) {
  // expected-error @+1 {{accumulates only into an f32 destination}}
  dma.tile.scatter %t rows(%p) into %d[%i, %i] accumulate : tensor<4x8xf32>, tensor<4xi32>, memref<?x?x?x8xbf16>
  return
}

// -----

func.func @f(%i: index, %n: index, %t: tensor<4x8xf32>, %p: tensor<4xi32>, %d: memref<?x8xf32>) {
  // expected-error @+1 {{destination must be [B, L, H, D] (rank 4) or [B, H, L] (rank 3)}}
  dma.tile.scatter %t rows(%p) into %d[%i, %i] : tensor<4x8xf32>, tensor<4xi32>, memref<?x8xf32>
  return
}

// -----

func.func @f(%q: tensor<8x4xf32>, %k: tensor<8x5xf32>, %e: tensor<8x8xf32>) {
  // expected-error @+1 {{contracts lhs size 4 with rhs size 5}}
  %r = dma.tile.dot %q, %k transpose_rhs : tensor<8x4xf32>, tensor<8x5xf32> outs(%e : tensor<8x8xf32>) -> tensor<8x8xf32>
  return
}

// -----

func.func @f(%s: tensor<4x4xf32>, %qp: tensor<4xi32>, %kp: tensor<4xi32>, %i: index, %m: memref<?x?x?x?xi1>, %k: memref<?x?x?xi32>) {
  // expected-error @+1 {{takes at most one mask form}}
  %r = dma.tile.logits %s rows(%qp) keys(%kp) at(%i, %i) heads(%i) key_offset(%i) scale(1.0) mask(%m : memref<?x?x?x?xi1>) keep(%k : memref<?x?x?xi32>) : tensor<4x4xf32>, tensor<4xi32>, tensor<4xi32> outs(%s : tensor<4x4xf32>) -> tensor<4x4xf32>
  return
}

// -----

func.func @f(%s: tensor<4x4xf32>, %qp: tensor<4xi32>, %kp: tensor<4xi32>, %i: index, %f: i1) {
  // expected-error @+1 {{mask_full needs a mask}}
  %r = dma.tile.logits %s rows(%qp) keys(%kp) at(%i, %i) heads(%i) key_offset(%i) scale(1.0) mask_full(%f) : tensor<4x4xf32>, tensor<4xi32>, tensor<4xi32> outs(%s : tensor<4x4xf32>) -> tensor<4x4xf32>
  return
}

// -----

func.func @f(%s: tensor<4x4xf32>, %qp: tensor<4xi32>, %kp: tensor<4xi32>, %i: index) {
  // expected-error @+1 {{keys_kept needs a keep list}}
  %r = dma.tile.logits %s rows(%qp) keys(%kp) at(%i, %i) heads(%i) key_offset(%i) scale(1.0) keys_kept : tensor<4x4xf32>, tensor<4xi32>, tensor<4xi32> outs(%s : tensor<4x4xf32>) -> tensor<4x4xf32>
  return
}

// -----

func.func @f(%s: tensor<4x4xf32>, %qp: tensor<4xi32>, %kp: tensor<4xi32>, %i: index, %ks: memref<?x?x?xf32>) {
  // expected-error @+1 {{keep_rows needs a score, a threshold and a tiebreak}}
  %r = "dma.tile.logits"(%s, %qp, %kp, %i, %i, %i, %i, %ks, %s) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 0, 1>, scale = 1.0 : f64, softcap = 0.0 : f64}> : (tensor<4x4xf32>, tensor<4xi32>, tensor<4xi32>, index, index, index, index, memref<?x?x?xf32>, tensor<4x4xf32>) -> tensor<4x4xf32>
  return
}

// -----

func.func @f(%p: tensor<4x4xf32>, %d: tensor<4xf32>) {
  // expected-error @+1 {{with a soft cap needs the raw scores}}
  %r:2 = dma.tile.dscores %p, %p, %d scale(1.0) softcap(2.0) : tensor<4x4xf32>, tensor<4x4xf32>, tensor<4xf32> outs(%p, %p : tensor<4x4xf32>, tensor<4x4xf32>) -> tensor<4x4xf32>, tensor<4x4xf32>
  return
}

// -----

func.func @f(%a: tensor<4x8xf32>, %m: tensor<4xf32>, %p: tensor<4xi32>, %o: memref<?x?x8xf32>, %l: memref<?x?x?xf32>, %i: index) {
  // expected-error @+1 {{stores into O [B, Lq, H, Dv] and LSE [B, H, Lq]}}
  dma.tile.store_output %a, %m, %m rows(%p) into %o, %l[%i, %i] : tensor<4x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xi32>, memref<?x?x8xf32>, memref<?x?x?xf32>
  return
}

// -----

func.func @f(%d: tensor<4x4xf32>, %p: tensor<4xi32>, %db: memref<?x?x?x?xbf16>, %i: index) {
  // expected-error @+1 {{dbias must be an f32 memref of rank 4}}
  dma.tile.bias_grad %d rows(%p) keys(%p) into %db at(%i, %i) heads(%i) : tensor<4x4xf32>, tensor<4xi32>, tensor<4xi32>, memref<?x?x?x?xbf16>
  return
}

// -----

func.func @f(%i: index, %s: memref<?x?x?x?xi32>, %c: memref<?x?x?xi32>, %m: memref<?x?x?x?xi8>) {
  // expected-error @+1 {{mask must be an i1 memref of rank 4}}
  dma.tile.mask_summary %m rows(%i) q_tile(64) k_tile(64) : memref<?x?x?x?xi8> outs(%s, %s, %c : memref<?x?x?x?xi32>, memref<?x?x?x?xi32>, memref<?x?x?xi32>)
  return
}

// -----

func.func @f(%i: index, %s: memref<?x?x?x?xi32>, %c: memref<?x?x?xi32>, %m: memref<?x?x?x?xi1>) {
  // expected-error @+1 {{tile sizes must be at least 1}}
  dma.tile.mask_summary %m rows(%i) q_tile(0) k_tile(64) : memref<?x?x?x?xi1> outs(%s, %s, %c : memref<?x?x?x?xi32>, memref<?x?x?x?xi32>, memref<?x?x?xi32>)
  return
}

// -----

func.func @f(%i: index, %s: memref<?x?x?x?xi32>, %c: memref<?x?x?xi32>, %m: memref<?x?x?x?xi1>) {
  // expected-error @+1 {{writes state and tiles [Mb, Mh, nQT, nKT] and count [Mb, Mh, nQT], all i32}}
  dma.tile.mask_summary %m rows(%i) q_tile(64) k_tile(64) : memref<?x?x?x?xi1> outs(%s, %s, %s : memref<?x?x?x?xi32>, memref<?x?x?x?xi32>, memref<?x?x?x?xi32>)
  return
}

// -----

func.func @f() {
  // expected-error @+1 {{converts at least one memref}}
  "dma.tile.convert"() : () -> ()
  return
}

// -----

func.func @f(%a: memref<?x8xi32>, %b: memref<?x8xbf16>) {
  // expected-error @+1 {{converts float memrefs only (pair 0)}}
  dma.tile.convert %a into %b : memref<?x8xi32> -> memref<?x8xbf16>
  return
}

// -----

func.func @f(%a: memref<?x8xf32>, %b: memref<?x16xbf16>) {
  // expected-error @+1 {{source and destination 0 must have one shape}}
  dma.tile.convert %a into %b : memref<?x8xf32> -> memref<?x16xbf16>
  return
}
