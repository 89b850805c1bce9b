//===- DMADialect.td - Dynamic Mask Attention dialect ------*- tablegen -*-===//

#ifndef DMA_DIALECT_DMA_IR_DMADIALECT_TD
#define DMA_DIALECT_DMA_IR_DMADIALECT_TD

include "mlir/IR/OpBase.td"

def DMA_Dialect : Dialect {
  let name = "dma";
  let cppNamespace = "::mlir::dma";
  let summary = "Dynamic Mask Attention: mask generation and sparse attention";
  let description = [{
    The `dma` dialect expresses Dynamic Mask Attention (DMA, "Trainable
    Dynamic Mask Sparse Attention", arXiv 2508.02124) as a handful of
    semantic operations:

    * `dma.value_bias` scores every key from its value vector
      (`A * softplus(W v + b_dt)`, one score per key and KV head);
    * `dma.topk` keeps the `w` highest-scoring keys, either one set shared by
      every query of a KV head or one set per query (under causality);
    * `dma.attention` and `dma.attention_grad` compute softmax attention and
      its gradients over the visible keys only, with an additive bias, a soft
      cap and one of four mask forms (none, dense boolean, shared top-k,
      per-query top-k).

    Every op is in destination-passing style: the `outs(...)` operands are
    the destinations. On tensors an op returns one result per destination;
    on memrefs it writes into them and returns nothing. One-shot
    bufferization turns the first form into the second, and the lowerings
    (to loops for the CPU, to tiles and tensor cores for the GPU) consume the
    second. The exact function every op computes is fixed by the project's
    semantics page (docs/semantics.md).
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::tensor::TensorDialect"
  ];
  // The GPU tile layouts (DMAAttrs.td).
  let useDefaultAttributePrinterParser = 1;
  let extraClassDeclaration = [{
    void registerAttributes();
  }];
}

class DMA_Op<string mnemonic, list<Trait> traits = []>
    : Op<DMA_Dialect, mnemonic, traits>;

#endif // DMA_DIALECT_DMA_IR_DMADIALECT_TD
