//===- Harness.h - compile dma kernels for the CPU and feed them -*- C++ -*-===//
//
// Shared by the numerics tests: random inputs, conversions between oracle
// arrays and f32/i32/i1 buffers, and the MLIR text of small kernels. Each
// kernel is a function over dynamically shaped memrefs that wraps one dma
// op on tensors (to_tensor -> op -> materialize_in_destination), so the
// tests exercise bufferization and write straight into caller buffers:
// outputs are poisoned with NaN before every call.
//
//===----------------------------------------------------------------------===//

#ifndef DMA_UNITTESTS_HARNESS_H
#define DMA_UNITTESTS_HARNESS_H

#include "dma/Runner/CPUModule.h"
#include "dma_oracle/Oracle.h"

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace dma::test {

using oracle::Array;

/// An f32 buffer that mirrors an oracle array (values rounded to f32).
struct F32Buffer {
  std::vector<int64_t> shape;
  std::vector<float> data;
  static F32Buffer from(const Array &a);
  static F32Buffer poisoned(const std::vector<int64_t> &shape);
  Array toArray() const;
  mlir::dma::MemRefArg arg();
};

/// Integer (i32) or boolean (i1, one byte each) buffers.
struct I32Buffer {
  std::vector<int64_t> shape;
  std::vector<int32_t> data;
  static I32Buffer from(const Array &a);
  static I32Buffer poisoned(const std::vector<int64_t> &shape);
  Array toArray() const;
  mlir::dma::MemRefArg arg();
};
struct BoolBuffer {
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;
  static BoolBuffer from(const Array &a);
  mlir::dma::MemRefArg arg();
};

/// Rounds every element to the nearest f32, so the oracle sees exactly what
/// the kernel sees.
Array roundToF32(Array a);
Array randomArray(std::mt19937 &rng, std::vector<int64_t> shape,
                  double stddev = 1.0);

/// One memref parameter of a generated kernel.
struct Param {
  std::string name;
  int rank;
  std::string elementType; // f32, i32, i1, ...
  bool output = false;
  int64_t lastDim = 0; // static size of the last dimension (0: dynamic)
  std::string memrefType() const;
  std::string tensorType() const;
};

/// A kernel: `func.func @<name>(params...)` that bufferizes `op` (MLIR text
/// in which each parameter appears as %<name>, a tensor) and materializes
/// its `numResults` results into the output parameters, in order.
std::string kernelFunc(const std::string &name, const std::vector<Param> &params,
                       const std::string &op);

/// The operand clause `name(%name : tensor<...>)` of a parameter.
std::string clause(const Param &p);
/// `outs(%a, %b : T, T) ... -> T, T` pieces for the output parameters.
std::string outsClause(const std::vector<Param> &params);
std::string resultTypes(const std::vector<Param> &params);

/// Compiles once per distinct source text within a test binary; null (after
/// recording a test failure with the diagnostics) when compilation fails.
/// `pipelineOptions` is --dma-cpu-pipeline's option string ("a=1 b=2").
mlir::dma::CPUModule *compileCached(const std::string &source,
                                    const std::string &pipelineOptions = "");

/// Max |a - b| over all elements (for summaries).
double maxAbsDiff(const std::vector<double> &a, const std::vector<double> &b);

} // namespace dma::test

#endif // DMA_UNITTESTS_HARNESS_H
