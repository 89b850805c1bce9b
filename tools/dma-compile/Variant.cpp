//===- Variant.cpp - dma-compile's kernel variants ------------------------===//

#include "Variant.h"

#include "dma/Conversion/DMAToGPU/MaskKernels.h"
#include "dma/KernelDefaults.h"

#include "llvm/ADT/SmallVector.h"

#include "llvm/ADT/STLExtras.h"

#include <cctype>
#include <set>

namespace dma_compile {

std::optional<Variant> parseVariant(llvm::StringRef spec, std::string &error) {
  Variant v;
  if (spec.trim().empty()) {
    error = "empty variant (give comma-separated key=value pairs, e.g. "
            "dtype=bf16,d=128)";
    return std::nullopt;
  }
  llvm::SmallVector<llvm::StringRef> items;
  spec.split(items, ',', -1, /*KeepEmpty=*/true);
  std::set<std::string> seen;
  bool dvGiven = false;
  for (llvm::StringRef item : items) {
    if (item.trim().empty()) {
      error = "empty item (a stray ',')";
      return std::nullopt;
    }
    if (!item.contains('=')) {
      error = "'" + item.trim().str() + "' has no value (write key=value)";
      return std::nullopt;
    }
    std::pair<llvm::StringRef, llvm::StringRef> kv = item.split('=');
    llvm::StringRef key = kv.first.trim(), value = kv.second.trim();
    if (!seen.insert(key.str()).second) {
      error = "key '" + key.str() + "' given twice";
      return std::nullopt;
    }
    auto integer = [&](int64_t &out) {
      if (value.getAsInteger(10, out)) {
        error = "'" + value.str() + "' is not an integer (for " + key.str() +
                ")";
        return false;
      }
      return true;
    };
    auto oneOf = [&](std::string &out,
                     std::initializer_list<const char *> allowed) {
      for (const char *a : allowed)
        if (value == a) {
          out = value.str();
          return true;
        }
      error = "unknown " + key.str() + " '" + value.str() + "' (one of";
      for (const char *a : allowed)
        error += std::string(" ") + a;
      error += ")";
      return false;
    };
    bool ok = true;
    // A value-bias backward variant writes its four steps' kernels, named
    // <variant>,step=<dt|value|params|reduce>: a step names its variant.
    std::string step;
    if (key == "step")
      ok = oneOf(step, {"dt", "value", "params", "reduce"});
    else if (key == "kind")
      ok = oneOf(v.kind,
                 {"fwd", "bwd", "value_bias", "value_bias_bwd", "topk"});
    else if (key == "form")
      ok = oneOf(v.form, {"log", "exp"});
    else if (key == "selection")
      ok = oneOf(v.selection, {"shared", "per_query"});
    else if (key == "dtype")
      ok = oneOf(v.dtype, {"bf16", "f16"});
    else if (key == "mask")
      ok = oneOf(v.mask, {"none", "keep", "mask", "keep_rows"});
    else if (key == "bias")
      ok = oneOf(v.bias, {"none", "key", "full"});
    else if (key == "d")
      ok = integer(v.d);
    else if (key == "dv")
      ok = integer(v.dv), dvGiven = true;
    else if (key == "q_tile")
      ok = integer(v.qTile);
    else if (key == "k_tile")
      ok = integer(v.kTile);
    else if (key == "causal" || key == "softcap" || key == "dt_bias" ||
             key == "padding" || key == "deterministic") {
      int64_t flag = 0;
      ok = integer(flag);
      if (ok && flag != 0 && flag != 1) {
        error = key.str() + " must be 0 or 1, got " + value.str();
        ok = false;
      }
      (key == "causal"    ? v.causal
       : key == "softcap" ? v.softcap
       : key == "dt_bias" ? v.dtBias
       : key == "padding" ? v.padding
                          : v.deterministic) = flag != 0;
    } else {
      error = "unknown key '" + key.str() + "' (kind, dtype, d, dv, mask, "
              "bias, causal, softcap, q_tile, k_tile, deterministic; form, "
              "dt_bias for kind=value_bias(_bwd); selection, padding for "
              "kind=topk)";
      ok = false;
    }
    if (!ok)
      return std::nullopt;
  }
  // Ranges, once the kind is known: what the GPU kernels support
  // (ForwardKernelConfig::verify, convert-dma-mask-to-gpu), said here
  // with the key's name instead of a pipeline error about the module.
  bool attention = !v.isMask();
  auto headDim = [&](const char *key, int64_t d) {
    // Attention: 16-column mma tiles up to 256; the value bias: 16-byte
    // loads (8 elements) up to kMaxValueBiasHeadDim.
    int64_t step = attention ? 16 : 8;
    int64_t most = attention ? 256 : mlir::dma::kMaxValueBiasHeadDim;
    if (d < step || d > most || d % step) {
      error = std::string(key) + " must be a multiple of " +
              std::to_string(step) + " in [" + std::to_string(step) + ", " +
              std::to_string(most) + "], got " + std::to_string(d);
      return false;
    }
    return true;
  };
  auto tile = [&](const char *key, int64_t t) {
    if (t < 16 || t > 128 || t % 16) {
      error = std::string(key) +
              " must be a multiple of 16 in [16, 128], got " +
              std::to_string(t);
      return false;
    }
    return true;
  };
  if (!headDim("d", v.d) || (dvGiven && !headDim("dv", v.dv)) ||
      (seen.count("q_tile") && !tile("q_tile", v.qTile)) ||
      (seen.count("k_tile") && !tile("k_tile", v.kTile)))
    return std::nullopt;
  return v;
}

namespace {

/// Writes memref types of a variant's module: every size `?`, or the
/// static sizes' values.
struct Shapes {
  const StaticSizes *sizes;

  /// `B`, `Lq`, ... or a number: "?" or its value.
  std::string size(llvm::StringRef name) const {
    if (llvm::all_of(name, [](char c) { return std::isdigit(c); }))
      return name.str();
    if (!sizes)
      return "?";
    int64_t n = name == "B"     ? sizes->B
                : name == "Lq"  ? sizes->Lq
                : name == "Lk"  ? sizes->Lk
                : name == "H"   ? sizes->H
                : name == "Hkv" ? sizes->Hkv
                                : sizes->W;
    return std::to_string(n);
  }
  /// memref<d0 x d1 x ... x element>.
  std::string memref(std::initializer_list<llvm::StringRef> dims,
                     llvm::StringRef element) const {
    std::string t = "memref<";
    for (llvm::StringRef d : dims)
      t += size(d) + "x";
    return t + element.str() + ">";
  }
};

/// The module of a mask-generation variant: dma.value_bias (f32 weight,
/// dt_bias and a; f32 score) or dma.topk (f32 score, i32 positions). The
/// top-k's `keep` attribute only sizes the per-query selection: it is a
/// kernel parameter (1 in the dynamic module).
std::string maskModuleFor(const Variant &v, const Shapes &s) {
  std::string D = std::to_string(v.d);
  std::string score = s.memref({"B", "Hkv", "Lk"}, "f32");
  std::string value = s.memref({"B", "Lk", "Hkv", D}, v.dtype);
  // [Hkv, Hkv * D]: static only with static sizes.
  std::string weight =
      s.sizes ? "memref<" + s.size("Hkv") + "x" +
                    std::to_string(s.sizes->Hkv * v.d) + "xf32>"
              : "memref<?x?xf32>";
  std::string head = s.memref({"Hkv"}, "f32");
  if (v.kind == "value_bias_bwd") {
    std::string args = "%ds: " + score + ", %v: " + value + ", %w: " + weight;
    std::string dt, outs = "%dv, %dw", types = value + ", " + weight;
    if (v.dtBias) {
      args += ", %bdt: " + head;
      dt = " dt_bias(%bdt : " + head + ")";
    }
    args += ", %a: " + head + ", %dv: " + value + ", %dw: " + weight;
    if (v.dtBias) {
      args += ", %ddt: " + head;
      outs += ", %ddt";
      types += ", " + head;
    }
    args += ", %da: " + head;
    outs += ", %da";
    types += ", " + head;
    return "func.func @variant(" + args + ") {\n  dma.value_bias_grad " +
           v.form + " grad(%ds : " + score + ") value(%v : " + value +
           ") weight(%w : " + weight + ")" + dt + " a(%a : " + head +
           ") outs(" + outs + " : " + types + ")\n  return\n}\n";
  }
  if (v.kind == "value_bias") {
    std::string args = "%v: " + value + ", %w: " + weight;
    std::string dt;
    if (v.dtBias) {
      args += ", %bdt: " + head;
      dt = " dt_bias(%bdt : " + head + ")";
    }
    args += ", %a: " + head + ", %s: " + score;
    return "func.func @variant(" + args + ") {\n  dma.value_bias " + v.form +
           " value(%v : " + value + ") weight(%w : " + weight + ")" + dt +
           " a(%a : " + head + ") outs(%s : " + score + ")\n  return\n}\n";
  }
  std::string args = "%s: " + score, pad;
  if (v.padding) {
    std::string padding = s.memref({"B", "Lk"}, "i1");
    args += ", %p: " + padding;
    pad = " padding(%p : " + padding + ")";
  }
  std::string outs, types;
  if (v.selection == "shared") {
    std::string keep = s.memref({"B", "Hkv", "W"}, "i32");
    args += ", %keep: " + keep;
    outs = "%keep";
    types = keep;
  } else {
    std::string i32 = s.memref({"B", "Hkv", "Lk"}, "i32");
    args += ", %ms: " + score + ", %thr: " + score + ", %tie: " + i32;
    outs = "%ms, %thr, %tie";
    types = score + ", " + score + ", " + i32;
  }
  std::string keep = s.sizes ? s.size("W") : "1";
  return "func.func @variant(" + args + ") {\n  dma.topk " + v.selection +
         " keep(" + keep + ") score(%s : " + score + ")" + pad + " outs(" +
         outs + " : " + types + ")\n  return\n}\n";
}

} // namespace

std::string moduleFor(const Variant &v, const StaticSizes *sizes) {
  Shapes s{sizes};
  if (v.isMask())
    return maskModuleFor(v, s);
  std::string t = v.dtype;
  std::string D = std::to_string(v.d), Dv = std::to_string(v.dv ? v.dv : v.d);
  // [B, L, heads, head dim] of the queries' or the keys' side.
  std::string qSide = s.memref({"B", "Lq", "H", D}, t),
              kSide = s.memref({"B", "Lk", "Hkv", D}, t),
              vSide = s.memref({"B", "Lk", "Hkv", Dv}, t),
              oSide = s.memref({"B", "Lq", "H", Dv}, t),
              lse = s.memref({"B", "H", "Lq"}, "f32");
  std::string args = "%q: " + qSide + ", %k: " + kSide + ", %v: " + vSide;
  std::string clauses;
  std::string biasType = v.bias == "key" ? s.memref({"B", "H", "1", "Lk"}, t)
                                         : s.memref({"B", "H", "Lq", "Lk"}, t);
  if (v.bias != "none") {
    args += ", %bias: " + biasType;
    clauses += " bias(%bias : " + biasType + ")";
  }
  if (v.mask == "keep") {
    std::string keep = s.memref({"B", "Hkv", "W"}, "i32");
    args += ", %keep: " + keep;
    clauses += " keep(%keep : " + keep + ")";
  } else if (v.mask == "mask") {
    std::string mask = s.memref({"B", "H", "Lq", "Lk"}, "i1");
    args += ", %mask: " + mask;
    clauses += " mask(%mask : " + mask + ")";
  } else if (v.mask == "keep_rows") {
    std::string f32 = s.memref({"B", "Hkv", "Lk"}, "f32"),
                i32 = s.memref({"B", "Hkv", "Lk"}, "i32");
    args += ", %s: " + f32 + ", %thr: " + f32 + ", %tie: " + i32;
    clauses += " keep_rows(%s, %thr, %tie : " + f32 + ", " + f32 + ", " + i32 +
               ")";
  }
  args += ", %o: " + oSide + ", %lse: " + lse;
  std::string attrs;
  if (v.causal)
    attrs += " causal";
  if (v.softcap)
    attrs += " softcap(1.0)"; // the value is a kernel parameter
  if (v.kind == "bwd") {
    std::string outs = "%dq, %dk, %dv",
                outTypes = qSide + ", " + kSide + ", " + vSide;
    args += ", %do: " + oSide + ", %dq: " + qSide + ", %dk: " + kSide +
            ", %dv: " + vSide;
    if (v.bias != "none") {
      args += ", %dbias: " + biasType;
      outs += ", %dbias";
      outTypes += ", " + biasType;
    }
    return "func.func @variant(" + args +
           ") {\n  dma.attention_grad grad(%do : " + oSide + ") q(%q : " +
           qSide + ") k(%k : " + kSide + ") v(%v : " + vSide + ") out(%o : " +
           oSide + ") lse(%lse : " + lse + ")" + clauses + " outs(" + outs +
           " : " + outTypes + ")" + attrs + "\n  return\n}\n";
  }
  return "func.func @variant(" + args + ") {\n  dma.attention q(%q : " +
         qSide + ") k(%k : " + kSide + ") v(%v : " + vSide + ")" + clauses +
         " outs(%o, %lse : " + oSide + ", " + lse + ")" + attrs +
         "\n  return\n}\n";
}

std::string gpuPipelineOptions(const Variant &v, llvm::StringRef chip,
                               int64_t qTile, int64_t kTile, int64_t warps,
                               int64_t stages, int64_t rankChunk,
                               llvm::StringRef mma) {
  if (v.isMask())
    qTile = kTile = 64;
  return "chip=" + chip.str() + " mma=" + mma.str() +
         " q-tile=" + std::to_string(qTile) +
         " k-tile=" + std::to_string(kTile) +
         " warps=" + std::to_string(warps) +
         " stages=" + std::to_string(stages) +
         " rank-chunk=" + std::to_string(rankChunk) +
         (v.deterministic ? " deterministic=1" : "") + " format=none";
}

/// The head dims models use; every bundle ships their common forms.
constexpr int64_t kShippedHeadDims[] = {64, 80, 96, 128, 192, 256};

std::vector<Variant> shippedVariants(llvm::ArrayRef<int64_t> headDims) {
  std::vector<int64_t> dims(headDims.begin(), headDims.end());
  if (dims.empty())
    dims.assign(std::begin(kShippedHeadDims), std::end(kShippedHeadDims));
  std::vector<Variant> out;
  auto attention = [&](const char *dtype, int64_t d, const char *mask,
                       const char *bias, bool causal) {
    Variant v;
    v.dtype = dtype;
    v.d = d;
    v.mask = mask;
    v.bias = bias;
    v.causal = causal;
    out.push_back(v);
  };
  for (const char *dtype : {"bf16", "f16"})
    for (int64_t d : dims) {
      for (const char *mask : {"none", "keep"})
        for (const char *bias : {"none", "key"})
          for (bool causal : {false, true})
            attention(dtype, d, mask, bias, causal);
      for (const char *mask : {"mask", "keep_rows"})
        for (bool causal : {false, true})
          attention(dtype, d, mask, "none", causal);
      // The per-query DMA layer: its key bias, causal.
      attention(dtype, d, "keep_rows", "key", true);
    }
  // Per-element visibility at d >= 192 spills a few dozen bytes at the
  // default tiles; those ship so (measured in docs/performance.md).
  for (Variant &v : out)
    v.acceptSpills = v.d >= 192 && (v.mask == "mask" || v.mask == "keep_rows");
  // The backward of the forms training uses, at its own tiles. d = 256
  // waits for the Hopper lowering (it spills at every tile on mma.sync);
  // d = 192 spills some 170 bytes at 16-query steps and ships so, and so
  // does the per-query layer's backward at d = 128 (8 bytes at 32-query
  // steps: per-row thresholds, key scores, key bias and the causal bound
  // all live).
  std::vector<Variant> backward;
  for (const Variant &f : out)
    if (f.d != 256 && (f.mask == "none" || f.mask == "keep" ||
                       (f.mask == "keep_rows" && f.bias == "key"))) {
      Variant b = f;
      b.kind = "bwd";
      b.acceptSpills = f.d == 192 || (f.mask == "keep_rows" && f.d >= 128);
      backward.push_back(b);
    }
  out.insert(out.end(), backward.begin(), backward.end());
  // The mask generation of a DMA layer.
  for (const char *dtype : {"bf16", "f16"})
    for (int64_t d : dims)
      for (const char *form : {"log", "exp"})
        for (bool dtBias : {false, true})
          for (const char *kind : {"value_bias", "value_bias_bwd"}) {
            Variant v;
            v.kind = kind;
            v.dtype = dtype;
            v.d = d;
            v.form = form;
            v.dtBias = dtBias;
            out.push_back(v);
          }
  for (const char *selection : {"shared", "per_query"})
    for (bool padding : {false, true}) {
      Variant v;
      v.kind = "topk";
      v.selection = selection;
      v.padding = padding;
      out.push_back(v);
    }
  return out;
}


} // namespace dma_compile
