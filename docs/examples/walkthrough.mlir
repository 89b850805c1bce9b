// The example that docs/pipeline.md follows from op to machine code: causal
// attention over the kept keys of a shared top-k, with a per-key bias.
func.func @attend(%q: tensor<1x4x2x8xf32>, %k: tensor<1x16x1x8xf32>,
                  %v: tensor<1x16x1x8xf32>, %bias: tensor<1x1x1x16xf32>,
                  %keep: tensor<1x1x4xi32>)
    -> (tensor<1x4x2x8xf32>, tensor<1x2x4xf32>) {
  %o0 = tensor.empty() : tensor<1x4x2x8xf32>
  %l0 = tensor.empty() : tensor<1x2x4xf32>
  %o, %lse = dma.attention q(%q : tensor<1x4x2x8xf32>) k(%k : tensor<1x16x1x8xf32>)
      v(%v : tensor<1x16x1x8xf32>) bias(%bias : tensor<1x1x1x16xf32>)
      keep(%keep : tensor<1x1x4xi32>)
      outs(%o0, %l0 : tensor<1x4x2x8xf32>, tensor<1x2x4xf32>) causal
      -> tensor<1x4x2x8xf32>, tensor<1x2x4xf32>
  return %o, %lse : tensor<1x4x2x8xf32>, tensor<1x2x4xf32>
}
