// RUN: dma-opt %s -split-input-file --convert-dma-to-loops | FileCheck %s

// One parallel iteration per (batch, KV head, key): the dot product with the
// weight row over all KV heads' values, dt_bias, stable softplus, times A.

// CHECK-LABEL: func @value_bias_log
//       CHECK:   scf.parallel ([[B:%[a-z0-9_]+]], [[H:%[a-z0-9_]+]], [[J:%[a-z0-9_]+]]) =
//       CHECK:     scf.for [[HP:%[a-z0-9_]+]] =
//       CHECK:       scf.for [[D:%[a-z0-9_]+]] =
//       CHECK:         memref.load %{{.*}}[[[H]], %{{.*}}] : memref<4x32xf32>
//       CHECK:         memref.load %{{.*}}[[[B]], [[J]], [[HP]], [[D]]] : memref<2x16x4x8xf32>
//       CHECK:     memref.load %{{.*}}[[[H]]] : memref<4xf32>
//       CHECK:     [[DT:%[a-z0-9_]+]] = arith.addf
//       CHECK:     [[BIG:%[a-z0-9_]+]] = arith.cmpf ogt, [[DT]], %{{.*}} : f32
//       CHECK:     math.exp
//       CHECK:     math.log1p
//       CHECK:     [[SP:%[a-z0-9_]+]] = arith.select [[BIG]], [[DT]]
//       CHECK:     [[S:%[a-z0-9_]+]] = arith.mulf %{{.*}}, [[SP]] : f32
//   CHECK-NOT:     math.exp
//       CHECK:     memref.store [[S]], %{{.*}}[[[B]], [[H]], [[J]]]
func.func @value_bias_log(%v: memref<2x16x4x8xf32>, %w: memref<4x32xf32>,
    %bdt: memref<4xf32>, %a: memref<4xf32>, %s: memref<2x4x16xf32>) {
  dma.value_bias log value(%v : memref<2x16x4x8xf32>) weight(%w : memref<4x32xf32>)
      dt_bias(%bdt : memref<4xf32>) a(%a : memref<4xf32>) outs(%s : memref<2x4x16xf32>)
  return
}

// -----

// The exp form exponentiates the score; bf16 values are widened to f32 and
// the result narrowed back.

// CHECK-LABEL: func @value_bias_exp_bf16
//       CHECK:   arith.extf %{{.*}} : bf16 to f32
//       CHECK:   math.log1p
//       CHECK:   [[S:%[a-z0-9_]+]] = arith.mulf
//       CHECK:   [[E:%[a-z0-9_]+]] = math.exp [[S]] : f32
//       CHECK:   [[T:%[a-z0-9_]+]] = arith.truncf [[E]] : f32 to bf16
//       CHECK:   memref.store [[T]]
func.func @value_bias_exp_bf16(%v: memref<?x?x?x?xbf16>, %w: memref<?x?xbf16>,
    %a: memref<?xbf16>, %s: memref<?x?x?xbf16>) {
  dma.value_bias exp value(%v : memref<?x?x?x?xbf16>) weight(%w : memref<?x?xbf16>)
      a(%a : memref<?xbf16>) outs(%s : memref<?x?x?xbf16>)
  return
}
