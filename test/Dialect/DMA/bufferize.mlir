// RUN: dma-opt %s -split-input-file --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" | FileCheck %s

// Destination-passing style lets one-shot bufferization write every result
// straight into its destination: the memref form of the same op, no copy.

// CHECK-LABEL: func @attention_in_place
//  CHECK-SAME:   (%[[Q:.*]]: memref<1x8x2x4xf32>, %[[K:.*]]: memref<1x8x2x4xf32>, %[[V:.*]]: memref<1x8x2x4xf32>, %[[O:.*]]: memref<1x8x2x4xf32>, %[[L:.*]]: memref<1x2x8xf32>)
//   CHECK-NOT:   memref.alloc
//   CHECK-NOT:   memref.copy
//       CHECK:   dma.attention q(%[[Q]] : memref<1x8x2x4xf32>) k(%[[K]] : memref<1x8x2x4xf32>) v(%[[V]] : memref<1x8x2x4xf32>) outs(%[[O]], %[[L]] : memref<1x8x2x4xf32>, memref<1x2x8xf32>) causal
//  CHECK-NEXT:   return %[[O]], %[[L]]
func.func @attention_in_place(%q: tensor<1x8x2x4xf32>, %k: tensor<1x8x2x4xf32>,
    %v: tensor<1x8x2x4xf32>, %o: tensor<1x8x2x4xf32>, %l: tensor<1x2x8xf32>)
    -> (tensor<1x8x2x4xf32>, tensor<1x2x8xf32>) {
  %r:2 = dma.attention q(%q : tensor<1x8x2x4xf32>) k(%k : tensor<1x8x2x4xf32>)
      v(%v : tensor<1x8x2x4xf32>) outs(%o, %l : tensor<1x8x2x4xf32>, tensor<1x2x8xf32>)
      causal -> tensor<1x8x2x4xf32>, tensor<1x2x8xf32>
  return %r#0, %r#1 : tensor<1x8x2x4xf32>, tensor<1x2x8xf32>
}

// -----

// Destinations are write-only: an uninitialised destination becomes a plain
// allocation, never a copy.

// CHECK-LABEL: func @topk_into_empty
//       CHECK:   %[[ALLOC:.*]] = memref.alloc() {{.*}} : memref<2x4x16xi32>
//   CHECK-NOT:   memref.copy
//       CHECK:   dma.topk shared keep(16) score(%{{.*}} : memref<2x4x64xf32>) outs(%[[ALLOC]] : memref<2x4x16xi32>)
//       CHECK:   return %[[ALLOC]]
func.func @topk_into_empty(%s: tensor<2x4x64xf32>) -> tensor<2x4x16xi32> {
  %e = tensor.empty() : tensor<2x4x16xi32>
  %r = dma.topk shared keep(16) score(%s : tensor<2x4x64xf32>)
      outs(%e : tensor<2x4x16xi32>) -> tensor<2x4x16xi32>
  return %r : tensor<2x4x16xi32>
}
