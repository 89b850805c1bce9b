// One Dynamic Mask Attention layer, as the paper's models run it:
//
//   score = A * softplus(W . V + b_dt)        per key and KV head   (dma.value_bias)
//   keep  = the 128 best-scoring keys         shared by all queries (dma.topk)
//   O     = causal softmax(Q K^T / sqrt(D) + score) V over the kept keys
//                                                                   (dma.attention)
//
// B = 1, L = 512 tokens, H = 8 query heads sharing Hkv = 2 KV heads (GQA),
// head dim D = 64, keep window w = 128. The function writes into caller
// buffers (O, LSE, and the score and kept positions for inspection), so it
// can be called from C through `_mlir_ciface_dma_layer`.
//
// Compile it like any other module:
//   dma-opt examples/dma-layer/dma_layer.mlir --dma-cpu-pipeline

func.func @dma_layer(
    %v_m: memref<1x512x2x64xf32>,      // values  [B, L, Hkv, D]
    %w_m: memref<2x128xf32>,           // W       [Hkv, Hkv*D]
    %bdt_m: memref<2xf32>,             // b_dt    [Hkv]
    %a_m: memref<2xf32>,               // A       [Hkv]
    %q_m: memref<1x512x8x64xf32>,      // queries [B, L, H, D]
    %k_m: memref<1x512x2x64xf32>,      // keys    [B, L, Hkv, D]
    %score_m: memref<1x2x512xf32>,     // out: per-key score [B, Hkv, L]
    %keep_m: memref<1x2x128xi32>,      // out: kept positions [B, Hkv, w]
    %o_m: memref<1x512x8x64xf32>,      // out: O   [B, L, H, D]
    %lse_m: memref<1x8x512xf32>)       // out: LSE [B, H, L]
    attributes {llvm.emit_c_interface} {
  %v = bufferization.to_tensor %v_m restrict : memref<1x512x2x64xf32> to tensor<1x512x2x64xf32>
  %w = bufferization.to_tensor %w_m restrict : memref<2x128xf32> to tensor<2x128xf32>
  %bdt = bufferization.to_tensor %bdt_m restrict : memref<2xf32> to tensor<2xf32>
  %a = bufferization.to_tensor %a_m restrict : memref<2xf32> to tensor<2xf32>
  %q = bufferization.to_tensor %q_m restrict : memref<1x512x8x64xf32> to tensor<1x512x8x64xf32>
  %k = bufferization.to_tensor %k_m restrict : memref<1x512x2x64xf32> to tensor<1x512x2x64xf32>
  %score0 = bufferization.to_tensor %score_m restrict writable : memref<1x2x512xf32> to tensor<1x2x512xf32>
  %keep0 = bufferization.to_tensor %keep_m restrict writable : memref<1x2x128xi32> to tensor<1x2x128xi32>
  %o0 = bufferization.to_tensor %o_m restrict writable : memref<1x512x8x64xf32> to tensor<1x512x8x64xf32>
  %lse0 = bufferization.to_tensor %lse_m restrict writable : memref<1x8x512xf32> to tensor<1x8x512xf32>

  %score = dma.value_bias log
      value(%v : tensor<1x512x2x64xf32>) weight(%w : tensor<2x128xf32>)
      dt_bias(%bdt : tensor<2xf32>) a(%a : tensor<2xf32>)
      outs(%score0 : tensor<1x2x512xf32>) -> tensor<1x2x512xf32>

  %keep = dma.topk shared keep(128) score(%score : tensor<1x2x512xf32>)
      outs(%keep0 : tensor<1x2x128xi32>) -> tensor<1x2x128xi32>

  // The score is the attention bias, one value per (KV head, key).
  %bias = tensor.expand_shape %score [[0], [1], [2, 3]] output_shape [1, 2, 1, 512]
      : tensor<1x2x512xf32> into tensor<1x2x1x512xf32>

  %o, %lse = dma.attention
      q(%q : tensor<1x512x8x64xf32>) k(%k : tensor<1x512x2x64xf32>)
      v(%v : tensor<1x512x2x64xf32>) bias(%bias : tensor<1x2x1x512xf32>)
      keep(%keep : tensor<1x2x128xi32>)
      outs(%o0, %lse0 : tensor<1x512x8x64xf32>, tensor<1x8x512xf32>) causal
      -> tensor<1x512x8x64xf32>, tensor<1x8x512xf32>

  bufferization.materialize_in_destination %score in restrict writable %score_m
      : (tensor<1x2x512xf32>, memref<1x2x512xf32>) -> ()
  bufferization.materialize_in_destination %keep in restrict writable %keep_m
      : (tensor<1x2x128xi32>, memref<1x2x128xi32>) -> ()
  bufferization.materialize_in_destination %o in restrict writable %o_m
      : (tensor<1x512x8x64xf32>, memref<1x512x8x64xf32>) -> ()
  bufferization.materialize_in_destination %lse in restrict writable %lse_m
      : (tensor<1x8x512xf32>, memref<1x8x512xf32>) -> ()
  return
}
