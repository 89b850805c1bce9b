// The chips --dma-gpu-pipeline and dma-check-gpu-chip accept: every kernel
// family (forward, backward with its Delta kernel, value bias and its
// backward, per-query top-k) compiles through ptxas for each of them (the
// PTX version follows the chip; sm_100 and newer need PTX 8.6 to 9.0).
// Anything else is a diagnostic listing them, never a crash in LLVM
// (an empty chip segfaulted, sm_70/sm_75/unknown names aborted in
// instruction selection on cp.async, sm_100a/sm_120a hit a fatal error).

// RUN: not dma-opt %s --dma-gpu-pipeline="chip=" 2>&1 | FileCheck %s --check-prefix=EMPTY
// RUN: not dma-opt %s --dma-gpu-pipeline="chip=sm_70" 2>&1 | FileCheck %s --check-prefix=SM70
// RUN: not dma-opt %s --dma-gpu-pipeline="chip=sm_75 format=none" 2>&1 | FileCheck %s --check-prefix=SM75
// RUN: not dma-opt %s --dma-gpu-pipeline="chip=bogus" 2>&1 | FileCheck %s --check-prefix=BOGUS
// The pass itself, which pipelines built through the C++ API run first.
// RUN: not dma-opt %s --dma-check-gpu-chip="chip=sm_75" 2>&1 | FileCheck %s --check-prefix=SM75
// RUN: dma-opt %s --dma-check-gpu-chip="chip=sm_120a" | FileCheck %s --check-prefix=KEEP

// EMPTY: error: unsupported GPU chip '': the dma kernels compile for sm_80, sm_86, sm_87, sm_89, sm_90, sm_90a, sm_100, sm_100a, sm_103, sm_103a, sm_110, sm_110a, sm_120, sm_120a, sm_121, sm_121a
// SM70: error: unsupported GPU chip 'sm_70': the dma kernels compile for sm_80,
// SM75: error: unsupported GPU chip 'sm_75': the dma kernels {{.*}}compile for sm_80,
// BOGUS: error: unsupported GPU chip 'bogus'
// KEEP-LABEL: func.func @kernels
// KEEP: dma.attention_grad

// Each supported chip, end to end (needs ptxas).
// RUN: %if cuda-toolkit %{ dma-opt %s --dma-gpu-pipeline="chip=sm_80 format=bin toolkit=%cuda_toolkit" -o /dev/null %}
// RUN: %if cuda-toolkit %{ dma-opt %s --dma-gpu-pipeline="chip=sm_86 format=bin toolkit=%cuda_toolkit" -o /dev/null %}
// RUN: %if cuda-toolkit %{ dma-opt %s --dma-gpu-pipeline="chip=sm_87 format=bin toolkit=%cuda_toolkit" -o /dev/null %}
// RUN: %if cuda-toolkit %{ dma-opt %s --dma-gpu-pipeline="chip=sm_89 format=bin toolkit=%cuda_toolkit" -o /dev/null %}
// RUN: %if cuda-toolkit %{ dma-opt %s --dma-gpu-pipeline="chip=sm_90 format=bin toolkit=%cuda_toolkit" -o /dev/null %}
// RUN: %if cuda-toolkit %{ dma-opt %s --dma-gpu-pipeline="chip=sm_90a format=bin toolkit=%cuda_toolkit" -o /dev/null %}
// RUN: %if cuda-toolkit %{ dma-opt %s --dma-gpu-pipeline="chip=sm_100 format=bin toolkit=%cuda_toolkit" -o /dev/null %}
// RUN: %if cuda-toolkit %{ dma-opt %s --dma-gpu-pipeline="chip=sm_100a format=bin toolkit=%cuda_toolkit" -o /dev/null %}
// RUN: %if cuda-toolkit %{ dma-opt %s --dma-gpu-pipeline="chip=sm_103 format=bin toolkit=%cuda_toolkit" -o /dev/null %}
// RUN: %if cuda-toolkit %{ dma-opt %s --dma-gpu-pipeline="chip=sm_103a format=bin toolkit=%cuda_toolkit" -o /dev/null %}
// RUN: %if cuda-toolkit %{ dma-opt %s --dma-gpu-pipeline="chip=sm_110 format=bin toolkit=%cuda_toolkit" -o /dev/null %}
// RUN: %if cuda-toolkit %{ dma-opt %s --dma-gpu-pipeline="chip=sm_110a format=bin toolkit=%cuda_toolkit" -o /dev/null %}
// RUN: %if cuda-toolkit %{ dma-opt %s --dma-gpu-pipeline="chip=sm_120 format=bin toolkit=%cuda_toolkit" -o /dev/null %}
// RUN: %if cuda-toolkit %{ dma-opt %s --dma-gpu-pipeline="chip=sm_120a format=bin toolkit=%cuda_toolkit" -o /dev/null %}
// RUN: %if cuda-toolkit %{ dma-opt %s --dma-gpu-pipeline="chip=sm_121 format=bin toolkit=%cuda_toolkit" -o /dev/null %}
// RUN: %if cuda-toolkit %{ dma-opt %s --dma-gpu-pipeline="chip=sm_121a format=bin toolkit=%cuda_toolkit" -o /dev/null %}

func.func @kernels(%q: tensor<1x128x4x64xbf16>, %k: tensor<1x128x2x64xbf16>,
    %v: tensor<1x128x2x64xbf16>, %do: tensor<1x128x4x64xbf16>,
    %w: tensor<2x128xf32>, %a: tensor<2xf32>, %ds: tensor<1x2x128xf32>)
    -> (tensor<1x128x4x64xbf16>, tensor<1x128x4x64xbf16>,
        tensor<1x128x2x64xbf16>, tensor<1x128x2x64xbf16>,
        tensor<1x128x2x64xbf16>, tensor<1x2x128xf32>) {
  %score0 = tensor.empty() : tensor<1x2x128xf32>
  %score = dma.value_bias log value(%v : tensor<1x128x2x64xbf16>)
      weight(%w : tensor<2x128xf32>) a(%a : tensor<2xf32>)
      outs(%score0 : tensor<1x2x128xf32>) -> tensor<1x2x128xf32>
  %ms0 = tensor.empty() : tensor<1x2x128xf32>
  %thr0 = tensor.empty() : tensor<1x2x128xf32>
  %tie0 = tensor.empty() : tensor<1x2x128xi32>
  %ms, %thr, %tie = dma.topk per_query keep(32) score(%score : tensor<1x2x128xf32>)
      outs(%ms0, %thr0, %tie0 : tensor<1x2x128xf32>, tensor<1x2x128xf32>, tensor<1x2x128xi32>)
      -> tensor<1x2x128xf32>, tensor<1x2x128xf32>, tensor<1x2x128xi32>
  %o0 = tensor.empty() : tensor<1x128x4x64xbf16>
  %l0 = tensor.empty() : tensor<1x4x128xf32>
  %o, %lse = dma.attention q(%q : tensor<1x128x4x64xbf16>)
      k(%k : tensor<1x128x2x64xbf16>) v(%v : tensor<1x128x2x64xbf16>)
      outs(%o0, %l0 : tensor<1x128x4x64xbf16>, tensor<1x4x128xf32>) causal
      -> tensor<1x128x4x64xbf16>, tensor<1x4x128xf32>
  %dq0 = tensor.empty() : tensor<1x128x4x64xbf16>
  %dk0 = tensor.empty() : tensor<1x128x2x64xbf16>
  %dv0 = tensor.empty() : tensor<1x128x2x64xbf16>
  %dq, %dk, %dv = dma.attention_grad grad(%do : tensor<1x128x4x64xbf16>)
      q(%q : tensor<1x128x4x64xbf16>) k(%k : tensor<1x128x2x64xbf16>)
      v(%v : tensor<1x128x2x64xbf16>) out(%o : tensor<1x128x4x64xbf16>)
      lse(%lse : tensor<1x4x128xf32>)
      outs(%dq0, %dk0, %dv0 : tensor<1x128x4x64xbf16>, tensor<1x128x2x64xbf16>,
           tensor<1x128x2x64xbf16>) causal
      -> tensor<1x128x4x64xbf16>, tensor<1x128x2x64xbf16>, tensor<1x128x2x64xbf16>
  %gv0 = tensor.empty() : tensor<1x128x2x64xbf16>
  %gw0 = tensor.empty() : tensor<2x128xf32>
  %ga0 = tensor.empty() : tensor<2xf32>
  %gv, %gw, %ga = dma.value_bias_grad log grad(%ds : tensor<1x2x128xf32>)
      value(%v : tensor<1x128x2x64xbf16>) weight(%w : tensor<2x128xf32>)
      a(%a : tensor<2xf32>)
      outs(%gv0, %gw0, %ga0 : tensor<1x128x2x64xbf16>, tensor<2x128xf32>, tensor<2xf32>)
      -> tensor<1x128x2x64xbf16>, tensor<2x128xf32>, tensor<2xf32>
  return %o, %dq, %dk, %dv, %gv, %ms : tensor<1x128x4x64xbf16>, tensor<1x128x4x64xbf16>,
      tensor<1x128x2x64xbf16>, tensor<1x128x2x64xbf16>, tensor<1x128x2x64xbf16>,
      tensor<1x2x128xf32>
}
