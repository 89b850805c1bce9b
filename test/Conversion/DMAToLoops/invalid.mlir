// RUN: dma-opt %s -split-input-file --convert-dma-to-loops -verify-diagnostics

// The loop lowering works on memrefs: an op still on tensors is an error
// that says which pass to run first.

func.func @still_on_tensors(%v: tensor<1x8x2x4xf32>, %w: tensor<2x8xf32>,
    %a: tensor<2xf32>, %s: tensor<1x2x8xf32>) -> tensor<1x2x8xf32> {
  // expected-error @+1 {{'dma.value_bias' op is still on tensors; run one-shot-bufferize before convert-dma-to-loops}}
  %r = dma.value_bias log value(%v : tensor<1x8x2x4xf32>) weight(%w : tensor<2x8xf32>)
      a(%a : tensor<2xf32>) outs(%s : tensor<1x2x8xf32>) -> tensor<1x2x8xf32>
  return %r : tensor<1x2x8xf32>
}
