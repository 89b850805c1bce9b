// RUN: dma-opt %s -split-input-file --dma-tile-attention="q-tile=32 k-tile=16" | FileCheck %s
// RUN: dma-opt %s -split-input-file --dma-tile-attention="q-tile=32 k-tile=16 count-visits=true" | FileCheck %s --check-prefix=COUNT
// Tile sizes out of range are an error, not a huge allocation at run time.
// RUN: not dma-opt %s -split-input-file --dma-tile-attention="q-tile=0" 2>&1 | FileCheck %s --check-prefix=ZERO
// RUN: not dma-opt %s -split-input-file --dma-tile-attention="k-tile=4294967296" 2>&1 | FileCheck %s --check-prefix=HUGE
// ZERO: error: dma-tile-attention: q-tile and k-tile must be at least 1
// HUGE: error: dma-tile-attention: q-tile and k-tile must be at most 4096, got 64 and 4294967296

// Forward: parallel over (batch, head, query tile); the key loop carries
// (acc, max, sum) and, with causal, stops at the last row's causal limit.

// CHECK-LABEL: func @forward_causal
//       CHECK:   %[[LQ:[a-z0-9_#]+]] = memref.dim %arg0, %c1
//       CHECK:   %[[LK:[a-z0-9_#]+]] = memref.dim %arg1, %c1
//       CHECK:   %[[OFF:[a-z0-9_#]+]] = arith.subi %[[LK]], %[[LQ]] : index
//       CHECK:   scf.forall (%[[B:[a-z0-9_#]+]], %[[H:[a-z0-9_#]+]], %[[QT:[a-z0-9_#]+]]) in
//       CHECK:     %[[QPOS:[a-z0-9_#]+]] = dma.tile.iota %{{.*}} bound %[[LQ]] outs(%{{.*}} : tensor<32xi32>)
//       CHECK:     %[[Q:[a-z0-9_#]+]] = dma.tile.gather %arg0[%[[B]], %[[H]]] rows(%[[QPOS]] : tensor<32xi32>) {{.*}} -> tensor<32x8xf32>
//       CHECK:     %[[LAST:[a-z0-9_#]+]] = arith.addi %{{.*}}, %[[OFF]] : index
//       CHECK:     %[[END:[a-z0-9_#]+]] = arith.addi %[[LAST]], %c1{{.*}} : index
//       CHECK:     %[[CLAMP:[a-z0-9_#]+]] = arith.minsi %[[END]], %[[LK]] : index
//       CHECK:     scf.for %[[KT:[a-z0-9_#]+]] = %{{.*}} to %[[NKT:[a-z0-9_#]+]] step %{{.*}} iter_args(%[[ACC:[a-z0-9_#]+]] = %{{.*}}, %[[MAX:[a-z0-9_#]+]] = %{{.*}}, %[[SUM:[a-z0-9_#]+]] = %{{.*}}) -> (tensor<32x8xf32>, tensor<32xf32>, tensor<32xf32>)
//       CHECK:       %[[KPOS:[a-z0-9_#]+]] = dma.tile.iota %{{.*}} bound %[[LK]] {{.*}} {dma.key_positions}
//       CHECK:       %[[K:[a-z0-9_#]+]] = dma.tile.gather %arg1[%[[B]], %{{.*}}] rows(%[[KPOS]]
//       CHECK:       %[[V:[a-z0-9_#]+]] = dma.tile.gather %arg2[%[[B]], %{{.*}}] rows(%[[KPOS]]
//       CHECK:       %[[S:[a-z0-9_#]+]] = dma.tile.dot %[[Q]], %[[K]] transpose_rhs
//       CHECK:       %[[X:[a-z0-9_#]+]] = dma.tile.logits %[[S]] rows(%[[QPOS]]) keys(%[[KPOS]]) at(%[[B]], %[[H]]) heads(%{{.*}}) key_offset(%[[OFF]]) scale(0.35355{{.*}}) causal
//       CHECK:       %[[SM:[a-z0-9_#]+]]:4 = dma.tile.softmax %[[X]] : tensor<32x16xf32> outs(%{{.*}}, %[[ACC]], %[[MAX]], %[[SUM]] :
//       CHECK:       %[[NEWACC:[a-z0-9_#]+]] = dma.tile.dot %[[SM]]#0, %[[V]] : {{.*}} outs(%[[SM]]#1 :
//       CHECK:       scf.yield %[[NEWACC]], %[[SM]]#2, %[[SM]]#3
//       CHECK:     } {dma.key_loop}
//       CHECK:     dma.tile.store_output %{{.*}}#0, %{{.*}}#1, %{{.*}}#2 rows(%[[QPOS]]) into %arg3, %arg4[%[[B]], %[[H]]]
//       CHECK:   } {dma.query_tiles}
//   CHECK-NOT:   dma.attention

// Visit counters: a public global, incremented once per key tile.
// COUNT: memref.global @dma_visit_counts : memref<2xi64> = dense<0>
// COUNT-LABEL: func @forward_causal
// COUNT: dma.tile.iota {{.*}} {dma.key_positions}
// COUNT-NEXT: %[[N:[a-z0-9_#]+]] = dma.tile.count
// COUNT: %[[G:[a-z0-9_#]+]] = memref.get_global @dma_visit_counts : memref<2xi64>
// COUNT: memref.atomic_rmw addi %{{.*}}, %[[G]][%{{.*}}] : (i64, memref<2xi64>) -> i64
func.func @forward_causal(%q: memref<?x?x?x8xf32>, %k: memref<?x?x?x8xf32>,
    %v: memref<?x?x?x8xf32>, %o: memref<?x?x?x8xf32>, %l: memref<?x?x?xf32>) {
  dma.attention q(%q : memref<?x?x?x8xf32>) k(%k : memref<?x?x?x8xf32>)
      v(%v : memref<?x?x?x8xf32>)
      outs(%o, %l : memref<?x?x?x8xf32>, memref<?x?x?xf32>) causal
  return
}

// -----

// Backward: Delta in its own parallel loop; then parallel over (batch, KV
// head, key tile), dK/dV carried over the group's heads and the query tiles
// (causally from the first one that can see the key tile), dQ and dBias
// added atomically into f32 accumulators, converted at the end by one
// dma.tile.convert.

// CHECK-LABEL: func @backward
//       CHECK:   %[[DELTA:[a-z0-9_#]+]] = memref.alloc({{.*}}) : memref<?x?x?xf32>
//       CHECK:   scf.forall
//       CHECK:     dma.tile.rowdot
//       CHECK:     dma.tile.scatter %{{.*}} rows(%{{.*}}) into %[[DELTA]]
//       CHECK:   } {dma.delta_tiles}
//       CHECK:   %[[DQ:[a-z0-9_#]+]] = memref.alloc({{.*}}) : memref<?x?x?x8xf32>
//       CHECK:   linalg.fill {{.*}} outs(%[[DQ]]
//       CHECK:   %[[DB:[a-z0-9_#]+]] = memref.alloc({{.*}}) : memref<?x?x?x?xf32>
//       CHECK:   scf.forall (%[[B:[a-z0-9_#]+]], %[[G:[a-z0-9_#]+]], %[[KT:[a-z0-9_#]+]]) in
//       CHECK:     %[[KPOS:[a-z0-9_#]+]] = dma.tile.iota {{.*}} {dma.key_positions}
//       CHECK:     %[[FIRST:[a-z0-9_#]+]] = tensor.extract %[[KPOS]][%{{.*}}] : tensor<16xi32>
//       CHECK:     scf.for %[[HH:[a-z0-9_#]+]] =
//       CHECK:       scf.for %[[QT:[a-z0-9_#]+]] = %{{.*}} to
//       CHECK:         dma.tile.probs
//       CHECK:         dma.tile.dot %{{.*}}, %{{.*}} transpose_lhs
//       CHECK:         dma.tile.dscores %{{.*}}, %{{.*}}, %{{.*}} raw(%{{.*}} : tensor<32x16xf32>) scale(0.35355{{.*}}) softcap(2.000000e+01)
//       CHECK:         dma.tile.scatter %{{.*}} rows(%{{.*}}) into %[[DQ]][%[[B]], %{{.*}}] accumulate
//       CHECK:         dma.tile.bias_grad %{{.*}} into %[[DB]]
//       CHECK:       } {dma.query_loop}
//       CHECK:     dma.tile.scatter %{{.*}} rows(%[[KPOS]]) into %arg8[%[[B]], %[[G]]] :
//       CHECK:     dma.tile.scatter %{{.*}} rows(%[[KPOS]]) into %arg9[%[[B]], %[[G]]] :
//       CHECK:   } {dma.key_tiles}
//       CHECK:   dma.tile.convert %[[DQ]], %[[DB]] into %arg7, %arg10 : memref<?x?x?x8xf32>, memref<?x?x?x?xf32> -> memref<?x?x?x8xbf16>, memref<?x?x?x?xbf16>
//   CHECK-NOT:   dma.attention_grad
func.func @backward(%do: memref<?x?x?x8xbf16>, %q: memref<?x?x?x8xbf16>,
    %k: memref<?x?x?x8xbf16>, %v: memref<?x?x?x8xbf16>, %o: memref<?x?x?x8xbf16>,
    %lse: memref<?x?x?xf32>, %b: memref<?x?x?x?xbf16>, %dq: memref<?x?x?x8xbf16>,
    %dk: memref<?x?x?x8xbf16>, %dv: memref<?x?x?x8xbf16>, %db: memref<?x?x?x?xbf16>) {
  dma.attention_grad grad(%do : memref<?x?x?x8xbf16>) q(%q : memref<?x?x?x8xbf16>)
      k(%k : memref<?x?x?x8xbf16>) v(%v : memref<?x?x?x8xbf16>)
      out(%o : memref<?x?x?x8xbf16>) lse(%lse : memref<?x?x?xf32>)
      bias(%b : memref<?x?x?x?xbf16>)
      outs(%dq, %dk, %dv, %db : memref<?x?x?x8xbf16>, memref<?x?x?x8xbf16>,
           memref<?x?x?x8xbf16>, memref<?x?x?x?xbf16>) causal softcap(20.0)
  return
}

// -----

// Dynamic head dims cannot be tiled: the op is left for convert-dma-to-loops.

// CHECK-LABEL: func @dynamic_head_dim
//       CHECK:   dma.attention
//   CHECK-NOT:   scf.forall
func.func @dynamic_head_dim(%q: memref<?x?x?x?xf32>, %o: memref<?x?x?x?xf32>,
    %l: memref<?x?x?xf32>) {
  dma.attention q(%q : memref<?x?x?x?xf32>) k(%q : memref<?x?x?x?xf32>)
      v(%q : memref<?x?x?x?xf32>) outs(%o, %l : memref<?x?x?x?xf32>, memref<?x?x?xf32>)
  return
}
