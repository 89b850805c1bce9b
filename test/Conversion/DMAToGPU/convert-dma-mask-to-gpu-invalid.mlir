// RUN: dma-opt %s -split-input-file --convert-dma-mask-to-gpu -verify-diagnostics

// What the mask kernels do not take is an error at the op, saying what to
// do instead.

func.func @tensors(%s: tensor<1x2x8xf32>, %o: tensor<1x2x4xi32>) -> tensor<1x2x4xi32> {
  // expected-error @+1 {{convert-dma-mask-to-gpu: operands must be memrefs (run one-shot-bufferize first)}}
  %r = dma.topk shared keep(4) score(%s : tensor<1x2x8xf32>)
      outs(%o : tensor<1x2x4xi32>) -> tensor<1x2x4xi32>
  return %r : tensor<1x2x4xi32>
}

// -----

func.func @f16_score(%s: memref<1x2x8xf16>, %o: memref<1x2x4xi32>) {
  // expected-error @+1 {{convert-dma-mask-to-gpu: the GPU kernels take f32 scores, got 'f16'}}
  dma.topk shared keep(4) score(%s : memref<1x2x8xf16>)
      outs(%o : memref<1x2x4xi32>)
  return
}

// -----

func.func @strided_keys(%s: memref<1x2x8xf32, strided<[32, 16, 2]>>,
    %o: memref<1x2x4xi32>) {
  // expected-error @+1 {{convert-dma-mask-to-gpu: the innermost dimension of every operand must be contiguous (copy into a contiguous buffer first)}}
  dma.topk shared keep(4) score(%s : memref<1x2x8xf32, strided<[32, 16, 2]>>)
      outs(%o : memref<1x2x4xi32>)
  return
}

// -----

func.func @mixed_param_types(%v: memref<1x8x2x16xbf16>, %w: memref<2x32xf32>,
    %a: memref<2xbf16>, %s: memref<1x2x8xf32>) {
  // expected-error @+1 {{convert-dma-mask-to-gpu: weight, dt_bias and a must have one element type}}
  dma.value_bias log value(%v : memref<1x8x2x16xbf16>)
      weight(%w : memref<2x32xf32>) a(%a : memref<2xbf16>)
      outs(%s : memref<1x2x8xf32>)
  return
}

// -----

func.func @dynamic_head_dim(%v: memref<1x8x2x?xbf16>, %w: memref<2x?xf32>,
    %a: memref<2xf32>, %s: memref<1x2x8xf32>) {
  // expected-error @+1 {{convert-dma-mask-to-gpu: the value's head dim must be static and a multiple of 8 (16-byte loads)}}
  dma.value_bias log value(%v : memref<1x8x2x?xbf16>)
      weight(%w : memref<2x?xf32>) a(%a : memref<2xf32>)
      outs(%s : memref<1x2x8xf32>)
  return
}

// -----

func.func @per_query_f16_threshold(%s: memref<1x2x8xf32>, %ms: memref<1x2x8xf16>,
    %thr: memref<1x2x8xf16>, %tie: memref<1x2x8xi32>) {
  // expected-error @+1 {{convert-dma-mask-to-gpu: the per-query score and threshold must be f32}}
  dma.topk per_query keep(2) score(%s : memref<1x2x8xf32>)
      outs(%ms, %thr, %tie : memref<1x2x8xf16>, memref<1x2x8xf16>, memref<1x2x8xi32>)
  return
}

// -----

func.func @grad_param_types(%ds: memref<1x2x8xf32>, %v: memref<1x8x2x16xbf16>,
    %w: memref<2x32xf32>, %a: memref<2xf32>, %dv: memref<1x8x2x16xbf16>,
    %dw: memref<2x32xf32>, %da: memref<2xbf16>) {
  // expected-error @+1 {{convert-dma-mask-to-gpu: grad_weight, grad_dt_bias and grad_a must have one element type}}
  dma.value_bias_grad log grad(%ds : memref<1x2x8xf32>)
      value(%v : memref<1x8x2x16xbf16>) weight(%w : memref<2x32xf32>)
      a(%a : memref<2xf32>)
      outs(%dv, %dw, %da : memref<1x8x2x16xbf16>, memref<2x32xf32>, memref<2xbf16>)
  return
}

// -----

// f64 (or any type the kernels do not convert from) is a type error, not an
// arith.extf f64 -> f32 in the generated kernel.
func.func @f64_values(%v: memref<1x8x2x16xf64>, %w: memref<2x32xf32>,
    %a: memref<2xf32>, %s: memref<1x2x8xf32>) {
  // expected-error @+1 {{convert-dma-mask-to-gpu: the GPU kernels take bf16, f16 or f32 values, got 'f64' (use the CPU pipeline)}}
  dma.value_bias log value(%v : memref<1x8x2x16xf64>)
      weight(%w : memref<2x32xf32>) a(%a : memref<2xf32>)
      outs(%s : memref<1x2x8xf32>)
  return
}

// -----

func.func @f64_params(%v: memref<1x8x2x16xbf16>, %w: memref<2x32xf64>,
    %a: memref<2xf64>, %s: memref<1x2x8xf32>) {
  // expected-error @+1 {{convert-dma-mask-to-gpu: the GPU kernels take bf16, f16 or f32 weight, dt_bias and a, got 'f64' (use the CPU pipeline)}}
  dma.value_bias log value(%v : memref<1x8x2x16xbf16>)
      weight(%w : memref<2x32xf64>) a(%a : memref<2xf64>)
      outs(%s : memref<1x2x8xf32>)
  return
}

// -----

func.func @f64_grads(%ds: memref<1x2x8xf32>, %v: memref<1x8x2x16xbf16>,
    %w: memref<2x32xf32>, %a: memref<2xf32>, %dv: memref<1x8x2x16xf64>,
    %dw: memref<2x32xf32>, %da: memref<2xf32>) {
  // expected-error @+1 {{convert-dma-mask-to-gpu: the GPU kernels take bf16, f16 or f32 value gradients, got 'f64' (use the CPU pipeline)}}
  dma.value_bias_grad log grad(%ds : memref<1x2x8xf32>)
      value(%v : memref<1x8x2x16xbf16>) weight(%w : memref<2x32xf32>)
      a(%a : memref<2xf32>)
      outs(%dv, %dw, %da : memref<1x8x2x16xf64>, memref<2x32xf32>, memref<2xf32>)
  return
}

// -----

func.func @f64_param_grads(%ds: memref<1x2x8xf32>, %v: memref<1x8x2x16xbf16>,
    %w: memref<2x32xf32>, %a: memref<2xf32>, %dv: memref<1x8x2x16xbf16>,
    %dw: memref<2x32xf64>, %da: memref<2xf64>) {
  // expected-error @+1 {{convert-dma-mask-to-gpu: the GPU kernels take bf16, f16 or f32 parameter gradients, got 'f64' (use the CPU pipeline)}}
  dma.value_bias_grad log grad(%ds : memref<1x2x8xf32>)
      value(%v : memref<1x8x2x16xbf16>) weight(%w : memref<2x32xf32>)
      a(%a : memref<2xf32>)
      outs(%dv, %dw, %da : memref<1x8x2x16xbf16>, memref<2x32xf64>, memref<2xf64>)
  return
}

// -----

// Limits are checked before any kernel is generated.
func.func @huge_head_dim(%v: memref<1x8x2x1048576xbf16>,
    %w: memref<2x2097152xf32>, %a: memref<2xf32>, %s: memref<1x2x8xf32>) {
  // expected-error @+1 {{convert-dma-mask-to-gpu: the value's head dim must be at most 1024 for the GPU kernels, got 1048576}}
  dma.value_bias log value(%v : memref<1x8x2x1048576xbf16>)
      weight(%w : memref<2x2097152xf32>) a(%a : memref<2xf32>)
      outs(%s : memref<1x2x8xf32>)
  return
}

// -----

// Sizes reach the kernels as i32.
func.func @huge_keys(%s: memref<1x2x4294967296xf32>, %o: memref<1x2x4xi32>) {
  // expected-error @+1 {{the GPU kernels take sizes below 2^31, got 4294967296 in 'memref<1x2x4294967296xf32>'}}
  dma.topk shared keep(4) score(%s : memref<1x2x4294967296xf32>)
      outs(%o : memref<1x2x4xi32>)
  return
}

// -----

func.func @huge_keep(%s: memref<1x2x8xf32>, %ms: memref<1x2x8xf32>,
    %thr: memref<1x2x8xf32>, %tie: memref<1x2x8xi32>) {
  // expected-error @+1 {{convert-dma-mask-to-gpu: keep must be below 2^31 for the GPU kernels (i32 sizes), got 4294967296}}
  dma.topk per_query keep(4294967296) score(%s : memref<1x2x8xf32>)
      outs(%ms, %thr, %tie : memref<1x2x8xf32>, memref<1x2x8xf32>, memref<1x2x8xi32>)
  return
}
