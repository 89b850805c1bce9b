//===- helpers.cpp - what the runtime's files share -----------------------===//
//
// Error messages, kernel parameter values and the tensor descriptions'
// helpers (dtype names, shapes, strides) every plan builder uses.
//
//===----------------------------------------------------------------------===//

#include "internal.h"

#include <cstdio>

using namespace dma;

int Error::operator()(const std::string &message) {
  if (buffer && size)
    std::snprintf(buffer, size, "%s", message.c_str());
  return 1;
}

Arg Arg::slotAt(int s, int64_t offset) {
  Arg a;
  a.kind = Slot;
  a.slot = s;
  a.offset = offset;
  return a;
}
Arg Arg::i32Of(int64_t v) {
  Arg a;
  a.kind = I32;
  a.value.i32 = static_cast<int32_t>(v);
  return a;
}
Arg Arg::i64Of(int64_t v) {
  Arg a;
  a.kind = I64;
  a.value.i64 = v;
  return a;
}
Arg Arg::f32Of(float v) {
  Arg a;
  a.kind = F32;
  a.value.f32 = v;
  return a;
}

std::string dma::cudaMessage(CUresult r) {
  const char *name = nullptr, *text = nullptr;
  std::string unused;
  const Driver *drv = driver(unused);
  if (!drv)
    return "CUDA error " + std::to_string(static_cast<int>(r));
  drv->cuGetErrorName(r, &name);
  drv->cuGetErrorString(r, &text);
  return std::string(name ? name : "CUDA error") + ": " +
         (text ? text : "unknown");
}

const char *dma::dtypeName(int32_t d) {
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

int64_t dma::dtypeBytes(int32_t d) {
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

std::string dma::shapeOf(const dma_tensor &t) {
  std::string s = "[";
  for (int i = 0; i < t.ndim; ++i)
    s += (i ? ", " : "") + std::to_string(t.sizes[i]);
  return s + "]";
}

int64_t dma::strideOf(const dma_tensor &t, int d) {
  return t.sizes[d] == 1 ? 0 : t.strides[d];
}

int64_t dma::numel(const dma_tensor &t) {
  int64_t n = 1;
  for (int d = 0; d < t.ndim; ++d)
    n *= t.sizes[d];
  return n;
}

bool dma::isContiguous(const dma_tensor &t) {
  int64_t stride = 1;
  for (int d = t.ndim - 1; d >= 0; --d) {
    if (t.sizes[d] != 1 && t.strides[d] != stride)
      return false;
    stride *= t.sizes[d];
  }
  return true;
}

int64_t dma::ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
