//===- DMAEnums.td - enumerations of the dma dialect -------*- tablegen -*-===//

#ifndef DMA_DIALECT_DMA_IR_DMAENUMS_TD
#define DMA_DIALECT_DMA_IR_DMAENUMS_TD

include "mlir/IR/EnumAttr.td"

def DMA_ScoreForm : I32EnumAttr<"ScoreForm",
    "how the value-derived key score enters the attention logits", [
      I32EnumAttrCase<"log", 0>,  // score = A * softplus(dt)       (default)
      I32EnumAttrCase<"exp", 1>   // score = exp(A * softplus(dt))  (paper's ZOH form)
    ]> {
  let cppNamespace = "::mlir::dma";
}

def DMA_TopKSelection : I32EnumAttr<"TopKSelection",
    "whether the kept keys are shared by all queries or chosen per query", [
      I32EnumAttrCase<"shared", 0>,
      I32EnumAttrCase<"per_query", 1>
    ]> {
  let cppNamespace = "::mlir::dma";
}

#endif // DMA_DIALECT_DMA_IR_DMAENUMS_TD
