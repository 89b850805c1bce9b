//===- Oracle.cpp - fp64 reference implementation of the DMA spec ---------===//

#include "dma_oracle/Oracle.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>
#include <numeric>

namespace dma::oracle {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();

/// Index of a broadcast dimension: 0 when the operand's size is 1.
int64_t bcast(int64_t size, int64_t idx) { return size == 1 ? 0 : idx; }

/// Head of an operand with `heads` heads serving query head h of H.
int64_t headFor(int64_t heads, int64_t H, int64_t h) { return h / (H / heads); }

double softplus(double x) { return x > 20.0 ? x : std::log1p(std::exp(x)); }
} // namespace

Array::Array(std::vector<int64_t> s, double fill) : shape(std::move(s)) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  data.assign(n, fill);
}

int64_t Array::offset(const std::vector<int64_t> &idx) const {
  assert(idx.size() == shape.size());
  int64_t off = 0;
  for (size_t i = 0; i < idx.size(); ++i) {
    assert(idx[i] >= 0 && idx[i] < shape[i]);
    off = off * shape[i] + idx[i];
  }
  return off;
}

double AttentionProblem::effectiveScale() const {
  return scale ? *scale : 1.0 / std::sqrt(static_cast<double>(D()));
}

bool visible(const AttentionProblem &p, int64_t b, int64_t h, int64_t i,
             int64_t j) {
  int64_t cLim = p.causal ? i + p.Lk() - p.Lq() : p.Lk() - 1;
  if (j > cLim)
    return false;
  switch (p.form) {
  case MaskForm::None:
    return true;
  case MaskForm::Dense: {
    const Array &m = p.mask;
    return m.at({bcast(m.dim(0), b), headFor(m.dim(1), p.H(), h),
                 bcast(m.dim(2), i), j}) != 0.0;
  }
  case MaskForm::SharedTopK: {
    const Array &kp = p.keep;
    int64_t kb = bcast(kp.dim(0), b), kh = headFor(kp.dim(1), p.H(), h);
    for (int64_t t = 0; t < kp.dim(2); ++t)
      if (static_cast<int64_t>(kp.at({kb, kh, t})) == j)
        return true;
    return false;
  }
  case MaskForm::PerQueryTopK: {
    const Array &s = p.keepScore;
    int64_t kb = bcast(s.dim(0), b), kh = headFor(s.dim(1), p.H(), h);
    double sj = s.at({kb, kh, j});
    double thr = p.keepThreshold.at({kb, kh, cLim});
    double tie = p.keepTiebreak.at({kb, kh, cLim});
    return sj > thr || (sj == thr && static_cast<double>(j) <= tie);
  }
  }
  return false;
}

double logit(const AttentionProblem &p, int64_t b, int64_t h, int64_t i,
             int64_t j, double *capTanh) {
  int64_t g = headFor(p.Hkv(), p.H(), h);
  double dot = 0.0;
  for (int64_t d = 0; d < p.D(); ++d)
    dot += p.q.at({b, i, h, d}) * p.k.at({b, j, g, d});
  double s = p.effectiveScale() * dot;
  if (p.softcap > 0.0) {
    double t = std::tanh(s / p.softcap);
    if (capTanh)
      *capTanh = t;
    s = p.softcap * t;
  }
  if (p.bias) {
    const Array &bias = *p.bias;
    s += bias.at({bcast(bias.dim(0), b), headFor(bias.dim(1), p.H(), h),
                  bcast(bias.dim(2), i), j});
  }
  return s;
}

AttentionOutputs attentionForward(const AttentionProblem &p) {
  AttentionOutputs out{Array({p.B(), p.Lq(), p.H(), p.Dv()}),
                       Array({p.B(), p.H(), p.Lq()})};
  for (int64_t b = 0; b < p.B(); ++b)
    for (int64_t h = 0; h < p.H(); ++h)
      for (int64_t i = 0; i < p.Lq(); ++i) {
        int64_t g = headFor(p.Hkv(), p.H(), h);
        std::vector<int64_t> keys;
        std::vector<double> s;
        for (int64_t j = 0; j < p.Lk(); ++j)
          if (visible(p, b, h, i, j)) {
            keys.push_back(j);
            s.push_back(logit(p, b, h, i, j));
          }
        double m = -kInf;
        for (double x : s)
          m = std::max(m, x);
        if (keys.empty() || m == -kInf) {
          out.lse.at({b, h, i}) = -kInf; // O stays 0
          continue;
        }
        double l = 0.0;
        for (double x : s)
          l += std::exp(x - m);
        for (size_t t = 0; t < keys.size(); ++t) {
          double pij = std::exp(s[t] - m) / l;
          for (int64_t d = 0; d < p.Dv(); ++d)
            out.o.at({b, i, h, d}) += pij * p.v.at({b, keys[t], g, d});
        }
        out.lse.at({b, h, i}) = m + std::log(l);
      }
  return out;
}

AttentionGrads attentionBackward(const AttentionProblem &p, const Array &dO) {
  AttentionOutputs fwd = attentionForward(p);
  AttentionGrads g{Array(p.q.shape), Array(p.k.shape), Array(p.v.shape),
                   std::nullopt};
  if (p.bias)
    g.dbias = Array(p.bias->shape);
  double scale = p.effectiveScale();
  for (int64_t b = 0; b < p.B(); ++b)
    for (int64_t h = 0; h < p.H(); ++h)
      for (int64_t i = 0; i < p.Lq(); ++i) {
        double lse = fwd.lse.at({b, h, i});
        if (lse == -kInf)
          continue;
        int64_t kvh = headFor(p.Hkv(), p.H(), h);
        double delta = 0.0;
        for (int64_t d = 0; d < p.Dv(); ++d)
          delta += dO.at({b, i, h, d}) * fwd.o.at({b, i, h, d});
        for (int64_t j = 0; j < p.Lk(); ++j) {
          if (!visible(p, b, h, i, j))
            continue;
          double t = 0.0;
          double pij = std::exp(logit(p, b, h, i, j, &t) - lse);
          double dp = 0.0;
          for (int64_t d = 0; d < p.Dv(); ++d)
            dp += dO.at({b, i, h, d}) * p.v.at({b, j, kvh, d});
          double ds = pij * (dp - delta);
          double dx = p.softcap > 0.0 ? ds * (1.0 - t * t) : ds;
          for (int64_t d = 0; d < p.D(); ++d) {
            g.dq.at({b, i, h, d}) += scale * dx * p.k.at({b, j, kvh, d});
            g.dk.at({b, j, kvh, d}) += scale * dx * p.q.at({b, i, h, d});
          }
          for (int64_t d = 0; d < p.Dv(); ++d)
            g.dv.at({b, j, kvh, d}) += pij * dO.at({b, i, h, d});
          if (g.dbias) {
            Array &db = *g.dbias;
            db.at({bcast(db.dim(0), b), headFor(db.dim(1), p.H(), h),
                   bcast(db.dim(2), i), j}) += ds;
          }
        }
      }
  return g;
}

Array valueBias(const Array &value, const Array &weight,
                const std::optional<Array> &dtBias, const Array &a,
                bool expForm) {
  int64_t B = value.dim(0), Lk = value.dim(1), Hkv = value.dim(2),
          D = value.dim(3);
  Array score({B, Hkv, Lk});
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < Lk; ++j)
      for (int64_t h = 0; h < Hkv; ++h) {
        double dt = dtBias ? dtBias->at({h}) : 0.0;
        for (int64_t hp = 0; hp < Hkv; ++hp)
          for (int64_t d = 0; d < D; ++d)
            dt += weight.at({h, hp * D + d}) * value.at({b, j, hp, d});
        double s = a.at({h}) * softplus(dt);
        score.at({b, h, j}) = expForm ? std::exp(s) : s;
      }
  return score;
}

std::vector<int64_t> topKByDefinition(const std::vector<double> &score,
                                      const std::vector<bool> &allowed,
                                      int64_t w) {
  std::vector<int64_t> order;
  for (size_t j = 0; j < score.size(); ++j)
    if (allowed[j] && !std::isnan(score[j]))
      order.push_back(static_cast<int64_t>(j));
  std::sort(order.begin(), order.end(), [&](int64_t x, int64_t y) {
    return score[x] > score[y] || (score[x] == score[y] && x < y);
  });
  if (static_cast<int64_t>(order.size()) > w)
    order.resize(w);
  return order; // best first
}

namespace {
std::vector<double> scoreRow(const Array &score, int64_t b, int64_t h) {
  std::vector<double> row(score.dim(2));
  for (int64_t j = 0; j < score.dim(2); ++j)
    row[j] = score.at({b, h, j});
  return row;
}
std::vector<bool> allowedRow(const std::optional<Array> &padding, int64_t b,
                             int64_t Lk, int64_t upTo) {
  std::vector<bool> allowed(Lk, false);
  for (int64_t j = 0; j <= upTo && j < Lk; ++j)
    allowed[j] = !padding || padding->at({b, j}) != 0.0;
  return allowed;
}
} // namespace

Array topKShared(const Array &score, const std::optional<Array> &padding,
                 int64_t w) {
  int64_t B = score.dim(0), Hkv = score.dim(1), Lk = score.dim(2);
  Array out({B, Hkv, w}, -1.0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < Hkv; ++h) {
      std::vector<int64_t> kept = topKByDefinition(
          scoreRow(score, b, h), allowedRow(padding, b, Lk, Lk - 1), w);
      std::sort(kept.begin(), kept.end());
      for (size_t t = 0; t < kept.size(); ++t)
        out.at({b, h, static_cast<int64_t>(t)}) = static_cast<double>(kept[t]);
    }
  return out;
}

std::vector<int64_t>
perQueryKeptByDefinition(const Array &score,
                         const std::optional<Array> &padding, int64_t w,
                         int64_t b, int64_t h, int64_t i, int64_t Lq,
                         bool causal) {
  int64_t Lk = score.dim(2);
  int64_t cLim = causal ? i + Lk - Lq : Lk - 1;
  if (cLim < 0)
    return {};
  std::vector<int64_t> kept = topKByDefinition(
      scoreRow(score, b, h), allowedRow(padding, b, Lk, cLim), w);
  std::sort(kept.begin(), kept.end());
  return kept;
}

PerQueryRep perQueryRepresentation(const Array &score,
                                   const std::optional<Array> &padding,
                                   int64_t w, int64_t tiebreakMax) {
  int64_t B = score.dim(0), Hkv = score.dim(1), Lk = score.dim(2);
  PerQueryRep rep{Array(score.shape), Array(score.shape), Array(score.shape)};
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < Hkv; ++h) {
      std::vector<double> row = scoreRow(score, b, h);
      std::vector<bool> all = allowedRow(padding, b, Lk, Lk - 1);
      for (int64_t c = 0; c < Lk; ++c) {
        bool ok = all[c] && !std::isnan(row[c]);
        rep.score.at({b, h, c}) = ok ? row[c] : std::nan("");
        std::vector<bool> allowed = allowedRow(padding, b, Lk, c);
        int64_t nAllowed = 0;
        for (int64_t j = 0; j <= c; ++j)
          nAllowed += allowed[j] && !std::isnan(row[j]);
        if (nAllowed <= w) {
          rep.threshold.at({b, h, c}) = -kInf;
          rep.tiebreak.at({b, h, c}) = static_cast<double>(tiebreakMax);
          continue;
        }
        std::vector<int64_t> kept = topKByDefinition(row, allowed, w);
        rep.threshold.at({b, h, c}) = row[kept.back()];
        rep.tiebreak.at({b, h, c}) = static_cast<double>(kept.back());
      }
    }
  return rep;
}

double relativeError(const std::vector<double> &a,
                     const std::vector<double> &b) {
  if (a.size() != b.size())
    return kInf;
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]))
      return kInf;
    if (std::isinf(b[i])) {
      if (a[i] != b[i])
        return kInf;
      continue;
    }
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  if (den == 0.0)
    return std::sqrt(num);
  return std::sqrt(num / den);
}

} // namespace dma::oracle
