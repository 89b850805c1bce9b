//===- OracleTest.cpp - the fp64 oracle checks itself ---------------------===//
//
// The oracle's gradients against central finite differences of the loss
// sum(O * dO) on tiny problems (every input: q, k, v, bias; with causal,
// masks, soft cap and broadcast biases), plus properties of its top-k.
//
//===----------------------------------------------------------------------===//

#include "AttentionCase.h"
#include "dma_oracle/Oracle.h"

#include "gtest/gtest.h"

#include <cmath>

using namespace dma::test;
using dma::oracle::Array;
using dma::oracle::AttentionProblem;
using dma::oracle::MaskForm;

namespace {

double loss(const AttentionProblem &p, const Array &dO) {
  Array o = dma::oracle::attentionForward(p).o;
  double l = 0.0;
  for (int64_t t = 0; t < o.size(); ++t)
    l += o.data[t] * dO.data[t];
  return l;
}

/// Central differences of `loss` w.r.t. every element of `x` (a member of
/// p), compared with `analytic`.
double finiteDifferenceError(AttentionProblem &p, Array &x, const Array &dO,
                             const Array &analytic) {
  const double h = 1e-6;
  std::vector<double> numeric(x.size());
  for (int64_t t = 0; t < x.size(); ++t) {
    double saved = x.data[t];
    x.data[t] = saved + h;
    double up = loss(p, dO);
    x.data[t] = saved - h;
    double down = loss(p, dO);
    x.data[t] = saved;
    numeric[t] = (up - down) / (2 * h);
  }
  return dma::oracle::relativeError(analytic.data, numeric);
}

class OracleGradients : public ::testing::TestWithParam<AttentionCase> {};

TEST_P(OracleGradients, MatchFiniteDifferences) {
  AttentionProblem p = makeProblem(GetParam());
  std::mt19937 rng(5);
  Array dO = randomArray(rng, {p.B(), p.Lq(), p.H(), p.Dv()});
  dma::oracle::AttentionGrads g = dma::oracle::attentionBackward(p, dO);
  EXPECT_LT(finiteDifferenceError(p, p.q, dO, g.dq), 1e-6);
  EXPECT_LT(finiteDifferenceError(p, p.k, dO, g.dk), 1e-6);
  EXPECT_LT(finiteDifferenceError(p, p.v, dO, g.dv), 1e-6);
  if (p.bias)
    EXPECT_LT(finiteDifferenceError(p, *p.bias, dO, *g.dbias), 1e-6);
}

std::vector<AttentionCase> tinyCases() {
  std::vector<AttentionCase> cases;
  AttentionCase base{2, 5, 6, 4, 2, 3, 2};
  base.seed = 11;
  // Plain, causal with a per-key bias, dense mask with a full bias, soft
  // cap with a head-broadcast bias, shared top-k, Lq > Lk causal.
  cases.push_back(base);
  AttentionCase c = base;
  c.causal = true;
  c.bias = Broadcast{true, 1, false};
  cases.push_back(c);
  c = base;
  c.form = MaskForm::Dense;
  c.maskShape = Broadcast{false, 2, true};
  c.bias = Broadcast{true, 0, true};
  cases.push_back(c);
  c = base;
  c.softcap = 0.7;
  c.scale = 1.3;
  c.bias = Broadcast{false, 2, false};
  cases.push_back(c);
  c = base;
  c.form = MaskForm::SharedTopK;
  c.maskShape = Broadcast{true, 1, false};
  c.w = 3;
  c.causal = true;
  c.bias = Broadcast{true, 0, false};
  cases.push_back(c);
  c = base;
  c.Lq = 8;
  c.causal = true;
  c.bias = Broadcast{false, 1, true};
  cases.push_back(c);
  return cases;
}

INSTANTIATE_TEST_SUITE_P(
    Tiny, OracleGradients, ::testing::ValuesIn(tinyCases()),
    [](const ::testing::TestParamInfo<AttentionCase> &info) {
      return info.param.name();
    });

TEST(OracleTopK, PerQueryRepresentationKeepsExactlyTheDefinition) {
  // Interpreting the representation (as every kernel does) must reproduce
  // the kept set of the definition for every row, causal or not.
  std::mt19937 rng(3);
  Array score({2, 3, 40});
  std::uniform_int_distribution<int> level(-3, 3);
  for (double &x : score.data)
    x = level(rng); // many ties
  Array padding({2, 40}, 1.0);
  for (int64_t j = 0; j < 40; j += 9)
    padding.at({1, j}) = 0.0;
  for (int64_t w : {1, 5, 17, 40, 60}) {
    dma::oracle::PerQueryRep rep =
        dma::oracle::perQueryRepresentation(score, padding, w, 1 << 30);
    for (bool causal : {false, true})
      for (int64_t Lq : {1, 25, 40, 55})
        for (int64_t b = 0; b < 2; ++b)
          for (int64_t h = 0; h < 3; ++h)
            for (int64_t i = 0; i < Lq; ++i) {
              std::vector<int64_t> want =
                  dma::oracle::perQueryKeptByDefinition(score, padding, w, b,
                                                        h, i, Lq, causal);
              int64_t cLim = causal ? i + 40 - Lq : 39;
              std::vector<int64_t> got;
              for (int64_t j = 0; j <= cLim; ++j) {
                double s = rep.score.at({b, h, j});
                double thr = rep.threshold.at({b, h, cLim});
                double tie = rep.tiebreak.at({b, h, cLim});
                if (s > thr || (s == thr && j <= tie))
                  got.push_back(j);
              }
              ASSERT_EQ(got, want) << "w=" << w << " causal=" << causal
                                   << " Lq=" << Lq << " row " << i;
            }
  }
}

TEST(OracleTopK, SharedKeepsTheHighestScoresAscending) {
  Array score({1, 1, 6});
  score.data = {0.5, 2.0, 2.0, -1.0, 3.0, 2.0};
  Array kept = dma::oracle::topKShared(score, std::nullopt, 3);
  EXPECT_EQ(kept.data, (std::vector<double>{1, 2, 4})); // tie -> lower index
  Array all = dma::oracle::topKShared(score, std::nullopt, 8);
  EXPECT_EQ(all.data, (std::vector<double>{0, 1, 2, 3, 4, 5, -1, -1}));
}

TEST(OracleValueBias, LogAndExpFormsAgree) {
  std::mt19937 rng(9);
  Array v = randomArray(rng, {2, 5, 3, 4});
  Array w = randomArray(rng, {3, 12}, 0.3);
  Array a = randomArray(rng, {3});
  Array dt = randomArray(rng, {3});
  Array logForm = dma::oracle::valueBias(v, w, dt, a, false);
  Array expForm = dma::oracle::valueBias(v, w, dt, a, true);
  for (int64_t t = 0; t < logForm.size(); ++t)
    EXPECT_NEAR(std::exp(logForm.data[t]), expForm.data[t], 1e-12);
}

} // namespace
