//===- main.cpp - dma-demo: compile and run one DMA layer -----------------===//
//
// `make demo` runs this: it compiles examples/dma-layer/dma_layer.mlir
// through --dma-cpu-pipeline, runs it on generated inputs (outputs poisoned
// with NaN first), and compares every stage with the fp64 oracle:
//
//   score  vs oracle::valueBias                      (relative error)
//   keep   vs the top-w of the computed score         (exact)
//   O, LSE vs oracle::attentionForward                (relative and max error)
//
// Exit status 0 only if every check passes (f32 tolerance 1e-5).
//
//===----------------------------------------------------------------------===//

#include "dma/Runner/CPUModule.h"
#include "dma_oracle/Oracle.h"

#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <vector>

using dma::oracle::Array;
using mlir::dma::MemRefArg;

namespace {

constexpr int64_t B = 1, L = 512, H = 8, Hkv = 2, D = 64, W = 128;

Array random(std::mt19937 &rng, std::vector<int64_t> shape, double stddev) {
  std::normal_distribution<double> dist(0.0, stddev);
  Array a(std::move(shape));
  for (double &x : a.data)
    x = static_cast<float>(dist(rng)); // exactly representable in f32
  return a;
}

std::vector<float> toF32(const Array &a) {
  return std::vector<float>(a.data.begin(), a.data.end());
}

Array fromF32(const std::vector<float> &v, std::vector<int64_t> shape) {
  Array a(std::move(shape));
  for (size_t i = 0; i < v.size(); ++i)
    a.data[i] = v[i];
  return a;
}

struct Stats {
  double mean = 0, stddev = 0, min = 0, max = 0;
};
Stats stats(const std::vector<float> &v) {
  Stats s{0, 0, std::numeric_limits<double>::infinity(),
          -std::numeric_limits<double>::infinity()};
  for (float x : v) {
    s.mean += x;
    s.min = std::min<double>(s.min, x);
    s.max = std::max<double>(s.max, x);
  }
  s.mean /= v.size();
  for (float x : v)
    s.stddev += (x - s.mean) * (x - s.mean);
  s.stddev = std::sqrt(s.stddev / v.size());
  return s;
}

double maxAbs(const std::vector<double> &a, const std::vector<double> &b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i)
    if (!(std::isinf(a[i]) && a[i] == b[i]))
      m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

double seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                       since)
      .count();
}

} // namespace

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "examples/dma-layer/dma_layer.mlir";
  auto file = llvm::MemoryBuffer::getFile(path);
  if (!file) {
    llvm::errs() << "dma-demo: cannot read " << path << ": "
                 << file.getError().message() << "\n";
    return 2;
  }

  std::printf("DMA layer: B=%lld L=%lld H=%lld Hkv=%lld D=%lld keep w=%lld, "
              "causal\n",
              (long long)B, (long long)L, (long long)H, (long long)Hkv,
              (long long)D, (long long)W);
  auto start = std::chrono::steady_clock::now();
  auto module = mlir::dma::CPUModule::compile((*file)->getBuffer());
  if (!module) {
    llvm::errs() << "dma-demo: " << llvm::toString(module.takeError()) << "\n";
    return 1;
  }
  std::printf("compiled %s through --dma-cpu-pipeline in %.2f s\n", path,
              seconds(start));

  // Inputs, rounded to f32 so the oracle sees exactly what the kernel sees.
  std::mt19937 rng(2508);
  Array v = random(rng, {B, L, Hkv, D}, 1.0);
  Array w = random(rng, {Hkv, Hkv * D}, 0.1);
  Array bdt = random(rng, {Hkv}, 0.5);
  Array a = random(rng, {Hkv}, 1.0);
  for (double &x : a.data)
    x = -static_cast<float>(std::exp(x)); // A < 0, as DMA learns it
  Array q = random(rng, {B, L, H, D}, 1.0);
  Array k = random(rng, {B, L, Hkv, D}, 1.0);

  std::vector<float> fv = toF32(v), fw = toF32(w), fbdt = toF32(bdt),
                     fa = toF32(a), fq = toF32(q), fk = toF32(k);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> score(B * Hkv * L, nan), o(B * L * H * D, nan),
      lse(B * H * L, nan);
  std::vector<int32_t> keep(B * Hkv * W, 0x7eadbeef);

  start = std::chrono::steady_clock::now();
  llvm::Error err = (*module)->call(
      "dma_layer", {MemRefArg::contiguous(fv.data(), {B, L, Hkv, D}),
                    MemRefArg::contiguous(fw.data(), {Hkv, Hkv * D}),
                    MemRefArg::contiguous(fbdt.data(), {Hkv}),
                    MemRefArg::contiguous(fa.data(), {Hkv}),
                    MemRefArg::contiguous(fq.data(), {B, L, H, D}),
                    MemRefArg::contiguous(fk.data(), {B, L, Hkv, D}),
                    MemRefArg::contiguous(score.data(), {B, Hkv, L}),
                    MemRefArg::contiguous(keep.data(), {B, Hkv, W}),
                    MemRefArg::contiguous(o.data(), {B, L, H, D}),
                    MemRefArg::contiguous(lse.data(), {B, H, L})});
  if (err) {
    llvm::errs() << "dma-demo: " << llvm::toString(std::move(err)) << "\n";
    return 1;
  }
  double runTime = seconds(start);
  std::printf("ran on the CPU in %.3f s\n\n", runTime);

  // Stage 1: the score against the oracle's fp64 value bias.
  Array refScore = dma::oracle::valueBias(v, w, bdt, a, /*expForm=*/false);
  double scoreErr = dma::oracle::relativeError(
      fromF32(score, {B, Hkv, L}).data, refScore.data);

  // Stage 2: the kept set must be exactly the top-w of the computed score.
  Array ourScore = fromF32(score, {B, Hkv, L});
  Array refKeep = dma::oracle::topKShared(ourScore, std::nullopt, W);
  int64_t keepMismatch = 0;
  for (int64_t t = 0; t < refKeep.size(); ++t)
    keepMismatch += refKeep.data[t] != keep[t];
  // (And, for information, against the top-w of the fp64 score.)
  Array fp64Keep = dma::oracle::topKShared(refScore, std::nullopt, W);
  int64_t fp64Mismatch = 0;
  for (int64_t t = 0; t < fp64Keep.size(); ++t)
    fp64Mismatch += fp64Keep.data[t] != keep[t];

  // Stage 3: attention over the kept keys with the score as bias.
  dma::oracle::AttentionProblem p;
  p.q = q;
  p.k = k;
  p.v = v;
  Array bias({B, Hkv, 1, L});
  bias.data = ourScore.data;
  p.bias = bias;
  p.form = dma::oracle::MaskForm::SharedTopK;
  p.keep = refKeep;
  p.causal = true;
  dma::oracle::AttentionOutputs ref = dma::oracle::attentionForward(p);
  Array ourO = fromF32(o, {B, L, H, D}), ourLse = fromF32(lse, {B, H, L});
  double oErr = dma::oracle::relativeError(ourO.data, ref.o.data);
  double lseErr = dma::oracle::relativeError(ourLse.data, ref.lse.data);
  double oMax = maxAbs(ourO.data, ref.o.data);
  int64_t emptyRows = 0;
  for (double x : ref.lse.data)
    emptyRows += std::isinf(x);

  Stats so = stats(o), ss = stats(score);
  std::printf("score [B,Hkv,L]: mean %+.4f  std %.4f  min %+.4f  max %+.4f\n",
              ss.mean, ss.stddev, ss.min, ss.max);
  std::printf("kept positions [B,Hkv,w]: head 0 starts");
  for (int t = 0; t < 8; ++t)
    std::printf(" %d", keep[t]);
  std::printf(" ...\n");
  std::printf("O [B,L,H,D]:     mean %+.4f  std %.4f  min %+.4f  max %+.4f\n",
              so.mean, so.stddev, so.min, so.max);
  std::printf("rows with no visible key (early queries whose keys were all "
              "dropped): %lld of %lld\n\n",
              (long long)emptyRows, (long long)(B * H * L));

  const double tol = 1e-5;
  bool ok = scoreErr < tol && keepMismatch == 0 && oErr < tol && lseErr < tol;
  std::printf("vs the fp64 oracle:\n");
  std::printf("  score   relative error %.2e\n", scoreErr);
  std::printf("  keep    %lld positions differ from the top-%lld of the "
              "score (%lld from the fp64 score's)\n",
              (long long)keepMismatch, (long long)W, (long long)fp64Mismatch);
  std::printf("  O       relative error %.2e  max abs error %.2e\n", oErr,
              oMax);
  std::printf("  LSE     relative error %.2e\n", lseErr);
  std::printf("max error %.2e -> %s (f32 tolerance %.0e)\n",
              std::max({scoreErr, oErr, lseErr}), ok ? "PASS" : "FAIL", tol);
  return ok ? 0 : 1;
}
