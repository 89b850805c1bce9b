//===- MaskGenerationTest.cpp - value_bias and topk on the CPU ------------===//
//
// dma.value_bias against the oracle (f32 tolerance) and dma.topk against the
// oracle's definition (exactly: the same indices, thresholds, tiebreaks),
// both forms, with ties, NaN scores, key padding and w >= Lk.
//
//===----------------------------------------------------------------------===//

#include "Harness.h"

#include "gtest/gtest.h"

#include <cmath>
#include <limits>

using namespace dma::test;
using dma::oracle::Array;
using mlir::dma::MemRefArg;

namespace {

//===----------------------------------------------------------------------===//
// dma.value_bias
//===----------------------------------------------------------------------===//

struct ValueBiasCase {
  bool expForm;
  bool withDtBias;
};

class ValueBias : public ::testing::TestWithParam<ValueBiasCase> {};

TEST_P(ValueBias, MatchesOracle) {
  ValueBiasCase c = GetParam();
  std::vector<Param> ps = {{"value", 4, "f32"}, {"weight", 2, "f32"}};
  if (c.withDtBias)
    ps.push_back({"dt_bias", 1, "f32"});
  ps.push_back({"a", 1, "f32"});
  ps.push_back({"score", 3, "f32", true});
  std::string op = std::string("dma.value_bias ") +
                   (c.expForm ? "exp " : "log ") + clause(ps[0]) + " " +
                   clause(ps[1]) + " " +
                   (c.withDtBias ? clause(ps[2]) + " " : "") +
                   clause(ps[c.withDtBias ? 3 : 2]) + " " + outsClause(ps) +
                   " -> " + resultTypes(ps);
  mlir::dma::CPUModule *module = compileCached(kernelFunc("vb", ps, op));
  ASSERT_TRUE(module);

  std::mt19937 rng(c.expForm * 2 + c.withDtBias);
  const int64_t B = 2, Lk = 37, Hkv = 3, D = 16;
  Array value = randomArray(rng, {B, Lk, Hkv, D});
  Array weight = randomArray(rng, {Hkv, Hkv * D}, 0.2);
  Array dt = randomArray(rng, {Hkv});
  Array a = randomArray(rng, {Hkv});
  for (double &x : a.data)
    x = -static_cast<float>(std::exp(x)); // A < 0, as DMA learns it
  F32Buffer bv = F32Buffer::from(value), bw = F32Buffer::from(weight),
            bdt = F32Buffer::from(dt), ba = F32Buffer::from(a),
            out = F32Buffer::poisoned({B, Hkv, Lk});
  std::vector<MemRefArg> args = {bv.arg(), bw.arg()};
  if (c.withDtBias)
    args.push_back(bdt.arg());
  args.push_back(ba.arg());
  args.push_back(out.arg());
  ASSERT_FALSE(module->call("vb", args));
  Array ref = dma::oracle::valueBias(
      value, weight, c.withDtBias ? std::optional<Array>(dt) : std::nullopt,
      a, c.expForm);
  EXPECT_LT(dma::oracle::relativeError(out.toArray().data, ref.data), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Forms, ValueBias,
                         ::testing::Values(ValueBiasCase{false, true},
                                           ValueBiasCase{false, false},
                                           ValueBiasCase{true, true},
                                           ValueBiasCase{true, false}));

//===----------------------------------------------------------------------===//
// dma.topk
//===----------------------------------------------------------------------===//

struct TopKCase {
  int64_t Lk;
  int64_t w;
  bool padding;
  bool ties;
};

std::string topkName(const ::testing::TestParamInfo<TopKCase> &info) {
  const TopKCase &c = info.param;
  return "lk" + std::to_string(c.Lk) + "_w" + std::to_string(c.w) +
         (c.padding ? "_padded" : "") + (c.ties ? "_ties" : "");
}

/// Random scores (coarse levels when `ties`), a few NaN, and a padding mask.
void makeScores(const TopKCase &c, Array &score, Array &padding) {
  std::mt19937 rng(static_cast<unsigned>(c.Lk * 131 + c.w));
  score = randomArray(rng, {2, 3, c.Lk});
  if (c.ties) {
    std::uniform_int_distribution<int> level(-3, 3);
    for (double &x : score.data)
      x = level(rng);
  }
  for (int64_t t = 5; t < score.size(); t += 23)
    score.data[t] = std::nan("");
  padding = Array({2, c.Lk}, 1.0);
  std::bernoulli_distribution drop(0.2);
  for (double &x : padding.data)
    x = drop(rng) ? 0.0 : 1.0;
}

std::string topkKernel(const std::string &selection, const TopKCase &c,
                       std::vector<Param> &ps) {
  ps = {{"score", 3, "f32"}};
  if (c.padding)
    ps.push_back({"padding", 2, "i1"});
  if (selection == "shared") {
    ps.push_back({"idx", 3, "i32", true});
  } else {
    ps.push_back({"masked", 3, "f32", true});
    ps.push_back({"thr", 3, "f32", true});
    ps.push_back({"tie", 3, "i32", true});
  }
  std::string op = "dma.topk " + selection + " keep(" + std::to_string(c.w) +
                   ") " + clause(ps[0]) + " " +
                   (c.padding ? clause(ps[1]) + " " : "") + outsClause(ps) +
                   " -> " + resultTypes(ps);
  return kernelFunc("topk", ps, op);
}

class TopKShared : public ::testing::TestWithParam<TopKCase> {};

TEST_P(TopKShared, KeepsTheDefinitionsPositions) {
  TopKCase c = GetParam();
  std::vector<Param> ps;
  mlir::dma::CPUModule *module = compileCached(topkKernel("shared", c, ps));
  ASSERT_TRUE(module);
  Array score, padding;
  makeScores(c, score, padding);
  F32Buffer bs = F32Buffer::from(score);
  BoolBuffer bp = BoolBuffer::from(padding);
  I32Buffer idx = I32Buffer::poisoned({2, 3, c.w});
  std::vector<MemRefArg> args = {bs.arg()};
  if (c.padding)
    args.push_back(bp.arg());
  args.push_back(idx.arg());
  ASSERT_FALSE(module->call("topk", args));
  Array ref = dma::oracle::topKShared(
      score, c.padding ? std::optional<Array>(padding) : std::nullopt, c.w);
  EXPECT_EQ(idx.toArray().data, ref.data);
}

class TopKPerQuery : public ::testing::TestWithParam<TopKCase> {};

TEST_P(TopKPerQuery, BuildsTheDefinitionsRepresentation) {
  TopKCase c = GetParam();
  std::vector<Param> ps;
  mlir::dma::CPUModule *module = compileCached(topkKernel("per_query", c, ps));
  ASSERT_TRUE(module);
  Array score, padding;
  makeScores(c, score, padding);
  F32Buffer bs = F32Buffer::from(score);
  BoolBuffer bp = BoolBuffer::from(padding);
  F32Buffer masked = F32Buffer::poisoned({2, 3, c.Lk}),
            thr = F32Buffer::poisoned({2, 3, c.Lk});
  I32Buffer tie = I32Buffer::poisoned({2, 3, c.Lk});
  std::vector<MemRefArg> args = {bs.arg()};
  if (c.padding)
    args.push_back(bp.arg());
  args.push_back(masked.arg());
  args.push_back(thr.arg());
  args.push_back(tie.arg());
  ASSERT_FALSE(module->call("topk", args));
  dma::oracle::PerQueryRep ref = dma::oracle::perQueryRepresentation(
      score, c.padding ? std::optional<Array>(padding) : std::nullopt, c.w,
      std::numeric_limits<int32_t>::max());
  Array gotMasked = masked.toArray();
  for (int64_t t = 0; t < score.size(); ++t) {
    if (std::isnan(ref.score.data[t]))
      EXPECT_TRUE(std::isnan(gotMasked.data[t])) << "entry " << t;
    else
      EXPECT_EQ(gotMasked.data[t], ref.score.data[t]) << "entry " << t;
  }
  EXPECT_EQ(thr.toArray().data, ref.threshold.data);
  EXPECT_EQ(tie.toArray().data, ref.tiebreak.data);
}

const TopKCase kTopKCases[] = {
    {1, 1, false, false},   {7, 3, false, true},    {64, 1, true, true},
    {129, 16, false, false}, {129, 16, true, true}, {129, 129, true, false},
    {100, 130, false, true}, {300, 64, true, true},
};

INSTANTIATE_TEST_SUITE_P(Cases, TopKShared, ::testing::ValuesIn(kTopKCases),
                         topkName);
INSTANTIATE_TEST_SUITE_P(Cases, TopKPerQuery, ::testing::ValuesIn(kTopKCases),
                         topkName);

} // namespace
