//===- Oracle.h - fp64 reference implementation of the DMA spec -*- C++ -*-===//
//
// A plain C++ (no MLIR) double-precision implementation of every function in
// docs/semantics.md, written for clarity, not speed: each formula of the
// spec appears once, as written. Every numerical test of the project
// compares against it; its own gradients are checked by finite differences.
//
//===----------------------------------------------------------------------===//

#ifndef DMA_ORACLE_ORACLE_H
#define DMA_ORACLE_ORACLE_H

#include <cstdint>
#include <optional>
#include <vector>

namespace dma::oracle {

/// A dense row-major array of doubles (also used for booleans and indices,
/// stored exactly as doubles).
struct Array {
  std::vector<int64_t> shape;
  std::vector<double> data;

  Array() = default;
  explicit Array(std::vector<int64_t> shape, double fill = 0.0);
  int64_t size() const { return static_cast<int64_t>(data.size()); }
  int64_t dim(int i) const { return shape[i]; }
  int64_t offset(const std::vector<int64_t> &idx) const;
  double &at(const std::vector<int64_t> &idx) { return data[offset(idx)]; }
  double at(const std::vector<int64_t> &idx) const { return data[offset(idx)]; }
};

enum class MaskForm { None, Dense, SharedTopK, PerQueryTopK };

/// One attention problem: the inputs of dma.attention in the spec's layout.
struct AttentionProblem {
  Array q;    // [B, Lq, H, D]
  Array k;    // [B, Lk, Hkv, D]
  Array v;    // [B, Lk, Hkv, Dv]
  std::optional<Array> bias; // [{B|1}, {H|Hkv|1}, {Lq|1}, Lk]
  MaskForm form = MaskForm::None;
  Array mask;           // Dense: [{B|1}, {H|Hkv|1}, {Lq|1}, Lk], 0/1
  Array keep;           // SharedTopK: [{B|1}, {Hkv|H|1}, W], -1 padded
  Array keepScore;      // PerQueryTopK: [{B|1}, {Hkv|H|1}, Lk] (NaN = never)
  Array keepThreshold;  // PerQueryTopK: [{B|1}, {Hkv|H|1}, Lk]
  Array keepTiebreak;   // PerQueryTopK: [{B|1}, {Hkv|H|1}, Lk]
  bool causal = false;
  std::optional<double> scale; // default 1/sqrt(D)
  double softcap = 0.0;

  int64_t B() const { return q.dim(0); }
  int64_t Lq() const { return q.dim(1); }
  int64_t H() const { return q.dim(2); }
  int64_t D() const { return q.dim(3); }
  int64_t Lk() const { return k.dim(1); }
  int64_t Hkv() const { return k.dim(2); }
  int64_t Dv() const { return v.dim(3); }
  double effectiveScale() const;
};

struct AttentionOutputs {
  Array o;   // [B, Lq, H, Dv]
  Array lse; // [B, H, Lq]; -inf for rows with no visible key
};

struct AttentionGrads {
  Array dq, dk, dv;
  std::optional<Array> dbias; // shaped like the bias
};

/// Whether key j is visible to query row i of head h in batch b.
bool visible(const AttentionProblem &p, int64_t b, int64_t h, int64_t i,
             int64_t j);

/// The logit s[i, j] (soft cap, then bias) and, with a soft cap,
/// tanh(scale * dot / cap) through `capTanh`.
double logit(const AttentionProblem &p, int64_t b, int64_t h, int64_t i,
             int64_t j, double *capTanh = nullptr);

AttentionOutputs attentionForward(const AttentionProblem &p);

/// Gradients for the loss sum(O * dO); recomputes the forward itself.
AttentionGrads attentionBackward(const AttentionProblem &p, const Array &dO);

/// dma.value_bias: value [B, Lk, Hkv, D], weight [Hkv, Hkv*D], dtBias [Hkv]
/// (optional), a [Hkv] -> score [B, Hkv, Lk]. `expForm` selects exp(...).
Array valueBias(const Array &value, const Array &weight,
                const std::optional<Array> &dtBias, const Array &a,
                bool expForm);

/// The keys kept by a top-w selection among `allowed` keys of one score row,
/// by the definition: sort by (score desc, index asc), keep the first w.
std::vector<int64_t> topKByDefinition(const std::vector<double> &score,
                                      const std::vector<bool> &allowed,
                                      int64_t w);

/// dma.topk shared: [B, Hkv, Lk] scores (+ optional [B, Lk] padding, 1 =
/// key exists) -> [B, Hkv, W] ascending positions, -1 padded.
Array topKShared(const Array &score, const std::optional<Array> &padding,
                 int64_t w);

/// The kept set of query row i (of Lq) for per-query top-k, by definition.
std::vector<int64_t> perQueryKeptByDefinition(
    const Array &score, const std::optional<Array> &padding, int64_t w,
    int64_t b, int64_t h, int64_t i, int64_t Lq, bool causal);

/// A per-query representation (masked score, threshold, tiebreak per causal
/// prefix) built by definition, for feeding dma.attention in tests.
struct PerQueryRep {
  Array score, threshold, tiebreak; // each [B, Hkv, Lk]
};
PerQueryRep perQueryRepresentation(const Array &score,
                                   const std::optional<Array> &padding,
                                   int64_t w, int64_t tiebreakMax);

/// ||a - b|| / ||b|| over elements where b is finite; infinite elements must
/// match exactly (else the result is +inf). NaN anywhere in a gives +inf.
double relativeError(const std::vector<double> &a,
                     const std::vector<double> &b);

} // namespace dma::oracle

#endif // DMA_ORACLE_ORACLE_H
