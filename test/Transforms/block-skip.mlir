// RUN: dma-opt %s -split-input-file --dma-tile-attention="q-tile=32 k-tile=16" --dma-block-skip | FileCheck %s
// RUN: dma-opt %s -split-input-file --dma-tile-attention="q-tile=32 k-tile=16" --dma-block-skip=skip=false | FileCheck %s --check-prefix=OFF

// Forward: the mask is summarised once before the parallel loop; the key
// loop walks the listed tiles below the causal end and passes mask_full.

// CHECK-LABEL: func @forward_dense
//       CHECK:   %[[STATE:[a-z0-9_#]+]] = memref.alloc({{.*}}) : memref<?x?x?x?xi32>
//       CHECK:   %[[TILES:[a-z0-9_#]+]] = memref.alloc({{.*}}) : memref<?x?x?x?xi32>
//       CHECK:   %[[COUNT:[a-z0-9_#]+]] = memref.alloc({{.*}}) : memref<?x?x?xi32>
//       CHECK:   dma.tile.mask_summary %arg3 rows(%{{.*}}) q_tile(32) k_tile(16) : memref<?x?x?x?xi1> outs(%[[STATE]], %[[TILES]], %[[COUNT]] :
//       CHECK:   scf.forall
//       CHECK:     %[[Q0:[a-z0-9_#]+]] = arith.muli %{{.*}}, %c32
//       CHECK:     %[[QT:[a-z0-9_#]+]] = arith.divui %[[Q0]], %c32
//       CHECK:     %[[LISTED:[a-z0-9_#]+]] = memref.load %[[COUNT]][%{{.*}}, %{{.*}}, %[[QT]]]
//       CHECK:     %[[WALK:[a-z0-9_#]+]] = scf.for {{.*}} to %{{.*}} step {{.*}} iter_args
//       CHECK:       memref.load %[[TILES]]
//       CHECK:       arith.cmpi slt
//       CHECK:     scf.for %[[T:[a-z0-9_#]+]] = %{{.*}} to %[[WALK]] step
//       CHECK:       %[[KTRAW:[a-z0-9_#]+]] = memref.load %[[TILES]][%{{.*}}, %{{.*}}, %[[QT]], %[[T]]]
//       CHECK:       %[[KT:[a-z0-9_#]+]] = arith.index_cast %[[KTRAW]]
//       CHECK:       %[[ST:[a-z0-9_#]+]] = memref.load %[[STATE]][%{{.*}}, %{{.*}}, %[[QT]], %[[KT]]]
//       CHECK:       %[[FULL:[a-z0-9_#]+]] = arith.cmpi eq, %[[ST]], %c2_i32
//       CHECK:       %[[K0:[a-z0-9_#]+]] = arith.muli %[[KT]], %c16
//       CHECK:       dma.tile.iota %[[K0]] bound
//       CHECK:       dma.tile.logits {{.*}} mask(%arg3 : memref<?x?x?x?xi1>) mask_full(%[[FULL]])
//       CHECK:     } {dma.key_loop}

// skip=false leaves the dense walk.
// OFF-LABEL: func @forward_dense
//   OFF-NOT:   dma.tile.mask_summary
//       OFF:   dma.tile.logits {{.*}} mask(%arg3 : memref<?x?x?x?xi1>) :
func.func @forward_dense(%q: memref<?x?x?x8xf32>, %k: memref<?x?x?x8xf32>,
    %v: memref<?x?x?x8xf32>, %m: memref<?x?x?x?xi1>, %o: memref<?x?x?x8xf32>,
    %l: memref<?x?x?xf32>) {
  dma.attention q(%q : memref<?x?x?x8xf32>) k(%k : memref<?x?x?x8xf32>)
      v(%v : memref<?x?x?x8xf32>) mask(%m : memref<?x?x?x?xi1>)
      outs(%o, %l : memref<?x?x?x8xf32>, memref<?x?x?xf32>) causal
  return
}

// -----

// Backward: empty (query tile, key tile) blocks are skipped by an scf.if
// around the query loop body.

// CHECK-LABEL: func @backward_dense
//       CHECK:   dma.tile.mask_summary
//       CHECK:   scf.forall
//       CHECK:     %[[K0:[a-z0-9_#]+]] = arith.muli %{{.*}}, %c16
//       CHECK:     dma.tile.iota %[[K0]] bound {{.*}} {dma.key_positions}
//       CHECK:     scf.for %[[HH:[a-z0-9_#]+]] =
//       CHECK:     scf.for %[[QT:[a-z0-9_#]+]] = {{.*}} iter_args(%[[DK:[a-z0-9_#]+]] = %{{.*}}, %[[DV:[a-z0-9_#]+]] = %{{.*}})
//       CHECK:       %[[KT:[a-z0-9_#]+]] = arith.divui %[[K0]], %c16
//       CHECK:       %[[ST:[a-z0-9_#]+]] = memref.load %{{.*}}[%{{.*}}, %{{.*}}, %[[QT]], %[[KT]]] : memref<?x?x?x?xi32>
//       CHECK:       %[[EMPTY:[a-z0-9_#]+]] = arith.cmpi eq, %[[ST]], %c0_i32
//       CHECK:       %[[ACTIVE:[a-z0-9_#]+]] = arith.xori %[[EMPTY]], %true
//       CHECK:       %[[FULL:[a-z0-9_#]+]] = arith.cmpi eq, %[[ST]], %c2_i32
//       CHECK:       %[[R:[a-z0-9_#]+]]:2 = scf.if %[[ACTIVE]]
//       CHECK:         dma.tile.logits {{.*}} mask_full(%[[FULL]])
//       CHECK:       } else {
//       CHECK:         scf.yield %[[DK]], %[[DV]]
//       CHECK:       scf.yield %[[R]]#0, %[[R]]#1
//       CHECK:     } {dma.query_loop}
func.func @backward_dense(%do: memref<?x?x?x8xf32>, %q: memref<?x?x?x8xf32>,
    %k: memref<?x?x?x8xf32>, %v: memref<?x?x?x8xf32>, %o: memref<?x?x?x8xf32>,
    %lse: memref<?x?x?xf32>, %m: memref<?x?x?x?xi1>, %dq: memref<?x?x?x8xf32>,
    %dk: memref<?x?x?x8xf32>, %dv: memref<?x?x?x8xf32>) {
  dma.attention_grad grad(%do : memref<?x?x?x8xf32>) q(%q : memref<?x?x?x8xf32>)
      k(%k : memref<?x?x?x8xf32>) v(%v : memref<?x?x?x8xf32>)
      out(%o : memref<?x?x?x8xf32>) lse(%lse : memref<?x?x?xf32>)
      mask(%m : memref<?x?x?x?xi1>)
      outs(%dq, %dk, %dv : memref<?x?x?x8xf32>, memref<?x?x?x8xf32>, memref<?x?x?x8xf32>)
  return
}
