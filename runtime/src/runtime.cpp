//===- runtime.cpp - load dma kernel bundles and launch them --------------===//
//
// The CUDA driver API only. A bundle is the directory dma-compile writes:
// manifest.json plus a cubin and a PTX per variant. The forward entry point
// validates its arguments, derives the variant name (the same spec string
// dma-compile takes), loads that kernel on first use and launches it with
// the parameters its manifest entry lists, in order.
//
//===----------------------------------------------------------------------===//

#include "dma_runtime.h"
#include "driver.h"
#include "json.h"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

namespace {

/// The backward's default keys per CTA (dma_runtime.h): 128, the fastest
/// measured on an H100 (docs/performance.md), while K and V of the tile
/// fit shared memory next to the query tiles.
int defaultBackwardKTile(int64_t d, int64_t dv) {
  return d + dv <= 256 ? 128 : 64;
}

struct Variant {
  std::string name, kernel, cubin, ptx;
  int64_t threads = 0, sharedBytes = 0, blockM = 0;
  std::vector<std::pair<std::string, std::string>> params; // name, kind
  CUcontext context = nullptr;
  CUmodule module = nullptr;
  CUfunction function = nullptr;
};

/// A kernel parameter's value.
struct Param {
  enum Kind { Ptr, I32, I64, F32 } kind;
  union {
    CUdeviceptr ptr;
    int32_t i32;
    int64_t i64;
    float f32;
  };
};

class Error {
public:
  Error(char *buffer, size_t size) : buffer(buffer), size(size) {}
  int operator()(const std::string &message) {
    if (buffer && size) {
      std::snprintf(buffer, size, "%s", message.c_str());
    }
    return 1;
  }

private:
  char *buffer;
  size_t size;
};

std::string cudaMessage(CUresult r) {
  const char *name = nullptr, *text = nullptr;
  std::string unused;
  const dma::Driver *drv = dma::driver(unused);
  if (!drv)
    return "CUDA error " + std::to_string(static_cast<int>(r));
  drv->cuGetErrorName(r, &name);
  drv->cuGetErrorString(r, &text);
  return std::string(name ? name : "CUDA error") + ": " +
         (text ? text : "unknown");
}

const char *dtypeName(int32_t d) {
  switch (d) {
  case DMA_F32:
    return "f32";
  case DMA_F16:
    return "f16";
  case DMA_BF16:
    return "bf16";
  case DMA_BOOL:
    return "bool";
  case DMA_I32:
    return "i32";
  case DMA_I64:
    return "i64";
  }
  return "unknown";
}

int64_t dtypeBytes(int32_t d) {
  switch (d) {
  case DMA_F32:
  case DMA_I32:
    return 4;
  case DMA_F16:
  case DMA_BF16:
    return 2;
  case DMA_BOOL:
    return 1;
  default:
    return 8;
  }
}

std::string shapeOf(const dma_tensor &t) {
  std::string s = "[";
  for (int i = 0; i < t.ndim; ++i)
    s += (i ? ", " : "") + std::to_string(t.sizes[i]);
  return s + "]";
}

/// Everything a launch needs, derived from (and checked on) the arguments.
struct Launch {
  std::string variant;
  std::map<std::string, Param> params;
  int64_t B = 0, Lq = 0, H = 0, Lk = 0, Hkv = 0, keepW = -1;
};

/// Stride of dimension d, 0 when it broadcasts (size 1).
int64_t strideOf(const dma_tensor &t, int d) {
  return t.sizes[d] == 1 ? 0 : t.strides[d];
}

bool prepare(const dma_tensor *q, const dma_tensor *k, const dma_tensor *v,
             const dma_tensor *bias, const dma_tensor *mask,
             const dma_tensor *keep, const dma_tensor *keepScore,
             const dma_tensor *keepThreshold, const dma_tensor *keepTiebreak,
             const dma_tensor *o, const dma_tensor *lse,
             const dma_attention_options *options, Launch &launch,
             std::string &error) {
  auto fail = [&](const std::string &m) {
    error = m;
    return false;
  };
  if (!q || !k || !v || !o || !lse)
    return fail("q, k, v, o and lse are required");
  auto rank = [&](const dma_tensor &t, const char *name, int r,
                  const char *layout) {
    if (t.ndim != r)
      return fail(std::string(name) + " must have " + std::to_string(r) +
                  " dimensions " + layout + ", got " + shapeOf(t));
    return true;
  };
  if (!rank(*q, "q", 4, "[B, Lq, H, D]") ||
      !rank(*k, "k", 4, "[B, Lk, Hkv, D]") ||
      !rank(*v, "v", 4, "[B, Lk, Hkv, Dv]") ||
      !rank(*o, "o", 4, "[B, Lq, H, Dv]") || !rank(*lse, "lse", 3, "[B, H, Lq]"))
    return false;
  if (q->dtype != DMA_BF16 && q->dtype != DMA_F16)
    return fail(std::string("the GPU kernels take bf16 or f16 q, got ") +
                dtypeName(q->dtype));
  for (const dma_tensor *t : {k, v, o})
    if (t->dtype != q->dtype)
      return fail("q, k, v and o must have one dtype");
  if (lse->dtype != DMA_F32)
    return fail("lse must be float32");
  int64_t B = q->sizes[0], Lq = q->sizes[1], H = q->sizes[2], D = q->sizes[3];
  int64_t Lk = k->sizes[1], Hkv = k->sizes[2], Dv = v->sizes[3];
  if (k->sizes[0] != B || v->sizes[0] != B || k->sizes[3] != D ||
      v->sizes[1] != Lk || v->sizes[2] != Hkv)
    return fail("shapes do not agree: q " + shapeOf(*q) + ", k " +
                shapeOf(*k) + ", v " + shapeOf(*v));
  if (o->sizes[0] != B || o->sizes[1] != Lq || o->sizes[2] != H ||
      o->sizes[3] != Dv)
    return fail("o must be [B, Lq, H, Dv], got " + shapeOf(*o));
  if (lse->sizes[0] != B || lse->sizes[1] != H || lse->sizes[2] != Lq)
    return fail("lse must be [B, H, Lq], got " + shapeOf(*lse));
  if (Hkv < 1 || H % Hkv != 0)
    return fail("query heads (" + std::to_string(H) +
                ") must be a multiple of KV heads (" + std::to_string(Hkv) +
                ")");
  for (int64_t n : {B, Lq, Lk, H, Hkv, D, Dv})
    if (n > INT32_MAX)
      return fail("sizes must be below 2^31");
  // cp.async moves 16-byte chunks: rows must start 16-byte aligned.
  const char *names[] = {"q", "k", "v", "o"};
  const dma_tensor *rows[] = {q, k, v, o};
  for (int i = 0; i < 4; ++i) {
    const dma_tensor &t = *rows[i];
    if (t.strides[3] != 1)
      return fail(std::string(names[i]) +
                  " must be contiguous in its last dimension (call "
                  ".contiguous())");
    for (int d = 0; d < 3; ++d)
      if (t.sizes[d] > 1 && t.strides[d] % 8 != 0)
        return fail(std::string(names[i]) +
                    " strides must be multiples of 8 elements (16 bytes)");
    if (reinterpret_cast<uintptr_t>(t.data) % 16 != 0)
      return fail(std::string(names[i]) + " must be 16-byte aligned");
  }

  int forms = (mask ? 1 : 0) + (keep ? 1 : 0) + (keepScore ? 1 : 0);
  if (forms > 1)
    return fail("give at most one mask form (mask, keep or keep rows)");
  auto broadcast4 = [&](const dma_tensor &t, const char *name) {
    if (!rank(t, name, 4, "[{B|1}, {H|Hkv|1}, {Lq|1}, Lk]"))
      return false;
    int64_t hb = t.sizes[1];
    bool ok = (t.sizes[0] == B || t.sizes[0] == 1) &&
              (hb == H || hb == Hkv || hb == 1) &&
              (t.sizes[2] == Lq || t.sizes[2] == 1) && t.sizes[3] == Lk;
    if (!ok)
      return fail(std::string(name) +
                  " must broadcast as [{B|1}, {H|Hkv|1}, {Lq|1}, Lk], got " +
                  shapeOf(t));
    return true;
  };
  std::string biasKind = "none";
  if (bias) {
    if (!broadcast4(*bias, "bias"))
      return false;
    if (bias->dtype != q->dtype)
      return fail("bias must have q's dtype");
    biasKind = bias->sizes[2] == 1 ? "key" : "full";
  }
  std::string maskKind = "none";
  if (mask) {
    if (!broadcast4(*mask, "mask"))
      return false;
    if (mask->dtype != DMA_BOOL)
      return fail("mask must be bool");
    maskKind = "mask";
  }
  if (keep) {
    if (!rank(*keep, "keep", 3, "[{B|1}, {Hkv|H|1}, W]"))
      return false;
    if (keep->dtype != DMA_I32)
      return fail("keep must be int32 (ascending positions, -1 padded)");
    if ((keep->sizes[0] != B && keep->sizes[0] != 1) ||
        (keep->sizes[1] != Hkv && keep->sizes[1] != H && keep->sizes[1] != 1))
      return fail("keep must broadcast as [{B|1}, {Hkv|H|1}, W], got " +
                  shapeOf(*keep));
    if (keep->strides[2] != 1 && keep->sizes[2] > 1)
      return fail("keep must be contiguous in its last dimension");
    maskKind = "keep";
  }
  if (keepScore) {
    if (!keepThreshold || !keepTiebreak)
      return fail("keep rows need a score, a threshold and a tiebreak");
    for (const dma_tensor *t : {keepScore, keepThreshold, keepTiebreak}) {
      if (!rank(*t, "keep rows", 3, "[{B|1}, {Hkv|H|1}, Lk]"))
        return false;
      for (int d = 0; d < 3; ++d)
        if (t->sizes[d] != keepScore->sizes[d] ||
            strideOf(*t, d) != strideOf(*keepScore, d))
          return fail("keep rows tensors must have one shape and layout");
    }
    if (keepScore->sizes[2] != Lk || keepScore->strides[2] != 1)
      return fail("keep rows must be [{B|1}, {Hkv|H|1}, Lk], contiguous");
    if (keepScore->dtype != DMA_F32 || keepThreshold->dtype != DMA_F32 ||
        keepTiebreak->dtype != DMA_I32)
      return fail("keep rows are float32 score and threshold, int32 "
                  "tiebreak");
    maskKind = "keep_rows";
  }

  bool causal = options && options->causal;
  float softcap = options ? options->softcap : 0.0f;
  if (!(softcap >= 0.0f) || std::isinf(softcap))
    return fail("softcap must be finite and >= 0");
  bool perQuery = maskKind == std::string("keep_rows");
  int qTile = options && options->q_tile ? options->q_tile : perQuery ? 64 : 128;
  int kTile = options && options->k_tile ? options->k_tile : perQuery ? 64 : 32;
  if (qTile < 16 || qTile > 128 || qTile % 16 || kTile < 16 || kTile > 128 ||
      kTile % 16)
    return fail("q_tile and k_tile must be multiples of 16 in [16, 128], got " +
                std::to_string(qTile) + " and " + std::to_string(kTile));
  float scale = options && options->scale != 0.0f
                    ? options->scale
                    : 1.0f / std::sqrt(static_cast<float>(D));

  launch.variant = std::string("dtype=") + dtypeName(q->dtype) +
                   ",d=" + std::to_string(D) + ",dv=" + std::to_string(Dv) +
                   ",mask=" + maskKind + ",bias=" + biasKind +
                   ",causal=" + (causal ? "1" : "0") +
                   ",softcap=" + (softcap > 0 ? "1" : "0") +
                   ",q_tile=" + std::to_string(qTile) +
                   ",k_tile=" + std::to_string(kTile);
  launch.B = B;
  launch.Lq = Lq;
  launch.H = H;
  launch.Lk = Lk;
  launch.Hkv = Hkv;
  if (keep)
    launch.keepW = keep->sizes[2];
  auto &p = launch.params;
  auto ptr = [&](const char *n, const dma_tensor *t) {
    Param x{Param::Ptr, {}};
    x.ptr = reinterpret_cast<CUdeviceptr>(t->data);
    p[n] = x;
  };
  auto i32 = [&](const std::string &n, int64_t val) {
    Param x{Param::I32, {}};
    x.i32 = static_cast<int32_t>(val);
    p[n] = x;
  };
  auto i64 = [&](const std::string &n, int64_t val) {
    Param x{Param::I64, {}};
    x.i64 = val;
    p[n] = x;
  };
  auto f32 = [&](const std::string &n, float val) {
    Param x{Param::F32, {}};
    x.f32 = val;
    p[n] = x;
  };
  ptr("q", q);
  ptr("k", k);
  ptr("v", v);
  ptr("o", o);
  ptr("lse", lse);
  i32("B", B);
  i32("Lq", Lq);
  i32("Lk", Lk);
  i32("H", H);
  i32("Hkv", Hkv);
  f32("scale", scale);
  f32("softcap", softcap);
  for (int i = 0; i < 4; ++i)
    for (int d = 0; d < 3; ++d)
      i64(std::string(names[i]) + "_stride_" + "blh"[d], strideOf(*rows[i], d));
  i64("lse_stride_b", strideOf(*lse, 0));
  i64("lse_stride_h", strideOf(*lse, 1));
  auto strides4 = [&](const std::string &n, const dma_tensor *t) {
    ptr(n.c_str(), t);
    i32(n + "_heads", t->sizes[1]);
    const char *dims = "bhqk";
    for (int d = 0; d < 4; ++d)
      i64(n + "_stride_" + dims[d], strideOf(*t, d));
  };
  if (bias)
    strides4("bias", bias);
  if (mask)
    strides4("mask", mask);
  if (keep) {
    ptr("keep", keep);
    i32("keep_heads", keep->sizes[1]);
    i32("keep_w", keep->sizes[2]);
    i64("keep_stride_b", strideOf(*keep, 0));
    i64("keep_stride_h", strideOf(*keep, 1));
  }
  if (keepScore) {
    ptr("keep_score", keepScore);
    ptr("keep_threshold", keepThreshold);
    ptr("keep_tiebreak", keepTiebreak);
    i32("keep_rows_heads", keepScore->sizes[1]);
    i64("keep_rows_stride_b", strideOf(*keepScore, 0));
    i64("keep_rows_stride_h", strideOf(*keepScore, 1));
  }
  return true;
}

std::string readFile(const std::string &path, bool &ok) {
  std::ifstream in(path, std::ios::binary);
  ok = static_cast<bool>(in);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

} // namespace

struct dma_runtime {
  std::string dir;
  std::vector<Variant> variants;
  std::mutex mutex;
};

extern "C" dma_runtime *dma_runtime_open(const char *bundleDir, char *error,
                                         size_t errorSize) {
  Error err(error, errorSize);
  if (!bundleDir) {
    err("no bundle directory given");
    return nullptr;
  }
  std::string dir = bundleDir;
  bool ok = false;
  std::string text = readFile(dir + "/manifest.json", ok);
  if (!ok) {
    err("cannot read " + dir + "/manifest.json (is " + dir +
        " a kernel bundle written by dma-compile?)");
    return nullptr;
  }
  auto rt = std::make_unique<dma_runtime>();
  rt->dir = dir;
  try {
    dma::json::Value manifest = dma::json::Parser(text).parse();
    if (manifest["format"].integer() != 1) {
      err("unsupported manifest format in " + dir);
      return nullptr;
    }
    for (const dma::json::Value &e : manifest["variants"].array) {
      Variant v;
      v.name = e["name"].string;
      v.kernel = e["kernel"].string;
      v.cubin = dir + "/" + e["cubin"].string;
      v.ptx = dir + "/" + e["ptx"].string;
      v.threads = e["threads"].integer();
      v.sharedBytes = e["shared_bytes"].integer();
      v.blockM = e["block_m"].integer();
      for (const dma::json::Value &p : e["params"].array)
        v.params.push_back({p["name"].string, p["kind"].string});
      rt->variants.push_back(std::move(v));
    }
  } catch (const std::exception &e) {
    err(e.what());
    return nullptr;
  }
  return rt.release();
}

extern "C" void dma_runtime_close(dma_runtime *rt) {
  if (!rt)
    return;
  std::string unused;
  const dma::Driver *drv = dma::driver(unused);
  for (Variant &v : rt->variants)
    if (v.module && drv) {
      drv->cuCtxPushCurrent(v.context);
      drv->cuModuleUnload(v.module);
      CUcontext ignored;
      drv->cuCtxPopCurrent(&ignored);
    }
  delete rt;
}

extern "C" int dma_attention_variant(
    const dma_tensor *q, const dma_tensor *k, const dma_tensor *v,
    const dma_tensor *bias, const dma_tensor *mask, const dma_tensor *keep,
    const dma_tensor *keepScore, const dma_tensor *keepThreshold,
    const dma_tensor *keepTiebreak, const dma_tensor *o, const dma_tensor *lse,
    const dma_attention_options *options, char *variant, size_t variantSize,
    char *error, size_t errorSize) {
  Launch launch;
  std::string message;
  if (!prepare(q, k, v, bias, mask, keep, keepScore, keepThreshold,
               keepTiebreak, o, lse, options, launch, message))
    return Error(error, errorSize)(message);
  std::snprintf(variant, variantSize, "%s", launch.variant.c_str());
  return 0;
}

namespace {

/// Loads the variant's kernel into the current context (once).
bool ensureLoaded(Variant &v, std::string &error) {
  const dma::Driver *drv = dma::driver(error);
  if (!drv)
    return false;
  CUresult r = drv->cuInit(0);
  if (r != CUDA_SUCCESS) {
    error = "cannot initialise CUDA: " + cudaMessage(r);
    return false;
  }
  CUcontext ctx = nullptr;
  drv->cuCtxGetCurrent(&ctx);
  if (!ctx) {
    CUdevice dev;
    if ((r = drv->cuDeviceGet(&dev, 0)) != CUDA_SUCCESS ||
        (r = drv->cuDevicePrimaryCtxRetain(&ctx, dev)) != CUDA_SUCCESS ||
        (r = drv->cuCtxSetCurrent(ctx)) != CUDA_SUCCESS) {
      error = "no CUDA device: " + cudaMessage(r);
      return false;
    }
  }
  if (v.module && v.context == ctx)
    return true;
  bool ok = false;
  std::string image = readFile(v.cubin, ok);
  if (ok)
    r = drv->cuModuleLoadData(&v.module, image.data());
  if (!ok || r != CUDA_SUCCESS) {
    // A cubin for another architecture: let the driver JIT the PTX.
    std::string ptx = readFile(v.ptx, ok);
    if (!ok) {
      error = "cannot read " + v.cubin + " or " + v.ptx;
      return false;
    }
    r = drv->cuModuleLoadData(&v.module, ptx.c_str());
    if (r != CUDA_SUCCESS) {
      error = "cannot load kernel " + v.kernel + ": " + cudaMessage(r);
      return false;
    }
  }
  if ((r = drv->cuModuleGetFunction(&v.function, v.module, v.kernel.c_str())) !=
      CUDA_SUCCESS) {
    error = "kernel " + v.kernel + " missing from its module: " +
            cudaMessage(r);
    return false;
  }
  if ((r = drv->cuFuncSetAttribute(v.function,
                              CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                              static_cast<int>(v.sharedBytes))) !=
      CUDA_SUCCESS) {
    error = "kernel " + v.kernel + " needs " + std::to_string(v.sharedBytes) +
            " bytes of shared memory: " + cudaMessage(r);
    return false;
  }
  v.context = ctx;
  return true;
}

/// Every pointer must be device memory of the current context's device.
bool checkDevicePointers(const Launch &launch, std::string &error) {
  const dma::Driver *drv = dma::driver(error);
  if (!drv)
    return false;
  CUdevice current;
  if (drv->cuCtxGetDevice(&current) != CUDA_SUCCESS)
    return true;
  for (const auto &[name, p] : launch.params) {
    if (p.kind != Param::Ptr)
      continue;
    unsigned memType = 0;
    CUresult r = drv->cuPointerGetAttribute(
        &memType, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, p.ptr);
    if (r != CUDA_SUCCESS || (memType != CU_MEMORYTYPE_DEVICE &&
                              memType != CU_MEMORYTYPE_UNIFIED)) {
      error = "tensor '" + name +
              "' is not in GPU memory (move it to the CUDA device first)";
      return false;
    }
    int ordinal = -1;
    if (drv->cuPointerGetAttribute(&ordinal, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL,
                              p.ptr) == CUDA_SUCCESS &&
        ordinal != static_cast<int>(current)) {
      error = "tensor '" + name + "' is on device " + std::to_string(ordinal) +
              " but the current device is " + std::to_string(current);
      return false;
    }
  }
  return true;
}

} // namespace

namespace {

/// Launches bundle variant `name` over (gridX, gridY, gridZ) with the
/// parameters its manifest entry lists, taken from `launch.params`.
int launchVariant(dma_runtime *rt, const std::string &name,
                  const Launch &launch, int64_t gridX, int64_t gridY,
                  int64_t gridZ, void *stream, Error &err) {
  std::string message;
  Variant *variant = nullptr;
  for (Variant &cand : rt->variants)
    if (cand.name == name)
      variant = &cand;
  if (!variant)
    return err("no variant '" + name + "' in bundle " + rt->dir +
               "; add it with: dma-compile -o " + rt->dir + " --variant " +
               name);
  if (!ensureLoaded(*variant, message))
    return err(message);
  if (!checkDevicePointers(launch, message))
    return err(message);
  if (gridX == 0 || gridY == 0 || gridZ == 0)
    return 0; // nothing to compute
  std::vector<Param> values;
  values.reserve(variant->params.size());
  for (const auto &[pname, kind] : variant->params) {
    auto it = launch.params.find(pname);
    if (it == launch.params.end())
      return err("bundle kernel " + variant->kernel + " wants parameter '" +
                 pname + "' this runtime does not know (bundle too new?)");
    values.push_back(it->second);
  }
  std::vector<void *> args;
  for (Param &p : values)
    args.push_back(p.kind == Param::Ptr   ? static_cast<void *>(&p.ptr)
                   : p.kind == Param::I32 ? static_cast<void *>(&p.i32)
                   : p.kind == Param::I64 ? static_cast<void *>(&p.i64)
                                          : static_cast<void *>(&p.f32));
  const dma::Driver *drv = dma::driver(message);
  if (!drv)
    return err(message);
  CUresult r = drv->cuLaunchKernel(
      variant->function, static_cast<unsigned>(gridX),
      static_cast<unsigned>(gridY), static_cast<unsigned>(gridZ),
      static_cast<unsigned>(variant->threads), 1, 1,
      static_cast<unsigned>(variant->sharedBytes),
      static_cast<CUstream>(stream), args.data(), nullptr);
  if (r != CUDA_SUCCESS)
    return err("launching " + variant->kernel + " failed: " + cudaMessage(r));
  return 0;
}

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// Block size of `name`'s grid x (its manifest's block_m), or 0.
int64_t blockOf(dma_runtime *rt, const std::string &name) {
  for (Variant &cand : rt->variants)
    if (cand.name == name)
      return cand.blockM;
  return 0;
}

} // namespace

extern "C" int dma_attention_forward(
    dma_runtime *rt, const dma_tensor *q, const dma_tensor *k,
    const dma_tensor *v, const dma_tensor *bias, const dma_tensor *mask,
    const dma_tensor *keep, const dma_tensor *keepScore,
    const dma_tensor *keepThreshold, const dma_tensor *keepTiebreak,
    const dma_tensor *o, const dma_tensor *lse,
    const dma_attention_options *options, void *stream, char *error,
    size_t errorSize) {
  Error err(error, errorSize);
  if (!rt)
    return err("no runtime (dma_runtime_open failed?)");
  Launch launch;
  std::string message;
  if (!prepare(q, k, v, bias, mask, keep, keepScore, keepThreshold,
               keepTiebreak, o, lse, options, launch, message))
    return err(message);
  std::lock_guard<std::mutex> lock(rt->mutex);
  int64_t block = std::max<int64_t>(blockOf(rt, launch.variant), 1);
  return launchVariant(rt, launch.variant, launch, ceilDiv(launch.Lq, block),
                       launch.H, launch.B, stream, err);
}

extern "C" int dma_attention_backward(
    dma_runtime *rt, const dma_tensor *gradO, const dma_tensor *q,
    const dma_tensor *k, const dma_tensor *v, const dma_tensor *o,
    const dma_tensor *lse, const dma_tensor *bias, const dma_tensor *mask,
    const dma_tensor *keep, const dma_tensor *keepScore,
    const dma_tensor *keepThreshold, const dma_tensor *keepTiebreak,
    const dma_tensor *delta, const dma_tensor *gradQAccum,
    const dma_tensor *gradKAccum, const dma_tensor *gradVAccum,
    const dma_tensor *gradBiasAccum, const dma_attention_options *options,
    void *stream, char *error, size_t errorSize) {
  Error err(error, errorSize);
  if (!rt)
    return err("no runtime (dma_runtime_open failed?)");
  Launch launch;
  std::string message;
  if (!prepare(q, k, v, bias, mask, keep, keepScore, keepThreshold,
               keepTiebreak, o, lse, options, launch, message))
    return err(message);
  if (!gradO || !delta || !gradQAccum || !gradKAccum || !gradVAccum)
    return err("grad_o, delta, grad_q_accum, grad_k_accum and grad_v_accum "
               "are required");
  if (!bias != !gradBiasAccum)
    return err("grad_bias_accum is given exactly when bias is given");
  auto same = [&](const dma_tensor *t, const dma_tensor *like, int32_t dtype,
                  const char *name) {
    bool ok = t->ndim == like->ndim && t->dtype == dtype;
    for (int d = 0; ok && d < t->ndim; ++d)
      ok = t->sizes[d] == like->sizes[d];
    if (!ok)
      err(std::string(name) + " must be " + dtypeName(dtype) + " shaped " +
          shapeOf(*like) + ", got " + dtypeName(t->dtype) + " " + shapeOf(*t));
    return ok;
  };
  if (!same(gradO, o, o->dtype, "grad_o") ||
      !same(delta, lse, DMA_F32, "delta") ||
      !same(gradQAccum, q, DMA_F32, "grad_q_accum") ||
      !same(gradKAccum, k, DMA_F32, "grad_k_accum") ||
      !same(gradVAccum, v, DMA_F32, "grad_v_accum") ||
      (bias && !same(gradBiasAccum, bias, DMA_F32, "grad_bias_accum")))
    return 1;
  if (gradO->strides[3] != 1 || reinterpret_cast<uintptr_t>(gradO->data) % 16)
    return err("grad_o must be contiguous in its last dimension and 16-byte "
               "aligned");
  for (int d = 0; d < 3; ++d)
    if (gradO->sizes[d] > 1 && gradO->strides[d] % 8 != 0)
      return err("grad_o strides must be multiples of 8 elements (16 bytes)");
  for (const dma_tensor *t : {gradQAccum, gradKAccum, gradVAccum})
    if (t->strides[3] != 1)
      return err("the gradient accumulators must be contiguous in their last "
                 "dimension");

  auto &p = launch.params;
  auto ptr = [&](const char *n, const dma_tensor *t) {
    Param x{Param::Ptr, {}};
    x.ptr = reinterpret_cast<CUdeviceptr>(t->data);
    p[n] = x;
  };
  auto i64 = [&](const std::string &n, int64_t val) {
    Param x{Param::I64, {}};
    x.i64 = val;
    p[n] = x;
  };
  auto i32 = [&](const std::string &n, int64_t val) {
    Param x{Param::I32, {}};
    x.i32 = static_cast<int32_t>(val);
    p[n] = x;
  };
  ptr("do", gradO);
  ptr("delta", delta);
  ptr("dq", gradQAccum);
  ptr("dk", gradKAccum);
  ptr("dv", gradVAccum);
  const char *names[] = {"do", "dq", "dk", "dv"};
  const dma_tensor *rows[] = {gradO, gradQAccum, gradKAccum, gradVAccum};
  for (int i = 0; i < 4; ++i)
    for (int d = 0; d < 3; ++d)
      i64(std::string(names[i]) + "_stride_" + "blh"[d], strideOf(*rows[i], d));
  i64("delta_stride_b", strideOf(*delta, 0));
  i64("delta_stride_h", strideOf(*delta, 1));
  if (bias) {
    ptr("dbias", gradBiasAccum);
    i32("dbias_heads", gradBiasAccum->sizes[1]);
    const char *dims = "bhqk";
    for (int d = 0; d < 4; ++d)
      i64(std::string("dbias_stride_") + dims[d], strideOf(*gradBiasAccum, d));
  }

  bool deterministic = options && options->deterministic;
  if (deterministic) {
    if (keep && keep->sizes[1] != 1 && keep->sizes[1] != k->sizes[2])
      return err("the deterministic backward needs kept-key lists per KV "
                 "head or shared (keep's dim 1 of 1 or Hkv), got " +
                 std::to_string(keep->sizes[1]));
    if (bias && bias->sizes[2] != 1 &&
        (bias->sizes[0] != q->sizes[0] || bias->sizes[1] != q->sizes[2]))
      return err("the deterministic backward takes a per-element bias only "
                 "unbroadcast over batch and heads ([B, H, Lq, Lk]); a per-key "
                 "bias may broadcast");
  }

  // Variant names: the forward's, for the backward's tiles.
  std::string base = launch.variant.substr(0, launch.variant.find(",q_tile="));
  int bq = options && options->backward_q_tile ? options->backward_q_tile : 64;
  int bk = options && options->backward_k_tile
               ? options->backward_k_tile
               : defaultBackwardKTile(q->sizes[3], v->sizes[3]);
  std::string name = "kind=bwd," + base +
                     (deterministic ? ",deterministic=1" : "") +
                     ",q_tile=" + std::to_string(bq) +
                     ",k_tile=" + std::to_string(bk);
  std::string deltaName = std::string("kind=bwd_delta,dtype=") +
                          dtypeName(q->dtype) + ",dv=" +
                          std::to_string(v->sizes[3]);
  std::lock_guard<std::mutex> lock(rt->mutex);
  int64_t rowsPerCTA = std::max<int64_t>(blockOf(rt, deltaName), 1);
  if (int rc = launchVariant(rt, deltaName, launch,
                             ceilDiv(launch.Lq, rowsPerCTA), launch.H,
                             launch.B, stream, err))
    return rc;
  int64_t keys = launch.keepW >= 0 ? launch.keepW : launch.Lk;
  int64_t blockN = std::max<int64_t>(blockOf(rt, name), 1);
  int64_t keyTiles = ceilDiv(keys, blockN);
  if (!deterministic)
    return launchVariant(rt, name, launch, keyTiles, launch.H, launch.B,
                         stream, err);
  // Zeroed semaphores for the turns: dQ per (batch, head, query tile of at
  // least 16 rows), dK/dV per (batch, KV head, key tile).
  int64_t semDq = launch.B * launch.H * ceilDiv(launch.Lq, 16);
  int64_t semDkv = launch.B * launch.Hkv * keyTiles;
  const dma::Driver *drv = dma::driver(message);
  if (!drv)
    return err(message);
  CUstream s = static_cast<CUstream>(stream);
  CUdeviceptr sems = 0;
  CUresult r = drv->cuMemAllocAsync(&sems, (semDq + semDkv) * 4, s);
  if (r == CUDA_SUCCESS)
    r = drv->cuMemsetD32Async(sems, 0, semDq + semDkv, s);
  if (r != CUDA_SUCCESS)
    return err("cannot allocate the deterministic backward's semaphores: " +
               cudaMessage(r));
  Param semaphore{Param::Ptr, {}};
  semaphore.ptr = sems;
  launch.params["sem_dq"] = semaphore;
  semaphore.ptr = sems + semDq * 4;
  launch.params["sem_dkv"] = semaphore;
  int rc = launchVariant(rt, name, launch, keyTiles, launch.H, launch.B,
                         stream, err);
  drv->cuMemFreeAsync(sems, s);
  return rc;
}

//===----------------------------------------------------------------------===//
// Mask generation: dma_value_bias, dma_topk_shared, dma_topk_per_query
//===----------------------------------------------------------------------===//

namespace {

/// Checks `t` is given, `dtype` (or one of two), `ndim`-dimensional, with
/// a contiguous innermost dimension; the message names the argument.
bool checkTensor(const dma_tensor *t, const char *name, int ndim,
                 std::initializer_list<int32_t> dtypes, Error &err) {
  if (!t) {
    err(std::string(name) + " is required");
    return false;
  }
  bool typeOk = false;
  std::string allowed;
  for (int32_t d : dtypes) {
    typeOk |= t->dtype == d;
    allowed += std::string(allowed.empty() ? "" : " or ") + dtypeName(d);
  }
  if (!typeOk) {
    err(std::string(name) + " must be " + allowed + ", got " +
        dtypeName(t->dtype));
    return false;
  }
  if (t->ndim != ndim) {
    err(std::string(name) + " must have " + std::to_string(ndim) +
        " dimensions, got " + shapeOf(*t));
    return false;
  }
  if (t->sizes[ndim - 1] > 1 && t->strides[ndim - 1] != 1) {
    err(std::string(name) + " must be contiguous in its last dimension");
    return false;
  }
  return true;
}

bool sameSizes(const dma_tensor *t, std::initializer_list<int64_t> sizes,
               const char *name, Error &err) {
  int d = 0;
  std::string want = "[";
  bool ok = true;
  for (int64_t s : sizes) {
    want += (d ? ", " : "") + std::to_string(s);
    ok &= t->sizes[d++] == s;
  }
  if (!ok)
    err(std::string(name) + " must be " + want + "], got " + shapeOf(*t));
  return ok;
}

struct ParamSetter {
  std::map<std::string, Param> &p;
  void ptr(const std::string &n, const dma_tensor *t) {
    Param x{Param::Ptr, {}};
    x.ptr = reinterpret_cast<CUdeviceptr>(t->data);
    p[n] = x;
  }
  void i32(const std::string &n, int64_t v) {
    Param x{Param::I32, {}};
    x.i32 = static_cast<int32_t>(v);
    p[n] = x;
  }
  void i64(const std::string &n, int64_t v) {
    Param x{Param::I64, {}};
    x.i64 = v;
    p[n] = x;
  }
  /// `name`_stride_b and _h of a [B, H, L] tensor.
  void rows(const std::string &n, const dma_tensor *t) {
    ptr(n, t);
    i64(n + "_stride_b", strideOf(*t, 0));
    i64(n + "_stride_h", strideOf(*t, 1));
  }
  /// `name`_stride_b, _l and _h of a [B, L, H, D] tensor.
  void sequence(const std::string &n, const dma_tensor *t) {
    ptr(n, t);
    i64(n + "_stride_b", strideOf(*t, 0));
    i64(n + "_stride_l", strideOf(*t, 1));
    i64(n + "_stride_h", strideOf(*t, 2));
  }
  /// What the value-bias kernels (forward and backward) read.
  void valueBiasInputs(const dma_tensor *value, const dma_tensor *weight,
                       const dma_tensor *dtBias, const dma_tensor *a) {
    sequence("value", value);
    ptr("weight", weight);
    i64("weight_stride_h", strideOf(*weight, 0));
    if (dtBias)
      ptr("dt_bias", dtBias);
    ptr("a", a);
    i32("B", value->sizes[0]);
    i32("Lk", value->sizes[1]);
    i32("Hkv", value->sizes[2]);
  }
};

/// The value-bias kernels read and write 8 consecutive elements with one
/// 16-byte access (two for f32): the last dimension a multiple of 8, the
/// data and every stride 16-byte aligned.
bool vectorRows(const dma_tensor *t, const char *name, Error &err) {
  int64_t bytes = dtypeBytes(t->dtype);
  bool ok = t->sizes[t->ndim - 1] % 8 == 0 &&
            reinterpret_cast<uintptr_t>(t->data) % 16 == 0;
  for (int d = 0; ok && d + 1 < t->ndim; ++d)
    ok = t->sizes[d] == 1 || (t->strides[d] * bytes) % 16 == 0;
  if (!ok)
    err(std::string(name) + " must have a last dimension that is a multiple "
        "of 8, 16-byte aligned data and 16-byte aligned strides (copy it "
        "into a fresh contiguous tensor)");
  return ok;
}

/// Too large for the kernels' i32 sizes.
bool sizesFit(std::initializer_list<int64_t> sizes, Error &err) {
  for (int64_t s : sizes)
    if (s <= 0 || s > (int64_t(1) << 30)) {
      err("sizes must be in [1, 2^30], got " + std::to_string(s));
      return false;
    }
  return true;
}

} // namespace

extern "C" int dma_value_bias(dma_runtime *rt, const dma_tensor *value,
                              const dma_tensor *weight,
                              const dma_tensor *dtBias, const dma_tensor *a,
                              const dma_tensor *score, int32_t expForm,
                              void *stream, char *error, size_t errorSize) {
  Error err(error, errorSize);
  if (!checkTensor(value, "value", 4, {DMA_BF16, DMA_F16}, err) ||
      !checkTensor(weight, "weight", 2, {DMA_F32}, err) ||
      !checkTensor(a, "a", 1, {DMA_F32}, err) ||
      !checkTensor(score, "score", 3, {DMA_F32}, err) ||
      (dtBias && !checkTensor(dtBias, "dt_bias", 1, {DMA_F32}, err)))
    return 1;
  int64_t B = value->sizes[0], Lk = value->sizes[1], Hkv = value->sizes[2],
          D = value->sizes[3];
  if (!sizesFit({B, Lk, Hkv, D, Lk * Hkv}, err) ||
      !sameSizes(weight, {Hkv, Hkv * D}, "weight", err) ||
      !sameSizes(a, {Hkv}, "a", err) ||
      (dtBias && !sameSizes(dtBias, {Hkv}, "dt_bias", err)) ||
      !sameSizes(score, {B, Hkv, Lk}, "score", err))
    return 1;
  if (!vectorRows(value, "value", err) || !vectorRows(weight, "weight", err))
    return 1;
  if (!rt)
    return err("no runtime (dma_runtime_open failed?)");
  Launch launch;
  ParamSetter p{launch.params};
  p.valueBiasInputs(value, weight, dtBias, a);
  p.rows("score", score);
  std::string name = std::string("kind=value_bias,dtype=") +
                     dtypeName(value->dtype) + ",d=" + std::to_string(D) +
                     ",form=" + (expForm ? "exp" : "log") +
                     ",dt_bias=" + (dtBias ? "1" : "0");
  std::lock_guard<std::mutex> lock(rt->mutex);
  int64_t block = std::max<int64_t>(blockOf(rt, name), 1);
  return launchVariant(rt, name, launch, ceilDiv(Lk, block), B, 1, stream,
                       err);
}

namespace {

/// The checks and parameters both top-k forms share.
bool prepareTopK(const dma_tensor *score, const dma_tensor *padding,
                 Launch &launch, Error &err) {
  if (!checkTensor(score, "score", 3, {DMA_F32}, err) ||
      (padding && !checkTensor(padding, "padding", 2, {DMA_BOOL}, err)))
    return false;
  launch.B = score->sizes[0];
  launch.Hkv = score->sizes[1];
  launch.Lk = score->sizes[2];
  if (!sizesFit({launch.B, launch.Hkv, launch.Lk}, err) ||
      (padding && !sameSizes(padding, {launch.B, launch.Lk}, "padding", err)))
    return false;
  ParamSetter p{launch.params};
  p.rows("score", score);
  if (padding) {
    p.ptr("padding", padding);
    p.i64("padding_stride_b", strideOf(*padding, 0));
  }
  p.i32("B", launch.B);
  p.i32("Hkv", launch.Hkv);
  p.i32("Lk", launch.Lk);
  return true;
}

} // namespace

extern "C" int dma_topk_shared(dma_runtime *rt, const dma_tensor *score,
                               const dma_tensor *padding,
                               const dma_tensor *keep, void *stream,
                               char *error, size_t errorSize) {
  Error err(error, errorSize);
  Launch launch;
  if (!prepareTopK(score, padding, launch, err) ||
      !checkTensor(keep, "keep", 3, {DMA_I32}, err))
    return 1;
  int64_t W = keep->sizes[2];
  if (!sizesFit({W}, err) ||
      !sameSizes(keep, {launch.B, launch.Hkv, W}, "keep", err))
    return 1;
  if (!rt)
    return err("no runtime (dma_runtime_open failed?)");
  ParamSetter p{launch.params};
  p.rows("keep", keep);
  p.i32("W", W);
  std::string name = std::string("kind=topk,selection=shared,padding=") +
                     (padding ? "1" : "0");
  std::lock_guard<std::mutex> lock(rt->mutex);
  return launchVariant(rt, name, launch, launch.Hkv, launch.B, 1, stream, err);
}

extern "C" int dma_topk_per_query(dma_runtime *rt, const dma_tensor *score,
                                  const dma_tensor *padding, int64_t keep,
                                  const dma_tensor *maskedScore,
                                  const dma_tensor *threshold,
                                  const dma_tensor *tiebreak, void *stream,
                                  char *error, size_t errorSize) {
  Error err(error, errorSize);
  Launch launch;
  if (!prepareTopK(score, padding, launch, err) ||
      !checkTensor(maskedScore, "masked_score", 3, {DMA_F32}, err) ||
      !checkTensor(threshold, "threshold", 3, {DMA_F32}, err) ||
      !checkTensor(tiebreak, "tiebreak", 3, {DMA_I32}, err))
    return 1;
  if (keep < 1)
    return err("keep must be >= 1, got " + std::to_string(keep));
  for (auto [t, n] : {std::pair{maskedScore, "masked_score"},
                      std::pair{threshold, "threshold"},
                      std::pair{tiebreak, "tiebreak"}})
    if (!sameSizes(t, {launch.B, launch.Hkv, launch.Lk}, n, err))
      return 1;
  if (!rt)
    return err("no runtime (dma_runtime_open failed?)");
  ParamSetter p{launch.params};
  p.rows("masked_score", maskedScore);
  p.rows("threshold", threshold);
  p.rows("tiebreak", tiebreak);
  p.i32("W", std::min<int64_t>(keep, int64_t(1) << 30));
  std::string base = std::string("kind=topk,selection=per_query,padding=") +
                     (padding ? "1" : "0") + ",step=";
  std::lock_guard<std::mutex> lock(rt->mutex);
  for (const char *step : {"rank", "rows", "threshold"}) {
    std::string name = base + step;
    int64_t block = std::max<int64_t>(blockOf(rt, name), 1);
    if (int rc = launchVariant(rt, name, launch, ceilDiv(launch.Lk, block),
                               launch.Hkv, launch.B, stream, err))
      return rc;
  }
  return 0;
}

extern "C" int64_t dma_value_bias_backward_scratch(int64_t B, int64_t Lk,
                                                   int64_t Hkv, int64_t D) {
  // Must agree with convert-dma-mask-to-gpu (kValueBiasGradRows = 128).
  int64_t rows = B * Lk, chunks = B * ((Lk + 127) / 128);
  return 2 * rows * Hkv + chunks * Hkv * (Hkv * D + 2);
}

extern "C" int dma_value_bias_backward(
    dma_runtime *rt, const dma_tensor *grad, const dma_tensor *value,
    const dma_tensor *weight, const dma_tensor *dtBias, const dma_tensor *a,
    const dma_tensor *gradValue, const dma_tensor *gradWeight,
    const dma_tensor *gradDtBias, const dma_tensor *gradA,
    const dma_tensor *scratch, int32_t expForm, void *stream, char *error,
    size_t errorSize) {
  Error err(error, errorSize);
  if (!checkTensor(value, "value", 4, {DMA_BF16, DMA_F16}, err) ||
      !checkTensor(weight, "weight", 2, {DMA_F32}, err) ||
      !checkTensor(a, "a", 1, {DMA_F32}, err) ||
      (dtBias && !checkTensor(dtBias, "dt_bias", 1, {DMA_F32}, err)) ||
      !checkTensor(grad, "grad", 3, {DMA_F32}, err) ||
      !checkTensor(gradValue, "grad_value", 4, {value->dtype}, err) ||
      !checkTensor(gradWeight, "grad_weight", 2, {DMA_F32}, err) ||
      !checkTensor(gradA, "grad_a", 1, {DMA_F32}, err) ||
      !checkTensor(scratch, "scratch", 1, {DMA_F32}, err))
    return 1;
  if (!dtBias != !gradDtBias)
    return err("grad_dt_bias is given exactly when dt_bias is given");
  if (gradDtBias && !checkTensor(gradDtBias, "grad_dt_bias", 1, {DMA_F32}, err))
    return 1;
  int64_t B = value->sizes[0], Lk = value->sizes[1], Hkv = value->sizes[2],
          D = value->sizes[3];
  if (!sizesFit({B, Lk, Hkv, D, B * Lk * Hkv * D}, err) ||
      !sameSizes(weight, {Hkv, Hkv * D}, "weight", err) ||
      !sameSizes(a, {Hkv}, "a", err) ||
      (dtBias && !sameSizes(dtBias, {Hkv}, "dt_bias", err)) ||
      !sameSizes(grad, {B, Hkv, Lk}, "grad", err) ||
      !sameSizes(gradValue, {B, Lk, Hkv, D}, "grad_value", err) ||
      !sameSizes(gradWeight, {Hkv, Hkv * D}, "grad_weight", err) ||
      !sameSizes(gradA, {Hkv}, "grad_a", err) ||
      (gradDtBias && !sameSizes(gradDtBias, {Hkv}, "grad_dt_bias", err)))
    return 1;
  if (!vectorRows(value, "value", err) ||
      !vectorRows(gradValue, "grad_value", err) ||
      !vectorRows(weight, "weight", err))
    return 1;
  int64_t need = dma_value_bias_backward_scratch(B, Lk, Hkv, D);
  if (scratch->sizes[0] < need)
    return err("scratch must have at least " + std::to_string(need) +
               " float32 elements (dma_value_bias_backward_scratch), got " +
               std::to_string(scratch->sizes[0]));
  if (!rt)
    return err("no runtime (dma_runtime_open failed?)");
  Launch launch;
  ParamSetter p{launch.params};
  p.rows("grad", grad);
  p.valueBiasInputs(value, weight, dtBias, a);
  // The scratch: g and e ([B, Lk, Hkv] each), then the partial sums.
  auto at = [&](int64_t offset) {
    Param x{Param::Ptr, {}};
    x.ptr = reinterpret_cast<CUdeviceptr>(scratch->data) +
            static_cast<CUdeviceptr>(offset * 4);
    return x;
  };
  int64_t rows = B * Lk;
  launch.params["g"] = at(0);
  launch.params["e"] = at(rows * Hkv);
  launch.params["partial"] = at(2 * rows * Hkv);
  p.sequence("grad_value", gradValue);
  p.ptr("grad_weight", gradWeight);
  p.i64("grad_weight_stride_h", strideOf(*gradWeight, 0));
  if (gradDtBias)
    p.ptr("grad_dt_bias", gradDtBias);
  p.ptr("grad_a", gradA);
  std::string base = std::string("kind=value_bias_bwd,dtype=") +
                     dtypeName(value->dtype) + ",d=" + std::to_string(D) +
                     ",form=" + (expForm ? "exp" : "log") +
                     ",dt_bias=" + (dtBias ? "1" : "0") + ",step=";
  int64_t columns = Hkv * (Hkv * D + 2), chunks = B * ceilDiv(Lk, 128);
  struct Step {
    const char *name;
    int64_t x, y;
  } steps[] = {{"dt", Lk, B},
               {"value", Lk * Hkv * D / 8, B},
               {"params", Hkv * (Hkv * D / 8 + 1), chunks},
               {"reduce", columns, 1}};
  std::lock_guard<std::mutex> lock(rt->mutex);
  for (const Step &s : steps) {
    std::string name = base + s.name;
    int64_t block = std::max<int64_t>(blockOf(rt, name), 1);
    if (int rc = launchVariant(rt, name, launch, ceilDiv(s.x, block), s.y, 1,
                               stream, err))
      return rc;
  }
  return 0;
}
