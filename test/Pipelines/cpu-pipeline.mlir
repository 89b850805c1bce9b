// RUN: dma-opt %s -split-input-file --dma-cpu-pipeline | FileCheck %s
// RUN: dma-opt %s -split-input-file --dma-cpu-pipeline="lower-to-llvm=false" | FileCheck %s --check-prefix=LOOPS
// RUN: dma-opt %s -split-input-file --dma-cpu-pipeline="tile=false" | FileCheck %s

// A whole DMA layer (value bias -> shared top-k -> attention) on tensors,
// written into caller buffers, goes down to the LLVM dialect; the C
// interface wrapper is emitted for callers.

// CHECK-LABEL: llvm.func @layer
//   CHECK-NOT:   dma.
//   CHECK-NOT:   scf.
//   CHECK-NOT:   memref.
//       CHECK: llvm.func @_mlir_ciface_layer

// Before the LLVM step: bufferized in place (no copies), all dma ops gone;
// the attention was tiled (64-row query tiles, 16-wide key tiles here).
// LOOPS-LABEL: func.func @layer
//   LOOPS-NOT:   memref.copy
//   LOOPS-NOT:   dma.
//       LOOPS:   scf.parallel
//       LOOPS:   memref.alloc() {alignment = 64 : i64} : memref<64x16xf32>
//       LOOPS:   return
func.func @layer(%v_m: memref<1x64x2x16xf32>, %w_m: memref<2x32xf32>,
    %a_m: memref<2xf32>, %q_m: memref<1x64x4x16xf32>, %k_m: memref<1x64x2x16xf32>,
    %o_m: memref<1x64x4x16xf32>, %l_m: memref<1x4x64xf32>)
    attributes {llvm.emit_c_interface} {
  %v = bufferization.to_tensor %v_m restrict : memref<1x64x2x16xf32> to tensor<1x64x2x16xf32>
  %w = bufferization.to_tensor %w_m restrict : memref<2x32xf32> to tensor<2x32xf32>
  %a = bufferization.to_tensor %a_m restrict : memref<2xf32> to tensor<2xf32>
  %q = bufferization.to_tensor %q_m restrict : memref<1x64x4x16xf32> to tensor<1x64x4x16xf32>
  %k = bufferization.to_tensor %k_m restrict : memref<1x64x2x16xf32> to tensor<1x64x2x16xf32>
  %o0 = bufferization.to_tensor %o_m restrict writable : memref<1x64x4x16xf32> to tensor<1x64x4x16xf32>
  %l0 = bufferization.to_tensor %l_m restrict writable : memref<1x4x64xf32> to tensor<1x4x64xf32>
  %s0 = tensor.empty() : tensor<1x2x64xf32>
  %score = dma.value_bias log value(%v : tensor<1x64x2x16xf32>) weight(%w : tensor<2x32xf32>)
      a(%a : tensor<2xf32>) outs(%s0 : tensor<1x2x64xf32>) -> tensor<1x2x64xf32>
  %i0 = tensor.empty() : tensor<1x2x16xi32>
  %idx = dma.topk shared keep(16) score(%score : tensor<1x2x64xf32>)
      outs(%i0 : tensor<1x2x16xi32>) -> tensor<1x2x16xi32>
  %bias = tensor.expand_shape %score [[0], [1], [2, 3]] output_shape [1, 2, 1, 64]
      : tensor<1x2x64xf32> into tensor<1x2x1x64xf32>
  %o, %l = dma.attention q(%q : tensor<1x64x4x16xf32>) k(%k : tensor<1x64x2x16xf32>)
      v(%v : tensor<1x64x2x16xf32>) bias(%bias : tensor<1x2x1x64xf32>)
      keep(%idx : tensor<1x2x16xi32>)
      outs(%o0, %l0 : tensor<1x64x4x16xf32>, tensor<1x4x64xf32>) causal
      -> tensor<1x64x4x16xf32>, tensor<1x4x64xf32>
  bufferization.materialize_in_destination %o in restrict writable %o_m
      : (tensor<1x64x4x16xf32>, memref<1x64x4x16xf32>) -> ()
  bufferization.materialize_in_destination %l in restrict writable %l_m
      : (tensor<1x4x64xf32>, memref<1x4x64xf32>) -> ()
  return
}
