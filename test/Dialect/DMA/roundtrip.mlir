// RUN: dma-opt %s | dma-opt | FileCheck %s
// RUN: dma-opt %s --mlir-print-op-generic | dma-opt | FileCheck %s

// Every op, on tensors and on memrefs, and every mask form of the attention
// ops, survives printing and parsing.

// CHECK-LABEL: func @value_bias_log
// CHECK: dma.value_bias log value(%{{.*}} : tensor<2x128x4x64xf32>) weight(%{{.*}} : tensor<4x256xf32>) dt_bias(%{{.*}} : tensor<4xf32>) a(%{{.*}} : tensor<4xf32>) outs(%{{.*}} : tensor<2x4x128xf32>) -> tensor<2x4x128xf32>
func.func @value_bias_log(%v: tensor<2x128x4x64xf32>, %w: tensor<4x256xf32>,
    %bdt: tensor<4xf32>, %a: tensor<4xf32>, %init: tensor<2x4x128xf32>) -> tensor<2x4x128xf32> {
  %s = dma.value_bias log value(%v : tensor<2x128x4x64xf32>) weight(%w : tensor<4x256xf32>)
      dt_bias(%bdt : tensor<4xf32>) a(%a : tensor<4xf32>)
      outs(%init : tensor<2x4x128xf32>) -> tensor<2x4x128xf32>
  return %s : tensor<2x4x128xf32>
}

// CHECK-LABEL: func @value_bias_exp_memref
// CHECK: dma.value_bias exp value(%{{.*}} : memref<?x?x?x?xbf16>) weight(%{{.*}} : memref<?x?xbf16>) a(%{{.*}} : memref<?xbf16>) outs(%{{.*}} : memref<?x?x?xbf16>)
// CHECK-NOT: ->
func.func @value_bias_exp_memref(%v: memref<?x?x?x?xbf16>, %w: memref<?x?xbf16>,
    %a: memref<?xbf16>, %out: memref<?x?x?xbf16>) {
  dma.value_bias exp value(%v : memref<?x?x?x?xbf16>) weight(%w : memref<?x?xbf16>)
      a(%a : memref<?xbf16>) outs(%out : memref<?x?x?xbf16>)
  return
}

// CHECK-LABEL: func @value_bias_grad
// CHECK: dma.value_bias_grad log grad(%{{.*}} : tensor<2x4x128xf32>) value(%{{.*}} : tensor<2x128x4x64xbf16>) weight(%{{.*}} : tensor<4x256xf32>) dt_bias(%{{.*}} : tensor<4xf32>) a(%{{.*}} : tensor<4xf32>) outs(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : tensor<2x128x4x64xbf16>, tensor<4x256xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x128x4x64xbf16>, tensor<4x256xf32>, tensor<4xf32>, tensor<4xf32>
func.func @value_bias_grad(%ds: tensor<2x4x128xf32>, %v: tensor<2x128x4x64xbf16>,
    %w: tensor<4x256xf32>, %bdt: tensor<4xf32>, %a: tensor<4xf32>,
    %dv: tensor<2x128x4x64xbf16>, %dw: tensor<4x256xf32>, %ddt: tensor<4xf32>,
    %da: tensor<4xf32>) -> tensor<4x256xf32> {
  %r:4 = dma.value_bias_grad log grad(%ds : tensor<2x4x128xf32>)
      value(%v : tensor<2x128x4x64xbf16>) weight(%w : tensor<4x256xf32>)
      dt_bias(%bdt : tensor<4xf32>) a(%a : tensor<4xf32>)
      outs(%dv, %dw, %ddt, %da : tensor<2x128x4x64xbf16>, tensor<4x256xf32>,
           tensor<4xf32>, tensor<4xf32>)
      -> tensor<2x128x4x64xbf16>, tensor<4x256xf32>, tensor<4xf32>, tensor<4xf32>
  return %r#1 : tensor<4x256xf32>
}

// CHECK-LABEL: func @value_bias_grad_exp_memref
// CHECK: dma.value_bias_grad exp grad(%{{.*}} : memref<?x?x?xf32>) value(%{{.*}} : memref<?x?x?x64xf16>) weight(%{{.*}} : memref<?x?xf32>) a(%{{.*}} : memref<?xf32>) outs(%{{.*}}, %{{.*}}, %{{.*}} : memref<?x?x?x64xf16>, memref<?x?xf32>, memref<?xf32>)
// CHECK-NOT: ->
func.func @value_bias_grad_exp_memref(%ds: memref<?x?x?xf32>,
    %v: memref<?x?x?x64xf16>, %w: memref<?x?xf32>, %a: memref<?xf32>,
    %dv: memref<?x?x?x64xf16>, %dw: memref<?x?xf32>, %da: memref<?xf32>) {
  dma.value_bias_grad exp grad(%ds : memref<?x?x?xf32>)
      value(%v : memref<?x?x?x64xf16>) weight(%w : memref<?x?xf32>)
      a(%a : memref<?xf32>)
      outs(%dv, %dw, %da : memref<?x?x?x64xf16>, memref<?x?xf32>, memref<?xf32>)
  return
}

// CHECK-LABEL: func @topk_shared
// CHECK: dma.topk shared keep(64) score(%{{.*}} : tensor<2x4x512xf32>) padding(%{{.*}} : tensor<2x512xi1>) outs(%{{.*}} : tensor<2x4x64xi32>) -> tensor<2x4x64xi32>
func.func @topk_shared(%s: tensor<2x4x512xf32>, %pad: tensor<2x512xi1>,
    %init: tensor<2x4x64xi32>) -> tensor<2x4x64xi32> {
  %idx = dma.topk shared keep(64) score(%s : tensor<2x4x512xf32>)
      padding(%pad : tensor<2x512xi1>) outs(%init : tensor<2x4x64xi32>) -> tensor<2x4x64xi32>
  return %idx : tensor<2x4x64xi32>
}

// CHECK-LABEL: func @topk_per_query
// CHECK: dma.topk per_query keep(16) score(%{{.*}} : memref<1x2x64xf32>) outs(%{{.*}}, %{{.*}}, %{{.*}} : memref<1x2x64xf32>, memref<1x2x64xf32>, memref<1x2x64xi64>)
func.func @topk_per_query(%s: memref<1x2x64xf32>, %ms: memref<1x2x64xf32>,
    %thr: memref<1x2x64xf32>, %tie: memref<1x2x64xi64>) {
  dma.topk per_query keep(16) score(%s : memref<1x2x64xf32>)
      outs(%ms, %thr, %tie : memref<1x2x64xf32>, memref<1x2x64xf32>, memref<1x2x64xi64>)
  return
}

// CHECK-LABEL: func @attention_no_mask
// CHECK: dma.attention q(%{{.*}} : tensor<1x128x8x64xf16>) k(%{{.*}} : tensor<1x128x8x64xf16>) v(%{{.*}} : tensor<1x128x8x64xf16>) outs(%{{.*}}, %{{.*}} : tensor<1x128x8x64xf16>, tensor<1x8x128xf32>) -> tensor<1x128x8x64xf16>, tensor<1x8x128xf32>
func.func @attention_no_mask(%q: tensor<1x128x8x64xf16>, %k: tensor<1x128x8x64xf16>,
    %v: tensor<1x128x8x64xf16>, %o: tensor<1x128x8x64xf16>, %l: tensor<1x8x128xf32>)
    -> (tensor<1x128x8x64xf16>, tensor<1x8x128xf32>) {
  %r:2 = dma.attention q(%q : tensor<1x128x8x64xf16>) k(%k : tensor<1x128x8x64xf16>)
      v(%v : tensor<1x128x8x64xf16>)
      outs(%o, %l : tensor<1x128x8x64xf16>, tensor<1x8x128xf32>)
      -> tensor<1x128x8x64xf16>, tensor<1x8x128xf32>
  return %r#0, %r#1 : tensor<1x128x8x64xf16>, tensor<1x8x128xf32>
}

// CHECK-LABEL: func @attention_dense_mask
// CHECK: dma.attention q({{.*}}) k({{.*}}) v({{.*}}) bias(%{{.*}} : memref<1x8x128x256xbf16>) mask(%{{.*}} : memref<1x1x128x256xi1>) outs({{.*}}) causal scale(1.250000e-01) softcap(3.000000e+01)
func.func @attention_dense_mask(%q: memref<1x128x8x64xbf16>, %k: memref<1x256x2x64xbf16>,
    %v: memref<1x256x2x64xbf16>, %b: memref<1x8x128x256xbf16>, %m: memref<1x1x128x256xi1>,
    %o: memref<1x128x8x64xbf16>, %l: memref<1x8x128xf32>) {
  dma.attention q(%q : memref<1x128x8x64xbf16>) k(%k : memref<1x256x2x64xbf16>)
      v(%v : memref<1x256x2x64xbf16>) bias(%b : memref<1x8x128x256xbf16>)
      mask(%m : memref<1x1x128x256xi1>)
      outs(%o, %l : memref<1x128x8x64xbf16>, memref<1x8x128xf32>)
      causal scale(0.125) softcap(30.0)
  return
}

// CHECK-LABEL: func @attention_shared_topk
// CHECK: dma.attention {{.*}} bias(%{{.*}} : tensor<1x2x1x256xf32>) keep(%{{.*}} : tensor<1x2x32xi32>) outs({{.*}}) causal ->
func.func @attention_shared_topk(%q: tensor<1x256x8x64xf32>, %k: tensor<1x256x2x64xf32>,
    %v: tensor<1x256x2x64xf32>, %b: tensor<1x2x1x256xf32>, %idx: tensor<1x2x32xi32>,
    %o0: tensor<1x256x8x64xf32>, %l0: tensor<1x8x256xf32>)
    -> (tensor<1x256x8x64xf32>, tensor<1x8x256xf32>) {
  %o, %lse = dma.attention q(%q : tensor<1x256x8x64xf32>) k(%k : tensor<1x256x2x64xf32>)
      v(%v : tensor<1x256x2x64xf32>) bias(%b : tensor<1x2x1x256xf32>)
      keep(%idx : tensor<1x2x32xi32>)
      outs(%o0, %l0 : tensor<1x256x8x64xf32>, tensor<1x8x256xf32>)
      causal -> tensor<1x256x8x64xf32>, tensor<1x8x256xf32>
  return %o, %lse : tensor<1x256x8x64xf32>, tensor<1x8x256xf32>
}

// CHECK-LABEL: func @attention_per_query_topk
// CHECK: dma.attention {{.*}} keep_rows(%{{.*}}, %{{.*}}, %{{.*}} : memref<?x?x?xf32>, memref<?x?x?xf32>, memref<?x?x?xi32>) outs({{.*}}) causal
func.func @attention_per_query_topk(%q: memref<?x?x?x?xf32>, %k: memref<?x?x?x?xf32>,
    %v: memref<?x?x?x?xf32>, %s: memref<?x?x?xf32>, %thr: memref<?x?x?xf32>,
    %tie: memref<?x?x?xi32>, %o: memref<?x?x?x?xf32>, %l: memref<?x?x?xf32>) {
  dma.attention q(%q : memref<?x?x?x?xf32>) k(%k : memref<?x?x?x?xf32>)
      v(%v : memref<?x?x?x?xf32>)
      keep_rows(%s, %thr, %tie : memref<?x?x?xf32>, memref<?x?x?xf32>, memref<?x?x?xi32>)
      outs(%o, %l : memref<?x?x?x?xf32>, memref<?x?x?xf32>) causal
  return
}

// CHECK-LABEL: func @attention_grad_with_bias
// CHECK: %{{.*}}:4 = dma.attention_grad grad({{.*}}) q({{.*}}) k({{.*}}) v({{.*}}) out({{.*}}) lse({{.*}}) bias(%{{.*}} : tensor<1x1x1x64xf32>) keep(%{{.*}} : tensor<1x1x8xi64>) outs({{.*}}) causal softcap(5.000000e+00) -> tensor<1x64x4x32xf32>, tensor<1x64x2x32xf32>, tensor<1x64x2x16xf32>, tensor<1x1x1x64xf32>
func.func @attention_grad_with_bias(%do: tensor<1x64x4x16xf32>, %q: tensor<1x64x4x32xf32>,
    %k: tensor<1x64x2x32xf32>, %v: tensor<1x64x2x16xf32>, %o: tensor<1x64x4x16xf32>,
    %lse: tensor<1x4x64xf32>, %b: tensor<1x1x1x64xf32>, %idx: tensor<1x1x8xi64>,
    %dq0: tensor<1x64x4x32xf32>, %dk0: tensor<1x64x2x32xf32>, %dv0: tensor<1x64x2x16xf32>,
    %db0: tensor<1x1x1x64xf32>) -> tensor<1x1x1x64xf32> {
  %dq, %dk, %dv, %db = dma.attention_grad grad(%do : tensor<1x64x4x16xf32>)
      q(%q : tensor<1x64x4x32xf32>) k(%k : tensor<1x64x2x32xf32>) v(%v : tensor<1x64x2x16xf32>)
      out(%o : tensor<1x64x4x16xf32>) lse(%lse : tensor<1x4x64xf32>)
      bias(%b : tensor<1x1x1x64xf32>) keep(%idx : tensor<1x1x8xi64>)
      outs(%dq0, %dk0, %dv0, %db0 : tensor<1x64x4x32xf32>, tensor<1x64x2x32xf32>,
           tensor<1x64x2x16xf32>, tensor<1x1x1x64xf32>)
      causal softcap(5.0)
      -> tensor<1x64x4x32xf32>, tensor<1x64x2x32xf32>, tensor<1x64x2x16xf32>, tensor<1x1x1x64xf32>
  return %db : tensor<1x1x1x64xf32>
}

// CHECK-LABEL: func @attention_grad_memref_dense
// CHECK: dma.attention_grad {{.*}} mask(%{{.*}} : memref<1x4x64x64xi1>) outs(%{{.*}}, %{{.*}}, %{{.*}} : {{.*}})
func.func @attention_grad_memref_dense(%do: memref<1x64x4x32xf16>, %q: memref<1x64x4x32xf16>,
    %k: memref<1x64x4x32xf16>, %v: memref<1x64x4x32xf16>, %o: memref<1x64x4x32xf16>,
    %lse: memref<1x4x64xf32>, %m: memref<1x4x64x64xi1>, %dq: memref<1x64x4x32xf16>,
    %dk: memref<1x64x4x32xf16>, %dv: memref<1x64x4x32xf16>) {
  dma.attention_grad grad(%do : memref<1x64x4x32xf16>) q(%q : memref<1x64x4x32xf16>)
      k(%k : memref<1x64x4x32xf16>) v(%v : memref<1x64x4x32xf16>)
      out(%o : memref<1x64x4x32xf16>) lse(%lse : memref<1x4x64xf32>)
      mask(%m : memref<1x4x64x64xi1>)
      outs(%dq, %dk, %dv : memref<1x64x4x32xf16>, memref<1x64x4x32xf16>, memref<1x64x4x32xf16>)
  return
}

// Empty problems are valid: no heads at all (H = Hkv = 0), no keys.
// CHECK-LABEL: func @attention_empty
// CHECK: dma.attention {{.*}} memref<1x8x0x16xf32>
// CHECK: dma.attention {{.*}} memref<1x0x2x16xf32>
func.func @attention_empty(%q: memref<1x8x0x16xf32>, %k: memref<1x8x0x16xf32>,
    %o: memref<1x8x0x16xf32>, %l: memref<1x0x8xf32>,
    %q2: memref<1x8x2x16xf32>, %k2: memref<1x0x2x16xf32>,
    %o2: memref<1x8x2x16xf32>, %l2: memref<1x2x8xf32>) {
  dma.attention q(%q : memref<1x8x0x16xf32>) k(%k : memref<1x8x0x16xf32>)
      v(%k : memref<1x8x0x16xf32>)
      outs(%o, %l : memref<1x8x0x16xf32>, memref<1x0x8xf32>)
  dma.attention q(%q2 : memref<1x8x2x16xf32>) k(%k2 : memref<1x0x2x16xf32>)
      v(%k2 : memref<1x0x2x16xf32>)
      outs(%o2, %l2 : memref<1x8x2x16xf32>, memref<1x2x8xf32>) causal
  return
}
