//===- CAPITest.cpp - the CPU path's C API (libdma_cpu) -------------------===//
//
// What the C API promises beyond the op semantics (include/dma-c/CPU.h):
//  * a key hidden from a query (causally, by a boolean mask) never reaches
//    its output or any gradient, whatever its K and V rows hold (NaN, Inf):
//    0 x NaN in P V used to turn whole query tiles into NaN;
//  * scale NaN selects 1/sqrt(D), 0 is a legal scale;
//  * keep lists are checked (duplicates counted a key twice);
//  * empty sizes work (Lk = 0: O = 0, LSE = -inf), D = 0 is an error;
//  * the compiled-kernel cache is bounded (DMA_CPU_KERNEL_CACHE).
// Everything goes through the exported C functions, as Python calls them.
//
//===----------------------------------------------------------------------===//

#include "dma-c/CPU.h"
#include "dma_oracle/Oracle.h"

#include "gtest/gtest.h"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <vector>

using dma::oracle::Array;

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

/// A contiguous host tensor and its dma_tensor view.
template <typename T> struct Buffer {
  std::vector<int64_t> shape;
  std::vector<T> data;
  dma_tensor view;

  Buffer(std::vector<int64_t> s, T fill = T()) : shape(std::move(s)) {
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    data.assign(n, fill);
  }
  const dma_tensor *operator&() {
    view = {};
    view.data = data.empty() ? nullptr : data.data();
    view.dtype = std::is_same_v<T, float>     ? DMA_F32
                 : std::is_same_v<T, int32_t> ? DMA_I32
                                              : DMA_BOOL;
    view.ndim = static_cast<int32_t>(shape.size());
    int64_t stride = 1;
    for (int d = view.ndim - 1; d >= 0; --d) {
      view.sizes[d] = shape[d];
      view.strides[d] = stride;
      stride *= shape[d];
    }
    return &view;
  }
  /// As an oracle array (doubles).
  Array array() const {
    Array a(shape);
    for (size_t i = 0; i < data.size(); ++i)
      a.data[i] = static_cast<double>(data[i]);
    return a;
  }
};
using F32 = Buffer<float>;
using I32 = Buffer<int32_t>;
using Bool = Buffer<uint8_t>;

F32 random(std::mt19937 &rng, std::vector<int64_t> shape) {
  F32 t(std::move(shape));
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (float &x : t.data)
    x = dist(rng);
  return t;
}

std::vector<double> doubles(const F32 &t) {
  return std::vector<double>(t.data.begin(), t.data.end());
}

dma_attention_options options(bool causal, float scale = kNaN,
                              float softcap = 0.0f) {
  dma_attention_options o = {};
  o.causal = causal;
  o.scale = scale;
  o.softcap = softcap;
  return o;
}

/// One problem with NaN / Inf in the K and V rows of `poisoned` keys.
struct HiddenKeyCase {
  const char *name;
  bool causal;
  bool mask;   // a boolean mask hides the poisoned keys where causality
               // does not
  bool bias;
  float softcap;
};

class HiddenKeys : public ::testing::TestWithParam<HiddenKeyCase> {};

// B = 1, Lq = Lk = 70 (two 64-key tiles), H = 2, Hkv = 1, D = Dv = 16.
// Key 66 is hidden causally from rows 0..65 and (with a mask) by the mask
// from rows 66..69; with a mask, key 3 is hidden from every row too. Each
// poisoned row shares its key tile with visible keys, and the rows that do
// not see it share query tiles with rows that do.
TEST_P(HiddenKeys, NeverReachOutputsOrGradients) {
  const HiddenKeyCase &c = GetParam();
  const int64_t B = 1, L = 70, H = 2, Hkv = 1, D = 16;
  std::mt19937 rng(7);
  F32 q = random(rng, {B, L, H, D}), k = random(rng, {B, L, Hkv, D}),
      v = random(rng, {B, L, Hkv, D}), dO = random(rng, {B, L, H, D});
  F32 bias = random(rng, {B, H, L, L});
  Bool mask({1, 1, c.causal ? L : 1, L}, 1);
  // Without a mask, key 3 would be visible to rows 3..: only key 66 then.
  std::vector<int64_t> poisoned = {66};
  if (c.mask)
    poisoned.push_back(3);
  for (int64_t j : poisoned)
    for (int64_t d = 0; d < D; ++d) {
      v.data[(j * Hkv) * D + d] = d % 2 ? kNaN : -kInf;
      k.data[(j * Hkv) * D + d] = d % 2 ? kInf : kNaN;
    }
  for (int64_t i = 0; i < mask.shape[2]; ++i) {
    mask.data[i * L + 3] = 0;
    // Rows that causality does not hide key 66 from.
    if (!c.causal || i >= 66)
      mask.data[i * L + 66] = 0;
  }

  dma_attention_options opts = options(c.causal, kNaN, c.softcap);
  F32 o({B, L, H, D}, kNaN), lse({B, H, L}, kNaN);
  char error[512] = "";
  ASSERT_EQ(dma_cpu_attention(&q, &k, &v, c.bias ? &bias : nullptr,
                              c.mask ? &mask : nullptr, nullptr, nullptr,
                              nullptr, nullptr, &o, &lse, &opts, error,
                              sizeof error),
            0)
      << error;

  dma::oracle::AttentionProblem p;
  p.q = q.array();
  p.k = k.array();
  p.v = v.array();
  if (c.bias)
    p.bias = bias.array();
  if (c.mask) {
    p.form = dma::oracle::MaskForm::Dense;
    p.mask = mask.array();
  }
  p.causal = c.causal;
  p.softcap = c.softcap;
  dma::oracle::AttentionOutputs ref = dma::oracle::attentionForward(p);
  if (!c.mask) {
    // Causality alone hides key 66 from rows 0..65 only: compare those
    // rows (the others see the poisoned keys and are NaN by definition).
    std::vector<double> got, want;
    for (int64_t i = 0; i < 66; ++i)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t d = 0; d < D; ++d) {
          got.push_back(o.data[(i * H + h) * D + d]);
          want.push_back(ref.o.at({0, i, h, d}));
        }
    EXPECT_LT(dma::oracle::relativeError(got, want), 1e-5);
    return;
  }
  EXPECT_LT(dma::oracle::relativeError(doubles(o), ref.o.data), 1e-5);
  EXPECT_LT(dma::oracle::relativeError(doubles(lse), ref.lse.data), 1e-5);

  F32 dq({B, L, H, D}, kNaN), dk({B, L, Hkv, D}, kNaN),
      dv({B, L, Hkv, D}, kNaN), dbias({B, H, L, L}, kNaN);
  ASSERT_EQ(dma_cpu_attention_grad(&dO, &q, &k, &v, &o, &lse,
                                   c.bias ? &bias : nullptr, &mask, nullptr,
                                   nullptr, nullptr, nullptr, &dq, &dk, &dv,
                                   c.bias ? &dbias : nullptr, &opts, error,
                                   sizeof error),
            0)
      << error;
  dma::oracle::AttentionGrads g = dma::oracle::attentionBackward(p, dO.array());
  EXPECT_LT(dma::oracle::relativeError(doubles(dq), g.dq.data), 1e-4);
  EXPECT_LT(dma::oracle::relativeError(doubles(dk), g.dk.data), 1e-4);
  EXPECT_LT(dma::oracle::relativeError(doubles(dv), g.dv.data), 1e-4);
  if (c.bias)
    EXPECT_LT(dma::oracle::relativeError(doubles(dbias), g.dbias->data),
              1e-4);
}

INSTANTIATE_TEST_SUITE_P(
    CAPI, HiddenKeys,
    ::testing::Values(HiddenKeyCase{"causal", true, false, false, 0.0f},
                      HiddenKeyCase{"mask", false, true, false, 0.0f},
                      HiddenKeyCase{"causal_mask", true, true, false, 0.0f},
                      HiddenKeyCase{"mask_bias", false, true, true, 0.0f},
                      HiddenKeyCase{"causal_mask_bias_softcap", true, true,
                                    true, 5.0f}),
    [](const ::testing::TestParamInfo<HiddenKeyCase> &info) {
      return std::string(info.param.name);
    });

/// A small problem for the argument checks.
struct Small {
  std::mt19937 rng{3};
  int64_t B = 1, Lq = 5, Lk = 6, H = 2, Hkv = 2, D = 8;
  F32 q = random(rng, {B, Lq, H, D}), k = random(rng, {B, Lk, Hkv, D}),
      v = random(rng, {B, Lk, Hkv, D});
  F32 o{{B, Lq, H, D}, kNaN}, lse{{B, H, Lq}, kNaN};

  dma::oracle::AttentionProblem problem() {
    dma::oracle::AttentionProblem p;
    p.q = q.array();
    p.k = k.array();
    p.v = v.array();
    return p;
  }
};

int attention(Small &s, const dma_tensor *keep, dma_attention_options opts,
              std::string &message) {
  char error[512] = "";
  int rc = dma_cpu_attention(&s.q, &s.k, &s.v, nullptr, nullptr, keep,
                             nullptr, nullptr, nullptr, &s.o, &s.lse, &opts,
                             error, sizeof error);
  message = error;
  return rc;
}

TEST(Scale, NaNIsTheDefaultAndZeroIsLegal) {
  Small s;
  std::string message;
  ASSERT_EQ(attention(s, nullptr, options(false), message), 0) << message;
  dma::oracle::AttentionProblem p = s.problem();
  dma::oracle::AttentionOutputs ref = dma::oracle::attentionForward(p);
  EXPECT_LT(dma::oracle::relativeError(doubles(s.o), ref.o.data), 1e-5);

  // scale = 0: every key weighs the same (0 used to mean "default").
  ASSERT_EQ(attention(s, nullptr, options(false, 0.0f), message), 0)
      << message;
  p.scale = 0.0;
  ref = dma::oracle::attentionForward(p);
  EXPECT_LT(dma::oracle::relativeError(doubles(s.o), ref.o.data), 1e-5);
  EXPECT_NEAR(s.lse.data[0], std::log(6.0), 1e-6);

  // No options at all: the defaults.
  char error[256] = "";
  ASSERT_EQ(dma_cpu_attention(&s.q, &s.k, &s.v, nullptr, nullptr, nullptr,
                              nullptr, nullptr, nullptr, &s.o, &s.lse, nullptr,
                              error, sizeof error),
            0)
      << error;
  p.scale.reset();
  ref = dma::oracle::attentionForward(p);
  EXPECT_LT(dma::oracle::relativeError(doubles(s.o), ref.o.data), 1e-5);

  EXPECT_NE(attention(s, nullptr, options(false, kInf), message), 0);
  EXPECT_EQ(message,
            "scale must be finite (NaN selects the default 1/sqrt(D))");
}

struct KeepCase {
  const char *name;
  std::vector<int32_t> row0, row1; // the two KV heads' lists (W = 4)
  std::string error;               // empty: valid
};

class KeepLists : public ::testing::TestWithParam<KeepCase> {};

TEST_P(KeepLists, AreChecked) {
  const KeepCase &c = GetParam();
  Small s;
  I32 keep({1, 2, 4});
  std::copy(c.row0.begin(), c.row0.end(), keep.data.begin());
  std::copy(c.row1.begin(), c.row1.end(), keep.data.begin() + 4);
  std::string message;
  int rc = attention(s, &keep, options(true), message);
  if (c.error.empty()) {
    ASSERT_EQ(rc, 0) << message;
    dma::oracle::AttentionProblem p = s.problem();
    p.form = dma::oracle::MaskForm::SharedTopK;
    p.keep = keep.array();
    p.causal = true;
    dma::oracle::AttentionOutputs ref = dma::oracle::attentionForward(p);
    EXPECT_LT(dma::oracle::relativeError(doubles(s.o), ref.o.data), 1e-5);
    return;
  }
  EXPECT_NE(rc, 0);
  EXPECT_EQ(message, c.error);
  // The backward checks the same list.
  F32 dO({1, 5, 2, 8}, 1.0f), dq({1, 5, 2, 8}), dk({1, 6, 2, 8}),
      dv({1, 6, 2, 8});
  dma_attention_options opts = options(true);
  char error[512] = "";
  EXPECT_NE(dma_cpu_attention_grad(&dO, &s.q, &s.k, &s.v, &s.o, &s.lse,
                                   nullptr, nullptr, &keep, nullptr, nullptr,
                                   nullptr, &dq, &dk, &dv, nullptr, &opts,
                                   error, sizeof error),
            0);
  EXPECT_EQ(std::string(error), c.error);
}

INSTANTIATE_TEST_SUITE_P(
    CAPI, KeepLists,
    ::testing::Values(
        KeepCase{"valid", {0, 2, 5, -1}, {1, -1, -1, -1}, ""},
        KeepCase{"duplicate",
                 {0, 2, 2, -1},
                 {1, -1, -1, -1},
                 "keep[0, 0, 2] = 2 is not greater than the entry before it "
                 "(2): kept positions must be strictly ascending, each key "
                 "once"},
        KeepCase{"descending",
                 {0, 1, 3, -1},
                 {4, 2, -1, -1},
                 "keep[0, 1, 1] = 2 is not greater than the entry before it "
                 "(4): kept positions must be strictly ascending, each key "
                 "once"},
        KeepCase{"out_of_range",
                 {0, 6, -1, -1},
                 {1, -1, -1, -1},
                 "keep[0, 0, 1] = 6 is not a key position in [0, 6) nor -1 "
                 "(padding)"},
        KeepCase{"negative",
                 {0, -2, -1, -1},
                 {1, -1, -1, -1},
                 "keep[0, 0, 1] = -2 is not a key position in [0, 6) nor -1 "
                 "(padding)"},
        KeepCase{"after_padding",
                 {0, -1, 3, -1},
                 {1, -1, -1, -1},
                 "keep[0, 0, 2] = 3 follows -1 padding: kept positions come "
                 "first, then only -1"}),
    [](const ::testing::TestParamInfo<KeepCase> &info) {
      return std::string(info.param.name);
    });

TEST(Empty, SizesOfZeroWork) {
  dma_attention_options opts = options(true);
  char error[512] = "";
  // Lk = 0: no key is visible, O = 0 and LSE = -inf.
  {
    F32 q({1, 3, 2, 8}, 1.0f), k({1, 0, 2, 8}), v({1, 0, 2, 8});
    F32 o({1, 3, 2, 8}, kNaN), lse({1, 2, 3}, kNaN);
    ASSERT_EQ(dma_cpu_attention(&q, &k, &v, nullptr, nullptr, nullptr,
                                nullptr, nullptr, nullptr, &o, &lse, &opts,
                                error, sizeof error),
              0)
        << error;
    for (float x : o.data)
      EXPECT_EQ(x, 0.0f);
    for (float x : lse.data)
      EXPECT_EQ(x, -kInf);
    F32 dO({1, 3, 2, 8}, 1.0f), dq({1, 3, 2, 8}, kNaN), dk({1, 0, 2, 8}),
        dv({1, 0, 2, 8});
    ASSERT_EQ(dma_cpu_attention_grad(&dO, &q, &k, &v, &o, &lse, nullptr,
                                     nullptr, nullptr, nullptr, nullptr,
                                     nullptr, &dq, &dk, &dv, nullptr, &opts,
                                     error, sizeof error),
              0)
        << error;
    for (float x : dq.data)
      EXPECT_EQ(x, 0.0f);
  }
  // B = 0, H = Hkv = 0, Lq = 0: nothing to compute (these used to say
  // "q must be contiguous").
  for (std::vector<int64_t> qs : std::vector<std::vector<int64_t>>{
           {0, 3, 2, 8}, {1, 3, 0, 8}, {1, 0, 2, 8}}) {
    int64_t hkv = qs[2];
    F32 q(qs), k({qs[0], 4, hkv, 8}), v({qs[0], 4, hkv, 8});
    F32 o(qs), lse({qs[0], qs[2], qs[1]});
    EXPECT_EQ(dma_cpu_attention(&q, &k, &v, nullptr, nullptr, nullptr,
                                nullptr, nullptr, nullptr, &o, &lse, &opts,
                                error, sizeof error),
              0)
        << error;
  }
  // D = 0 has no meaning (and no default scale).
  {
    F32 q({1, 3, 2, 0}), k({1, 4, 2, 0}), v({1, 4, 2, 8});
    F32 o({1, 3, 2, 8}), lse({1, 2, 3});
    EXPECT_NE(dma_cpu_attention(&q, &k, &v, nullptr, nullptr, nullptr,
                                nullptr, nullptr, nullptr, &o, &lse, &opts,
                                error, sizeof error),
              0);
    EXPECT_EQ(std::string(error),
              "the head dim D (q's last dimension) must be >= 1, got 0");
  }
  // The value bias: no keys is fine, D = 0 is not.
  {
    F32 value({2, 0, 2, 8}), weight({2, 16}), a({2}, 1.0f), score({2, 2, 0});
    EXPECT_EQ(dma_cpu_value_bias(&value, &weight, nullptr, &a, &score, 0,
                                 error, sizeof error),
              0)
        << error;
    F32 value0({2, 3, 2, 0}), weight0({2, 0}), score0({2, 2, 3});
    EXPECT_NE(dma_cpu_value_bias(&value0, &weight0, nullptr, &a, &score0, 0,
                                 error, sizeof error),
              0);
    EXPECT_EQ(std::string(error), "the value head dim D (value's last "
                                  "dimension) must be >= 1, got 0");
  }
  // The top-k over no batch.
  {
    F32 score({0, 2, 8});
    I32 keep({0, 2, 4});
    EXPECT_EQ(dma_cpu_topk(&score, nullptr, 0, 4, &keep, nullptr, nullptr,
                           error, sizeof error),
              0)
        << error;
  }
}

/// Restores an environment variable when the test ends.
struct ScopedEnv {
  std::string name, old;
  bool had;
  ScopedEnv(const char *n, const char *value) : name(n) {
    const char *o = std::getenv(n);
    had = o != nullptr;
    old = o ? o : "";
    setenv(n, value, 1);
  }
  ~ScopedEnv() {
    if (had)
      setenv(name.c_str(), old.c_str(), 1);
    else
      unsetenv(name.c_str());
  }
};

TEST(KernelCache, IsBoundedAndRecompilesEvicted) {
  ScopedEnv env("DMA_CPU_KERNEL_CACHE", "2");
  dma_attention_options opts = options(false);
  char error[512] = "";
  std::mt19937 rng(11);
  // Five distinct shapes (a kernel each), then the first again.
  std::vector<int64_t> lengths = {3, 4, 5, 6, 7, 3};
  for (int64_t lk : lengths) {
    F32 q = random(rng, {1, 2, 1, 8}), k = random(rng, {1, lk, 1, 8}),
        v = random(rng, {1, lk, 1, 8});
    F32 o({1, 2, 1, 8}, kNaN), lse({1, 1, 2}, kNaN);
    ASSERT_EQ(dma_cpu_attention(&q, &k, &v, nullptr, nullptr, nullptr,
                                nullptr, nullptr, nullptr, &o, &lse, &opts,
                                error, sizeof error),
              0)
        << error;
    EXPECT_LE(dma_cpu_kernel_cache_size(), 2u);
    // Correct whether compiled now, cached, or compiled again after its
    // eviction.
    dma::oracle::AttentionProblem p;
    p.q = q.array();
    p.k = k.array();
    p.v = v.array();
    EXPECT_LT(dma::oracle::relativeError(
                  doubles(o), dma::oracle::attentionForward(p).o.data),
              1e-5);
  }
  EXPECT_EQ(dma_cpu_kernel_cache_size(), 2u);
}

TEST(KernelCache, RejectsABadBound) {
  ScopedEnv env("DMA_CPU_KERNEL_CACHE", "many");
  F32 q({1, 2, 1, 8}), k({1, 2, 1, 8}), v({1, 2, 1, 8}), o({1, 2, 1, 8}),
      lse({1, 1, 2});
  dma_attention_options opts = options(false);
  char error[512] = "";
  EXPECT_NE(dma_cpu_attention(&q, &k, &v, nullptr, nullptr, nullptr, nullptr,
                              nullptr, nullptr, &o, &lse, &opts, error,
                              sizeof error),
            0);
  EXPECT_EQ(std::string(error),
            "DMA_CPU_KERNEL_CACHE must be a positive integer (the most "
            "compiled kernels kept), got 'many'");
}

} // namespace
