// Ops of the dma dialect written with wrong operands, properties or
// keywords: a diagnostic and a non-zero exit each, never a crash.

// RUN: not dma-opt %s -split-input-file 2>&1 | FileCheck %s --check-prefix=GENERIC

// Generic form with the operands and properties of another op.
// GENERIC: error: 'dma.attention' op expected 3 or more operands, but found 1
func.func @wrong_segments(%x: tensor<4xf32>) {
  %r = "dma.attention"(%x) <{operandSegmentSizes = array<i32: 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>}> : (tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

// GENERIC: error: 'dma.topk' op requires attribute 'keep'
func.func @missing_keep(%s: tensor<1x2x8xf32>, %i: tensor<1x2x4xi32>) {
  %r = "dma.topk"(%s, %i) <{operandSegmentSizes = array<i32: 1, 0, 1>, selection = 0 : i32}> : (tensor<1x2x8xf32>, tensor<1x2x4xi32>) -> tensor<1x2x4xi32>
  return
}

// -----

// GENERIC: error: 'dma.value_bias' op operand #0 must be ranked tensor or memref, but got 'f32'
func.func @scalar_operand(%x: f32, %w: tensor<2x8xf32>, %a: tensor<2xf32>, %s: tensor<1x2x8xf32>) {
  %r = "dma.value_bias"(%x, %w, %a, %s) <{operandSegmentSizes = array<i32: 1, 1, 0, 1, 1>, form = 0 : i32}> : (f32, tensor<2x8xf32>, tensor<2xf32>, tensor<1x2x8xf32>) -> tensor<1x2x8xf32>
  return
}

// -----

// GENERIC: error: custom op 'dma.topk' expected string or keyword containing one of the following enum values for attribute 'selection' [shared, per_query]
func.func @bad_selection(%s: tensor<1x2x8xf32>, %i: tensor<1x2x4xi32>) {
  %r = dma.topk 17 keep(4) score(%s : tensor<1x2x8xf32>) outs(%i : tensor<1x2x4xi32>) -> tensor<1x2x4xi32>
  return
}
