//===- checks.cpp - the runtime's argument checks, without a GPU ----------===//
//
// Every check dma_attention_forward makes before touching the GPU (shapes,
// dtypes, strides, options, the bundle) runs through the same code as
// dma_attention_variant, so it is tested here on any machine. The launch
// itself is checked on the GPU machine (benchmarks/gpu/check.py).
//
//   dma_runtime_checks <dir of tests/bundle>
//
//===----------------------------------------------------------------------===//

#include "dma_runtime.h"
#include "dma/GridExpr.h"

#include <cstdio>
#include <cstring>
#include <string>

namespace {

int passed = 0, failed = 0;

void expect(bool ok, const std::string &what, const std::string &detail) {
  if (ok) {
    ++passed;
    return;
  }
  ++failed;
  std::printf("FAIL %s: %s\n", what.c_str(), detail.c_str());
}

/// A contiguous [d0, d1, d2, d3] tensor (the data pointer is never read).
dma_tensor tensor(int32_t dtype, std::initializer_list<int64_t> sizes) {
  static char storage[16];
  dma_tensor t{};
  t.data = storage;
  t.dtype = dtype;
  t.ndim = static_cast<int32_t>(sizes.size());
  int i = 0;
  for (int64_t s : sizes)
    t.sizes[i++] = s;
  int64_t stride = 1;
  for (int d = t.ndim - 1; d >= 0; --d) {
    t.strides[d] = stride;
    stride *= t.sizes[d];
  }
  return t;
}

struct Args {
  dma_tensor q = tensor(DMA_BF16, {2, 100, 8, 64});
  dma_tensor k = tensor(DMA_BF16, {2, 120, 2, 64});
  dma_tensor v = tensor(DMA_BF16, {2, 120, 2, 64});
  dma_tensor o = tensor(DMA_BF16, {2, 100, 8, 64});
  dma_tensor lse = tensor(DMA_F32, {2, 8, 100});
  dma_tensor *bias = nullptr, *mask = nullptr, *keep = nullptr;
  dma_tensor *score = nullptr, *threshold = nullptr, *tiebreak = nullptr;
  dma_attention_options options{};
};

/// The variant name, or "error: <message>".
std::string variantOf(const Args &a) {
  char name[256] = {0}, error[512] = {0};
  int rc = dma_attention_variant(&a.q, &a.k, &a.v, a.bias, a.mask, a.keep,
                                 a.score, a.threshold, a.tiebreak, &a.o,
                                 &a.lse, &a.options, name, sizeof name, error,
                                 sizeof error);
  return rc ? std::string("error: ") + error : std::string(name);
}

void expectVariant(const char *what, const Args &a, const std::string &want) {
  std::string got = variantOf(a);
  expect(got == want, what, "got '" + got + "', want '" + want + "'");
}

void expectError(const char *what, const Args &a, const std::string &part) {
  std::string got = variantOf(a);
  expect(got.rfind("error: ", 0) == 0 && got.find(part) != std::string::npos,
         what, "got '" + got + "', want an error containing '" + part + "'");
}

} // namespace

int main(int argc, char **argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: dma_runtime_checks <tests/bundle dir>\n");
    return 2;
  }
  const std::string plain =
      "dtype=bf16,d=64,dv=64,mask=none,bias=none,causal=0,softcap=0";

  // Variants: default tiles by mask form, options, bias and mask kinds.
  Args a;
  expectVariant("default tiles", a, plain + ",q_tile=128,k_tile=32");
  a.options.causal = 1;
  a.options.softcap = 30.0f;
  a.options.q_tile = 64;
  a.options.k_tile = 64;
  expectVariant("options", a,
                "dtype=bf16,d=64,dv=64,mask=none,bias=none,causal=1,"
                "softcap=1,q_tile=64,k_tile=64");
  {
    Args b;
    dma_tensor bias = tensor(DMA_BF16, {2, 2, 1, 120});
    dma_tensor keep = tensor(DMA_I32, {2, 2, 16});
    b.bias = &bias;
    b.keep = &keep;
    expectVariant("shared top-k, key bias", b,
                  "dtype=bf16,d=64,dv=64,mask=keep,bias=key,causal=0,"
                  "softcap=0,q_tile=128,k_tile=32");
    dma_tensor full = tensor(DMA_BF16, {1, 8, 100, 120});
    b.bias = &full;
    b.keep = nullptr;
    expectVariant("full bias", b,
                  "dtype=bf16,d=64,dv=64,mask=none,bias=full,causal=0,"
                  "softcap=0,q_tile=128,k_tile=32");
  }
  {
    Args b;
    dma_tensor s = tensor(DMA_F32, {2, 2, 120}), t = tensor(DMA_F32, {2, 2, 120});
    dma_tensor tie = tensor(DMA_I32, {2, 2, 120});
    b.score = &s;
    b.threshold = &t;
    b.tiebreak = &tie;
    expectVariant("per-query top-k tiles", b,
                  "dtype=bf16,d=64,dv=64,mask=keep_rows,bias=none,causal=0,"
                  "softcap=0,q_tile=128,k_tile=32");
    b.options.arch = 90;
    expectVariant("per-query top-k tiles, sm_90a", b,
                  "dtype=bf16,d=64,dv=64,mask=keep_rows,bias=none,causal=0,"
                  "softcap=0,q_tile=128,k_tile=64");
    b.options.arch = 0;
    tie.dtype = DMA_F32;
    expectError("per-query tiebreak dtype", b, "int32 tiebreak");
  }
  {
    // sm_90a's default tiles are the warpgroup MMA's: 128 keys at d = dv
    // = 128, 64 at other head dims, 32 for the shared top-k and dense masks
    // (mma.sync).
    Args b;
    b.options.arch = 90;
    expectVariant("default tiles, sm_90a, d = 64", b,
                  plain + ",q_tile=128,k_tile=64");
    for (dma_tensor *t : {&b.q, &b.k, &b.v, &b.o})
      t->sizes[3] = 128;
    for (dma_tensor *t : {&b.q, &b.k, &b.v, &b.o})
      for (int d = 0; d < 3; ++d)
        t->strides[d] *= 2;
    expectVariant("default tiles, sm_90a, d = 128", b,
                  "dtype=bf16,d=128,dv=128,mask=none,bias=none,causal=0,"
                  "softcap=0,q_tile=128,k_tile=128");
    dma_tensor keep = tensor(DMA_I32, {2, 2, 16});
    b.keep = &keep;
    expectVariant("default tiles, sm_90a, shared top-k", b,
                  "dtype=bf16,d=128,dv=128,mask=keep,bias=none,causal=0,"
                  "softcap=0,q_tile=128,k_tile=32");
    b.keep = nullptr;
    b.options.arch = 80;
    expectVariant("default tiles, sm_80", b,
                  "dtype=bf16,d=128,dv=128,mask=none,bias=none,causal=0,"
                  "softcap=0,q_tile=128,k_tile=32");
  }

  // Empty inputs are valid (nothing to compute, or O = 0 with no keys).
  for (int d : {0, 1, 2}) {
    Args e;
    e.q.sizes[d] = e.o.sizes[d] = 0;
    e.lse.sizes[d == 0 ? 0 : d == 1 ? 2 : 1] = 0;
    if (d == 2) {
      e.k.sizes[2] = e.v.sizes[2] = 0;
    }
    if (d == 0)
      e.k.sizes[0] = e.v.sizes[0] = 0;
    expectVariant(d == 0 ? "B = 0" : d == 1 ? "Lq = 0" : "H = Hkv = 0", e,
                  plain + ",q_tile=128,k_tile=32");
  }
  {
    Args e;
    e.k.sizes[1] = e.v.sizes[1] = 0;
    expectVariant("Lk = 0", e, plain + ",q_tile=128,k_tile=32");
  }
  {
    dma_attention_options o = dma_attention_default_options();
    expect(o.scale != o.scale && o.causal == 0 && o.q_tile == 0,
           "default options", "scale must be NaN (the default scale)");
  }

  // Bad arguments: each names what is wrong.
  {
    Args b;
    b.q = tensor(DMA_BF16, {2, 100, 8});
    expectError("q rank", b, "q");
    b = Args();
    b.k.dtype = DMA_F16;
    expectError("mixed dtypes", b, "dtype");
    b = Args();
    b.q = b.o = tensor(DMA_F32, {2, 100, 8, 64});
    b.k = b.v = tensor(DMA_F32, {2, 120, 2, 64});
    expectError("f32 inputs", b, "bf16");
    b = Args();
    b.q = b.o = tensor(DMA_BF16, {2, 100, 3, 64});
    b.lse = tensor(DMA_F32, {2, 3, 100});
    expectError("H % Hkv", b, "multiple of KV heads");
    b = Args();
    b.o = tensor(DMA_BF16, {2, 99, 8, 64});
    expectError("o shape", b, "o");
    b = Args();
    b.q.strides[3] = 2;
    expectError("inner stride", b, "contiguous");
    b = Args();
    b.q = b.o = tensor(DMA_BF16, {2, 100, 8, 0});
    b.k = b.v = tensor(DMA_BF16, {2, 120, 2, 0});
    expectError("D = 0", b, "head dims that are multiples of 16 from 16 to "
                            "256, got D = 0");
    b = Args();
    b.q = tensor(DMA_BF16, {2, 100, 8, 72});
    b.k = tensor(DMA_BF16, {2, 120, 2, 72});
    expectError("D = 72", b, "got D = 72");
    b = Args();
    b.options.q_tile = 40;
    expectError("q_tile", b, "multiples of 16");
    b = Args();
    b.options.softcap = -1.0f;
    expectError("softcap", b, "softcap");
    b = Args();
    dma_tensor keep = tensor(DMA_I32, {2, 2, 16});
    dma_tensor mask = tensor(DMA_BOOL, {2, 1, 100, 120});
    b.keep = &keep;
    b.mask = &mask;
    expectError("two mask forms", b, "mask");
  }

  // Grid expressions (the manifest's grids, GridExpr.h): values, and errors
  // that name what is wrong.
  {
    auto params = [](const std::string &n) -> std::optional<int64_t> {
      if (n == "Lq")
        return 1000;
      if (n == "H")
        return 8;
      if (n == "n0")
        return 5;
      return std::nullopt;
    };
    auto value = [&](const std::string &text) {
      std::string why;
      std::optional<int64_t> v = dma::evaluateGrid(text, params, why);
      return v ? std::to_string(*v) : "error: " + why;
    };
    auto is = [&](const std::string &text, const std::string &want) {
      std::string got = value(text);
      expect(got == want, "grid " + text, "got '" + got + "', want '" + want + "'");
    };
    is("ceil(Lq/128)", "8");
    is("H", "8");
    is("1", "1");
    is("H*ceil(Lq/64)+1", "129");
    is("max(n0,H,3)", "8");
    is("ceil(ceil(Lq/32)/16)", "2");
    is("2*(H+1)", "18");
    is("ceil(0/64)", "0");
    for (const char *bad : {"ceil(Lq/0)", "keys", "ceil(max(n0..n3)/2048)",
                            "H*", "(H", "H H", "", "ceil(Lq/H)"}) {
      std::string got = value(bad);
      expect(got.rfind("error: ", 0) == 0 && got.find("grid '") != std::string::npos,
             std::string("bad grid '") + bad + "'", "got '" + got + "'");
    }
  }

  // Bundles: a missing directory, a variant the bundle lacks, and a launch
  // whose kernel cannot load (no driver here, or no cubin on a GPU machine).
  char error[512] = {0};
  dma_runtime *none = dma_runtime_open("/nonexistent/bundle", error, sizeof error);
  expect(!none && std::strstr(error, "manifest.json"), "missing bundle",
         std::string("got '") + error + "'");
  // A manifest whose grid names something the kernel does not take (an
  // older compiler's formula) is refused when opened, not at a launch.
  std::string badGrid = std::string(argv[1]) + "/../bundle-bad-grid";
  dma_runtime *stale = dma_runtime_open(badGrid.c_str(), error, sizeof error);
  expect(!stale && std::strstr(error, "entry 'kind=bwd_convert,dtype=bf16'") &&
             std::strstr(error, "recompile it"),
         "manifest with a stale grid", std::string("got '") + error + "'");
  dma_runtime_close(stale);
  dma_runtime *rt = dma_runtime_open(argv[1], error, sizeof error);
  expect(rt != nullptr, "open test bundle", error);
  if (rt) {
    Args b;
    b.q = b.o = tensor(DMA_BF16, {1, 4, 2, 32});
    b.k = b.v = tensor(DMA_BF16, {1, 4, 2, 32});
    b.lse = tensor(DMA_F32, {1, 2, 4});
    int rc = dma_attention_forward(rt, &b.q, &b.k, &b.v, nullptr, nullptr,
                                   nullptr, nullptr, nullptr, nullptr, &b.o,
                                   &b.lse, &b.options, nullptr, error,
                                   sizeof error);
    expect(rc != 0 && std::strstr(error, "dma-compile -o"),
           "variant not in bundle", std::string("got '") + error + "'");
    Args c;
    error[0] = 0;
    rc = dma_attention_forward(rt, &c.q, &c.k, &c.v, nullptr, nullptr,
                               nullptr, nullptr, nullptr, nullptr, &c.o,
                               &c.lse, &c.options, nullptr, error,
                               sizeof error);
    expect(rc != 0 && (std::strstr(error, "NVIDIA driver") ||
                       std::strstr(error, "cannot read") ||
                       std::strstr(error, "CUDA")),
           "unloadable kernel", std::string("got '") + error + "'");
    // A grid past CUDA's limits (y and z at most 65535: here 70000 query
    // heads, the forward's grid y) is refused when the plan is built, with
    // the evaluated size, before any kernel is loaded.
    Args wide;
    wide.q = wide.o = tensor(DMA_BF16, {1, 4, 70000, 64});
    wide.k = wide.v = tensor(DMA_BF16, {1, 4, 1, 64});
    wide.lse = tensor(DMA_F32, {1, 70000, 4});
    error[0] = 0;
    rc = dma_attention_forward(rt, &wide.q, &wide.k, &wide.v, nullptr, nullptr,
                               nullptr, nullptr, nullptr, nullptr, &wide.o,
                               &wide.lse, &wide.options, nullptr, error,
                               sizeof error);
    expect(rc != 0 && std::strstr(error, "70000 CTAs in dimension y, at most "
                                         "65535"),
           "grid past CUDA's limits", std::string("got '") + error + "'");
    // The backward plan: its arguments are checked, then its variants
    // looked up (here: no driver, or the test bundle lacks them).
    dma_tensor dO = c.o, gq = c.q, gk = c.k, gv = c.v;
    auto backward = [&](const Args &g, const dma_tensor *bias,
                        const dma_tensor *keep, const dma_tensor *dq,
                        const dma_tensor *dbias) {
      error[0] = 0;
      dma_plan *plan = dma_attention_backward_plan(
          rt, -1, &dO, &g.q, &g.k, &g.v, &g.o, &g.lse, bias, nullptr, keep,
          nullptr, nullptr, nullptr, dq, &gk, &gv, dbias, &g.options, error,
          sizeof error);
      dma_plan_destroy(plan);
      return plan != nullptr;
    };
    expect(!backward(c, nullptr, nullptr, &gq, nullptr) &&
               (std::strstr(error, "NVIDIA driver") ||
                std::strstr(error, "kind=bwd_delta,dtype=bf16,dv=64")),
           "backward variant not in bundle", std::string("got '") + error + "'");
    gq.dtype = DMA_F32;
    expect(!backward(c, nullptr, nullptr, &gq, nullptr) &&
               std::strstr(error, "grad_q must be bf16 shaped"),
           "backward gradient dtype", std::string("got '") + error + "'");
    gq.dtype = DMA_BF16;
    dma_tensor bias = tensor(DMA_BF16, {2, 2, 1, 120});
    expect(!backward(c, &bias, nullptr, &gq, nullptr) &&
               std::strstr(error, "grad_bias is given exactly"),
           "backward bias gradient", std::string("got '") + error + "'");
    gq.strides[1] = 2 * 8 * 64;
    expect(!backward(c, nullptr, nullptr, &gq, nullptr) &&
               std::strstr(error, "grad_q must be contiguous"),
           "backward gradient layout", std::string("got '") + error + "'");
    gq = c.q;
    // The deterministic backward refuses lists per query head under GQA.
    {
      Args g;
      dma_tensor keep = tensor(DMA_I32, {2, 8, 16});
      g.options.deterministic = 1;
      dO = g.o;
      gq = g.q;
      gk = g.k;
      gv = g.v;
      expect(!backward(g, nullptr, &keep, &gq, nullptr) &&
                 std::strstr(error, "kept-key lists per KV head"),
             "deterministic per-head lists",
             std::string("got '") + error + "'");
    }
    dma_runtime_close(rt);
  }

  // The mask-generation entry points check their arguments before any GPU
  // work (so with no runtime too).
  auto maskError = [&](const char *what, int rc, const char *part) {
    expect(rc != 0 && std::strstr(error, part), what,
           std::string("got '") + error + "', want '" + part + "'");
    error[0] = 0;
  };
  {
    dma_tensor value = tensor(DMA_BF16, {2, 120, 2, 64});
    dma_tensor weight = tensor(DMA_F32, {2, 128}), a = tensor(DMA_F32, {2});
    dma_tensor score = tensor(DMA_F32, {2, 2, 120});
    dma_tensor value32 = tensor(DMA_F32, {2, 120, 2, 64});
    maskError("value_bias dtype",
              dma_value_bias(nullptr, &value32, &weight, nullptr, &a, &score,
                             0, nullptr, error, sizeof error),
              "value must be bf16 or f16");
    dma_tensor badWeight = tensor(DMA_F32, {2, 64});
    maskError("value_bias weight shape",
              dma_value_bias(nullptr, &value, &badWeight, nullptr, &a, &score,
                             0, nullptr, error, sizeof error),
              "weight must be [2, 128]");
    dma_tensor odd = tensor(DMA_BF16, {2, 120, 2, 60});
    dma_tensor oddWeight = tensor(DMA_F32, {2, 120});
    maskError("value_bias head dim",
              dma_value_bias(nullptr, &odd, &oddWeight, nullptr, &a, &score, 0,
                             nullptr, error, sizeof error),
              "multiple of 8");
    maskError("value_bias without runtime",
              dma_value_bias(nullptr, &value, &weight, nullptr, &a, &score, 0,
                             nullptr, error, sizeof error),
              "no runtime");
    dma_tensor grad = tensor(DMA_F32, {2, 2, 120}), scratch = tensor(DMA_F32, {8});
    dma_tensor dv = value, dw = weight, da = a;
    maskError("value_bias_backward scratch",
              dma_value_bias_backward(nullptr, &grad, &value, &weight, nullptr,
                                      &a, &dv, &dw, nullptr, &da, &scratch, 0,
                                      nullptr, error, sizeof error),
              "scratch must have at least");
    dma_tensor ddt = a;
    maskError("value_bias_backward dt_bias pairing",
              dma_value_bias_backward(nullptr, &grad, &value, &weight, nullptr,
                                      &a, &dv, &dw, &ddt, &da, &scratch, 0,
                                      nullptr, error, sizeof error),
              "grad_dt_bias is given exactly when dt_bias is given");
    dma_tensor keep = tensor(DMA_I32, {2, 2, 16}), keep64 = keep;
    keep64.dtype = DMA_I64;
    maskError("topk_shared dtype",
              dma_topk_shared(nullptr, &score, nullptr, &keep64, nullptr, error,
                              sizeof error),
              "keep must be i32");
    dma_tensor pad = tensor(DMA_BOOL, {2, 100});
    maskError("topk padding shape",
              dma_topk_shared(nullptr, &score, &pad, &keep, nullptr, error,
                              sizeof error),
              "padding must be [2, 120]");
    dma_tensor thr = score, tie = tensor(DMA_I32, {2, 2, 120});
    maskError("topk_per_query keep",
              dma_topk_per_query(nullptr, &score, nullptr, 0, &score, &thr,
                                 &tie, nullptr, error, sizeof error),
              "keep must be >= 1");
  }

  std::printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
