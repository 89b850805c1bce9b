// RUN: dma-opt %s -split-input-file -verify-diagnostics

// One case per verifier rule of the dma ops (lib/Dialect/DMA/IR/DMAOps.cpp).
func.func @mixed(%v: tensor<1x8x2x4xf32>, %w: tensor<2x8xf32>, %a: tensor<2xf32>, %s: memref<1x2x8xf32>) {
  // expected-error @+1 {{operands must be all tensors or all memrefs, not a mix}}
  dma.value_bias log value(%v : tensor<1x8x2x4xf32>) weight(%w : tensor<2x8xf32>) a(%a : tensor<2xf32>) outs(%s : memref<1x2x8xf32>)
  return
}

// -----

func.func @dest_count(%s: tensor<1x2x8xf32>, %i: tensor<1x2x4xi32>) {
  // expected-error @+1 {{expects 3 destinations (score, threshold, tiebreak), got 1}}
  %r = dma.topk per_query keep(4) score(%s : tensor<1x2x8xf32>) outs(%i : tensor<1x2x4xi32>) -> tensor<1x2x4xi32>
  return
}

// -----

func.func @memref_results(%v: memref<1x8x2x4xf32>, %w: memref<2x8xf32>, %a: memref<2xf32>, %s: memref<1x2x8xf32>) {
  // expected-error @+1 {{on memrefs has no results}}
  %r = dma.value_bias log value(%v : memref<1x8x2x4xf32>) weight(%w : memref<2x8xf32>) a(%a : memref<2xf32>) outs(%s : memref<1x2x8xf32>) -> tensor<1x2x8xf32>
  return
}

// -----

func.func @tensor_no_results(%v: tensor<1x8x2x4xf32>, %w: tensor<2x8xf32>, %a: tensor<2xf32>, %s: tensor<1x2x8xf32>) {
  // expected-error @+1 {{on tensors returns one result per destination (1), got 0}}
  dma.value_bias log value(%v : tensor<1x8x2x4xf32>) weight(%w : tensor<2x8xf32>) a(%a : tensor<2xf32>) outs(%s : tensor<1x2x8xf32>)
  return
}

// -----

func.func @result_type(%v: tensor<1x8x2x4xf32>, %w: tensor<2x8xf32>, %a: tensor<2xf32>, %s: tensor<1x2x8xf32>) {
  // expected-error @+1 {{result #0 must have the type of destination #0}}
  %r = dma.value_bias log value(%v : tensor<1x8x2x4xf32>) weight(%w : tensor<2x8xf32>) a(%a : tensor<2xf32>) outs(%s : tensor<1x2x8xf32>) -> tensor<?x2x8xf32>
  return
}

// -----

func.func @vb_value_rank(%v: tensor<8x2x4xf32>, %w: tensor<2x8xf32>, %a: tensor<2xf32>, %s: tensor<1x2x8xf32>) {
  // expected-error @+1 {{value must have rank 4 [B, Lk, Hkv, D], got rank 3}}
  %r = dma.value_bias log value(%v : tensor<8x2x4xf32>) weight(%w : tensor<2x8xf32>) a(%a : tensor<2xf32>) outs(%s : tensor<1x2x8xf32>) -> tensor<1x2x8xf32>
  return
}

// -----

func.func @vb_weight_rank(%v: tensor<1x8x2x4xf32>, %w: tensor<2x8x1xf32>, %a: tensor<2xf32>, %s: tensor<1x2x8xf32>) {
  // expected-error @+1 {{weight must have rank 2 [Hkv, Hkv*D], got rank 3}}
  %r = dma.value_bias log value(%v : tensor<1x8x2x4xf32>) weight(%w : tensor<2x8x1xf32>) a(%a : tensor<2xf32>) outs(%s : tensor<1x2x8xf32>) -> tensor<1x2x8xf32>
  return
}

// -----

func.func @vb_a_rank(%v: tensor<1x8x2x4xf32>, %w: tensor<2x8xf32>, %a: tensor<2x1xf32>, %s: tensor<1x2x8xf32>) {
  // expected-error @+1 {{a must have rank 1 [Hkv], got rank 2}}
  %r = dma.value_bias log value(%v : tensor<1x8x2x4xf32>) weight(%w : tensor<2x8xf32>) a(%a : tensor<2x1xf32>) outs(%s : tensor<1x2x8xf32>) -> tensor<1x2x8xf32>
  return
}

// -----

func.func @vb_score_rank(%v: tensor<1x8x2x4xf32>, %w: tensor<2x8xf32>, %a: tensor<2xf32>, %s: tensor<2x8xf32>) {
  // expected-error @+1 {{score must have rank 3 [B, Hkv, Lk], got rank 2}}
  %r = dma.value_bias log value(%v : tensor<1x8x2x4xf32>) weight(%w : tensor<2x8xf32>) a(%a : tensor<2xf32>) outs(%s : tensor<2x8xf32>) -> tensor<2x8xf32>
  return
}

// -----

func.func @vb_dt_bias_rank(%v: tensor<1x8x2x4xf32>, %w: tensor<2x8xf32>, %a: tensor<2xf32>, %s: tensor<1x2x8xf32>, %b: tensor<2x1xf32>) {
  // expected-error @+1 {{dt_bias must have rank 1 [Hkv], got rank 2}}
  %r = dma.value_bias log value(%v : tensor<1x8x2x4xf32>) weight(%w : tensor<2x8xf32>) dt_bias(%b : tensor<2x1xf32>) a(%a : tensor<2xf32>) outs(%s : tensor<1x2x8xf32>) -> tensor<1x2x8xf32>
  return
}

// -----

func.func @vb_float(%v: tensor<1x8x2x4xi32>, %w: tensor<2x8xf32>, %a: tensor<2xf32>, %s: tensor<1x2x8xf32>) {
  // expected-error @+1 {{operands must have float element types}}
  %r = dma.value_bias log value(%v : tensor<1x8x2x4xi32>) weight(%w : tensor<2x8xf32>) a(%a : tensor<2xf32>) outs(%s : tensor<1x2x8xf32>) -> tensor<1x2x8xf32>
  return
}

// -----

func.func @vb_weight_rows(%v: tensor<1x8x2x4xf32>, %w: tensor<3x8xf32>, %a: tensor<2xf32>, %s: tensor<1x2x8xf32>) {
  // expected-error @+1 {{weight dim 0 (3) must equal the KV head count of value (2)}}
  %r = dma.value_bias log value(%v : tensor<1x8x2x4xf32>) weight(%w : tensor<3x8xf32>) a(%a : tensor<2xf32>) outs(%s : tensor<1x2x8xf32>) -> tensor<1x2x8xf32>
  return
}

// -----

func.func @vb_weight_cols(%v: tensor<1x8x2x4xf32>, %w: tensor<2x4xf32>, %a: tensor<2xf32>, %s: tensor<1x2x8xf32>) {
  // expected-error @+1 {{weight dim 1 (4) must equal Hkv*D of value (8)}}
  %r = dma.value_bias log value(%v : tensor<1x8x2x4xf32>) weight(%w : tensor<2x4xf32>) a(%a : tensor<2xf32>) outs(%s : tensor<1x2x8xf32>) -> tensor<1x2x8xf32>
  return
}

// -----

func.func @vb_dt_bias_size(%v: tensor<1x8x2x4xf32>, %w: tensor<2x8xf32>, %a: tensor<2xf32>, %s: tensor<1x2x8xf32>, %b: tensor<3xf32>) {
  // expected-error @+1 {{dt_bias size (3) must equal the KV head count (2)}}
  %r = dma.value_bias log value(%v : tensor<1x8x2x4xf32>) weight(%w : tensor<2x8xf32>) dt_bias(%b : tensor<3xf32>) a(%a : tensor<2xf32>) outs(%s : tensor<1x2x8xf32>) -> tensor<1x2x8xf32>
  return
}

// -----

func.func @vb_a_size(%v: tensor<1x8x2x4xf32>, %w: tensor<2x8xf32>, %a: tensor<4xf32>, %s: tensor<1x2x8xf32>) {
  // expected-error @+1 {{a size (4) must equal the KV head count (2)}}
  %r = dma.value_bias log value(%v : tensor<1x8x2x4xf32>) weight(%w : tensor<2x8xf32>) a(%a : tensor<4xf32>) outs(%s : tensor<1x2x8xf32>) -> tensor<1x2x8xf32>
  return
}

// -----

func.func @vb_score_shape(%v: tensor<1x8x2x4xf32>, %w: tensor<2x8xf32>, %a: tensor<2xf32>, %s: tensor<1x8x2xf32>) {
  // expected-error @+1 {{score must be [B, Hkv, Lk] = [1, 2, 8]}}
  %r = dma.value_bias log value(%v : tensor<1x8x2x4xf32>) weight(%w : tensor<2x8xf32>) a(%a : tensor<2xf32>) outs(%s : tensor<1x8x2xf32>) -> tensor<1x8x2xf32>
  return
}

// -----

func.func @topk_keep(%s: tensor<1x2x8xf32>, %o0: tensor<1x2x0xi32>) {
  // expected-error @+1 {{keep must be at least 1, got 0}}
  %r = dma.topk shared keep(0) score(%s : tensor<1x2x8xf32>) outs(%o0 : tensor<1x2x0xi32>) -> tensor<1x2x0xi32>
  return
}

// -----

func.func @topk_score_rank(%s: tensor<2x8xf32>, %o0: tensor<1x2x4xi32>) {
  // expected-error @+1 {{score must have rank 3 [B, Hkv, Lk], got rank 2}}
  %r = dma.topk shared keep(4) score(%s : tensor<2x8xf32>) outs(%o0 : tensor<1x2x4xi32>) -> tensor<1x2x4xi32>
  return
}

// -----

func.func @topk_score_float(%s: tensor<1x2x8xi32>, %o0: tensor<1x2x4xi32>) {
  // expected-error @+1 {{score must have a float element type}}
  %r = dma.topk shared keep(4) score(%s : tensor<1x2x8xi32>) outs(%o0 : tensor<1x2x4xi32>) -> tensor<1x2x4xi32>
  return
}

// -----

func.func @topk_padding_rank(%s: tensor<1x2x8xf32>, %p: tensor<8xi1>, %o0: tensor<1x2x4xi32>) {
  // expected-error @+1 {{padding must have rank 2 [B, Lk], got rank 1}}
  %r = dma.topk shared keep(4) score(%s : tensor<1x2x8xf32>) padding(%p : tensor<8xi1>) outs(%o0 : tensor<1x2x4xi32>) -> tensor<1x2x4xi32>
  return
}

// -----

func.func @topk_padding_i1(%s: tensor<1x2x8xf32>, %p: tensor<1x8xi8>, %o0: tensor<1x2x4xi32>) {
  // expected-error @+1 {{padding must have i1 elements (true = key exists)}}
  %r = dma.topk shared keep(4) score(%s : tensor<1x2x8xf32>) padding(%p : tensor<1x8xi8>) outs(%o0 : tensor<1x2x4xi32>) -> tensor<1x2x4xi32>
  return
}

// -----

func.func @topk_padding_shape(%s: tensor<1x2x8xf32>, %p: tensor<1x9xi1>, %o0: tensor<1x2x4xi32>) {
  // expected-error @+1 {{padding must be [B, Lk] = [1, 8]}}
  %r = dma.topk shared keep(4) score(%s : tensor<1x2x8xf32>) padding(%p : tensor<1x9xi1>) outs(%o0 : tensor<1x2x4xi32>) -> tensor<1x2x4xi32>
  return
}

// -----

func.func @topk_idx_rank(%s: tensor<1x2x8xf32>, %o0: tensor<2x4xi32>) {
  // expected-error @+1 {{kept positions must have rank 3 [B, Hkv, W], got rank 2}}
  %r = dma.topk shared keep(4) score(%s : tensor<1x2x8xf32>) outs(%o0 : tensor<2x4xi32>) -> tensor<2x4xi32>
  return
}

// -----

func.func @topk_idx_int(%s: tensor<1x2x8xf32>, %o0: tensor<1x2x4xf32>) {
  // expected-error @+1 {{kept positions must have i32 or i64 elements}}
  %r = dma.topk shared keep(4) score(%s : tensor<1x2x8xf32>) outs(%o0 : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
  return
}

// -----

func.func @topk_idx_shape(%s: tensor<1x2x8xf32>, %o0: tensor<1x3x4xi32>) {
  // expected-error @+1 {{kept positions must be [B, Hkv, W] with B = 1, Hkv = 2}}
  %r = dma.topk shared keep(4) score(%s : tensor<1x2x8xf32>) outs(%o0 : tensor<1x3x4xi32>) -> tensor<1x3x4xi32>
  return
}

// -----

func.func @topk_idx_keep(%s: tensor<1x2x8xf32>, %o0: tensor<1x2x5xi32>) {
  // expected-error @+1 {{kept positions dim 2 (5) must equal keep (4)}}
  %r = dma.topk shared keep(4) score(%s : tensor<1x2x8xf32>) outs(%o0 : tensor<1x2x5xi32>) -> tensor<1x2x5xi32>
  return
}

// -----

func.func @topk_rows_rank(%s: tensor<1x2x8xf32>, %o0: tensor<2x8xf32>, %o1: tensor<1x2x8xf32>, %o2: tensor<1x2x8xi32>) {
  // expected-error @+1 {{masked score must have rank 3 [B, Hkv, Lk], got rank 2}}
  %r:3 = dma.topk per_query keep(4) score(%s : tensor<1x2x8xf32>) outs(%o0, %o1, %o2 : tensor<2x8xf32>, tensor<1x2x8xf32>, tensor<1x2x8xi32>) -> tensor<2x8xf32>, tensor<1x2x8xf32>, tensor<1x2x8xi32>
  return
}

// -----

func.func @topk_rows_shape(%s: tensor<1x2x8xf32>, %o0: tensor<1x2x8xf32>, %o1: tensor<1x2x7xf32>, %o2: tensor<1x2x8xi32>) {
  // expected-error @+1 {{threshold must be [B, Hkv, Lk] = [1, 2, 8]}}
  %r:3 = dma.topk per_query keep(4) score(%s : tensor<1x2x8xf32>) outs(%o0, %o1, %o2 : tensor<1x2x8xf32>, tensor<1x2x7xf32>, tensor<1x2x8xi32>) -> tensor<1x2x8xf32>, tensor<1x2x7xf32>, tensor<1x2x8xi32>
  return
}

// -----

func.func @topk_rows_float(%s: tensor<1x2x8xf32>, %o0: tensor<1x2x8xf32>, %o1: tensor<1x2x8xi32>, %o2: tensor<1x2x8xi32>) {
  // expected-error @+1 {{masked score and threshold must have float elements}}
  %r:3 = dma.topk per_query keep(4) score(%s : tensor<1x2x8xf32>) outs(%o0, %o1, %o2 : tensor<1x2x8xf32>, tensor<1x2x8xi32>, tensor<1x2x8xi32>) -> tensor<1x2x8xf32>, tensor<1x2x8xi32>, tensor<1x2x8xi32>
  return
}

// -----

func.func @topk_rows_tiebreak(%s: tensor<1x2x8xf32>, %o0: tensor<1x2x8xf32>, %o1: tensor<1x2x8xf32>, %o2: tensor<1x2x8xf32>) {
  // expected-error @+1 {{tiebreak must have i32 or i64 elements}}
  %r:3 = dma.topk per_query keep(4) score(%s : tensor<1x2x8xf32>) outs(%o0, %o1, %o2 : tensor<1x2x8xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>) -> tensor<1x2x8xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>
  return
}

// -----

func.func @att_q_rank(%q: tensor<16x4x8xf32>, %k: tensor<1x32x2x8xf32>, %v: tensor<1x32x2x8xf32>, %o: tensor<1x16x4x8xf32>, %l: tensor<1x4x16xf32>) {
  // expected-error @+1 {{q must have rank 4 [B, Lq, H, D], got rank 3}}
  %r:2 = dma.attention q(%q : tensor<16x4x8xf32>) k(%k : tensor<1x32x2x8xf32>) v(%v : tensor<1x32x2x8xf32>) outs(%o, %l : tensor<1x16x4x8xf32>, tensor<1x4x16xf32>) -> tensor<1x16x4x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @att_k_rank(%q: tensor<1x16x4x8xf32>, %k: tensor<32x2x8xf32>, %v: tensor<1x32x2x8xf32>, %o: tensor<1x16x4x8xf32>, %l: tensor<1x4x16xf32>) {
  // expected-error @+1 {{k must have rank 4 [B, Lk, Hkv, D], got rank 3}}
  %r:2 = dma.attention q(%q : tensor<1x16x4x8xf32>) k(%k : tensor<32x2x8xf32>) v(%v : tensor<1x32x2x8xf32>) outs(%o, %l : tensor<1x16x4x8xf32>, tensor<1x4x16xf32>) -> tensor<1x16x4x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @att_v_rank(%q: tensor<1x16x4x8xf32>, %k: tensor<1x32x2x8xf32>, %v: tensor<32x2x8xf32>, %o: tensor<1x16x4x8xf32>, %l: tensor<1x4x16xf32>) {
  // expected-error @+1 {{v must have rank 4 [B, Lk, Hkv, Dv], got rank 3}}
  %r:2 = dma.attention q(%q : tensor<1x16x4x8xf32>) k(%k : tensor<1x32x2x8xf32>) v(%v : tensor<32x2x8xf32>) outs(%o, %l : tensor<1x16x4x8xf32>, tensor<1x4x16xf32>) -> tensor<1x16x4x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @att_q_type(%q: tensor<1x16x4x8xf64>, %k: tensor<1x32x2x8xf64>, %v: tensor<1x32x2x8xf64>, %o: tensor<1x16x4x8xf64>, %l: tensor<1x4x16xf32>) {
  // expected-error @+1 {{q must have bf16, f16 or f32 elements, got 'f64'}}
  %r:2 = dma.attention q(%q : tensor<1x16x4x8xf64>) k(%k : tensor<1x32x2x8xf64>) v(%v : tensor<1x32x2x8xf64>) outs(%o, %l : tensor<1x16x4x8xf64>, tensor<1x4x16xf32>) -> tensor<1x16x4x8xf64>, tensor<1x4x16xf32>
  return
}

// -----

func.func @att_kv_type(%q: tensor<1x16x4x8xf32>, %k: tensor<1x32x2x8xf16>, %v: tensor<1x32x2x8xf32>, %o: tensor<1x16x4x8xf32>, %l: tensor<1x4x16xf32>) {
  // expected-error @+1 {{k and v must have the element type of q}}
  %r:2 = dma.attention q(%q : tensor<1x16x4x8xf32>) k(%k : tensor<1x32x2x8xf16>) v(%v : tensor<1x32x2x8xf32>) outs(%o, %l : tensor<1x16x4x8xf32>, tensor<1x4x16xf32>) -> tensor<1x16x4x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @att_batch(%q: tensor<1x16x4x8xf32>, %k: tensor<2x32x2x8xf32>, %v: tensor<1x32x2x8xf32>, %o: tensor<1x16x4x8xf32>, %l: tensor<1x4x16xf32>) {
  // expected-error @+1 {{q, k and v must have the same batch size (1, 2, 1)}}
  %r:2 = dma.attention q(%q : tensor<1x16x4x8xf32>) k(%k : tensor<2x32x2x8xf32>) v(%v : tensor<1x32x2x8xf32>) outs(%o, %l : tensor<1x16x4x8xf32>, tensor<1x4x16xf32>) -> tensor<1x16x4x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @att_head_dim(%q: tensor<1x16x4x8xf32>, %k: tensor<1x32x2x16xf32>, %v: tensor<1x32x2x8xf32>, %o: tensor<1x16x4x8xf32>, %l: tensor<1x4x16xf32>) {
  // expected-error @+1 {{k head dim (16) must equal q head dim (8)}}
  %r:2 = dma.attention q(%q : tensor<1x16x4x8xf32>) k(%k : tensor<1x32x2x16xf32>) v(%v : tensor<1x32x2x8xf32>) outs(%o, %l : tensor<1x16x4x8xf32>, tensor<1x4x16xf32>) -> tensor<1x16x4x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @att_v_shape(%q: tensor<1x16x4x8xf32>, %k: tensor<1x32x2x8xf32>, %v: tensor<1x31x2x8xf32>, %o: tensor<1x16x4x8xf32>, %l: tensor<1x4x16xf32>) {
  // expected-error @+1 {{v must have k's key length and KV heads (32, 2), got (31, 2)}}
  %r:2 = dma.attention q(%q : tensor<1x16x4x8xf32>) k(%k : tensor<1x32x2x8xf32>) v(%v : tensor<1x31x2x8xf32>) outs(%o, %l : tensor<1x16x4x8xf32>, tensor<1x4x16xf32>) -> tensor<1x16x4x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @att_gqa(%q: tensor<1x16x4x8xf32>, %k: tensor<1x32x3x8xf32>, %v: tensor<1x32x3x8xf32>, %o: tensor<1x16x4x8xf32>, %l: tensor<1x4x16xf32>) {
  // expected-error @+1 {{query heads (4) must be a multiple of KV heads (3)}}
  %r:2 = dma.attention q(%q : tensor<1x16x4x8xf32>) k(%k : tensor<1x32x3x8xf32>) v(%v : tensor<1x32x3x8xf32>) outs(%o, %l : tensor<1x16x4x8xf32>, tensor<1x4x16xf32>) -> tensor<1x16x4x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

// Query heads without KV heads (H = 0, Hkv = 0 is an empty problem: valid).
func.func @att_no_kv_heads(%q: tensor<1x16x4x8xf32>, %k: tensor<1x32x0x8xf32>, %v: tensor<1x32x0x8xf32>, %o: tensor<1x16x4x8xf32>, %l: tensor<1x4x16xf32>) {
  // expected-error @+1 {{query heads (4) must be a multiple of KV heads (0)}}
  %r:2 = dma.attention q(%q : tensor<1x16x4x8xf32>) k(%k : tensor<1x32x0x8xf32>) v(%v : tensor<1x32x0x8xf32>) outs(%o, %l : tensor<1x16x4x8xf32>, tensor<1x4x16xf32>) -> tensor<1x16x4x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @att_bias_rank(%q: tensor<1x16x4x8xf32>, %k: tensor<1x32x2x8xf32>, %v: tensor<1x32x2x8xf32>, %o: tensor<1x16x4x8xf32>, %l: tensor<1x4x16xf32>, %b: tensor<1x1x32xf32>) {
  // expected-error @+1 {{bias must have rank 4 [{B|1}, {H|Hkv|1}, {Lq|1}, Lk], got rank 3}}
  %r:2 = dma.attention q(%q : tensor<1x16x4x8xf32>) k(%k : tensor<1x32x2x8xf32>) v(%v : tensor<1x32x2x8xf32>) bias(%b : tensor<1x1x32xf32>) outs(%o, %l : tensor<1x16x4x8xf32>, tensor<1x4x16xf32>) -> tensor<1x16x4x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @att_bias_float(%q: tensor<1x16x4x8xf32>, %k: tensor<1x32x2x8xf32>, %v: tensor<1x32x2x8xf32>, %o: tensor<1x16x4x8xf32>, %l: tensor<1x4x16xf32>, %b: tensor<1x1x1x32xi32>) {
  // expected-error @+1 {{bias must have a float element type}}
  %r:2 = dma.attention q(%q : tensor<1x16x4x8xf32>) k(%k : tensor<1x32x2x8xf32>) v(%v : tensor<1x32x2x8xf32>) bias(%b : tensor<1x1x1x32xi32>) outs(%o, %l : tensor<1x16x4x8xf32>, tensor<1x4x16xf32>) -> tensor<1x16x4x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @att_bias_batch(%q: tensor<1x16x4x8xf32>, %k: tensor<1x32x2x8xf32>, %v: tensor<1x32x2x8xf32>, %o: tensor<1x16x4x8xf32>, %l: tensor<1x4x16xf32>, %b: tensor<2x1x1x32xf32>) {
  // expected-error @+1 {{bias batch dim (2) must be B (1) or 1}}
  %r:2 = dma.attention q(%q : tensor<1x16x4x8xf32>) k(%k : tensor<1x32x2x8xf32>) v(%v : tensor<1x32x2x8xf32>) bias(%b : tensor<2x1x1x32xf32>) outs(%o, %l : tensor<1x16x4x8xf32>, tensor<1x4x16xf32>) -> tensor<1x16x4x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @att_bias_heads(%q: tensor<1x16x4x8xf32>, %k: tensor<1x32x2x8xf32>, %v: tensor<1x32x2x8xf32>, %o: tensor<1x16x4x8xf32>, %l: tensor<1x4x16xf32>, %b: tensor<1x3x1x32xf32>) {
  // expected-error @+1 {{bias head dim (3) must be H (4), Hkv (2) or 1}}
  %r:2 = dma.attention q(%q : tensor<1x16x4x8xf32>) k(%k : tensor<1x32x2x8xf32>) v(%v : tensor<1x32x2x8xf32>) bias(%b : tensor<1x3x1x32xf32>) outs(%o, %l : tensor<1x16x4x8xf32>, tensor<1x4x16xf32>) -> tensor<1x16x4x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @att_bias_rows(%q: tensor<1x16x4x8xf32>, %k: tensor<1x32x2x8xf32>, %v: tensor<1x32x2x8xf32>, %o: tensor<1x16x4x8xf32>, %l: tensor<1x4x16xf32>, %b: tensor<1x1x8x32xf32>) {
  // expected-error @+1 {{bias query dim (8) must be Lq (16) or 1}}
  %r:2 = dma.attention q(%q : tensor<1x16x4x8xf32>) k(%k : tensor<1x32x2x8xf32>) v(%v : tensor<1x32x2x8xf32>) bias(%b : tensor<1x1x8x32xf32>) outs(%o, %l : tensor<1x16x4x8xf32>, tensor<1x4x16xf32>) -> tensor<1x16x4x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @att_bias_keys(%q: tensor<1x16x4x8xf32>, %k: tensor<1x32x2x8xf32>, %v: tensor<1x32x2x8xf32>, %o: tensor<1x16x4x8xf32>, %l: tensor<1x4x16xf32>, %b: tensor<1x1x1x16xf32>) {
  // expected-error @+1 {{bias key dim (16) must be Lk (32)}}
  %r:2 = dma.attention q(%q : tensor<1x16x4x8xf32>) k(%k : tensor<1x32x2x8xf32>) v(%v : tensor<1x32x2x8xf32>) bias(%b : tensor<1x1x1x16xf32>) outs(%o, %l : tensor<1x16x4x8xf32>, tensor<1x4x16xf32>) -> tensor<1x16x4x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @att_two_masks(%q: tensor<1x16x4x8xf32>, %k: tensor<1x32x2x8xf32>, %v: tensor<1x32x2x8xf32>, %o: tensor<1x16x4x8xf32>, %l: tensor<1x4x16xf32>, %m: tensor<1x1x1x32xi1>, %i: tensor<1x2x4xi32>) {
  // expected-error @+1 {{takes at most one mask form (mask, keep or keep_rows)}}
  %r:2 = dma.attention q(%q : tensor<1x16x4x8xf32>) k(%k : tensor<1x32x2x8xf32>) v(%v : tensor<1x32x2x8xf32>) mask(%m : tensor<1x1x1x32xi1>) keep(%i : tensor<1x2x4xi32>) outs(%o, %l : tensor<1x16x4x8xf32>, tensor<1x4x16xf32>) -> tensor<1x16x4x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @att_mask_rank(%q: tensor<1x16x4x8xf32>, %k: tensor<1x32x2x8xf32>, %v: tensor<1x32x2x8xf32>, %o: tensor<1x16x4x8xf32>, %l: tensor<1x4x16xf32>, %m: tensor<16x32xi1>) {
  // expected-error @+1 {{mask must have rank 4 [{B|1}, {H|Hkv|1}, {Lq|1}, Lk], got rank 2}}
  %r:2 = dma.attention q(%q : tensor<1x16x4x8xf32>) k(%k : tensor<1x32x2x8xf32>) v(%v : tensor<1x32x2x8xf32>) mask(%m : tensor<16x32xi1>) outs(%o, %l : tensor<1x16x4x8xf32>, tensor<1x4x16xf32>) -> tensor<1x16x4x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @att_mask_i1(%q: tensor<1x16x4x8xf32>, %k: tensor<1x32x2x8xf32>, %v: tensor<1x32x2x8xf32>, %o: tensor<1x16x4x8xf32>, %l: tensor<1x4x16xf32>, %m: tensor<1x1x16x32xi8>) {
  // expected-error @+1 {{mask must have i1 elements (true = kept)}}
  %r:2 = dma.attention q(%q : tensor<1x16x4x8xf32>) k(%k : tensor<1x32x2x8xf32>) v(%v : tensor<1x32x2x8xf32>) mask(%m : tensor<1x1x16x32xi8>) outs(%o, %l : tensor<1x16x4x8xf32>, tensor<1x4x16xf32>) -> tensor<1x16x4x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @att_mask_shape(%q: tensor<1x16x4x8xf32>, %k: tensor<1x32x2x8xf32>, %v: tensor<1x32x2x8xf32>, %o: tensor<1x16x4x8xf32>, %l: tensor<1x4x16xf32>, %m: tensor<1x1x15x32xi1>) {
  // expected-error @+1 {{mask must broadcast as [{B|1}, {H|Hkv|1}, {Lq|1}, Lk] with B = 1, H = 4, Hkv = 2, Lq = 16, Lk = 32}}
  %r:2 = dma.attention q(%q : tensor<1x16x4x8xf32>) k(%k : tensor<1x32x2x8xf32>) v(%v : tensor<1x32x2x8xf32>) mask(%m : tensor<1x1x15x32xi1>) outs(%o, %l : tensor<1x16x4x8xf32>, tensor<1x4x16xf32>) -> tensor<1x16x4x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @att_keep_rank(%q: tensor<1x16x4x8xf32>, %k: tensor<1x32x2x8xf32>, %v: tensor<1x32x2x8xf32>, %o: tensor<1x16x4x8xf32>, %l: tensor<1x4x16xf32>, %i: tensor<2x4xi32>) {
  // expected-error @+1 {{keep must have rank 3 [{B|1}, {Hkv|H|1}, W], got rank 2}}
  %r:2 = dma.attention q(%q : tensor<1x16x4x8xf32>) k(%k : tensor<1x32x2x8xf32>) v(%v : tensor<1x32x2x8xf32>) keep(%i : tensor<2x4xi32>) outs(%o, %l : tensor<1x16x4x8xf32>, tensor<1x4x16xf32>) -> tensor<1x16x4x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @att_keep_int(%q: tensor<1x16x4x8xf32>, %k: tensor<1x32x2x8xf32>, %v: tensor<1x32x2x8xf32>, %o: tensor<1x16x4x8xf32>, %l: tensor<1x4x16xf32>, %i: tensor<1x2x4xf32>) {
  // expected-error @+1 {{keep must have i32 or i64 elements}}
  %r:2 = dma.attention q(%q : tensor<1x16x4x8xf32>) k(%k : tensor<1x32x2x8xf32>) v(%v : tensor<1x32x2x8xf32>) keep(%i : tensor<1x2x4xf32>) outs(%o, %l : tensor<1x16x4x8xf32>, tensor<1x4x16xf32>) -> tensor<1x16x4x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @att_keep_shape(%q: tensor<1x16x4x8xf32>, %k: tensor<1x32x2x8xf32>, %v: tensor<1x32x2x8xf32>, %o: tensor<1x16x4x8xf32>, %l: tensor<1x4x16xf32>, %i: tensor<1x3x4xi32>) {
  // expected-error @+1 {{keep must broadcast as [{B|1}, {Hkv|H|1}, W] with B = 1, H = 4, Hkv = 2}}
  %r:2 = dma.attention q(%q : tensor<1x16x4x8xf32>) k(%k : tensor<1x32x2x8xf32>) v(%v : tensor<1x32x2x8xf32>) keep(%i : tensor<1x3x4xi32>) outs(%o, %l : tensor<1x16x4x8xf32>, tensor<1x4x16xf32>) -> tensor<1x16x4x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @att_rows_rank(%q: tensor<1x16x4x8xf32>, %k: tensor<1x32x2x8xf32>, %v: tensor<1x32x2x8xf32>, %o: tensor<1x16x4x8xf32>, %l: tensor<1x4x16xf32>, %s: tensor<2x32xf32>, %t: tensor<1x2x32xf32>, %p: tensor<1x2x32xi32>) {
  // expected-error @+1 {{each keep_rows tensor must have rank 3 [{B|1}, {Hkv|H|1}, Lk], got rank 2}}
  %r:2 = dma.attention q(%q : tensor<1x16x4x8xf32>) k(%k : tensor<1x32x2x8xf32>) v(%v : tensor<1x32x2x8xf32>) keep_rows(%s, %t, %p : tensor<2x32xf32>, tensor<1x2x32xf32>, tensor<1x2x32xi32>) outs(%o, %l : tensor<1x16x4x8xf32>, tensor<1x4x16xf32>) -> tensor<1x16x4x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @att_rows_shape(%q: tensor<1x16x4x8xf32>, %k: tensor<1x32x2x8xf32>, %v: tensor<1x32x2x8xf32>, %o: tensor<1x16x4x8xf32>, %l: tensor<1x4x16xf32>, %s: tensor<1x2x32xf32>, %t: tensor<1x2x31xf32>, %p: tensor<1x2x32xi32>) {
  // expected-error @+1 {{keep_rows tensors must broadcast as [{B|1}, {Hkv|H|1}, Lk] with B = 1, H = 4, Hkv = 2, Lk = 32}}
  %r:2 = dma.attention q(%q : tensor<1x16x4x8xf32>) k(%k : tensor<1x32x2x8xf32>) v(%v : tensor<1x32x2x8xf32>) keep_rows(%s, %t, %p : tensor<1x2x32xf32>, tensor<1x2x31xf32>, tensor<1x2x32xi32>) outs(%o, %l : tensor<1x16x4x8xf32>, tensor<1x4x16xf32>) -> tensor<1x16x4x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @att_rows_float(%q: tensor<1x16x4x8xf32>, %k: tensor<1x32x2x8xf32>, %v: tensor<1x32x2x8xf32>, %o: tensor<1x16x4x8xf32>, %l: tensor<1x4x16xf32>, %s: tensor<1x2x32xi32>, %t: tensor<1x2x32xf32>, %p: tensor<1x2x32xi32>) {
  // expected-error @+1 {{keep_rows score and threshold must have float elements}}
  %r:2 = dma.attention q(%q : tensor<1x16x4x8xf32>) k(%k : tensor<1x32x2x8xf32>) v(%v : tensor<1x32x2x8xf32>) keep_rows(%s, %t, %p : tensor<1x2x32xi32>, tensor<1x2x32xf32>, tensor<1x2x32xi32>) outs(%o, %l : tensor<1x16x4x8xf32>, tensor<1x4x16xf32>) -> tensor<1x16x4x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @att_rows_tiebreak(%q: tensor<1x16x4x8xf32>, %k: tensor<1x32x2x8xf32>, %v: tensor<1x32x2x8xf32>, %o: tensor<1x16x4x8xf32>, %l: tensor<1x4x16xf32>, %s: tensor<1x2x32xf32>, %t: tensor<1x2x32xf32>, %p: tensor<1x2x32xf32>) {
  // expected-error @+1 {{keep_rows tiebreak must have i32 or i64 elements}}
  %r:2 = dma.attention q(%q : tensor<1x16x4x8xf32>) k(%k : tensor<1x32x2x8xf32>) v(%v : tensor<1x32x2x8xf32>) keep_rows(%s, %t, %p : tensor<1x2x32xf32>, tensor<1x2x32xf32>, tensor<1x2x32xf32>) outs(%o, %l : tensor<1x16x4x8xf32>, tensor<1x4x16xf32>) -> tensor<1x16x4x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @att_softcap(%q: tensor<1x16x4x8xf32>, %k: tensor<1x32x2x8xf32>, %v: tensor<1x32x2x8xf32>, %o: tensor<1x16x4x8xf32>, %l: tensor<1x4x16xf32>) {
  // expected-error @+1 {{softcap must be finite and >= 0, got -1}}
  %r:2 = dma.attention q(%q : tensor<1x16x4x8xf32>) k(%k : tensor<1x32x2x8xf32>) v(%v : tensor<1x32x2x8xf32>) outs(%o, %l : tensor<1x16x4x8xf32>, tensor<1x4x16xf32>) softcap(-1.0) -> tensor<1x16x4x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @att_scale(%q: tensor<1x16x4x8xf32>, %k: tensor<1x32x2x8xf32>, %v: tensor<1x32x2x8xf32>, %o: tensor<1x16x4x8xf32>, %l: tensor<1x4x16xf32>) {
  // expected-error @+1 {{scale must be a finite number}}
  %r:2 = dma.attention q(%q : tensor<1x16x4x8xf32>) k(%k : tensor<1x32x2x8xf32>) v(%v : tensor<1x32x2x8xf32>) outs(%o, %l : tensor<1x16x4x8xf32>, tensor<1x4x16xf32>) scale(0x7FF0000000000000) -> tensor<1x16x4x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @att_o_shape(%q: tensor<1x16x4x8xf32>, %k: tensor<1x32x2x8xf32>, %v: tensor<1x32x2x8xf32>, %o: tensor<1x16x4x7xf32>, %l: tensor<1x4x16xf32>) {
  // expected-error @+1 {{O must be [1, 16, 4, 8]}}
  %r:2 = dma.attention q(%q : tensor<1x16x4x8xf32>) k(%k : tensor<1x32x2x8xf32>) v(%v : tensor<1x32x2x8xf32>) outs(%o, %l : tensor<1x16x4x7xf32>, tensor<1x4x16xf32>) -> tensor<1x16x4x7xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @att_o_type(%q: tensor<1x16x4x8xf32>, %k: tensor<1x32x2x8xf32>, %v: tensor<1x32x2x8xf32>, %o: tensor<1x16x4x8xf16>, %l: tensor<1x4x16xf32>) {
  // expected-error @+1 {{O must have 'f32' elements, got 'f16'}}
  %r:2 = dma.attention q(%q : tensor<1x16x4x8xf32>) k(%k : tensor<1x32x2x8xf32>) v(%v : tensor<1x32x2x8xf32>) outs(%o, %l : tensor<1x16x4x8xf16>, tensor<1x4x16xf32>) -> tensor<1x16x4x8xf16>, tensor<1x4x16xf32>
  return
}

// -----

func.func @att_lse_shape(%q: tensor<1x16x4x8xf32>, %k: tensor<1x32x2x8xf32>, %v: tensor<1x32x2x8xf32>, %o: tensor<1x16x4x8xf32>, %l: tensor<1x16x4xf32>) {
  // expected-error @+1 {{LSE must be [1, 4, 16]}}
  %r:2 = dma.attention q(%q : tensor<1x16x4x8xf32>) k(%k : tensor<1x32x2x8xf32>) v(%v : tensor<1x32x2x8xf32>) outs(%o, %l : tensor<1x16x4x8xf32>, tensor<1x16x4xf32>) -> tensor<1x16x4x8xf32>, tensor<1x16x4xf32>
  return
}

// -----

func.func @att_lse_type(%q: tensor<1x16x4x8xf32>, %k: tensor<1x32x2x8xf32>, %v: tensor<1x32x2x8xf32>, %o: tensor<1x16x4x8xf32>, %l: tensor<1x4x16xf16>) {
  // expected-error @+1 {{LSE must have 'f32' elements, got 'f16'}}
  %r:2 = dma.attention q(%q : tensor<1x16x4x8xf32>) k(%k : tensor<1x32x2x8xf32>) v(%v : tensor<1x32x2x8xf32>) outs(%o, %l : tensor<1x16x4x8xf32>, tensor<1x4x16xf16>) -> tensor<1x16x4x8xf32>, tensor<1x4x16xf16>
  return
}

// -----

func.func @att_rows_partial(%q: tensor<1x16x4x8xf32>, %k: tensor<1x32x2x8xf32>, %v: tensor<1x32x2x8xf32>, %s: tensor<1x2x32xf32>, %o: tensor<1x16x4x8xf32>, %l: tensor<1x4x16xf32>) {
  // expected-error @+1 {{keep_rows needs a score, a threshold and a tiebreak}}
  %r:2 = "dma.attention"(%q, %k, %v, %s, %o, %l) <{operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 1, 0, 0, 2>, softcap = 0.0 : f64}> : (tensor<1x16x4x8xf32>, tensor<1x32x2x8xf32>, tensor<1x32x2x8xf32>, tensor<1x2x32xf32>, tensor<1x16x4x8xf32>, tensor<1x4x16xf32>) -> (tensor<1x16x4x8xf32>, tensor<1x4x16xf32>)
  return
}

// -----

func.func @grad_do_shape(%do: tensor<1x16x4x9xf32>, %q: tensor<1x16x4x8xf32>, %k: tensor<1x32x2x8xf32>, %v: tensor<1x32x2x8xf32>, %o: tensor<1x16x4x8xf32>, %l: tensor<1x4x16xf32>, %dq: tensor<1x16x4x8xf32>, %dk: tensor<1x32x2x8xf32>, %dv: tensor<1x32x2x8xf32>) {
  // expected-error @+1 {{grad must be [1, 16, 4, 8]}}
  %r:3 = dma.attention_grad grad(%do : tensor<1x16x4x9xf32>) q(%q : tensor<1x16x4x8xf32>) k(%k : tensor<1x32x2x8xf32>) v(%v : tensor<1x32x2x8xf32>) out(%o : tensor<1x16x4x8xf32>) lse(%l : tensor<1x4x16xf32>) outs(%dq, %dk, %dv : tensor<1x16x4x8xf32>, tensor<1x32x2x8xf32>, tensor<1x32x2x8xf32>) -> tensor<1x16x4x8xf32>, tensor<1x32x2x8xf32>, tensor<1x32x2x8xf32>
  return
}

// -----

func.func @grad_out_shape(%do: tensor<1x16x4x8xf32>, %q: tensor<1x16x4x8xf32>, %k: tensor<1x32x2x8xf32>, %v: tensor<1x32x2x8xf32>, %o: tensor<1x15x4x8xf32>, %l: tensor<1x4x16xf32>, %dq: tensor<1x16x4x8xf32>, %dk: tensor<1x32x2x8xf32>, %dv: tensor<1x32x2x8xf32>) {
  // expected-error @+1 {{out must be [1, 16, 4, 8]}}
  %r:3 = dma.attention_grad grad(%do : tensor<1x16x4x8xf32>) q(%q : tensor<1x16x4x8xf32>) k(%k : tensor<1x32x2x8xf32>) v(%v : tensor<1x32x2x8xf32>) out(%o : tensor<1x15x4x8xf32>) lse(%l : tensor<1x4x16xf32>) outs(%dq, %dk, %dv : tensor<1x16x4x8xf32>, tensor<1x32x2x8xf32>, tensor<1x32x2x8xf32>) -> tensor<1x16x4x8xf32>, tensor<1x32x2x8xf32>, tensor<1x32x2x8xf32>
  return
}

// -----

func.func @grad_lse_type(%do: tensor<1x16x4x8xf32>, %q: tensor<1x16x4x8xf32>, %k: tensor<1x32x2x8xf32>, %v: tensor<1x32x2x8xf32>, %o: tensor<1x16x4x8xf32>, %l: tensor<1x4x16xf16>, %dq: tensor<1x16x4x8xf32>, %dk: tensor<1x32x2x8xf32>, %dv: tensor<1x32x2x8xf32>) {
  // expected-error @+1 {{lse must have 'f32' elements, got 'f16'}}
  %r:3 = dma.attention_grad grad(%do : tensor<1x16x4x8xf32>) q(%q : tensor<1x16x4x8xf32>) k(%k : tensor<1x32x2x8xf32>) v(%v : tensor<1x32x2x8xf32>) out(%o : tensor<1x16x4x8xf32>) lse(%l : tensor<1x4x16xf16>) outs(%dq, %dk, %dv : tensor<1x16x4x8xf32>, tensor<1x32x2x8xf32>, tensor<1x32x2x8xf32>) -> tensor<1x16x4x8xf32>, tensor<1x32x2x8xf32>, tensor<1x32x2x8xf32>
  return
}

// -----

func.func @grad_dq_shape(%do: tensor<1x16x4x8xf32>, %q: tensor<1x16x4x8xf32>, %k: tensor<1x32x2x8xf32>, %v: tensor<1x32x2x8xf32>, %o: tensor<1x16x4x8xf32>, %l: tensor<1x4x16xf32>, %dq: tensor<1x16x2x8xf32>, %dk: tensor<1x32x2x8xf32>, %dv: tensor<1x32x2x8xf32>) {
  // expected-error @+1 {{dQ must be [1, 16, 4, 8]}}
  %r:3 = dma.attention_grad grad(%do : tensor<1x16x4x8xf32>) q(%q : tensor<1x16x4x8xf32>) k(%k : tensor<1x32x2x8xf32>) v(%v : tensor<1x32x2x8xf32>) out(%o : tensor<1x16x4x8xf32>) lse(%l : tensor<1x4x16xf32>) outs(%dq, %dk, %dv : tensor<1x16x2x8xf32>, tensor<1x32x2x8xf32>, tensor<1x32x2x8xf32>) -> tensor<1x16x2x8xf32>, tensor<1x32x2x8xf32>, tensor<1x32x2x8xf32>
  return
}

// -----

func.func @grad_dk_shape(%do: tensor<1x16x4x8xf32>, %q: tensor<1x16x4x8xf32>, %k: tensor<1x32x2x8xf32>, %v: tensor<1x32x2x8xf32>, %o: tensor<1x16x4x8xf32>, %l: tensor<1x4x16xf32>, %dq: tensor<1x16x4x8xf32>, %dk: tensor<1x32x4x8xf32>, %dv: tensor<1x32x2x8xf32>) {
  // expected-error @+1 {{dK must be [1, 32, 2, 8]}}
  %r:3 = dma.attention_grad grad(%do : tensor<1x16x4x8xf32>) q(%q : tensor<1x16x4x8xf32>) k(%k : tensor<1x32x2x8xf32>) v(%v : tensor<1x32x2x8xf32>) out(%o : tensor<1x16x4x8xf32>) lse(%l : tensor<1x4x16xf32>) outs(%dq, %dk, %dv : tensor<1x16x4x8xf32>, tensor<1x32x4x8xf32>, tensor<1x32x2x8xf32>) -> tensor<1x16x4x8xf32>, tensor<1x32x4x8xf32>, tensor<1x32x2x8xf32>
  return
}

// -----

func.func @grad_dv_type(%do: tensor<1x16x4x8xf32>, %q: tensor<1x16x4x8xf32>, %k: tensor<1x32x2x8xf32>, %v: tensor<1x32x2x8xf32>, %o: tensor<1x16x4x8xf32>, %l: tensor<1x4x16xf32>, %dq: tensor<1x16x4x8xf32>, %dk: tensor<1x32x2x8xf32>, %dv: tensor<1x32x2x8xf16>) {
  // expected-error @+1 {{dV must have 'f32' elements, got 'f16'}}
  %r:3 = dma.attention_grad grad(%do : tensor<1x16x4x8xf32>) q(%q : tensor<1x16x4x8xf32>) k(%k : tensor<1x32x2x8xf32>) v(%v : tensor<1x32x2x8xf32>) out(%o : tensor<1x16x4x8xf32>) lse(%l : tensor<1x4x16xf32>) outs(%dq, %dk, %dv : tensor<1x16x4x8xf32>, tensor<1x32x2x8xf32>, tensor<1x32x2x8xf16>) -> tensor<1x16x4x8xf32>, tensor<1x32x2x8xf32>, tensor<1x32x2x8xf16>
  return
}

// -----

func.func @grad_dbias_shape(%do: tensor<1x16x4x8xf32>, %q: tensor<1x16x4x8xf32>, %k: tensor<1x32x2x8xf32>, %v: tensor<1x32x2x8xf32>, %o: tensor<1x16x4x8xf32>, %l: tensor<1x4x16xf32>, %dq: tensor<1x16x4x8xf32>, %dk: tensor<1x32x2x8xf32>, %dv: tensor<1x32x2x8xf32>, %b: tensor<1x2x1x32xf32>, %db: tensor<1x1x1x32xf32>) {
  // expected-error @+1 {{dBias must be [1, 2, 1, 32]}}
  %r:4 = dma.attention_grad grad(%do : tensor<1x16x4x8xf32>) q(%q : tensor<1x16x4x8xf32>) k(%k : tensor<1x32x2x8xf32>) v(%v : tensor<1x32x2x8xf32>) out(%o : tensor<1x16x4x8xf32>) lse(%l : tensor<1x4x16xf32>) bias(%b : tensor<1x2x1x32xf32>) outs(%dq, %dk, %dv, %db : tensor<1x16x4x8xf32>, tensor<1x32x2x8xf32>, tensor<1x32x2x8xf32>, tensor<1x1x1x32xf32>) -> tensor<1x16x4x8xf32>, tensor<1x32x2x8xf32>, tensor<1x32x2x8xf32>, tensor<1x1x1x32xf32>
  return
}

// -----

func.func @grad_dbias_missing(%do: tensor<1x16x4x8xf32>, %q: tensor<1x16x4x8xf32>, %k: tensor<1x32x2x8xf32>, %v: tensor<1x32x2x8xf32>, %o: tensor<1x16x4x8xf32>, %l: tensor<1x4x16xf32>, %b: tensor<1x2x1x32xf32>, %dq: tensor<1x16x4x8xf32>, %dk: tensor<1x32x2x8xf32>, %dv: tensor<1x32x2x8xf32>) {
  // expected-error @+1 {{expects 4 destinations (dQ, dK, dV, dBias), got 3}}
  %r:3 = dma.attention_grad grad(%do : tensor<1x16x4x8xf32>) q(%q : tensor<1x16x4x8xf32>) k(%k : tensor<1x32x2x8xf32>) v(%v : tensor<1x32x2x8xf32>) out(%o : tensor<1x16x4x8xf32>) lse(%l : tensor<1x4x16xf32>) bias(%b : tensor<1x2x1x32xf32>) outs(%dq, %dk, %dv : tensor<1x16x4x8xf32>, tensor<1x32x2x8xf32>, tensor<1x32x2x8xf32>) -> tensor<1x16x4x8xf32>, tensor<1x32x2x8xf32>, tensor<1x32x2x8xf32>
  return
}

// -----

func.func @vbg_dest_count(%ds: tensor<1x2x8xf32>, %v: tensor<1x8x2x4xf32>, %w: tensor<2x8xf32>, %b: tensor<2xf32>, %a: tensor<2xf32>, %dv: tensor<1x8x2x4xf32>, %dw: tensor<2x8xf32>, %da: tensor<2xf32>) {
  // expected-error @+1 {{expects 4 destinations (grad_value, grad_weight, grad_dt_bias, grad_a), got 3}}
  %r:3 = dma.value_bias_grad log grad(%ds : tensor<1x2x8xf32>) value(%v : tensor<1x8x2x4xf32>) weight(%w : tensor<2x8xf32>) dt_bias(%b : tensor<2xf32>) a(%a : tensor<2xf32>) outs(%dv, %dw, %da : tensor<1x8x2x4xf32>, tensor<2x8xf32>, tensor<2xf32>) -> tensor<1x8x2x4xf32>, tensor<2x8xf32>, tensor<2xf32>
  return
}

// -----

func.func @vbg_grad_shape(%ds: tensor<1x8x2xf32>, %v: tensor<1x8x2x4xf32>, %w: tensor<2x8xf32>, %a: tensor<2xf32>, %dv: tensor<1x8x2x4xf32>, %dw: tensor<2x8xf32>, %da: tensor<2xf32>) {
  // expected-error @+1 {{grad must be [B, Hkv, Lk] = [1, 2, 8]}}
  %r:3 = dma.value_bias_grad log grad(%ds : tensor<1x8x2xf32>) value(%v : tensor<1x8x2x4xf32>) weight(%w : tensor<2x8xf32>) a(%a : tensor<2xf32>) outs(%dv, %dw, %da : tensor<1x8x2x4xf32>, tensor<2x8xf32>, tensor<2xf32>) -> tensor<1x8x2x4xf32>, tensor<2x8xf32>, tensor<2xf32>
  return
}

// -----

func.func @vbg_out_shape(%ds: tensor<1x2x8xf32>, %v: tensor<1x8x2x4xf32>, %w: tensor<2x8xf32>, %a: tensor<2xf32>, %dv: tensor<1x8x2x4xf32>, %dw: tensor<2x4xf32>, %da: tensor<2xf32>) {
  // expected-error @+1 {{grad_weight must have the shape of its input}}
  %r:3 = dma.value_bias_grad log grad(%ds : tensor<1x2x8xf32>) value(%v : tensor<1x8x2x4xf32>) weight(%w : tensor<2x8xf32>) a(%a : tensor<2xf32>) outs(%dv, %dw, %da : tensor<1x8x2x4xf32>, tensor<2x4xf32>, tensor<2xf32>) -> tensor<1x8x2x4xf32>, tensor<2x4xf32>, tensor<2xf32>
  return
}
