//===- AttentionEmitter.h - shared pieces of the attention loops -*- C++ -*-===//
//
// dma.attention and dma.attention_grad visit the same (row, key) pairs and
// recompute the same score, so both lowerings build them through this
// class: problem sizes, broadcast indices, the score (with soft cap and
// bias), and the walk over the keys a row can see under each mask form.
//
//===----------------------------------------------------------------------===//

#ifndef DMA_LIB_CONVERSION_DMATOLOOPS_ATTENTIONEMITTER_H
#define DMA_LIB_CONVERSION_DMATOLOOPS_ATTENTIONEMITTER_H

#include "dma/Dialect/DMA/IR/DMAOps.h"
#include "dma/Utils/LoopEmitter.h"

#include <optional>

namespace mlir::dma {

/// The memref operands and attributes the two attention ops share.
struct AttentionOperands {
  Value q, k, v, bias, mask, keep, keepScore, keepThreshold, keepTiebreak;
  MaskKind maskKind;
  bool causal;
  double softcap;
  std::optional<double> scale;

  template <typename OpTy>
  static AttentionOperands of(OpTy op) {
    std::optional<double> scale;
    if (auto attr = op.getScaleAttr())
      scale = attr.getValueAsDouble();
    return {op.getQ(),        op.getK(),
            op.getV(),        op.getBias(),
            op.getMask(),     op.getKeep(),
            op.getKeepScore(), op.getKeepThreshold(),
            op.getKeepTiebreak(), op.getMaskKind(),
            op.getCausal(),   op.getSoftcapAttr().getValueAsDouble(),
            scale};
  }
};

/// Everything that is fixed for one query row (b, h, i).
struct AttentionRow {
  Value b, h, i, g; // g: the KV head serving query head h
  Value cLim;       // last key the row may see causally (i + Lk - Lq; < 0 ok)
  Value keyEnd;     // exclusive bound of keys to scan (clamped to [0, Lk])
  SmallVector<Value> biasIdx; // bias indices except the key
  SmallVector<Value> maskIdx; // dense-mask indices except the key
  SmallVector<Value> keepIdx; // top-k (shared or per-query) leading indices
};

/// A score and, with a soft cap, tanh(scale * dot / softcap) for the
/// backward's derivative.
struct Score {
  Value s;
  Value capTanh;
};

class AttentionEmitter : public LoopEmitter {
public:
  AttentionEmitter(OpBuilder &b, Location loc, const AttentionOperands &ops);

  AttentionOperands ops;
  Value B, Lq, H, D, Lk, Hkv, Dv;
  Value scale; // f32

  /// Per-row constants: KV head, causal limit, broadcast indices.
  AttentionRow row(Value b, Value h, Value i);

  /// The logit s[i, j] in f32.
  Score score(const AttentionRow &r, Value j);

  /// Folds `body` over the keys of row `r` that are visible (mask form and
  /// causality), carrying `init`. The body gets the key index j.
  SmallVector<Value> forEachVisibleKey(
      const AttentionRow &r, ValueRange init,
      function_ref<SmallVector<Value>(Value j, ValueRange args)> body);

private:
  /// Index of a broadcast dimension: 0 when the operand's size is 1.
  Value bcast(Value operandDim, Value iv);
  /// Head index for an operand with `heads` heads: h / (H / heads).
  Value headFor(Value heads, Value h);
  /// Whether key j passes the dense or per-query mask of row r.
  Value keptByMask(const AttentionRow &r, Value j);
};

} // namespace mlir::dma

#endif
