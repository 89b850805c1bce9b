// RUN: dma-opt %s -split-input-file --dma-tile-attention="q-tile=32 k-tile=16" --dma-gather-keys | FileCheck %s
// RUN: dma-opt %s -split-input-file --dma-tile-attention="q-tile=32 k-tile=16" --dma-gather-keys=gather=false | FileCheck %s --check-prefix=OFF
// RUN: not dma-opt %s -split-input-file --dma-tile-attention="q-tile=32 k-tile=16" --dma-gather-keys=rank-chunk=0 2>&1 | FileCheck %s --check-prefix=BADCHUNK
// BADCHUNK: error: dma-gather-keys: rank-chunk must be between 1 and 2^30 keys, got 0

// Shared top-k, forward: the key loop walks chunks of 16 kept positions,
// as many as hold positions up to the tile's causal limit (binary search).

// CHECK-LABEL: func @shared_forward
//       CHECK:   scf.forall
//       CHECK:     %[[N:[a-z0-9_]+]]:2 = scf.while
//       CHECK:     %[[UP:[a-z0-9_]+]] = arith.addi %[[N]]#0, %c15
//       CHECK:     %[[CHUNKS:[a-z0-9_]+]] = arith.divui %[[UP]], %c16
//       CHECK:     scf.for %[[C:[a-z0-9_]+]] = %{{.*}} to %[[CHUNKS]] step
//       CHECK:       %[[T0:[a-z0-9_]+]] = arith.muli %[[C]], %c16
//       CHECK:       %[[KPOS:[a-z0-9_]+]] = dma.tile.positions %arg3[%{{.*}}, %{{.*}}] offset %[[T0]] bound %{{.*}} : memref<?x?x?xi32> outs(%{{.*}} : tensor<16xi32>) {dma.key_positions}
//       CHECK:       dma.tile.gather %arg1[%{{.*}}, %{{.*}}] rows(%[[KPOS]]
//       CHECK:       dma.tile.logits {{.*}} keys(%[[KPOS]]) {{.*}} causal keep(%arg3 : memref<?x?x?xi32>) keys_kept
//       CHECK:     } {dma.key_loop}

// OFF-LABEL: func @shared_forward
//   OFF-NOT:   dma.tile.positions
//       OFF:   dma.tile.logits {{.*}} keep(%arg3 : memref<?x?x?xi32>) :
func.func @shared_forward(%q: memref<?x?x?x8xf32>, %k: memref<?x?x?x8xf32>,
    %v: memref<?x?x?x8xf32>, %idx: memref<?x?x?xi32>, %o: memref<?x?x?x8xf32>,
    %l: memref<?x?x?xf32>) {
  dma.attention q(%q : memref<?x?x?x8xf32>) k(%k : memref<?x?x?x8xf32>)
      v(%v : memref<?x?x?x8xf32>) keep(%idx : memref<?x?x?xi32>)
      outs(%o, %l : memref<?x?x?x8xf32>, memref<?x?x?xf32>) causal
  return
}

// -----

// Per-query top-k, forward: the query tile's candidate keys are collected
// first, and the key loop walks them in chunks.

// CHECK-LABEL: func @per_query_forward
//       CHECK:   scf.forall
//       CHECK:     %[[LIST:[a-z0-9_]+]] = dma.tile.candidates %arg3, %arg4, %arg5 at(%{{.*}}, %{{.*}}) heads(%{{.*}}) prefixes(%{{.*}}, %{{.*}}) : {{.*}} outs(%{{.*}} : tensor<?xi32>) -> tensor<?xi32>
//       CHECK:     %[[N:[a-z0-9_]+]] = dma.tile.count %[[LIST]] : tensor<?xi32>
//       CHECK:     scf.for
//       CHECK:       %[[KPOS:[a-z0-9_]+]] = dma.tile.positions %[[LIST]][] offset %{{.*}} bound %{{.*}} : tensor<?xi32>
//       CHECK:       dma.tile.logits {{.*}} keys(%[[KPOS]]) {{.*}} keep_rows(%arg3, %arg4, %arg5
//       CHECK:     } {dma.key_loop}
func.func @per_query_forward(%q: memref<?x?x?x8xf32>, %k: memref<?x?x?x8xf32>,
    %v: memref<?x?x?x8xf32>, %s: memref<?x?x?xf32>, %thr: memref<?x?x?xf32>,
    %tie: memref<?x?x?xi32>, %o: memref<?x?x?x8xf32>, %l: memref<?x?x?xf32>) {
  dma.attention q(%q : memref<?x?x?x8xf32>) k(%k : memref<?x?x?x8xf32>)
      v(%v : memref<?x?x?x8xf32>)
      keep_rows(%s, %thr, %tie : memref<?x?x?xf32>, memref<?x?x?xf32>, memref<?x?x?xi32>)
      outs(%o, %l : memref<?x?x?x8xf32>, memref<?x?x?xf32>) causal
  return
}

// -----

// Shared top-k, backward, with the list's heads known to be the KV heads:
// the parallel loop runs over chunks of the list, and dK, dV are scattered
// back to the kept positions.

// CHECK-LABEL: func @shared_backward
//       CHECK:   scf.forall (%[[B:[a-z0-9_]+]], %[[G:[a-z0-9_]+]], %[[C:[a-z0-9_]+]]) in (%{{.*}}, %{{.*}}, %[[NC:[a-z0-9_]+]])
//       CHECK:     %[[KPOS:[a-z0-9_]+]] = dma.tile.positions %arg6[%{{.*}}, %{{.*}}] offset %{{.*}} bound
//       CHECK:     dma.tile.logits {{.*}} keep(%arg6 : memref<2x4x8xi32>) keys_kept
//       CHECK:     dma.tile.scatter %{{.*}} rows(%[[KPOS]]) into %arg8[%[[B]], %[[G]]]
//       CHECK:     dma.tile.scatter %{{.*}} rows(%[[KPOS]]) into %arg9[%[[B]], %[[G]]]
//       CHECK:   } {dma.key_tiles}
//   CHECK-NOT:   scf.if
func.func @shared_backward(%do: memref<2x?x8x8xf32>, %q: memref<2x?x8x8xf32>,
    %k: memref<2x?x4x8xf32>, %v: memref<2x?x4x8xf32>, %o: memref<2x?x8x8xf32>,
    %lse: memref<2x8x?xf32>, %idx: memref<2x4x8xi32>, %dq: memref<2x?x8x8xf32>,
    %dk: memref<2x?x4x8xf32>, %dv: memref<2x?x4x8xf32>) {
  dma.attention_grad grad(%do : memref<2x?x8x8xf32>) q(%q : memref<2x?x8x8xf32>)
      k(%k : memref<2x?x4x8xf32>) v(%v : memref<2x?x4x8xf32>)
      out(%o : memref<2x?x8x8xf32>) lse(%lse : memref<2x8x?xf32>)
      keep(%idx : memref<2x4x8xi32>)
      outs(%dq, %dk, %dv : memref<2x?x8x8xf32>, memref<2x?x4x8xf32>, memref<2x?x4x8xf32>)
  return
}

// -----

// When the list's head count is only known at run time, both walks are
// kept: gathered if the group shares the list, contiguous otherwise.

// CHECK-LABEL: func @shared_backward_dynamic_heads
//       CHECK:   scf.if %{{.*}} {
//       CHECK:     scf.forall
//       CHECK:       dma.tile.positions
//       CHECK:     } {dma.key_tiles}
//       CHECK:   } else {
//       CHECK:     scf.forall
//       CHECK:       dma.tile.iota
//       CHECK:     } {dma.key_tiles}
func.func @shared_backward_dynamic_heads(%do: memref<?x?x?x8xf32>,
    %q: memref<?x?x?x8xf32>, %k: memref<?x?x?x8xf32>, %v: memref<?x?x?x8xf32>,
    %o: memref<?x?x?x8xf32>, %lse: memref<?x?x?xf32>, %idx: memref<?x?x?xi32>,
    %dq: memref<?x?x?x8xf32>, %dk: memref<?x?x?x8xf32>, %dv: memref<?x?x?x8xf32>) {
  dma.attention_grad grad(%do : memref<?x?x?x8xf32>) q(%q : memref<?x?x?x8xf32>)
      k(%k : memref<?x?x?x8xf32>) v(%v : memref<?x?x?x8xf32>)
      out(%o : memref<?x?x?x8xf32>) lse(%lse : memref<?x?x?xf32>)
      keep(%idx : memref<?x?x?xi32>)
      outs(%dq, %dk, %dv : memref<?x?x?x8xf32>, memref<?x?x?x8xf32>, memref<?x?x?x8xf32>)
  return
}

// -----

// Per-query top-k, backward: each key tile is a slice of its chunk (512
// keys) ordered by score, and the query loop walks only the query tiles
// holding rows that keep a key of the tile. Per KV head score rows
// ([2, 4, L] with 4 KV heads) are shared by the group: no run-time choice.

// CHECK-LABEL: func @per_query_backward
//       CHECK:   scf.forall (%[[B:[a-z0-9_]+]], %[[G:[a-z0-9_]+]], %[[KT:[a-z0-9_]+]]) in
//       CHECK:     %[[K0:[a-z0-9_]+]] = arith.muli %[[KT]], %c16
//       CHECK:     %[[KPOS:[a-z0-9_]+]] = dma.tile.ranked_keys %arg6[%{{.*}}, %{{.*}}] offset %[[K0]] bound %{{.*}} chunk 512 : memref<2x4x?xf32> outs(%{{.*}} : tensor<16xi32>) {dma.key_positions}
//       CHECK:     %[[FIRST:[a-z0-9_]+]], %[[END:[a-z0-9_]+]] = dma.tile.keeping_rows %[[KPOS]], %arg6, %arg7, %arg8[%{{.*}}, %{{.*}}] key_offset(%{{.*}}) rows(%{{.*}}) causal
//       CHECK:     %[[LO:[a-z0-9_]+]] = arith.divui %[[FIRST]], %c32
//       CHECK:     %[[UP:[a-z0-9_]+]] = arith.addi %[[END]], %c31
//       CHECK:     %[[HI:[a-z0-9_]+]] = arith.divui %[[UP]], %c32
//       CHECK:     dma.tile.gather %arg2[%[[B]], %[[G]]] rows(%[[KPOS]]
//       CHECK:     scf.for %{{.*}} = %[[LO]] to %[[HI]] step
//       CHECK:       dma.tile.logits {{.*}} keys(%[[KPOS]]) {{.*}} causal keep_rows(%arg6, %arg7, %arg8
//       CHECK:     } {dma.query_loop}
//       CHECK:     dma.tile.scatter %{{.*}} rows(%[[KPOS]]) into %arg10[%[[B]], %[[G]]]
//       CHECK:   } {dma.key_tiles}
//   CHECK-NOT:   scf.if

// OFF-LABEL: func @per_query_backward
//   OFF-NOT:   dma.tile.ranked_keys
//   OFF-NOT:   dma.tile.keeping_rows
func.func @per_query_backward(%do: memref<2x?x8x8xf32>, %q: memref<2x?x8x8xf32>,
    %k: memref<2x?x4x8xf32>, %v: memref<2x?x4x8xf32>, %o: memref<2x?x8x8xf32>,
    %lse: memref<2x8x?xf32>, %s: memref<2x4x?xf32>, %thr: memref<2x4x?xf32>,
    %tie: memref<2x4x?xi32>, %dq: memref<2x?x8x8xf32>,
    %dk: memref<2x?x4x8xf32>, %dv: memref<2x?x4x8xf32>) {
  dma.attention_grad grad(%do : memref<2x?x8x8xf32>) q(%q : memref<2x?x8x8xf32>)
      k(%k : memref<2x?x4x8xf32>) v(%v : memref<2x?x4x8xf32>)
      out(%o : memref<2x?x8x8xf32>) lse(%lse : memref<2x8x?xf32>)
      keep_rows(%s, %thr, %tie : memref<2x4x?xf32>, memref<2x4x?xf32>, memref<2x4x?xi32>)
      outs(%dq, %dk, %dv : memref<2x?x8x8xf32>, memref<2x?x4x8xf32>, memref<2x?x4x8xf32>) causal
  return
}

// -----

// Score rows per query head (8 of them, 4 KV heads): the heads of a group
// order the keys differently, so the contiguous walk stays.

// CHECK-LABEL: func @per_query_backward_per_head
//   CHECK-NOT:   dma.tile.ranked_keys
//       CHECK:   dma.tile.iota {{.*}} {dma.key_positions}
func.func @per_query_backward_per_head(%do: memref<2x?x8x8xf32>, %q: memref<2x?x8x8xf32>,
    %k: memref<2x?x4x8xf32>, %v: memref<2x?x4x8xf32>, %o: memref<2x?x8x8xf32>,
    %lse: memref<2x8x?xf32>, %s: memref<2x8x?xf32>, %thr: memref<2x8x?xf32>,
    %tie: memref<2x8x?xi32>, %dq: memref<2x?x8x8xf32>,
    %dk: memref<2x?x4x8xf32>, %dv: memref<2x?x4x8xf32>) {
  dma.attention_grad grad(%do : memref<2x?x8x8xf32>) q(%q : memref<2x?x8x8xf32>)
      k(%k : memref<2x?x4x8xf32>) v(%v : memref<2x?x4x8xf32>)
      out(%o : memref<2x?x8x8xf32>) lse(%lse : memref<2x8x?xf32>)
      keep_rows(%s, %thr, %tie : memref<2x8x?xf32>, memref<2x8x?xf32>, memref<2x8x?xi32>)
      outs(%dq, %dk, %dv : memref<2x?x8x8xf32>, memref<2x?x4x8xf32>, memref<2x?x4x8xf32>) causal
  return
}
