//===- AttentionCase.cpp - the spec's attention test matrix ---------------===//

#include "AttentionCase.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <sstream>

namespace dma::test {

using oracle::MaskForm;
using mlir::dma::MemRefArg;

namespace {

const char *formName(MaskForm f) {
  switch (f) {
  case MaskForm::None:
    return "nomask";
  case MaskForm::Dense:
    return "dense";
  case MaskForm::SharedTopK:
    return "shared";
  case MaskForm::PerQueryTopK:
    return "perquery";
  }
  return "?";
}

std::string broadcastName(const Broadcast &b) {
  static const char *heads[] = {"H", "Hkv", "1"};
  return std::string(b.batch ? "B" : "1") + heads[b.heads] +
         (b.rows ? "L" : "1");
}

int64_t headsOf(const AttentionCase &c, const Broadcast &b) {
  return b.heads == 0 ? c.H : b.heads == 1 ? c.Hkv : 1;
}

/// [B|1, heads, (Lq|1,) last] for a bias/mask (withRows) or keep tensor.
std::vector<int64_t> broadcastShape(const AttentionCase &c, const Broadcast &b,
                                    bool withRows, int64_t last) {
  std::vector<int64_t> shape = {b.batch ? c.B : 1, headsOf(c, b)};
  if (withRows)
    shape.push_back(b.rows ? c.Lq : 1);
  shape.push_back(last);
  return shape;
}

/// Params of the forward (`grad` false) or backward kernel, in call order.
std::vector<Param> attentionParams(const AttentionCase &c, bool grad) {
  // Head dims are static (kernels are specialised on them, as the tiled
  // lowering requires); every other size is dynamic.
  std::vector<Param> ps;
  if (grad)
    ps.push_back({"grad", 4, "f32", false, c.Dv});
  ps.push_back({"q", 4, "f32", false, c.D});
  ps.push_back({"k", 4, "f32", false, c.D});
  ps.push_back({"v", 4, "f32", false, c.Dv});
  if (grad) {
    ps.push_back({"out", 4, "f32", false, c.Dv});
    ps.push_back({"lse", 3, "f32"});
  }
  if (c.bias)
    ps.push_back({"bias", 4, "f32"});
  switch (c.form) {
  case MaskForm::None:
    break;
  case MaskForm::Dense:
    ps.push_back({"mask", 4, "i1"});
    break;
  case MaskForm::SharedTopK:
    ps.push_back({"keep", 3, "i32"});
    break;
  case MaskForm::PerQueryTopK:
    ps.push_back({"keep_score", 3, "f32"});
    ps.push_back({"keep_threshold", 3, "f32"});
    ps.push_back({"keep_tiebreak", 3, "i32"});
    break;
  }
  if (grad) {
    ps.push_back({"dq", 4, "f32", true, c.D});
    ps.push_back({"dk", 4, "f32", true, c.D});
    ps.push_back({"dv", 4, "f32", true, c.Dv});
    if (c.bias)
      ps.push_back({"dbias", 4, "f32", true});
  } else {
    ps.push_back({"o", 4, "f32", true, c.Dv});
    ps.push_back({"lse", 3, "f32", true});
  }
  return ps;
}

std::string attentionOp(const AttentionCase &c, bool grad) {
  std::vector<Param> ps = attentionParams(c, grad);
  std::map<std::string, Param> byName;
  for (const Param &p : ps)
    byName[p.name] = p;
  std::ostringstream os;
  os << (grad ? "dma.attention_grad " : "dma.attention ");
  for (const char *n : {"grad", "q", "k", "v", "out", "lse", "bias", "mask",
                        "keep"}) {
    auto it = byName.find(n);
    if (it != byName.end() && !it->second.output)
      os << clause(it->second) << " ";
  }
  if (c.form == MaskForm::PerQueryTopK)
    os << "keep_rows(%keep_score, %keep_threshold, %keep_tiebreak : "
       << byName["keep_score"].tensorType() << ", "
       << byName["keep_threshold"].tensorType() << ", "
       << byName["keep_tiebreak"].tensorType() << ") ";
  os << outsClause(ps);
  if (c.causal)
    os << " causal";
  // MLIR float literals need a decimal point.
  os << std::showpoint;
  if (c.scale)
    os << " scale(" << *c.scale << ")";
  if (c.softcap > 0)
    os << " softcap(" << c.softcap << ")";
  os << " -> " << resultTypes(ps);
  return os.str();
}

/// A mapping from parameter names to the buffers of one call.
struct Buffers {
  std::map<std::string, F32Buffer> f32;
  std::map<std::string, I32Buffer> i32;
  std::map<std::string, BoolBuffer> i1;

  std::vector<MemRefArg> args(const std::vector<Param> &params) {
    std::vector<MemRefArg> out;
    for (const Param &p : params) {
      if (f32.count(p.name))
        out.push_back(f32[p.name].arg());
      else if (i32.count(p.name))
        out.push_back(i32[p.name].arg());
      else if (i1.count(p.name))
        out.push_back(i1[p.name].arg());
      else
        ADD_FAILURE() << "no buffer for parameter " << p.name;
    }
    return out;
  }
};

void addMaskInputs(Buffers &bufs, const oracle::AttentionProblem &p) {
  if (p.bias)
    bufs.f32["bias"] = F32Buffer::from(*p.bias);
  switch (p.form) {
  case MaskForm::None:
    break;
  case MaskForm::Dense:
    bufs.i1["mask"] = BoolBuffer::from(p.mask);
    break;
  case MaskForm::SharedTopK:
    bufs.i32["keep"] = I32Buffer::from(p.keep);
    break;
  case MaskForm::PerQueryTopK:
    bufs.f32["keep_score"] = F32Buffer::from(p.keepScore);
    bufs.f32["keep_threshold"] = F32Buffer::from(p.keepThreshold);
    bufs.i32["keep_tiebreak"] = I32Buffer::from(p.keepTiebreak);
    break;
  }
}

} // namespace

std::string AttentionCase::name() const {
  std::ostringstream os;
  os << "b" << B << "_q" << Lq << "_k" << Lk << "_h" << H << "kv" << Hkv
     << "_d" << D << "v" << Dv << "_" << formName(form);
  if (form == MaskForm::Dense)
    os << broadcastName(maskShape);
  if (form == MaskForm::SharedTopK || form == MaskForm::PerQueryTopK)
    os << "w" << w;
  os << (causal ? "_causal" : "_full");
  if (bias)
    os << "_bias" << broadcastName(*bias);
  if (softcap > 0)
    os << "_cap";
  if (scale)
    os << "_scaled";
  return os.str();
}

std::ostream &operator<<(std::ostream &os, const AttentionCase &c) {
  return os << c.name();
}

std::vector<AttentionCase> attentionMatrix() {
  struct Shape {
    int64_t B, Lq, Lk, H, Hkv, D, Dv;
  };
  const Shape shapes[] = {
      {1, 1, 1, 1, 1, 32, 32},       // length 1
      {2, 7, 7, 4, 4, 64, 64},       // H = Hkv, length 7
      {1, 129, 129, 4, 2, 64, 64},   // GQA, length 129
      {2, 1, 129, 4, 1, 32, 32},     // MQA, decoding (Lq = 1)
      {1, 33, 70, 2, 2, 128, 128},   // Lq < Lk, D = 128
      {1, 70, 33, 4, 2, 64, 48},     // Lq > Lk (causal empty rows), Dv != D
  };
  std::vector<Broadcast> patterns;
  for (bool batch : {true, false})
    for (int heads : {0, 1, 2})
      for (bool rows : {true, false})
        patterns.push_back({batch, heads, rows});

  std::vector<AttentionCase> cases;
  unsigned n = 0;
  for (const Shape &s : shapes)
    for (MaskForm form : {MaskForm::None, MaskForm::Dense,
                          MaskForm::SharedTopK, MaskForm::PerQueryTopK})
      for (bool causal : {false, true}) {
        AttentionCase c{s.B, s.Lq, s.Lk, s.H, s.Hkv, s.D, s.Dv};
        c.form = form;
        c.causal = causal;
        if (n % 13 != 12)
          c.bias = patterns[n % patterns.size()];
        c.maskShape = patterns[(n * 5 + 3) % patterns.size()];
        c.softcap = n % 5 == 2 ? 5.0 : 0.0;
        if (n % 3 == 1)
          c.scale = 0.2;
        c.w = n % 2 == 0 ? std::max<int64_t>(1, s.Lk / 3) : s.Lk + 3;
        c.seed = 1000 + n;
        cases.push_back(c);
        ++n;
      }
  return cases;
}

oracle::AttentionProblem makeProblem(const AttentionCase &c) {
  std::mt19937 rng(c.seed);
  oracle::AttentionProblem p;
  p.q = randomArray(rng, {c.B, c.Lq, c.H, c.D});
  p.k = randomArray(rng, {c.B, c.Lk, c.Hkv, c.D});
  p.v = randomArray(rng, {c.B, c.Lk, c.Hkv, c.Dv});
  if (c.bias)
    p.bias = randomArray(rng, broadcastShape(c, *c.bias, true, c.Lk));
  p.form = c.form;
  p.causal = c.causal;
  p.scale = c.scale;
  p.softcap = c.softcap;

  switch (c.form) {
  case MaskForm::None:
    break;
  case MaskForm::Dense: {
    // Random keeps, every 4th row fully masked (empty rows) and every 5th
    // key masked for every row.
    p.mask = Array(broadcastShape(c, c.maskShape, true, c.Lk));
    std::bernoulli_distribution keep(0.6);
    for (int64_t b = 0; b < p.mask.dim(0); ++b)
      for (int64_t h = 0; h < p.mask.dim(1); ++h)
        for (int64_t i = 0; i < p.mask.dim(2); ++i)
          for (int64_t j = 0; j < c.Lk; ++j) {
            bool kept = keep(rng) && j % 5 != 3 &&
                        !(p.mask.dim(2) > 1 && i % 4 == 1);
            p.mask.at({b, h, i, j}) = kept ? 1.0 : 0.0;
          }
    break;
  }
  case MaskForm::SharedTopK: {
    // Ascending distinct positions; odd heads keep fewer than w (-1 tail).
    Broadcast shape = c.maskShape;
    p.keep = Array(broadcastShape(c, shape, false, c.w), -1.0);
    for (int64_t b = 0; b < p.keep.dim(0); ++b)
      for (int64_t h = 0; h < p.keep.dim(1); ++h) {
        int64_t n = std::min(c.w, c.Lk);
        if (h % 2 == 1)
          n = std::max<int64_t>(0, n * 3 / 4);
        std::vector<int64_t> all(c.Lk);
        std::iota(all.begin(), all.end(), 0);
        std::shuffle(all.begin(), all.end(), rng);
        all.resize(n);
        std::sort(all.begin(), all.end());
        for (int64_t t = 0; t < n; ++t)
          p.keep.at({b, h, t}) = static_cast<double>(all[t]);
      }
    break;
  }
  case MaskForm::PerQueryTopK: {
    // Coarse scores (many ties) and a few never-allowed (NaN) keys.
    Broadcast shape = c.maskShape;
    Array score(broadcastShape(c, shape, false, c.Lk));
    std::uniform_int_distribution<int> level(-4, 4);
    for (int64_t t = 0; t < score.size(); ++t)
      score.data[t] = 0.5 * level(rng);
    for (int64_t b = 0; b < score.dim(0); ++b)
      for (int64_t h = 0; h < score.dim(1); ++h)
        for (int64_t j = 6; j < c.Lk; j += 7)
          score.at({b, h, j}) = std::nan("");
    oracle::PerQueryRep rep = oracle::perQueryRepresentation(
        score, std::nullopt, c.w, std::numeric_limits<int32_t>::max());
    p.keepScore = rep.score;
    p.keepThreshold = rep.threshold;
    p.keepTiebreak = rep.tiebreak;
    break;
  }
  }
  return p;
}

std::string attentionKernelSource(const AttentionCase &c) {
  return kernelFunc("fwd", attentionParams(c, false), attentionOp(c, false)) +
         kernelFunc("bwd", attentionParams(c, true), attentionOp(c, true));
}

namespace {
/// The forward's buffers for problem `p`, outputs poisoned.
Buffers forwardBuffers(const AttentionCase &c,
                       const oracle::AttentionProblem &p) {
  Buffers fwd;
  fwd.f32["q"] = F32Buffer::from(p.q);
  fwd.f32["k"] = F32Buffer::from(p.k);
  fwd.f32["v"] = F32Buffer::from(p.v);
  addMaskInputs(fwd, p);
  fwd.f32["o"] = F32Buffer::poisoned({c.B, c.Lq, c.H, c.Dv});
  fwd.f32["lse"] = F32Buffer::poisoned({c.B, c.H, c.Lq});
  return fwd;
}

/// The backward's buffers, reading the forward's inputs and outputs.
Buffers backwardBuffers(const oracle::AttentionProblem &p, Buffers &fwd,
                        const Array &dO) {
  Buffers bwd;
  bwd.f32["grad"] = F32Buffer::from(dO);
  bwd.f32["q"] = fwd.f32["q"];
  bwd.f32["k"] = fwd.f32["k"];
  bwd.f32["v"] = fwd.f32["v"];
  bwd.f32["out"] = fwd.f32["o"];
  bwd.f32["lse"] = fwd.f32["lse"];
  addMaskInputs(bwd, p);
  bwd.f32["dq"] = F32Buffer::poisoned(p.q.shape);
  bwd.f32["dk"] = F32Buffer::poisoned(p.k.shape);
  bwd.f32["dv"] = F32Buffer::poisoned(p.v.shape);
  if (p.bias)
    bwd.f32["dbias"] = F32Buffer::poisoned(p.bias->shape);
  return bwd;
}
} // namespace

VisitCounts countVisits(const AttentionCase &c,
                        const std::string &pipelineOptions,
                        const oracle::AttentionProblem *problem) {
  VisitCounts counts;
  mlir::dma::CPUModule *module = compileCached(
      attentionKernelSource(c), pipelineOptions + " count-visits=true");
  if (!module)
    return counts;
  auto global = module->global("dma_visit_counts");
  if (!global) {
    ADD_FAILURE() << llvm::toString(global.takeError());
    return counts;
  }
  auto *counters = static_cast<int64_t *>(*global);
  oracle::AttentionProblem p = problem ? *problem : makeProblem(c);
  Buffers fwd = forwardBuffers(c, p);
  counters[0] = counters[1] = 0;
  if (llvm::Error err =
          module->call("fwd", fwd.args(attentionParams(c, false)))) {
    ADD_FAILURE() << llvm::toString(std::move(err));
    return counts;
  }
  counts.forwardTiles = counters[0];
  counts.forwardKeys = counters[1];
  std::mt19937 rng(c.seed + 7);
  Buffers bwd =
      backwardBuffers(p, fwd, randomArray(rng, {c.B, c.Lq, c.H, c.Dv}));
  counters[0] = counters[1] = 0;
  if (llvm::Error err =
          module->call("bwd", bwd.args(attentionParams(c, true)))) {
    ADD_FAILURE() << llvm::toString(std::move(err));
    return counts;
  }
  counts.backwardTiles = counters[0];
  counts.backwardKeys = counters[1];
  return counts;
}

AttentionErrors checkAttentionCase(const AttentionCase &c,
                                   const std::string &pipelineOptions,
                                   AttentionResults *results) {
  AttentionErrors errors;
  mlir::dma::CPUModule *module =
      compileCached(attentionKernelSource(c), pipelineOptions);
  if (!module)
    return errors;
  oracle::AttentionProblem p = makeProblem(c);

  // Forward.
  Buffers fwd = forwardBuffers(c, p);
  if (llvm::Error err = module->call("fwd", fwd.args(attentionParams(c, false)))) {
    ADD_FAILURE() << llvm::toString(std::move(err));
    return errors;
  }
  oracle::AttentionOutputs ref = oracle::attentionForward(p);
  Array o = fwd.f32["o"].toArray(), lse = fwd.f32["lse"].toArray();
  errors.o = oracle::relativeError(o.data, ref.o.data);
  errors.lse = oracle::relativeError(lse.data, ref.lse.data);
  EXPECT_LT(errors.o, 1e-5) << "O of " << c.name();
  EXPECT_LT(errors.lse, 1e-5) << "LSE of " << c.name();
  // Rows that see no key: O exactly zero, LSE exactly -inf.
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t h = 0; h < c.H; ++h)
      for (int64_t i = 0; i < c.Lq; ++i) {
        if (!std::isinf(ref.lse.at({b, h, i})))
          continue;
        ++errors.emptyRows;
        EXPECT_TRUE(std::isinf(lse.at({b, h, i})) && lse.at({b, h, i}) < 0)
            << "empty row LSE of " << c.name();
        for (int64_t d = 0; d < c.Dv; ++d)
          EXPECT_EQ(o.at({b, i, h, d}), 0.0) << "empty row O of " << c.name();
      }

  // Backward, from our own O and LSE as a training step would.
  std::mt19937 rng(c.seed + 7);
  Array dO = randomArray(rng, {c.B, c.Lq, c.H, c.Dv});
  Buffers bwd = backwardBuffers(p, fwd, dO);
  if (llvm::Error err = module->call("bwd", bwd.args(attentionParams(c, true)))) {
    ADD_FAILURE() << llvm::toString(std::move(err));
    return errors;
  }
  if (results) {
    *results = {o, lse, bwd.f32["dq"].toArray(), bwd.f32["dk"].toArray(),
                bwd.f32["dv"].toArray(),
                p.bias ? bwd.f32["dbias"].toArray() : Array()};
  }
  oracle::AttentionGrads g = oracle::attentionBackward(p, dO);
  errors.dq = oracle::relativeError(bwd.f32["dq"].toArray().data, g.dq.data);
  errors.dk = oracle::relativeError(bwd.f32["dk"].toArray().data, g.dk.data);
  errors.dv = oracle::relativeError(bwd.f32["dv"].toArray().data, g.dv.data);
  EXPECT_LT(errors.dq, 1e-4) << "dQ of " << c.name();
  EXPECT_LT(errors.dk, 1e-4) << "dK of " << c.name();
  EXPECT_LT(errors.dv, 1e-4) << "dV of " << c.name();
  if (p.bias) {
    errors.dbias =
        oracle::relativeError(bwd.f32["dbias"].toArray().data, g.dbias->data);
    EXPECT_LT(errors.dbias, 1e-4) << "dBias of " << c.name();
  }
  return errors;
}

} // namespace dma::test
