//===- AttentionTest.cpp - dma.attention(_grad) on the CPU vs the oracle --===//
//
// The whole test matrix of the semantics page, forward and backward, through
// --dma-cpu-pipeline: the direct loop lowering and the tiled lowering with
// three tile shapes (with skipping and gathering on). Then the skip check:
// the same cases with skipping and gathering forced off give the same
// results.
//
//===----------------------------------------------------------------------===//

#include "AttentionCase.h"

#include "gtest/gtest.h"

#include <tuple>

using namespace dma::test;

namespace {

struct Lowering {
  const char *name;
  const char *options; // --dma-cpu-pipeline options
};

const Lowering kLowerings[] = {
    {"direct", "tile=false"},
    // Chunks of three key tiles: the per-query backward's ranked tiles span
    // several chunks, the last one partial.
    {"tiles16x16", "q-tile=16 k-tile=16 rank-chunk=48"},
    {"tiles64x32", "q-tile=64 k-tile=32"},
    {"tiles32x128", "q-tile=32 k-tile=128"},
};

using Param = std::tuple<AttentionCase, Lowering>;

class AttentionMatrix : public ::testing::TestWithParam<Param> {};

TEST_P(AttentionMatrix, MatchesOracle) {
  checkAttentionCase(std::get<0>(GetParam()), std::get<1>(GetParam()).options);
}

INSTANTIATE_TEST_SUITE_P(
    Spec, AttentionMatrix,
    ::testing::Combine(::testing::ValuesIn(attentionMatrix()),
                       ::testing::ValuesIn(kLowerings)),
    [](const ::testing::TestParamInfo<Param> &info) {
      return std::string(std::get<1>(info.param).name) + "_" +
             std::get<0>(info.param).name();
    });

/// Skipping and gathering change which tiles are visited, never the result.
class SkipIsExact : public ::testing::TestWithParam<AttentionCase> {};

TEST_P(SkipIsExact, SkipOnEqualsSkipOff) {
  AttentionResults on, off;
  checkAttentionCase(GetParam(), "q-tile=16 k-tile=16 rank-chunk=32 skip=true",
                     &on);
  checkAttentionCase(GetParam(), "q-tile=16 k-tile=16 skip=false", &off);
  // Different visiting orders round differently: agree to f32 rounding.
  const double tol = 1e-6;
  EXPECT_LT(dma::oracle::relativeError(on.o.data, off.o.data), tol);
  EXPECT_LT(dma::oracle::relativeError(on.lse.data, off.lse.data), tol);
  EXPECT_LT(dma::oracle::relativeError(on.dq.data, off.dq.data), tol);
  EXPECT_LT(dma::oracle::relativeError(on.dk.data, off.dk.data), tol);
  EXPECT_LT(dma::oracle::relativeError(on.dv.data, off.dv.data), tol);
  EXPECT_LT(dma::oracle::relativeError(on.dbias.data, off.dbias.data), tol);
}

std::vector<AttentionCase> maskedCases() {
  std::vector<AttentionCase> out;
  for (const AttentionCase &c : attentionMatrix())
    if (c.form != dma::oracle::MaskForm::None)
      out.push_back(c);
  return out;
}

INSTANTIATE_TEST_SUITE_P(
    Spec, SkipIsExact, ::testing::ValuesIn(maskedCases()),
    [](const ::testing::TestParamInfo<AttentionCase> &info) {
      return info.param.name();
    });

} // namespace
