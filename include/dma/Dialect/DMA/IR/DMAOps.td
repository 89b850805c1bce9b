//===- DMAOps.td - operations of the dma dialect -----------*- tablegen -*-===//
//
// Four semantic ops. All are destination-passing style (DPS) and accept
// either tensors (returning one result per `outs` operand) or memrefs
// (returning nothing). The verifiers enforce every static constraint of the
// semantics page; each rule has a case in test/Dialect/DMA/invalid.mlir.
//
//===----------------------------------------------------------------------===//

#ifndef DMA_DIALECT_DMA_IR_DMAOPS_TD
#define DMA_DIALECT_DMA_IR_DMAOPS_TD

include "dma/Dialect/DMA/IR/DMADialect.td"
include "dma/Dialect/DMA/IR/DMAEnums.td"
include "mlir/Interfaces/DestinationStyleOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

// A ranked tensor or a ranked memref; ranks and element types are checked by
// the C++ verifiers so that each rule gets its own message.
def DMA_Shaped : AnyTypeOf<[AnyRankedTensor, AnyMemRef], "ranked tensor or memref">;

class DMA_DPSOp<string mnemonic, list<Trait> traits = []>
    : DMA_Op<mnemonic, !listconcat(traits, [
        AttrSizedOperandSegments,
        DeclareOpInterfaceMethods<MemoryEffectsOpInterface>,
        DestinationStyleOpInterface])> {
  let results = (outs Variadic<AnyRankedTensor>:$results);
  let hasVerifier = 1;
  code dpsDecl = [{
    ::mlir::MutableOperandRange getDpsInitsMutable() { return getOutsMutable(); }
  }];
}

//===----------------------------------------------------------------------===//
// dma.value_bias
//===----------------------------------------------------------------------===//

def DMA_ValueBiasOp : DMA_DPSOp<"value_bias"> {
  let summary = "per-key score from the value vectors (A * softplus(dt))";
  let description = [{
    Scores every key from its value vector, one score per (batch, KV head,
    key):

    ```
    dt[b,j,h]    = sum_{h',d} weight[h, h'*D + d] * value[b,j,h',d] + dt_bias[h]
    score[b,h,j] = a[h] * softplus(dt[b,j,h])          (form = log)
                 = exp(a[h] * softplus(dt[b,j,h]))     (form = exp)
    ```

    `softplus(x) = log(1 + exp(x))`, evaluated as `x` above 20. Shapes:
    `value` [B, Lk, Hkv, D], `weight` [Hkv, Hkv*D], `dt_bias` (optional)
    [Hkv], `a` [Hkv], result [B, Hkv, Lk]. The score is both the attention
    bias (broadcast as [B, Hkv, 1, Lk]) and the ranking used by `dma.topk`.

    Example:

    ```mlir
    %score = dma.value_bias log
        value(%v : tensor<2x128x4x64xf32>) weight(%w : tensor<4x256xf32>)
        dt_bias(%bdt : tensor<4xf32>) a(%a : tensor<4xf32>)
        outs(%init : tensor<2x4x128xf32>) -> tensor<2x4x128xf32>
    ```
  }];
  let arguments = (ins DMA_Shaped:$value, DMA_Shaped:$weight,
                       Optional<DMA_Shaped>:$dt_bias, DMA_Shaped:$a,
                       Variadic<DMA_Shaped>:$outs,
                       DMA_ScoreForm:$form);
  let assemblyFormat = [{
    $form `value` `(` $value `:` type($value) `)`
    `weight` `(` $weight `:` type($weight) `)`
    (`dt_bias` `(` $dt_bias^ `:` type($dt_bias) `)`)?
    `a` `(` $a `:` type($a) `)`
    `outs` `(` $outs `:` type($outs) `)`
    attr-dict (`->` type($results)^)?
  }];
  let extraClassDeclaration = dpsDecl;
}

def DMA_ValueBiasGradOp : DMA_DPSOp<"value_bias_grad"> {
  let summary = "gradients of dma.value_bias into value, weight, dt_bias, a";
  let description = [{
    The backward of `dma.value_bias` for the score's gradient `grad`
    ([B, Hkv, Lk], the attention's dBias summed to one row per key):

    ```
    g[b,j,h]  = grad[b,h,j] * dscore/ddt   = grad * a[h] * sigmoid(dt)      (log)
                                           = grad * score * a[h] * sigmoid(dt) (exp)
    e[b,j,h]  = grad[b,h,j] * dscore/da[h] = grad * softplus(dt)             (log)
                                           = grad * score * softplus(dt)     (exp)
    grad_value[b,j,h',d] = sum_h g[b,j,h] * weight[h, h'*D + d]
    grad_weight[h, c]    = sum_{b,j} g[b,j,h] * value[b,j,c / D, c % D]
    grad_dt_bias[h]      = sum_{b,j} g[b,j,h]
    grad_a[h]            = sum_{b,j} e[b,j,h]
    ```

    with `dt` recomputed as in the forward (the derivative of softplus is
    taken as exactly 1 above 20, where softplus returns its argument).
    Destinations: grad_value (like value), grad_weight (like weight),
    grad_dt_bias ([Hkv], exactly when dt_bias is given) and grad_a ([Hkv]);
    every sum is accumulated in f32 in a fixed order (deterministic).

    Example:

    ```mlir
    %dv, %dw, %da = dma.value_bias_grad log grad(%ds : tensor<2x4x128xf32>)
        value(%v : tensor<2x128x4x64xf32>) weight(%w : tensor<4x256xf32>)
        a(%a : tensor<4xf32>)
        outs(%dv0, %dw0, %da0 : tensor<2x128x4x64xf32>, tensor<4x256xf32>,
             tensor<4xf32>)
        -> tensor<2x128x4x64xf32>, tensor<4x256xf32>, tensor<4xf32>
    ```
  }];
  let arguments = (ins DMA_Shaped:$grad, DMA_Shaped:$value,
                       DMA_Shaped:$weight, Optional<DMA_Shaped>:$dt_bias,
                       DMA_Shaped:$a, Variadic<DMA_Shaped>:$outs,
                       DMA_ScoreForm:$form);
  let assemblyFormat = [{
    $form `grad` `(` $grad `:` type($grad) `)`
    `value` `(` $value `:` type($value) `)`
    `weight` `(` $weight `:` type($weight) `)`
    (`dt_bias` `(` $dt_bias^ `:` type($dt_bias) `)`)?
    `a` `(` $a `:` type($a) `)`
    `outs` `(` $outs `:` type($outs) `)`
    attr-dict (`->` type($results)^)?
  }];
  let extraClassDeclaration = dpsDecl;
}

//===----------------------------------------------------------------------===//
// dma.topk
//===----------------------------------------------------------------------===//

def DMA_TopKOp : DMA_DPSOp<"topk"> {
  let summary = "keep the w highest-scoring keys (shared or per query)";
  let description = [{
    Selects, for each (batch, KV head), the `keep` (= w) keys with the
    largest score, ties broken toward the lower index. Keys removed by the
    optional key `padding` mask ([B, Lk], `i1`, true = key exists) and keys
    whose score is NaN are never kept. The selection carries no gradient.

    `score` is [B, Hkv, Lk]. The result is never a dense L x L mask:

    * `shared`: one destination [B, Hkv, W] of `i32`/`i64` with `W == keep`:
      the kept positions in ascending order, padded with -1 when fewer than
      `keep` keys are allowed (so `keep >= Lk` keeps every allowed key).
    * `per_query`: the top-k of every causal prefix, O(B*Hkv*Lk) in size.
      Query i of an attention with Lq queries sees the prefix ending at
      `c = i + Lk - Lq` (bottom-right causal) or `c = Lk - 1` (non-causal),
      and keeps key `j <= c` iff

      ```
      s[j] > threshold[c]  or  (s[j] == threshold[c] and j <= tiebreak[c])
      ```

      Three destinations, each [B, Hkv, Lk]: `s` (the score with NaN at
      keys that are never allowed, so they fail both comparisons), the
      `threshold` (score of the w-th kept key of the prefix, -inf when the
      prefix has at most w allowed keys) and the `tiebreak` position
      (`i32`/`i64`; its type's maximum when every allowed key is kept).

    Example:

    ```mlir
    %idx = dma.topk shared keep(64) score(%s : tensor<2x4x512xf32>)
        outs(%init : tensor<2x4x64xi32>) -> tensor<2x4x64xi32>
    ```
  }];
  let arguments = (ins DMA_Shaped:$score, Optional<DMA_Shaped>:$padding,
                       Variadic<DMA_Shaped>:$outs,
                       DMA_TopKSelection:$selection,
                       I64Attr:$keep);
  let assemblyFormat = [{
    $selection `keep` `(` $keep `)`
    `score` `(` $score `:` type($score) `)`
    (`padding` `(` $padding^ `:` type($padding) `)`)?
    `outs` `(` $outs `:` type($outs) `)`
    attr-dict (`->` type($results)^)?
  }];
  let extraClassDeclaration = dpsDecl;
}

//===----------------------------------------------------------------------===//
// dma.attention / dma.attention_grad
//===----------------------------------------------------------------------===//

// The operands both attention ops share: inputs, bias, the four mask forms.
defvar AttentionMaskArgs = (ins
    Optional<DMA_Shaped>:$bias,
    Optional<DMA_Shaped>:$mask,
    Optional<DMA_Shaped>:$keep,
    Optional<DMA_Shaped>:$keep_score,
    Optional<DMA_Shaped>:$keep_threshold,
    Optional<DMA_Shaped>:$keep_tiebreak);

defvar AttentionAttrArgs = (ins
    OptionalAttr<F64Attr>:$scale,
    UnitAttr:$causal,
    DefaultValuedAttr<F64Attr, "0.0">:$softcap);

defvar AttentionMaskFormat = [{
    (`bias` `(` $bias^ `:` type($bias) `)`)?
    (`mask` `(` $mask^ `:` type($mask) `)`)?
    (`keep` `(` $keep^ `:` type($keep) `)`)?
    (`keep_rows` `(` $keep_score^ `,` $keep_threshold `,` $keep_tiebreak `:`
        type($keep_score) `,` type($keep_threshold) `,` type($keep_tiebreak) `)`)?
    `outs` `(` $outs `:` type($outs) `)`
    (`causal` $causal^)?
    (`scale` `(` $scale^ `)`)?
    (`softcap` `(` $softcap^ `)`)?
    attr-dict (`->` type($results)^)?
}];

defvar AttentionSemantics = [{
    For batch b, query head h, query row i and key j (KV head
    `g = h / (H / Hkv)`):

    ```
    s[i,j] = scale * dot(q[b,i,h,:], k[b,j,g,:]) + bias[b,h,i,j]
           = softcap * tanh(scale * dot / softcap) + bias      (softcap > 0)
    ```

    `scale` defaults to 1/sqrt(D). Key j is visible to query i when it is
    kept by the mask and, with `causal`, when `j <= i + Lk - Lq`
    (bottom-right alignment). `P[i,:]` is the softmax of `s[i,:]` over the
    visible keys; a row with no visible key has O = 0 and LSE = -inf.

    Shapes: `q` [B, Lq, H, D], `k` [B, Lk, Hkv, D], `v` [B, Lk, Hkv, Dv] of
    one element type (bf16, f16 or f32), H % Hkv == 0. Size-1 dimensions of
    the bias and masks broadcast; a tensor with Hb heads serves query head h
    with head `h / (H / Hb)`.

    * `bias` (optional, float): [{B|1}, {H|Hkv|1}, {Lq|1}, Lk].
    * at most one mask form:
      - `mask`: dense boolean (`i1`, true = kept), broadcast like the bias;
      - `keep`: shared top-k, ascending kept positions [{B|1}, {Hkv|H|1}, W]
        (`i32`/`i64`), -1 = padding (the output of `dma.topk shared`);
      - `keep_rows(s, threshold, tiebreak)`: per-query top-k, each
        [{B|1}, {Hkv|H|1}, Lk] (the outputs of `dma.topk per_query`).
}];

def DMA_AttentionOp : DMA_DPSOp<"attention"> {
  let summary = "masked, biased softmax attention over the visible keys";
  let description = !strconcat(AttentionSemantics, [{

    Destinations: `O` [B, Lq, H, Dv] of q's element type and `LSE`
    [B, H, Lq] of f32 (`LSE[i] = log sum_{visible j} exp(s[i,j])`).

    Example (shared top-k, GQA, causal):

    ```mlir
    %o, %lse = dma.attention
        q(%q : tensor<1x256x8x64xf32>) k(%k : tensor<1x256x2x64xf32>)
        v(%v : tensor<1x256x2x64xf32>) bias(%b : tensor<1x2x1x256xf32>)
        keep(%idx : tensor<1x2x32xi32>)
        outs(%o0, %l0 : tensor<1x256x8x64xf32>, tensor<1x8x256xf32>)
        causal -> tensor<1x256x8x64xf32>, tensor<1x8x256xf32>
    ```
  }]);
  let arguments = !con(
      (ins DMA_Shaped:$q, DMA_Shaped:$k, DMA_Shaped:$v),
      AttentionMaskArgs,
      (ins Variadic<DMA_Shaped>:$outs),
      AttentionAttrArgs);
  let assemblyFormat = !strconcat([{
    `q` `(` $q `:` type($q) `)` `k` `(` $k `:` type($k) `)`
    `v` `(` $v `:` type($v) `)`
  }], AttentionMaskFormat);
  let extraClassDeclaration = !strconcat(dpsDecl, [{
    MaskKind getMaskKind();
  }]);
}

def DMA_AttentionGradOp : DMA_DPSOp<"attention_grad"> {
  let summary = "gradients of dma.attention with respect to q, k, v and bias";
  let description = !strconcat(AttentionSemantics, [{

    Given the output gradient `grad` (dO) and the forward's `out` (O) and
    `lse`:

    ```
    Delta[i] = sum_d dO[i,d] * O[i,d]
    dS[i,j]  = P[i,j] * (dot(dO[i], V[j]) - Delta[i])   (times 1 - tanh^2 with a softcap)
    dQ[i]    = scale * sum_j dS[i,j] K[j]
    dK[j]    = scale * sum_i dS[i,j] Q[i]     (summed over a KV group's query heads)
    dV[j]    = sum_i P[i,j] dO[i]             (summed over a KV group's query heads)
    dBias    = dS summed over every broadcast dimension of the bias
    ```

    Destinations: dQ, dK, dV shaped like q, k, v and, when there is a bias,
    dBias shaped like the bias. Masked keys have P = dS = 0; rows with no
    visible key contribute nothing. Gradients are accumulated in f32.

    Example:

    ```mlir
    %dq, %dk, %dv = dma.attention_grad
        grad(%do : tensor<1x64x4x32xf32>) q(%q : tensor<1x64x4x32xf32>)
        k(%k : tensor<1x64x4x32xf32>) v(%v : tensor<1x64x4x32xf32>)
        out(%o : tensor<1x64x4x32xf32>) lse(%lse : tensor<1x4x64xf32>)
        outs(%a, %b, %c : tensor<1x64x4x32xf32>, tensor<1x64x4x32xf32>,
                          tensor<1x64x4x32xf32>)
        -> tensor<1x64x4x32xf32>, tensor<1x64x4x32xf32>, tensor<1x64x4x32xf32>
    ```
  }]);
  let arguments = !con(
      (ins DMA_Shaped:$grad, DMA_Shaped:$q, DMA_Shaped:$k, DMA_Shaped:$v,
           DMA_Shaped:$out, DMA_Shaped:$lse),
      AttentionMaskArgs,
      (ins Variadic<DMA_Shaped>:$outs),
      AttentionAttrArgs);
  let assemblyFormat = !strconcat([{
    `grad` `(` $grad `:` type($grad) `)`
    `q` `(` $q `:` type($q) `)` `k` `(` $k `:` type($k) `)`
    `v` `(` $v `:` type($v) `)` `out` `(` $out `:` type($out) `)`
    `lse` `(` $lse `:` type($lse) `)`
  }], AttentionMaskFormat);
  let extraClassDeclaration = !strconcat(dpsDecl, [{
    MaskKind getMaskKind();
  }]);
}

include "dma/Dialect/DMA/IR/DMATileOps.td"

#endif // DMA_DIALECT_DMA_IR_DMAOPS_TD
