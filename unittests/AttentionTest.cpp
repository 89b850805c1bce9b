//===- AttentionTest.cpp - dma.attention(_grad) on the CPU vs the oracle --===//
//
// The whole test matrix of the semantics page, forward and backward, through
// --dma-cpu-pipeline.
//
//===----------------------------------------------------------------------===//

#include "AttentionCase.h"

#include "gtest/gtest.h"

using namespace dma::test;

namespace {

class AttentionMatrix : public ::testing::TestWithParam<AttentionCase> {};

TEST_P(AttentionMatrix, MatchesOracle) { checkAttentionCase(GetParam()); }

INSTANTIATE_TEST_SUITE_P(
    Spec, AttentionMatrix, ::testing::ValuesIn(attentionMatrix()),
    [](const ::testing::TestParamInfo<AttentionCase> &info) {
      return info.param.name();
    });

} // namespace
