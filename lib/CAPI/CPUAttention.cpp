//===- CPUAttention.cpp - the C API of the CPU path -----------------------===//
//
// Writes a one-op function for the call's signature (static shapes, so the
// dialect's verifier checks every shape and broadcast rule and its message
// becomes the caller's error), compiles it once through --dma-cpu-pipeline
// and calls it on the caller's buffers.
//
//===----------------------------------------------------------------------===//

#include "dma-c/CPU.h"
#include "dma/Runner/CPUModule.h"

#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

using namespace mlir::dma;

namespace {

int fail(char *error, size_t size, const std::string &message) {
  if (error && size)
    std::snprintf(error, size, "%s", message.c_str());
  return 1;
}

/// One operand of the generated function.
struct Operand {
  std::string name;
  const dma_tensor *tensor;
};

const char *elementType(int32_t dtype) {
  switch (dtype) {
  case DMA_F32:
    return "f32";
  case DMA_I32:
    return "i32";
  case DMA_BOOL:
    return "i1";
  default:
    return nullptr;
  }
}

/// `memref<2x3xf32>` for the tensor, or an error.
bool memrefType(const Operand &op, int32_t wantDtype, std::string &type,
                std::string &error) {
  const dma_tensor &t = *op.tensor;
  if (t.ndim < 1 || t.ndim > 4) {
    error = op.name + " must have 1 to 4 dimensions, got " +
            std::to_string(t.ndim);
    return false;
  }
  if (t.dtype != wantDtype) {
    error = op.name + " must be " + elementType(wantDtype) +
            " on the CPU path";
    return false;
  }
  int64_t expected = 1;
  for (int d = t.ndim - 1; d >= 0; --d) {
    if (t.sizes[d] < 0) {
      error = op.name + " has a negative size";
      return false;
    }
    if (t.sizes[d] > 1 && t.strides[d] != expected) {
      error = op.name + " must be contiguous on the CPU path";
      return false;
    }
    expected *= t.sizes[d];
  }
  if (!t.data && expected > 0) {
    error = op.name + " has no data";
    return false;
  }
  std::ostringstream os;
  os << "memref<";
  for (int d = 0; d < t.ndim; ++d)
    os << t.sizes[d] << "x";
  os << elementType(wantDtype) << ">";
  type = os.str();
  return true;
}

/// The generated function: `func.func @kernel(<operands>)` around `op`.
struct Kernel {
  std::vector<Operand> operands;
  std::map<std::string, std::string> types;
  std::string error;

  bool add(const std::string &name, const dma_tensor *t, int32_t dtype) {
    if (!t)
      return true;
    std::string type;
    if (!memrefType({name, t}, dtype, type, error))
      return false;
    operands.push_back({name, t});
    types[name] = type;
    return true;
  }
  bool has(const std::string &name) const { return types.count(name); }
  std::string use(const std::string &name) const {
    return "%" + name + " : " + types.at(name);
  }
  std::string source(const std::string &op) const {
    std::ostringstream os;
    os << "func.func @kernel(";
    for (size_t i = 0; i < operands.size(); ++i)
      os << (i ? ", " : "") << "%" << operands[i].name << ": "
         << types.at(operands[i].name);
    os << ") attributes {llvm.emit_c_interface} {\n  " << op
       << "\n  return\n}\n";
    return os.str();
  }
};

/// The mask and attribute clauses shared by the forward and the backward.
bool maskClauses(const Kernel &k, const dma_attention_options *options,
                 int64_t headDim, std::string &clauses, std::string &attrs,
                 std::string &error) {
  std::ostringstream os;
  if (k.has("bias"))
    os << " bias(" << k.use("bias") << ")";
  int forms = k.has("mask") + k.has("keep") + k.has("keep_score");
  if (forms > 1) {
    error = "give at most one of mask, keep and keep_rows";
    return false;
  }
  if (k.has("mask"))
    os << " mask(" << k.use("mask") << ")";
  if (k.has("keep"))
    os << " keep(" << k.use("keep") << ")";
  if (k.has("keep_score")) {
    if (!k.has("keep_threshold") || !k.has("keep_tiebreak")) {
      error = "keep rows need a score, a threshold and a tiebreak";
      return false;
    }
    os << " keep_rows(%keep_score, %keep_threshold, %keep_tiebreak : "
       << k.types.at("keep_score") << ", " << k.types.at("keep_threshold")
       << ", " << k.types.at("keep_tiebreak") << ")";
  }
  clauses = os.str();

  std::ostringstream as;
  float scale = options && options->scale != 0.0f
                    ? options->scale
                    : 1.0f / std::sqrt(static_cast<float>(headDim));
  float softcap = options ? options->softcap : 0.0f;
  if (!std::isfinite(scale)) {
    error = "scale must be finite";
    return false;
  }
  if (!(softcap >= 0.0f) || std::isinf(softcap)) {
    error = "softcap must be finite and >= 0";
    return false;
  }
  if (options && options->causal)
    as << " causal";
  char buf[64];
  std::snprintf(buf, sizeof buf, " scale(%.9e)", scale);
  as << buf;
  if (softcap > 0) {
    std::snprintf(buf, sizeof buf, " softcap(%.9e)", softcap);
    as << buf;
  }
  attrs = as.str();
  return true;
}

/// Compiled kernels by source. Never destroyed: the JIT must not be torn
/// down by static destructors at exit (CPUModule.h).
std::mutex cacheMutex;
std::map<std::string, std::unique_ptr<CPUModule>> *cache =
    new std::map<std::string, std::unique_ptr<CPUModule>>();

/// The verifier's own words from a compile error ("'dma.attention' op k head
/// dim (4) must equal q head dim (8)" -> "k head dim (4) must equal q head
/// dim (8)"); other errors whole.
std::string verifierMessage(const std::string &diagnostics) {
  size_t op = diagnostics.find("' op ");
  if (op == std::string::npos)
    return diagnostics;
  size_t begin = op + 5;
  size_t end = diagnostics.find('\n', begin);
  return "invalid arguments: " + diagnostics.substr(begin, end - begin);
}

int run(const Kernel &k, const std::string &op, char *error, size_t size) {
  std::string source = k.source(op);
  std::lock_guard<std::mutex> lock(cacheMutex);
  auto it = cache->find(source);
  if (it == cache->end()) {
    CPUPipelineOptions options;
    options.bufferizeFunctionBoundaries = true;
    llvm::Expected<std::unique_ptr<CPUModule>> module =
        CPUModule::compile(source, options);
    if (!module)
      return fail(error, size, verifierMessage(llvm::toString(module.takeError())));
    it = cache->emplace(source, std::move(*module)).first;
  }
  std::vector<MemRefArg> args;
  for (const Operand &o : k.operands) {
    std::vector<int64_t> sizes(o.tensor->sizes, o.tensor->sizes + o.tensor->ndim);
    args.push_back(MemRefArg::contiguous(o.tensor->data, sizes));
  }
  if (llvm::Error err = it->second->call("kernel", args))
    return fail(error, size, llvm::toString(std::move(err)));
  return 0;
}

bool addMaskOperands(Kernel &k, const dma_tensor *bias, const dma_tensor *mask,
                     const dma_tensor *keep, const dma_tensor *score,
                     const dma_tensor *threshold, const dma_tensor *tiebreak) {
  return k.add("bias", bias, DMA_F32) && k.add("mask", mask, DMA_BOOL) &&
         k.add("keep", keep, DMA_I32) &&
         k.add("keep_score", score, DMA_F32) &&
         k.add("keep_threshold", threshold, DMA_F32) &&
         k.add("keep_tiebreak", tiebreak, DMA_I32);
}

} // namespace

extern "C" int dma_cpu_attention(
    const dma_tensor *q, const dma_tensor *k, const dma_tensor *v,
    const dma_tensor *bias, const dma_tensor *mask, const dma_tensor *keep,
    const dma_tensor *keepScore, const dma_tensor *keepThreshold,
    const dma_tensor *keepTiebreak, const dma_tensor *o, const dma_tensor *lse,
    const dma_attention_options *options, char *error, size_t errorSize) {
  if (!q || !k || !v || !o || !lse)
    return fail(error, errorSize, "q, k, v, o and lse are required");
  Kernel kern;
  if (!kern.add("q", q, DMA_F32) || !kern.add("k", k, DMA_F32) ||
      !kern.add("v", v, DMA_F32) ||
      !addMaskOperands(kern, bias, mask, keep, keepScore, keepThreshold,
                       keepTiebreak) ||
      !kern.add("o", o, DMA_F32) || !kern.add("lse", lse, DMA_F32))
    return fail(error, errorSize, kern.error);
  std::string clauses, attrs, message;
  if (!maskClauses(kern, options, q->sizes[q->ndim - 1], clauses, attrs,
                   message))
    return fail(error, errorSize, message);
  std::string op = "dma.attention q(" + kern.use("q") + ") k(" + kern.use("k") +
                   ") v(" + kern.use("v") + ")" + clauses + " outs(%o, %lse : " +
                   kern.types["o"] + ", " + kern.types["lse"] + ")" + attrs;
  return run(kern, op, error, errorSize);
}

extern "C" int dma_cpu_attention_grad(
    const dma_tensor *gradO, const dma_tensor *q, const dma_tensor *k,
    const dma_tensor *v, const dma_tensor *o, const dma_tensor *lse,
    const dma_tensor *bias, const dma_tensor *mask, const dma_tensor *keep,
    const dma_tensor *keepScore, const dma_tensor *keepThreshold,
    const dma_tensor *keepTiebreak, const dma_tensor *gradQ,
    const dma_tensor *gradK, const dma_tensor *gradV,
    const dma_tensor *gradBias, const dma_attention_options *options,
    char *error, size_t errorSize) {
  if (!gradO || !q || !k || !v || !o || !lse || !gradQ || !gradK || !gradV)
    return fail(error, errorSize,
                "grad_o, q, k, v, o, lse, grad_q, grad_k and grad_v are "
                "required");
  if (!bias != !gradBias)
    return fail(error, errorSize,
                "grad_bias is given exactly when bias is given");
  Kernel kern;
  if (!kern.add("grad", gradO, DMA_F32) || !kern.add("q", q, DMA_F32) ||
      !kern.add("k", k, DMA_F32) || !kern.add("v", v, DMA_F32) ||
      !kern.add("out", o, DMA_F32) || !kern.add("lse", lse, DMA_F32) ||
      !addMaskOperands(kern, bias, mask, keep, keepScore, keepThreshold,
                       keepTiebreak) ||
      !kern.add("dq", gradQ, DMA_F32) || !kern.add("dk", gradK, DMA_F32) ||
      !kern.add("dv", gradV, DMA_F32) || !kern.add("dbias", gradBias, DMA_F32))
    return fail(error, errorSize, kern.error);
  std::string clauses, attrs, message;
  if (!maskClauses(kern, options, q->sizes[q->ndim - 1], clauses, attrs,
                   message))
    return fail(error, errorSize, message);
  std::string outs = "%dq, %dk, %dv";
  std::string outTypes =
      kern.types["dq"] + ", " + kern.types["dk"] + ", " + kern.types["dv"];
  if (gradBias) {
    outs += ", %dbias";
    outTypes += ", " + kern.types["dbias"];
  }
  std::string op = "dma.attention_grad grad(" + kern.use("grad") + ") q(" +
                   kern.use("q") + ") k(" + kern.use("k") + ") v(" +
                   kern.use("v") + ") out(" + kern.use("out") + ") lse(" +
                   kern.use("lse") + ")" + clauses + " outs(" + outs + " : " +
                   outTypes + ")" + attrs;
  return run(kern, op, error, errorSize);
}
