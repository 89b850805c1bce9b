// RUN: dma-opt %s | dma-opt | FileCheck %s
// RUN: dma-opt %s --mlir-print-op-generic | dma-opt | FileCheck %s

// Every tile op on tensors (the form the passes produce) and, for the ones
// that bufferize, on memrefs.

// CHECK-LABEL: func @positions
func.func @positions(%i0: index, %n: index, %keep: memref<1x2x128xi32>,
    %h: index) -> (tensor<64xi32>, tensor<64xi32>, index) {
  %e = tensor.empty() : tensor<64xi32>
  // CHECK: dma.tile.iota %{{.*}} bound %{{.*}} outs(%{{.*}} : tensor<64xi32>) -> tensor<64xi32>
  %a = dma.tile.iota %i0 bound %n outs(%e : tensor<64xi32>) -> tensor<64xi32>
  // CHECK: dma.tile.positions %{{.*}}[%{{.*}}, %{{.*}}] offset %{{.*}} bound %{{.*}} : memref<1x2x128xi32> outs(%{{.*}} : tensor<64xi32>) -> tensor<64xi32>
  %b = dma.tile.positions %keep[%i0, %h] offset %i0 bound %n : memref<1x2x128xi32>
      outs(%e : tensor<64xi32>) -> tensor<64xi32>
  // CHECK: dma.tile.count %{{.*}} : tensor<64xi32>
  %c = dma.tile.count %b : tensor<64xi32>
  return %a, %b, %c : tensor<64xi32>, tensor<64xi32>, index
}

// CHECK-LABEL: func @candidates
func.func @candidates(%s: memref<?x?x?xf32>, %t: memref<?x?x?xf32>,
    %p: memref<?x?x?xi32>, %i: index, %n: index) -> tensor<?xi32> {
  %e = tensor.empty(%n) : tensor<?xi32>
  // CHECK: dma.tile.candidates %{{.*}}, %{{.*}}, %{{.*}} at(%{{.*}}, %{{.*}}) heads(%{{.*}}) prefixes(%{{.*}}, %{{.*}}) : memref<?x?x?xf32>, memref<?x?x?xf32>, memref<?x?x?xi32> outs(%{{.*}} : tensor<?xi32>) -> tensor<?xi32>
  %l = dma.tile.candidates %s, %t, %p at(%i, %i) heads(%n) prefixes(%i, %n)
      : memref<?x?x?xf32>, memref<?x?x?xf32>, memref<?x?x?xi32>
      outs(%e : tensor<?xi32>) -> tensor<?xi32>
  return %l : tensor<?xi32>
}

// CHECK-LABEL: func @ranked_keys
func.func @ranked_keys(%s: memref<?x?x?xf32>, %t: memref<?x?x?xf32>,
    %p: memref<?x?x?xi32>, %i: index, %n: index) -> (tensor<64xi32>, index, index) {
  %e = tensor.empty() : tensor<64xi32>
  // CHECK: dma.tile.ranked_keys %{{.*}}[%{{.*}}, %{{.*}}] offset %{{.*}} bound %{{.*}} chunk 512 : memref<?x?x?xf32> outs(%{{.*}} : tensor<64xi32>) -> tensor<64xi32>
  %k = dma.tile.ranked_keys %s[%i, %i] offset %i bound %n chunk 512
      : memref<?x?x?xf32> outs(%e : tensor<64xi32>) -> tensor<64xi32>
  // CHECK: dma.tile.keeping_rows %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}[%{{.*}}, %{{.*}}] key_offset(%{{.*}}) rows(%{{.*}}) causal : tensor<64xi32>, memref<?x?x?xf32>, memref<?x?x?xf32>, memref<?x?x?xi32>
  %first, %end = dma.tile.keeping_rows %k, %s, %t, %p[%i, %i] key_offset(%i)
      rows(%n) causal
      : tensor<64xi32>, memref<?x?x?xf32>, memref<?x?x?xf32>, memref<?x?x?xi32>
  return %k, %first, %end : tensor<64xi32>, index, index
}

// CHECK-LABEL: func @rows
func.func @rows(%K: memref<?x?x?x64xbf16>, %L: memref<?x?x?xf32>,
    %dK: memref<?x?x?x64xf32>, %pos: tensor<32xi32>, %b: index, %h: index)
    -> (tensor<32x64xbf16>, tensor<32xf32>) {
  %e = tensor.empty() : tensor<32x64xbf16>
  %r = tensor.empty() : tensor<32xf32>
  // CHECK: dma.tile.gather %{{.*}}[%{{.*}}, %{{.*}}] rows(%{{.*}} : tensor<32xi32>) : memref<?x?x?x64xbf16> outs(%{{.*}} : tensor<32x64xbf16>) -> tensor<32x64xbf16>
  %k = dma.tile.gather %K[%b, %h] rows(%pos : tensor<32xi32>) : memref<?x?x?x64xbf16>
      outs(%e : tensor<32x64xbf16>) -> tensor<32x64xbf16>
  // CHECK: dma.tile.gather %{{.*}} : memref<?x?x?xf32> outs(%{{.*}} : tensor<32xf32>) -> tensor<32xf32>
  %l = dma.tile.gather %L[%b, %h] rows(%pos : tensor<32xi32>) : memref<?x?x?xf32>
      outs(%r : tensor<32xf32>) -> tensor<32xf32>
  // CHECK: dma.tile.scatter %{{.*}} rows(%{{.*}}) into %{{.*}}[%{{.*}}, %{{.*}}] accumulate : tensor<32x64xbf16>, tensor<32xi32>, memref<?x?x?x64xf32>
  dma.tile.scatter %k rows(%pos) into %dK[%b, %h] accumulate
      : tensor<32x64xbf16>, tensor<32xi32>, memref<?x?x?x64xf32>
  return %k, %l : tensor<32x64xbf16>, tensor<32xf32>
}

// CHECK-LABEL: func @math
func.func @math(%q: tensor<64x32xbf16>, %k: tensor<16x32xbf16>,
    %v: tensor<16x8xbf16>, %acc: tensor<64x8xf32>, %m: tensor<64xf32>,
    %l: tensor<64xf32>, %qpos: tensor<64xi32>, %kpos: tensor<16xi32>,
    %bias: memref<?x?x?x?xf32>, %mask: memref<?x?x?x?xi1>, %full: i1,
    %keep: memref<?x?x?xi32>, %b: index, %h: index, %n: index,
    %O: memref<?x?x?x8xbf16>, %LSE: memref<?x?x?xf32>) -> tensor<64x8xf32> {
  %s0 = tensor.empty() : tensor<64x16xf32>
  // CHECK: dma.tile.dot %{{.*}}, %{{.*}} transpose_rhs : tensor<64x32xbf16>, tensor<16x32xbf16> outs(%{{.*}} : tensor<64x16xf32>) -> tensor<64x16xf32>
  %s = dma.tile.dot %q, %k transpose_rhs : tensor<64x32xbf16>, tensor<16x32xbf16>
      outs(%s0 : tensor<64x16xf32>) -> tensor<64x16xf32>
  // CHECK: dma.tile.logits %{{.*}} rows(%{{.*}}) keys(%{{.*}}) at(%{{.*}}, %{{.*}}) heads(%{{.*}}) key_offset(%{{.*}}) scale(1.250000e-01) softcap(2.000000e+01) causal bias(%{{.*}} : memref<?x?x?x?xf32>) mask(%{{.*}} : memref<?x?x?x?xi1>) mask_full(%{{.*}}) :
  %x = dma.tile.logits %s rows(%qpos) keys(%kpos) at(%b, %h) heads(%n) key_offset(%n)
      scale(0.125) softcap(20.0) causal bias(%bias : memref<?x?x?x?xf32>)
      mask(%mask : memref<?x?x?x?xi1>) mask_full(%full)
      : tensor<64x16xf32>, tensor<64xi32>, tensor<16xi32>
      outs(%s0 : tensor<64x16xf32>) -> tensor<64x16xf32>
  // CHECK: dma.tile.logits {{.*}} keep(%{{.*}} : memref<?x?x?xi32>) keys_kept :
  %x2 = dma.tile.logits %s rows(%qpos) keys(%kpos) at(%b, %h) heads(%n) key_offset(%n)
      scale(0.125) keep(%keep : memref<?x?x?xi32>) keys_kept
      : tensor<64x16xf32>, tensor<64xi32>, tensor<16xi32>
      outs(%s0 : tensor<64x16xf32>) -> tensor<64x16xf32>
  %p0 = tensor.empty() : tensor<64x16xbf16>
  // CHECK: dma.tile.softmax %{{.*}} : tensor<64x16xf32> outs(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : tensor<64x16xbf16>, tensor<64x8xf32>, tensor<64xf32>, tensor<64xf32>) ->
  %p, %acc1, %m1, %l1 = dma.tile.softmax %x : tensor<64x16xf32>
      outs(%p0, %acc, %m, %l : tensor<64x16xbf16>, tensor<64x8xf32>, tensor<64xf32>, tensor<64xf32>)
      -> tensor<64x16xbf16>, tensor<64x8xf32>, tensor<64xf32>, tensor<64xf32>
  %acc2 = dma.tile.dot %p, %v : tensor<64x16xbf16>, tensor<16x8xbf16>
      outs(%acc1 : tensor<64x8xf32>) -> tensor<64x8xf32>
  // CHECK: dma.tile.store_output %{{.*}}, %{{.*}}, %{{.*}} rows(%{{.*}}) into %{{.*}}, %{{.*}}[%{{.*}}, %{{.*}}] : tensor<64x8xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xi32>, memref<?x?x?x8xbf16>, memref<?x?x?xf32>
  dma.tile.store_output %acc2, %m1, %l1 rows(%qpos) into %O, %LSE[%b, %h]
      : tensor<64x8xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xi32>,
        memref<?x?x?x8xbf16>, memref<?x?x?xf32>
  return %acc2 : tensor<64x8xf32>
}

// CHECK-LABEL: func @backward
func.func @backward(%x: memref<64x16xf32>, %lse: memref<64xf32>,
    %dp: memref<64x16xf32>, %delta: memref<64xf32>, %raw: memref<64x16xf32>,
    %p: memref<64x16xf32>, %ds: memref<64x16xf32>, %dx: memref<64x16xf32>,
    %a: memref<64x8xf32>, %rows: memref<64xf32>, %qpos: memref<64xi32>,
    %kpos: memref<16xi32>, %dbias: memref<?x?x?x?xf32>, %b: index, %h: index) {
  // CHECK: dma.tile.probs %{{.*}}, %{{.*}} : memref<64x16xf32>, memref<64xf32> outs(%{{.*}} : memref<64x16xf32>)
  dma.tile.probs %x, %lse : memref<64x16xf32>, memref<64xf32> outs(%p : memref<64x16xf32>)
  // CHECK: dma.tile.dscores %{{.*}}, %{{.*}}, %{{.*}} raw(%{{.*}} : memref<64x16xf32>) scale(5.000000e-01) softcap(1.000000e+01) :
  dma.tile.dscores %p, %dp, %delta raw(%raw : memref<64x16xf32>) scale(0.5) softcap(10.0)
      : memref<64x16xf32>, memref<64x16xf32>, memref<64xf32>
      outs(%ds, %dx : memref<64x16xf32>, memref<64x16xf32>)
  // CHECK: dma.tile.rowdot %{{.*}}, %{{.*}} : memref<64x8xf32>, memref<64x8xf32> outs(%{{.*}} : memref<64xf32>)
  dma.tile.rowdot %a, %a : memref<64x8xf32>, memref<64x8xf32> outs(%rows : memref<64xf32>)
  // CHECK: dma.tile.bias_grad %{{.*}} rows(%{{.*}}) keys(%{{.*}}) into %{{.*}} at(%{{.*}}, %{{.*}}) heads(%{{.*}}) : memref<64x16xf32>, memref<64xi32>, memref<16xi32>, memref<?x?x?x?xf32>
  dma.tile.bias_grad %ds rows(%qpos) keys(%kpos) into %dbias at(%b, %h) heads(%h)
      : memref<64x16xf32>, memref<64xi32>, memref<16xi32>, memref<?x?x?x?xf32>
  return
}

// CHECK-LABEL: func @summary
func.func @summary(%mask: memref<?x?x?x?xi1>, %lq: index, %st: memref<?x?x?x?xi32>,
    %tiles: memref<?x?x?x?xi32>, %count: memref<?x?x?xi32>) {
  // CHECK: dma.tile.mask_summary %{{.*}} rows(%{{.*}}) q_tile(64) k_tile(32) : memref<?x?x?x?xi1> outs(%{{.*}}, %{{.*}}, %{{.*}} : memref<?x?x?x?xi32>, memref<?x?x?x?xi32>, memref<?x?x?xi32>)
  dma.tile.mask_summary %mask rows(%lq) q_tile(64) k_tile(32) : memref<?x?x?x?xi1>
      outs(%st, %tiles, %count : memref<?x?x?x?xi32>, memref<?x?x?x?xi32>, memref<?x?x?xi32>)
  return
}

// CHECK-LABEL: func @convert
func.func @convert(%dq32: memref<?x?x?x64xf32>, %db32: memref<?x?x1x?xf32>,
    %dq: memref<?x?x?x64xbf16>, %db: memref<?x?x1x?xbf16>) {
  // CHECK: dma.tile.convert %{{.*}}, %{{.*}} into %{{.*}}, %{{.*}} : memref<?x?x?x64xf32>, memref<?x?x1x?xf32> -> memref<?x?x?x64xbf16>, memref<?x?x1x?xbf16>
  dma.tile.convert %dq32, %db32 into %dq, %db
      : memref<?x?x?x64xf32>, memref<?x?x1x?xf32> -> memref<?x?x?x64xbf16>, memref<?x?x1x?xbf16>
  return
}
