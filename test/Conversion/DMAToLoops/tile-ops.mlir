// RUN: dma-opt %s -split-input-file --convert-dma-to-loops | FileCheck %s

// Tile ops on memrefs become their plain loop nests.

// C += A B^T walks k innermost (both operands contiguous); C += A B walks
// n innermost (AXPY).
// CHECK-LABEL: func @dot
//       CHECK:   scf.for %[[M:.*]] = %{{.*}} to %c4
//       CHECK:     scf.for %[[N:.*]] = %{{.*}} to %c2
//       CHECK:       %[[S:.*]] = scf.for %[[K:.*]] = %{{.*}} to %c8 {{.*}} iter_args
//       CHECK:         memref.load %arg0[%[[M]], %[[K]]] : memref<4x8xbf16>
//       CHECK:         memref.load %arg1[%[[N]], %[[K]]] : memref<2x8xbf16>
//       CHECK:       memref.store %[[S]], %arg2[%[[M]], %[[N]]]
//       CHECK:   scf.for %[[M2:.*]] = %{{.*}} to %c4
//       CHECK:     scf.for %[[K2:.*]] = %{{.*}} to %c2
//       CHECK:       memref.load %arg2[%[[M2]], %[[K2]]]
//       CHECK:       scf.for %[[N2:.*]] = %{{.*}} to %c8
//       CHECK:         memref.load %arg1[%[[K2]], %[[N2]]] : memref<2x8xbf16>
func.func @dot(%a: memref<4x8xbf16>, %b: memref<2x8xbf16>, %c: memref<4x2xf32>,
    %d: memref<4x8xf32>) {
  dma.tile.dot %a, %b transpose_rhs : memref<4x8xbf16>, memref<2x8xbf16> outs(%c : memref<4x2xf32>)
  dma.tile.dot %c, %b : memref<4x2xf32>, memref<2x8xbf16> outs(%d : memref<4x8xf32>)
  return
}

// -----

// Without keys_kept, shared top-k membership is a binary search of the
// sorted list (padding sorts last).
// CHECK-LABEL: func @logits_membership
//       CHECK:   scf.for
//       CHECK:     scf.for
//       CHECK:       scf.while
//       CHECK:         arith.divui
//       CHECK:       arith.cmpi eq
//       CHECK:       memref.store
func.func @logits_membership(%s: memref<4x8xf32>, %qp: memref<4xi32>,
    %kp: memref<8xi32>, %keep: memref<?x?x?xi32>, %x: memref<4x8xf32>, %i: index) {
  dma.tile.logits %s rows(%qp) keys(%kp) at(%i, %i) heads(%i) key_offset(%i)
      scale(0.5) keep(%keep : memref<?x?x?xi32>)
      : memref<4x8xf32>, memref<4xi32>, memref<8xi32> outs(%x : memref<4x8xf32>)
  return
}

// -----

// Block skipping: on a full tile (mask_full) the mask is not read.
// CHECK-LABEL: func @logits_mask_full
//       CHECK:   scf.if %arg5 -> (i1) {
//       CHECK:     scf.yield %true
//       CHECK:   } else {
//       CHECK:     memref.load %arg3
func.func @logits_mask_full(%s: memref<4x8xf32>, %qp: memref<4xi32>,
    %kp: memref<8xi32>, %m: memref<?x?x?x?xi1>, %x: memref<4x8xf32>, %full: i1,
    %i: index) {
  dma.tile.logits %s rows(%qp) keys(%kp) at(%i, %i) heads(%i) key_offset(%i)
      scale(0.5) mask(%m : memref<?x?x?x?xi1>) mask_full(%full)
      : memref<4x8xf32>, memref<4xi32>, memref<8xi32> outs(%x : memref<4x8xf32>)
  return
}

// -----

// The online-softmax step: row max, correction, P, row sum, acc rescaled.
// CHECK-LABEL: func @softmax
//       CHECK:   scf.for %[[I:.*]] =
//       CHECK:     %[[OLD:.*]] = memref.load %arg3[%[[I]]]
//       CHECK:     %[[MAX:.*]] = scf.for {{.*}} iter_args(%{{.*}} = %[[OLD]])
//       CHECK:       arith.maximumf
//       CHECK:     %[[NONE:.*]] = arith.cmpf oeq, %[[MAX]]
//       CHECK:     %[[D:.*]] = arith.subf %[[OLD]], %[[MAX]]
//       CHECK:     %[[E:.*]] = math.exp %[[D]]
//       CHECK:     %[[CORR:.*]] = arith.select %[[NONE]], %{{.*}}, %[[E]]
//       CHECK:     scf.for
//       CHECK:       math.exp
//       CHECK:       arith.truncf %{{.*}} : f32 to bf16
//       CHECK:     memref.store %[[MAX]], %arg3[%[[I]]]
//       CHECK:     arith.mulf %{{.*}}, %[[CORR]]
//       CHECK:     scf.for
//       CHECK:       arith.mulf %{{.*}}, %[[CORR]]
func.func @softmax(%x: memref<4x8xf32>, %p: memref<4x8xbf16>, %acc: memref<4x2xf32>,
    %m: memref<4xf32>, %l: memref<4xf32>) {
  dma.tile.softmax %x : memref<4x8xf32>
      outs(%p, %acc, %m, %l : memref<4x8xbf16>, memref<4x2xf32>, memref<4xf32>, memref<4xf32>)
  return
}

// -----

// Accumulating scatters and bias gradients are atomic adds.
// CHECK-LABEL: func @accumulate
//       CHECK:   memref.atomic_rmw addf %{{.*}}, %arg2
//       CHECK:   memref.atomic_rmw addf %{{.*}}, %arg4
func.func @accumulate(%t: memref<4x2xf32>, %p: memref<4xi32>, %d: memref<?x?x?x2xf32>,
    %ds: memref<4x4xf32>, %db: memref<?x?x?x?xf32>, %i: index) {
  dma.tile.scatter %t rows(%p) into %d[%i, %i] accumulate
      : memref<4x2xf32>, memref<4xi32>, memref<?x?x?x2xf32>
  dma.tile.bias_grad %ds rows(%p) keys(%p) into %db at(%i, %i) heads(%i)
      : memref<4x4xf32>, memref<4xi32>, memref<4xi32>, memref<?x?x?x?xf32>
  return
}

// -----

// The mask summary: per (mask batch, head, query tile) one pass over the
// key tiles, recording the state and listing the non-empty ones.
// CHECK-LABEL: func @summary
//       CHECK:   scf.parallel
//       CHECK:     scf.for {{.*}} -> (index)
//       CHECK:       scf.for {{.*}} -> (i1, i1)
//       CHECK:         scf.for {{.*}} -> (i1, i1)
//       CHECK:           arith.ori
//       CHECK:           arith.andi
//       CHECK:       memref.store %{{.*}}, %arg2
//       CHECK:       scf.if
//       CHECK:         memref.store %{{.*}}, %arg3
//       CHECK:     memref.store %{{.*}}, %arg4
func.func @summary(%mask: memref<?x?x?x?xi1>, %lq: index, %st: memref<?x?x?x?xi32>,
    %tiles: memref<?x?x?x?xi32>, %count: memref<?x?x?xi32>) {
  dma.tile.mask_summary %mask rows(%lq) q_tile(64) k_tile(32) : memref<?x?x?x?xi1>
      outs(%st, %tiles, %count : memref<?x?x?x?xi32>, memref<?x?x?x?xi32>, memref<?x?x?xi32>)
  return
}

// -----

// Ranked keys: the tile is first all -1; each key of the chunk counts the
// chunk keys ranked before it (a nested loop, NaN scores last) and lands at
// its rank when that falls in the tile.
// CHECK-LABEL: func @ranked_keys
//       CHECK:   scf.for %{{.*}} = %{{.*}} to %c16
//       CHECK:     memref.store %c-1_i32, %arg4
//       CHECK:   scf.for %[[J:.*]] = %[[C0:.*]] to %[[CEND:.*]] step
//       CHECK:     %[[R:.*]] = scf.for %[[C:.*]] = %[[C0]] to %[[CEND]] step {{.*}} iter_args
//       CHECK:       arith.cmpf uno
//       CHECK:       arith.cmpf ogt
//       CHECK:     scf.if
//       CHECK:       memref.store {{.*}}, %arg4
func.func @ranked_keys(%s: memref<1x2x100xf32>, %b: index, %h: index,
    %t0: index, %out: memref<16xi32>) {
  %lk = arith.constant 100 : index
  dma.tile.ranked_keys %s[%b, %h] offset %t0 bound %lk chunk 48
      : memref<1x2x100xf32> outs(%out : memref<16xi32>)
  return
}

// -----

// Keeping rows: per key, a binary search of the prefixes that keep it
// (scf.while over the thresholds), widened into the tile's row range.
// CHECK-LABEL: func @keeping_rows
//       CHECK:   scf.for {{.*}} iter_args
//       CHECK:     scf.if
//       CHECK:       scf.if
//       CHECK:         scf.while
//       CHECK:           memref.load %arg2
//       CHECK:           memref.load %arg3
//       CHECK:   arith.minsi
func.func @keeping_rows(%pos: memref<16xi32>, %s: memref<1x2x100xf32>,
    %thr: memref<1x2x100xf32>, %tie: memref<1x2x100xi32>, %b: index,
    %h: index, %off: index, %rows: index) -> (index, index) {
  %first, %end = dma.tile.keeping_rows %pos, %s, %thr, %tie[%b, %h]
      key_offset(%off) rows(%rows) causal
      : memref<16xi32>, memref<1x2x100xf32>, memref<1x2x100xf32>, memref<1x2x100xi32>
  return %first, %end : index, index
}
