//===- attention_bench.cpp - CPU time of the tiled attention vs keep window --===//
//
// Shared top-k attention on the CPU (one thread), Lk = 8192 keys, the last
// Lq = 1024 queries, D = 64, 64 x 64 tiles: the forward's time should follow
// the keep window w (256, 1024, 8192), not Lk, when the kept keys are
// gathered; with gathering off (skip=false) every key tile is visited and
// the time stays near the dense one. Run with `make bench-cpu`; the figures
// are recorded in docs/cpu-benchmark.md.
//
//===----------------------------------------------------------------------===//

#include "dma/Runner/CPUModule.h"

#include "benchmark/benchmark.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

using mlir::dma::CPUModule;
using mlir::dma::MemRefArg;

namespace {

constexpr int64_t Lk = 8192, Lq = 1024, D = 64;

const char *kKernel = R"mlir(
func.func @fwd(%q_m: memref<1x?x1x64xf32>, %k_m: memref<1x?x1x64xf32>,
               %v_m: memref<1x?x1x64xf32>, %keep_m: memref<1x1x?xi32>,
               %o_m: memref<1x?x1x64xf32>, %l_m: memref<1x1x?xf32>)
    attributes {llvm.emit_c_interface} {
  dma.attention q(%q_m : memref<1x?x1x64xf32>) k(%k_m : memref<1x?x1x64xf32>)
      v(%v_m : memref<1x?x1x64xf32>) keep(%keep_m : memref<1x1x?xi32>)
      outs(%o_m, %l_m : memref<1x?x1x64xf32>, memref<1x1x?xf32>) causal
  return
}
)mlir";

/// Compiled kernels by pipeline options; cleared before main returns (see
/// CPUModule.h).
std::map<std::string, std::unique_ptr<CPUModule>> &cache() {
  static std::map<std::string, std::unique_ptr<CPUModule>> modules;
  return modules;
}

CPUModule *compiled(const std::string &options) {
  auto &slot = cache()[options];
  if (!slot) {
    auto opts = mlir::dma::CPUPipelineOptions::createFromString(options);
    auto module = CPUModule::compile(kKernel, *opts);
    if (!module) {
      llvm::errs() << llvm::toString(module.takeError()) << "\n";
      std::abort();
    }
    slot = std::move(*module);
  }
  return slot.get();
}

void attentionForward(benchmark::State &state, const char *options) {
  const int64_t w = state.range(0);
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  auto random = [&](int64_t n) {
    std::vector<float> v(n);
    for (float &x : v)
      x = normal(rng);
    return v;
  };
  std::vector<float> q = random(Lq * D), k = random(Lk * D), v = random(Lk * D);
  std::vector<float> o(Lq * D), lse(Lq);
  // w distinct kept positions, ascending.
  std::vector<int32_t> keep(Lk);
  std::iota(keep.begin(), keep.end(), 0);
  std::shuffle(keep.begin(), keep.end(), rng);
  keep.resize(w);
  std::sort(keep.begin(), keep.end());

  CPUModule *module = compiled(options);
  std::vector<MemRefArg> args = {
      MemRefArg::contiguous(q.data(), {1, Lq, 1, D}),
      MemRefArg::contiguous(k.data(), {1, Lk, 1, D}),
      MemRefArg::contiguous(v.data(), {1, Lk, 1, D}),
      MemRefArg::contiguous(keep.data(), {1, 1, w}),
      MemRefArg::contiguous(o.data(), {1, Lq, 1, D}),
      MemRefArg::contiguous(lse.data(), {1, 1, Lq})};
  for (auto _ : state) {
    if (llvm::Error err = module->call("fwd", args)) {
      state.SkipWithError(llvm::toString(std::move(err)).c_str());
      return;
    }
    benchmark::DoNotOptimize(o.data());
  }
  // Causal: the last Lq queries of Lk see (almost) every kept key.
  state.counters["kept_keys"] = static_cast<double>(w);
  state.counters["GFLOP/s"] = benchmark::Counter(
      4.0 * Lq * w * D, benchmark::Counter::kIsIterationInvariantRate,
      benchmark::Counter::OneK::kIs1000);
}

} // namespace

BENCHMARK_CAPTURE(attentionForward, gathered, "q-tile=64 k-tile=64")
    ->Arg(256)->Arg(1024)->Arg(8192)
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(attentionForward, all_tiles, "q-tile=64 k-tile=64 skip=false")
    ->Arg(256)->Arg(1024)->Arg(8192)
    ->Unit(benchmark::kMillisecond)->UseRealTime();

int main(int argc, char **argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv))
    return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  cache().clear();
  return 0;
}
