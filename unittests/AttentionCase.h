//===- AttentionCase.h - the spec's attention test matrix -------*- C++ -*-===//
//
// One AttentionCase is a point of the semantics page's test matrix (shape,
// GQA/MQA, bias broadcast pattern, mask form, causal, soft cap, scale, keep
// window). `attentionMatrix()` enumerates the matrix; `checkAttentionCase`
// compiles the forward and backward kernels through --dma-cpu-pipeline
// (with the given options), runs them on random f32 inputs with poisoned
// outputs, and compares with the fp64 oracle at the spec's tolerances.
//
//===----------------------------------------------------------------------===//

#ifndef DMA_UNITTESTS_ATTENTIONCASE_H
#define DMA_UNITTESTS_ATTENTIONCASE_H

#include "Harness.h"

#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace dma::test {

/// Which size each broadcast dimension of a bias, mask or keep tensor has.
struct Broadcast {
  bool batch = true; // B, else 1
  int heads = 0;     // 0: H, 1: Hkv, 2: 1
  bool rows = true;  // Lq, else 1 (bias and dense mask only)
};

struct AttentionCase {
  int64_t B, Lq, Lk, H, Hkv, D, Dv;
  oracle::MaskForm form = oracle::MaskForm::None;
  std::optional<Broadcast> bias;
  Broadcast maskShape;
  bool causal = false;
  double softcap = 0.0;
  std::optional<double> scale;
  int64_t w = 0; // keep window of the top-k forms
  unsigned seed = 0;

  std::string name() const;
};

std::ostream &operator<<(std::ostream &os, const AttentionCase &c);

/// The spec's matrix: lengths 1, 7, 129 and Lq != Lk (Lq = 1 among them),
/// H = Hkv, GQA and MQA, D in {32, 64, 128}, Dv != D, every bias pattern,
/// every mask form, causal on and off, soft cap, explicit scale, w >= Lk.
std::vector<AttentionCase> attentionMatrix();

/// Summary of one run, for reporting.
struct AttentionErrors {
  double o = 0, lse = 0, dq = 0, dk = 0, dv = 0, dbias = 0;
  int64_t emptyRows = 0;
};

/// What one run of a case computed.
struct AttentionResults {
  Array o, lse, dq, dk, dv, dbias;
};

/// Runs the forward and backward of `c` through --dma-cpu-pipeline with
/// `pipelineOptions` and asserts the spec's f32 tolerances (gtest failures).
/// The outputs are returned through `results` when given.
AttentionErrors checkAttentionCase(const AttentionCase &c,
                                   const std::string &pipelineOptions = "",
                                   AttentionResults *results = nullptr);

/// Key tiles and keys visited by the forward and the backward of a case
/// (compiled with count-visits=true added to `pipelineOptions`).
struct VisitCounts {
  int64_t forwardTiles = 0, forwardKeys = 0, backwardTiles = 0,
          backwardKeys = 0;
};
/// `problem` replaces the case's random inputs when given (same shapes).
VisitCounts countVisits(const AttentionCase &c,
                        const std::string &pipelineOptions,
                        const oracle::AttentionProblem *problem = nullptr);

/// Builds the oracle problem of a case (random inputs from its seed).
oracle::AttentionProblem makeProblem(const AttentionCase &c);

/// The forward+backward kernel source for the case's variant.
std::string attentionKernelSource(const AttentionCase &c);

} // namespace dma::test

#endif // DMA_UNITTESTS_ATTENTIONCASE_H
