// The example of docs/gpu-pipeline.md: one DMA attention in bf16 for the
// GPU. 256 queries (8 heads sharing 2 KV heads, head dim 64) attend
// causally to the 64 kept positions (a shared top-k list per KV head) of
// 256 keys, with a per-key bias.
func.func @attend(%q: tensor<1x256x8x64xbf16>, %k: tensor<1x256x2x64xbf16>,
                  %v: tensor<1x256x2x64xbf16>, %bias: tensor<1x2x1x256xbf16>,
                  %keep: tensor<1x2x64xi32>)
    -> (tensor<1x256x8x64xbf16>, tensor<1x8x256xf32>) {
  %o0 = tensor.empty() : tensor<1x256x8x64xbf16>
  %l0 = tensor.empty() : tensor<1x8x256xf32>
  %o, %lse = dma.attention q(%q : tensor<1x256x8x64xbf16>)
      k(%k : tensor<1x256x2x64xbf16>) v(%v : tensor<1x256x2x64xbf16>)
      bias(%bias : tensor<1x2x1x256xbf16>) keep(%keep : tensor<1x2x64xi32>)
      outs(%o0, %l0 : tensor<1x256x8x64xbf16>, tensor<1x8x256xf32>) causal
      -> tensor<1x256x8x64xbf16>, tensor<1x8x256xf32>
  return %o, %lse : tensor<1x256x8x64xbf16>, tensor<1x8x256xf32>
}
