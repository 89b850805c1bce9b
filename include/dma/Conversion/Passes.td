//===- Passes.td - dma conversion passes -------------------*- tablegen -*-===//

#ifndef DMA_CONVERSION_PASSES
#define DMA_CONVERSION_PASSES

include "mlir/Pass/PassBase.td"

def ConvertDMAToLoops : Pass<"convert-dma-to-loops"> {
  let summary = "Lower dma ops on memrefs to direct, untiled scf loops";
  let description = [{
    The reference lowering: each dma op on memrefs becomes a scalar loop
    nest over arith, math, memref and scf, computing exactly the function of
    the semantics page in f32. It is untiled on purpose: it is the simplest
    correct program for each op, the CPU fallback, and the yardstick the
    tiled lowerings are compared against.

    * `dma.attention`: per (batch, head, query row) one pass over the visible
      keys for the row maximum, a second for the sum and P.V; empty rows
      write O = 0, LSE = -inf.
    * `dma.attention_grad`: Delta = rowsum(dO * O), then per row and visible
      key dS, accumulating dQ, dK, dV, dBias in f32 scratch (sequential, so
      deterministic), converted into the destinations at the end.
    * `dma.value_bias`: the dot product with the weight row, softplus, scale.
    * `dma.topk`: one pass per (batch, KV head) keeping a size-w min-heap of
      the best keys so far; its root after key c is prefix c's threshold
      (per_query), and its contents are the kept set (shared).

    Ops still on tensors are rejected: run `one-shot-bufferize` first.

    Before:

    ```mlir
    dma.attention q(%q : memref<1x4x1x8xf32>) k(%k : memref<1x4x1x8xf32>)
        v(%v : memref<1x4x1x8xf32>)
        outs(%o, %lse : memref<1x4x1x8xf32>, memref<1x1x4xf32>) causal
    ```

    After (abridged):

    ```mlir
    scf.parallel (%b, %h, %i) = (%c0, %c0, %c0) to (%c1, %c1, %c4) ... {
      memref.alloca_scope {
        %m = scf.for %j = %c0 to %end iter_args(%mx = %ninf) -> (f32) {
          ... %s = scale * dot(q[b,i,h], k[b,j,g]) ...
          %n = arith.maximumf %mx, %s : f32
          scf.yield %n : f32
        }
        %empty = arith.cmpf oeq, %m, %ninf : f32
        scf.if %empty { ... O = 0, LSE = -inf ... } else { ... }
      }
    }
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect"
  ];
}

#endif // DMA_CONVERSION_PASSES
