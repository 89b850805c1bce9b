// RUN: dma-opt %s -split-input-file --convert-dma-to-loops | FileCheck %s

// Shared: one heap pass over the keys per (batch, KV head), then the heap's
// keys are flagged and written in ascending order, padded with -1.

// CHECK-LABEL: func @topk_shared
//       CHECK:   scf.parallel (%{{.*}}, %{{.*}}) = (%{{.*}}, %{{.*}}) to (%{{.*}}, %{{.*}})
//       CHECK:     [[HEAP:%[a-z0-9_]+]] = memref.alloc(%{{.*}}) : memref<?xindex>
//       CHECK:     scf.for {{.*}} -> (index)
//       CHECK:       arith.cmpf uno
//       CHECK:       memref.load %{{.*}} : memref<2x512xi1>
//       CHECK:       scf.if %{{.*}} -> (index)
//       CHECK:         scf.while
//       CHECK:         scf.while
//       CHECK:     [[FLAGS:%[a-z0-9_]+]] = memref.alloc(%{{.*}}) : memref<?xi1>
//       CHECK:     scf.for
//       CHECK:       memref.store %{{.*}}, %{{.*}} : memref<2x4x64xi32>
//       CHECK:     [[M1:%[a-z0-9_-]+]] = arith.constant -1 : i32
//       CHECK:     scf.for
//       CHECK:       memref.store [[M1]], %{{.*}} : memref<2x4x64xi32>
//       CHECK:     memref.dealloc [[FLAGS]]
//       CHECK:     memref.dealloc [[HEAP]]
func.func @topk_shared(%s: memref<2x4x512xf32>, %pad: memref<2x512xi1>,
    %idx: memref<2x4x64xi32>) {
  dma.topk shared keep(64) score(%s : memref<2x4x512xf32>)
      padding(%pad : memref<2x512xi1>) outs(%idx : memref<2x4x64xi32>)
  return
}

// -----

// Per query: after each key, the heap root is that prefix's threshold and
// tiebreak; with at most w allowed keys, -inf and the tiebreak type's max.

// CHECK-LABEL: func @topk_per_query
//       CHECK:   scf.parallel
//       CHECK:     scf.for [[C:%[a-z0-9_]+]] = {{.*}} -> (index)
//       CHECK:       [[NAN:%[a-z0-9_]+]] = arith.constant 0x7FC00000 : f32
//       CHECK:       [[MS:%[a-z0-9_]+]] = arith.select %{{.*}}, %{{.*}}, [[NAN]] : f32
//       CHECK:       memref.store [[MS]], %{{.*}}[%{{.*}}, %{{.*}}, [[C]]] : memref<1x2x64xf32>
//       CHECK:       [[MORE:%[a-z0-9_]+]] = arith.cmpi ugt
//       CHECK:       [[REP:%[a-z0-9_]+]]:2 = scf.if [[MORE]] -> (f32, i64)
//       CHECK:         arith.constant 0xFF800000 : f32
//       CHECK:         arith.constant 9223372036854775807 : i64
//       CHECK:       memref.store [[REP]]#0, %{{.*}} : memref<1x2x64xf32>
//       CHECK:       memref.store [[REP]]#1, %{{.*}} : memref<1x2x64xi64>
func.func @topk_per_query(%s: memref<1x2x64xf32>, %ms: memref<1x2x64xf32>,
    %thr: memref<1x2x64xf32>, %tie: memref<1x2x64xi64>) {
  dma.topk per_query keep(16) score(%s : memref<1x2x64xf32>)
      outs(%ms, %thr, %tie : memref<1x2x64xf32>, memref<1x2x64xf32>, memref<1x2x64xi64>)
  return
}
