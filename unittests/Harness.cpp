//===- Harness.cpp - compile dma kernels for the CPU and feed them --------===//

#include "Harness.h"

#include "gtest/gtest.h"

#include <cmath>
#include <limits>
#include <sstream>

namespace dma::test {

using mlir::dma::MemRefArg;

F32Buffer F32Buffer::from(const Array &a) {
  F32Buffer buf{a.shape, std::vector<float>(a.data.begin(), a.data.end())};
  return buf;
}
F32Buffer F32Buffer::poisoned(const std::vector<int64_t> &shape) {
  return from(Array(shape, std::numeric_limits<double>::quiet_NaN()));
}
Array F32Buffer::toArray() const {
  Array a(shape);
  for (size_t i = 0; i < data.size(); ++i)
    a.data[i] = data[i];
  return a;
}
MemRefArg F32Buffer::arg() { return MemRefArg::contiguous(data.data(), shape); }

I32Buffer I32Buffer::from(const Array &a) {
  I32Buffer buf{a.shape, {}};
  for (double x : a.data)
    buf.data.push_back(static_cast<int32_t>(x));
  return buf;
}
I32Buffer I32Buffer::poisoned(const std::vector<int64_t> &shape) {
  I32Buffer buf{shape, {}};
  buf.data.assign(Array(shape).size(), 0x7eadbeef);
  return buf;
}
Array I32Buffer::toArray() const {
  Array a(shape);
  for (size_t i = 0; i < data.size(); ++i)
    a.data[i] = data[i];
  return a;
}
MemRefArg I32Buffer::arg() { return MemRefArg::contiguous(data.data(), shape); }

BoolBuffer BoolBuffer::from(const Array &a) {
  BoolBuffer buf{a.shape, {}};
  for (double x : a.data)
    buf.data.push_back(x != 0.0 ? 1 : 0);
  return buf;
}
MemRefArg BoolBuffer::arg() {
  return MemRefArg::contiguous(data.data(), shape);
}

Array roundToF32(Array a) {
  for (double &x : a.data)
    x = static_cast<double>(static_cast<float>(x));
  return a;
}

Array randomArray(std::mt19937 &rng, std::vector<int64_t> shape,
                  double stddev) {
  std::normal_distribution<double> dist(0.0, stddev);
  Array a(std::move(shape));
  for (double &x : a.data)
    x = dist(rng);
  return roundToF32(std::move(a));
}

namespace {
std::string shapeOf(const Param &p) {
  std::string s;
  for (int i = 0; i < p.rank; ++i)
    s += (i == p.rank - 1 && p.lastDim > 0 ? std::to_string(p.lastDim) : "?") +
         std::string("x");
  return s + p.elementType;
}
} // namespace

std::string Param::memrefType() const { return "memref<" + shapeOf(*this) + ">"; }
std::string Param::tensorType() const { return "tensor<" + shapeOf(*this) + ">"; }

std::string clause(const Param &p) {
  return p.name + "(%" + p.name + " : " + p.tensorType() + ")";
}

std::string outsClause(const std::vector<Param> &params) {
  std::string names, types;
  for (const Param &p : params) {
    if (!p.output)
      continue;
    names += (names.empty() ? "%" : ", %") + p.name;
    types += (types.empty() ? "" : ", ") + p.tensorType();
  }
  return "outs(" + names + " : " + types + ")";
}

std::string resultTypes(const std::vector<Param> &params) {
  std::string types;
  for (const Param &p : params)
    if (p.output)
      types += (types.empty() ? "" : ", ") + p.tensorType();
  return types;
}

std::string kernelFunc(const std::string &name,
                       const std::vector<Param> &params,
                       const std::string &op) {
  std::ostringstream os;
  os << "func.func @" << name << "(";
  for (size_t i = 0; i < params.size(); ++i)
    os << (i ? ", " : "") << "%" << params[i].name << "_m: "
       << params[i].memrefType();
  os << ") attributes {llvm.emit_c_interface} {\n";
  int numOutputs = 0;
  for (const Param &p : params) {
    os << "  %" << p.name << " = bufferization.to_tensor %" << p.name
       << "_m restrict" << (p.output ? " writable" : "") << " : "
       << p.memrefType() << " to " << p.tensorType() << "\n";
    numOutputs += p.output;
  }
  os << "  %r:" << numOutputs << " = " << op << "\n";
  int k = 0;
  for (const Param &p : params) {
    if (!p.output)
      continue;
    os << "  bufferization.materialize_in_destination %r#" << k++ << " in "
       << "restrict writable %" << p.name << "_m : (" << p.tensorType()
       << ", " << p.memrefType() << ") -> ()\n";
  }
  os << "  return\n}\n";
  return os.str();
}

namespace {
using ModuleCache = std::map<std::string, std::unique_ptr<mlir::dma::CPUModule>>;
ModuleCache &moduleCache() {
  static ModuleCache cache;
  return cache;
}

/// JIT engines must be destroyed while LLVM's own globals still exist: a
/// destructor run from exit() would touch them after they are gone.
class ReleaseModules : public ::testing::Environment {
  void TearDown() override { moduleCache().clear(); }
};
const ::testing::Environment *const kReleaseModules =
    ::testing::AddGlobalTestEnvironment(new ReleaseModules);
} // namespace

mlir::dma::CPUModule *compileCached(const std::string &source,
                                    const std::string &pipelineOptions) {
  ModuleCache &cache = moduleCache();
  std::string key = pipelineOptions + "\n" + source;
  auto it = cache.find(key);
  if (it != cache.end())
    return it->second.get();
  auto options =
      mlir::dma::CPUPipelineOptions::createFromString(pipelineOptions);
  if (!options) {
    ADD_FAILURE() << "bad pipeline options: " << pipelineOptions;
    return nullptr;
  }
  auto compiled = mlir::dma::CPUModule::compile(source, *options);
  if (!compiled) {
    ADD_FAILURE() << llvm::toString(compiled.takeError()) << "\nsource:\n"
                  << source;
    return nullptr;
  }
  return (cache[key] = std::move(*compiled)).get();
}

double maxAbsDiff(const std::vector<double> &a, const std::vector<double> &b) {
  double m = 0.0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (std::isinf(a[i]) && a[i] == b[i])
      continue;
    m = std::max(m, std::fabs(a[i] - b[i]));
  }
  return m;
}

} // namespace dma::test
