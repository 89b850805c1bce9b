// RUN: dma-opt %s -split-input-file --dma-static-expand-shape | FileCheck %s
// RUN: dma-opt %s -split-input-file --dma-cpu-pipeline | FileCheck %s --check-prefix=CPU

// An expand_shape whose output_shape states static sizes its result type
// leaves dynamic is valid IR, but upstream expand-strided-metadata crashes
// on it (a segfault in --dma-cpu-pipeline before this pass ran first).

// CHECK-LABEL: func.func @whole_group_static
//  CHECK-SAME:   (%[[M:.*]]: memref<?xf32>)
//       CHECK:   %[[S:.*]] = memref.cast %[[M]] : memref<?xf32> to memref<8xf32>
//       CHECK:   %[[E:.*]] = memref.expand_shape %[[S]] {{\[\[}}0, 1]] output_shape [2, 4] : memref<8xf32> into memref<2x4xf32>
//       CHECK:   %[[R:.*]] = memref.cast %[[E]] : memref<2x4xf32> to memref<?x?xf32>
//       CHECK:   return %[[R]]
// CPU-LABEL: llvm.func @whole_group_static
func.func @whole_group_static(%m: memref<?xf32>) -> memref<?x?xf32> {
  %e = memref.expand_shape %m [[0, 1]] output_shape [2, 4]
      : memref<?xf32> into memref<?x?xf32>
  return %e : memref<?x?xf32>
}

// -----

// One size of the group stays dynamic: so does the source.
// CHECK-LABEL: func.func @partly_static
//       CHECK:   memref.expand_shape %{{.*}} {{\[\[}}0, 1]] output_shape [%{{.*}}, 4] : memref<?xf32> into memref<?x4xf32>
//       CHECK:   memref.cast %{{.*}} : memref<?x4xf32> to memref<?x?xf32>
// CPU-LABEL: llvm.func @partly_static
func.func @partly_static(%m: memref<?xf32>, %n: index) -> memref<?x?xf32> {
  %e = memref.expand_shape %m [[0, 1]] output_shape [%n, 4]
      : memref<?xf32> into memref<?x?xf32>
  return %e : memref<?x?xf32>
}

// -----

// The form canonicalization makes of constant output sizes, from a tensor
// (bufferization carries it over).
// CPU-LABEL: llvm.func @from_tensor_constants
func.func @from_tensor_constants(%t: tensor<?xf32>) -> tensor<?x?xf32> {
  %c2 = arith.constant 2 : index
  %c4 = arith.constant 4 : index
  %e = tensor.expand_shape %t [[0, 1]] output_shape [%c2, %c4]
      : tensor<?xf32> into tensor<?x?xf32>
  return %e : tensor<?x?xf32>
}

// -----

// Nothing to refine: unchanged.
// CHECK-LABEL: func.func @already_static
//       CHECK:   memref.expand_shape %{{.*}} : memref<8xf32> into memref<2x4xf32>
//   CHECK-NOT:   memref.cast
func.func @already_static(%m: memref<8xf32>) -> memref<2x4xf32> {
  %e = memref.expand_shape %m [[0, 1]] output_shape [2, 4]
      : memref<8xf32> into memref<2x4xf32>
  return %e : memref<2x4xf32>
}
