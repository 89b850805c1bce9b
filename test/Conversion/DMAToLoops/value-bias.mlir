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

// -----

// The backward: f32 accumulators zeroed, then (b, j, h) in order (scf.for,
// not scf.parallel: the sums are sequential, so deterministic): dt
// recomputed, the exp form's chain factor exp(a * softplus), the sigmoid
// (1 above 20), dA and db_dt, then dW and dV over the row; last the
// accumulators converted into the destinations (bf16 for dV).

// CHECK-LABEL: func @value_bias_grad_exp
//       CHECK:   memref.alloc() : memref<2x16x4x8xf32>
//       CHECK:   memref.alloc() : memref<4x32xf32>
//   CHECK-NOT:   scf.parallel
//       CHECK:   scf.for
//       CHECK:     scf.for
//       CHECK:       scf.for
//       CHECK:         math.log1p
//       CHECK:         arith.divf
//       CHECK:         memref.load %{{.*}} : memref<2x4x16xf32>
//       CHECK:         math.exp
//       CHECK:         scf.for
//       CHECK:           scf.for
//       CHECK:             arith.addf
//       CHECK:             memref.store %{{.*}} : memref<4x32xf32>
//       CHECK:             memref.store %{{.*}} : memref<2x16x4x8xf32>
//       CHECK:   arith.truncf %{{.*}} : f32 to bf16
//       CHECK:   memref.dealloc
func.func @value_bias_grad_exp(%ds: memref<2x4x16xf32>, %v: memref<2x16x4x8xbf16>,
    %w: memref<4x32xf32>, %bdt: memref<4xf32>, %a: memref<4xf32>,
    %dv: memref<2x16x4x8xbf16>, %dw: memref<4x32xf32>, %ddt: memref<4xf32>,
    %da: memref<4xf32>) {
  dma.value_bias_grad exp grad(%ds : memref<2x4x16xf32>)
      value(%v : memref<2x16x4x8xbf16>) weight(%w : memref<4x32xf32>)
      dt_bias(%bdt : memref<4xf32>) a(%a : memref<4xf32>)
      outs(%dv, %dw, %ddt, %da : memref<2x16x4x8xbf16>, memref<4x32xf32>,
           memref<4xf32>, memref<4xf32>)
  return
}
