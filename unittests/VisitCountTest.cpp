//===- VisitCountTest.cpp - skipping and gathering do less work -----------===//
//
// With count-visits=true the tiled code counts the key tiles and keys it
// visits. These tests assert the counts equal the expected active work:
// a shared top-k of w = 64 among Lk = 1024 keys visits one tile of 64 keys
// per query tile (not 16 tiles of 1024 keys), a band mask visits the three
// tiles around the diagonal, and a per-query top-k visits at most
// w + BM - 1 candidate keys per query tile.
//
//===----------------------------------------------------------------------===//

#include "AttentionCase.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <cmath>

using namespace dma::test;
using dma::oracle::Array;
using dma::oracle::MaskForm;

namespace {

constexpr int64_t L = 1024, W = 64, T = 64, nQT = L / T, nKT = L / T;
const char *kTiles = "q-tile=64 k-tile=64";

AttentionCase base(MaskForm form, bool causal) {
  AttentionCase c{1, L, L, 2, 1, 16, 16};
  c.form = form;
  c.causal = causal;
  c.maskShape = Broadcast{true, 1, true}; // [B, Hkv, ...]
  c.w = W;
  c.seed = 77;
  return c;
}

TEST(VisitCounts, SharedTopKVisitsOnlyTheKeptKeys) {
  AttentionCase c = base(MaskForm::SharedTopK, /*causal=*/false);
  dma::oracle::AttentionProblem p = makeProblem(c);
  // The generator keeps min(w, Lk) keys of head 0 (the only KV head).
  int64_t kept = 0;
  for (double pos : p.keep.data)
    kept += pos >= 0;
  ASSERT_EQ(kept, W);

  VisitCounts on = countVisits(c, kTiles);
  // Forward: every (head, query tile) walks one chunk of the 64 kept keys.
  EXPECT_EQ(on.forwardTiles, c.H * nQT * 1);
  EXPECT_EQ(on.forwardKeys, c.H * nQT * W);
  // Backward: one chunk per KV head, visited by each head and query tile.
  EXPECT_EQ(on.backwardTiles, c.Hkv * 1 * c.H * nQT);
  EXPECT_EQ(on.backwardKeys, c.Hkv * c.H * nQT * W);

  VisitCounts off = countVisits(c, std::string(kTiles) + " skip=false");
  EXPECT_EQ(off.forwardTiles, c.H * nQT * nKT);
  EXPECT_EQ(off.forwardKeys, c.H * nQT * L);
  EXPECT_EQ(off.backwardTiles, c.Hkv * nKT * c.H * nQT);
}

TEST(VisitCounts, CausalSharedTopKStopsAtTheDiagonal) {
  AttentionCase c = base(MaskForm::SharedTopK, /*causal=*/true);
  dma::oracle::AttentionProblem p = makeProblem(c);
  VisitCounts on = countVisits(c, kTiles, &p);
  // Query tile qt sees keys up to its last row: the kept positions there.
  int64_t keys = 0, tiles = 0;
  for (int64_t qt = 0; qt < nQT; ++qt) {
    int64_t limit = (qt + 1) * T - 1, n = 0;
    for (double pos : p.keep.data)
      n += pos >= 0 && pos <= limit;
    // Whole chunks of the list up to the limit (the last may run past it).
    int64_t chunks = (n + T - 1) / T;
    tiles += chunks;
    keys += std::min<int64_t>(chunks * T, W);
  }
  EXPECT_EQ(on.forwardTiles, c.H * tiles);
  EXPECT_EQ(on.forwardKeys, c.H * keys);
  EXPECT_LE(on.forwardKeys, c.H * nQT * W);
}

TEST(VisitCounts, BandMaskVisitsTheDiagonalTiles) {
  AttentionCase c = base(MaskForm::Dense, /*causal=*/false);
  dma::oracle::AttentionProblem p = makeProblem(c);
  // Keep |i - j| < 32: each query tile touches itself and its neighbours.
  for (int64_t h = 0; h < p.mask.dim(1); ++h)
    for (int64_t i = 0; i < L; ++i)
      for (int64_t j = 0; j < L; ++j)
        p.mask.at({0, h, i, j}) = std::abs(i - j) < 32 ? 1.0 : 0.0;
  VisitCounts on = countVisits(c, kTiles, &p);
  int64_t band = nQT * 3 - 2; // first and last tiles have one neighbour
  EXPECT_EQ(on.forwardTiles, c.H * band);
  EXPECT_EQ(on.backwardTiles, c.Hkv * c.H * band);
  VisitCounts off = countVisits(c, std::string(kTiles) + " skip=false", &p);
  EXPECT_EQ(off.forwardTiles, c.H * nQT * nKT);
}

TEST(VisitCounts, PerQueryTopKVisitsTheCandidatesOnly) {
  AttentionCase c = base(MaskForm::PerQueryTopK, /*causal=*/true);
  VisitCounts on = countVisits(c, kTiles);
  // At most w + BM - 1 candidates per query tile, in whole chunks.
  int64_t maxChunks = (W + T - 1 + T - 1) / T;
  EXPECT_LE(on.forwardTiles, c.H * nQT * maxChunks);
  EXPECT_LE(on.forwardKeys, c.H * nQT * (W + T - 1));
  VisitCounts off = countVisits(c, std::string(kTiles) + " skip=false");
  EXPECT_GT(off.forwardKeys, 4 * on.forwardKeys);
}

TEST(VisitCounts, PerQueryTopKBackwardWalksTheKeepingRows) {
  AttentionCase c = base(MaskForm::PerQueryTopK, /*causal=*/true);
  dma::oracle::AttentionProblem p = makeProblem(c);
  // The rows keeping key j are [j, last(j)]; a key tile (a slice of its
  // chunk of 256 keys ordered by score) walks the query tiles from its
  // first key's to its last keeping row's.
  const dma::oracle::Array &s = p.keepScore, &thr = p.keepThreshold,
                           &tie = p.keepTiebreak;
  auto keeps = [&](int64_t j, int64_t prefix) {
    double sj = s.at({0, 0, j}), t = thr.at({0, 0, prefix});
    return sj > t || (sj == t && j <= tie.at({0, 0, prefix}));
  };
  const int64_t chunk = 256;
  int64_t expected = 0;
  for (int64_t c0 = 0; c0 < L; c0 += chunk) {
    std::vector<int64_t> keys;
    for (int64_t j = c0; j < c0 + chunk; ++j)
      keys.push_back(j);
    std::stable_sort(keys.begin(), keys.end(), [&](int64_t a, int64_t b) {
      double sa = s.at({0, 0, a}), sb = s.at({0, 0, b});
      if (std::isnan(sa) || std::isnan(sb))
        return !std::isnan(sa) && std::isnan(sb);
      return sa > sb;
    });
    for (size_t t0 = 0; t0 < keys.size(); t0 += T) {
      int64_t first = L, end = 0;
      for (size_t e = t0; e < t0 + T; ++e) {
        int64_t j = keys[e], last = j - 1;
        while (last + 1 < L && keeps(j, last + 1))
          ++last;
        if (last >= j) {
          first = std::min(first, j);
          end = std::max(end, last + 1);
        }
      }
      if (end > first)
        expected += (end + T - 1) / T - first / T;
    }
  }
  VisitCounts on =
      countVisits(c, std::string(kTiles) + " rank-chunk=256", &p);
  EXPECT_EQ(on.backwardTiles, c.H * expected);
  // The contiguous walk visits every query tile from each key tile's
  // diagonal on.
  VisitCounts off = countVisits(c, std::string(kTiles) + " skip=false", &p);
  EXPECT_EQ(off.backwardTiles, c.H * nKT * (nQT + 1) / 2);
  EXPECT_LT(2 * on.backwardTiles, off.backwardTiles);
}

} // namespace
