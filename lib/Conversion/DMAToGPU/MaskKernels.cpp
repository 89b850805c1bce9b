//===- MaskKernels.cpp - the value-bias and top-k kernels -----------------===//
//
// Scalar CUDA-core kernels (no tensor cores: the work is O(B Hkv Lk D) for
// the value bias and O(B Hkv Lk) or O(B Hkv Lk^2) for the top-k, small next
// to the attention they feed). MaskKernels.h describes each kernel's grid
// and algorithm; the comments here say why the code looks as it does.
//
//===----------------------------------------------------------------------===//

#include "dma/Conversion/DMAToGPU/MaskKernels.h"
#include "KernelBuilder.h"
#include "MaskEmitter.h"
#include "TileEmitter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

#include <functional>
#include <limits>
#include <map>
#include <string>

using namespace mlir;
using namespace mlir::dma;


//===----------------------------------------------------------------------===//
// value_bias
//===----------------------------------------------------------------------===//

SmallVector<KernelParam>
mlir::dma::valueBiasKernelParams(const ValueBiasKernelConfig &c) {
  using K = KernelParam;
  SmallVector<KernelParam> p = {{"value", K::Pointer}, {"weight", K::Pointer}};
  if (c.dtBias)
    p.push_back({"dt_bias", K::Pointer});
  p.append({{"a", K::Pointer},
            {"score", K::Pointer},
            {"B", K::I32},
            {"Lk", K::I32},
            {"Hkv", K::I32},
            {"value_stride_b", K::I64},
            {"value_stride_l", K::I64},
            {"value_stride_h", K::I64},
            {"weight_stride_h", K::I64},
            {"score_stride_b", K::I64},
            {"score_stride_h", K::I64}});
  return p;
}

namespace {

/// Heads per pass of the value-bias kernels: with kValueBiasKeysPerWarp
/// keys, one (key, head) dot product per lane.
constexpr int kHeadGroup = 8;
static_assert(kHeadGroup * kValueBiasKeysPerWarp == 32, "a result per lane");
/// Steps of 256 columns (8 per lane) whose value loads fly together.
constexpr int64_t kValueBiasSteps = 4;

/// dt[b, j0 + r, h0 + i] = W[h0 + i] . V[b, j0 + r] (+ b_dt[h0 + i]) in f32
/// for the warp's kValueBiasKeysPerWarp keys r and the group of kHeadGroup
/// KV heads from h0. Lanes take 8 consecutive elements of each key's
/// Hkv * D values (16-byte loads, coalesced across the warp); each weight
/// load (L1-resident rows) serves all the warp's keys, so the weights are
/// read once per 4 keys. The 32 partial sums of a lane are then reduced
/// across the warp by a transposing butterfly (31 shuffles for all of
/// them, where a sum per (key, head) would take 5 each): lane l returns
/// the total of key l / kHeadGroup, head h0 + l % kHeadGroup (lanes of keys
/// past Lk or heads past Hkv: garbage). D % 8 == 0.
Value emitWarpDt(MaskEmitter &m, const ValueBiasKernelConfig &c, Value lane,
                 Value bi, Value j0, Value h0) {
  KernelBuilder &k = m.k;
  constexpr int R = kValueBiasKeysPerWarp;
  Value Hkv = m.arg("Hkv"), Lk = m.arg("Lk");
  int64_t D = c.headDim;
  Value rowLen = k.mul(Hkv, k.c32(D));
  Value steps = k.divsi(k.add(rowLen, k.c32(255)), k.c32(256));
  SmallVector<Value> vRows, wRows;
  for (int r = 0; r < R; ++r) {
    // Keys past Lk read the last one (their sums are never stored).
    Value j = k.minsi(k.add(j0, k.c32(r)), k.sub(Lk, k.c32(1)));
    vRows.push_back(
        k.add(m.strided("value", "b", bi), m.strided("value", "l", j)));
  }
  for (int i = 0; i < kHeadGroup; ++i) {
    Value h = k.add(h0, k.c32(i));
    h = k.select(k.cmpi(ip(IPred::slt), h, Hkv), h, k.c32(0));
    wRows.push_back(m.strided("weight", "h", h));
  }
  // acc[r * kHeadGroup + i]: key r, head h0 + i. kValueBiasSteps steps of
  // 256 columns a loop iteration, every value load issued before the first
  // FMA: one step per iteration waited for each step's loads in turn
  // (7.6 us at L = 4096, Hkv = 8, D = 128: 4 steps a key).
  SmallVector<Value> init(R * kHeadGroup, k.f32(0.0));
  Value rounds = k.divsi(k.add(steps, k.c32(kValueBiasSteps - 1)),
                         k.c32(kValueBiasSteps));
  SmallVector<Value> sums = m.loop(rounds, init, [&](Value it, ValueRange acc) {
    SmallVector<Value> cols, valids;
    SmallVector<SmallVector<SmallVector<Value>>> v(kValueBiasSteps);
    for (int64_t st = 0; st < kValueBiasSteps; ++st) {
      Value step = k.add(k.mul(it, k.c32(kValueBiasSteps)), k.c32(st));
      Value col = k.add(k.mul(step, k.c32(256)), k.mul(lane, k.c32(8)));
      Value valid = k.cmpi(ip(IPred::slt), col, rowLen);
      col = k.select(valid, col, k.c32(0));
      Value hp = k.divsi(col, k.c32(D)), d = k.remsi(col, k.c32(D));
      Value within = k.add(m.strided("value", "h", hp), k.sext64(d));
      for (int r = 0; r < R; ++r)
        v[st].push_back(k.loadRawX8(
            c.element,
            k.gep(m.ptr("value"), c.element, k.add(vRows[r], within))));
      cols.push_back(col);
      valids.push_back(valid);
    }
    SmallVector<Value> next(acc.begin(), acc.end());
    for (int64_t st = 0; st < kValueBiasSteps; ++st)
      for (int i = 0; i < kHeadGroup; ++i) {
        SmallVector<Value> w = k.loadF32x8(
            c.paramElement, k.gep(m.ptr("weight"), c.paramElement,
                                  k.add(wRows[i], k.sext64(cols[st]))));
        for (int r = 0; r < R; ++r) {
          Value sum = next[r * kHeadGroup + i];
          SmallVector<Value> x = k.unpackF32x8(c.element, v[st][r]);
          for (int e = 0; e < 8; ++e)
            sum = k.fma(x[e], w[e], sum);
          next[r * kHeadGroup + i] =
              k.select(valids[st], sum, next[r * kHeadGroup + i]);
        }
      }
    return next;
  });
  // The transposing butterfly: at offset o the lane keeps the half of its
  // values whose index bit matches its lane bit and adds its partner's
  // copy of that half, so after offsets 16 .. 1 lane l holds value l.
  SmallVector<Value> x(sums);
  for (int offset = 16; offset >= 1; offset /= 2) {
    Value upper = k.cmpi(ip(IPred::ne), k.andi(lane, k.c32(offset)),
                         k.c32(0));
    SmallVector<Value> kept;
    for (int i = 0; i < offset; ++i) {
      Value lo = x[i], hi = x[i + offset];
      Value give = k.select(upper, lo, hi);
      Value keep = k.select(upper, hi, lo);
      kept.push_back(k.fadd(keep, k.shuffleXor(give, offset)));
    }
    x = kept;
  }
  Value mine = x[0];
  if (c.dtBias) {
    Value h = k.add(h0, k.remsi(lane, k.c32(kHeadGroup)));
    h = k.select(k.cmpi(ip(IPred::slt), h, Hkv), h, k.c32(0));
    mine = k.fadd(
        mine, k.loadF32(c.paramElement,
                        k.gep(m.ptr("dt_bias"), c.paramElement, k.sext64(h))));
  }
  return mine;
}

/// Runs `body(h, j, dt)` on the lanes whose (head h = h0 + lane % 8, key
/// j = j0 + lane / 8) exists, for every group of kHeadGroup heads; `dtOf`
/// gives each lane its (key, head)'s dt (warp-wide: called outside the
/// lane condition).
void forHeadGroups(MaskEmitter &m, Value lane, Value j0,
                   function_ref<Value(Value h0)> dtOf,
                   function_ref<void(Value h, Value j, Value dt)> body) {
  KernelBuilder &k = m.k;
  Value Hkv = m.arg("Hkv");
  Value groups = k.divsi(k.add(Hkv, k.c32(kHeadGroup - 1)), k.c32(kHeadGroup));
  m.loop(groups, {}, [&](Value g, ValueRange) {
    Value h0 = k.mul(g, k.c32(kHeadGroup));
    Value dt = dtOf(h0);
    Value h = k.add(h0, k.remsi(lane, k.c32(kHeadGroup)));
    Value j = k.add(j0, k.divsi(lane, k.c32(kHeadGroup)));
    k.ifThen(k.andi(k.cmpi(ip(IPred::slt), j, m.arg("Lk")),
                    k.cmpi(ip(IPred::slt), h, Hkv)),
             [&] { body(h, j, dt); });
    return SmallVector<Value>{};
  });
}

/// Runs `body(j0, lane)` for the warp's keys j0 .. j0 + 3, j0 =
/// (blockIdx.x * warps + warp) * kValueBiasKeysPerWarp (uniform per warp,
/// so the warp's shuffles stay converged).
void forWarpKeys(MaskEmitter &m,
                 function_ref<void(Value j0, Value lane)> body) {
  KernelBuilder &k = m.k;
  Value warp = k.divsi(m.tid, k.c32(32)), lane = k.remsi(m.tid, k.c32(32));
  Value j0 = k.mul(
      k.add(k.mul(k.blockId(0), k.c32(kMaskThreads / 32)), warp),
      k.c32(kValueBiasKeysPerWarp));
  k.ifThen(k.cmpi(ip(IPred::slt), j0, m.arg("Lk")), [&] { body(j0, lane); });
}

Value paramAt(MaskEmitter &m, const ValueBiasKernelConfig &c, const char *name,
              Value h) {
  return m.k.loadF32(c.paramElement,
                     m.k.gep(m.ptr(name), c.paramElement, m.k.sext64(h)));
}

/// Stores f32 `v` as `elt` at `ptr`.
void storeAs(KernelBuilder &k, Type elt, Value v, Value ptr) {
  if (!elt.isF32())
    v = arith::TruncFOp::create(k.builder(), k.location(), elt, v);
  k.storeTo(v, ptr);
}

} // namespace

gpu::GPUFuncOp mlir::dma::emitValueBiasKernel(OpBuilder &b, Location loc,
                                              gpu::GPUModuleOp module,
                                              StringRef name,
                                              const ValueBiasKernelConfig &c) {
  OpBuilder::InsertionGuard guard(b);
  SmallVector<KernelParam> params = valueBiasKernelParams(c);
  auto func = createKernelFunc(
      b, loc, module, name,
      {"value_bias", params,
       {"ceil(Lk/" + std::to_string(kValueBiasKeysPerCTA) + ")", "B", "1"},
       kMaskThreads, 0});
  MaskEmitter m(b, loc, func, params);
  KernelBuilder &k = m.k;
  func->setAttr("dma.block_m", b.getI64IntegerAttr(kValueBiasKeysPerCTA));
  Value bi = k.blockId(1);
  forWarpKeys(m, [&](Value j0, Value lane) {
    forHeadGroups(
        m, lane, j0,
        [&](Value h0) { return emitWarpDt(m, c, lane, bi, j0, h0); },
        [&](Value h, Value j, Value dt) {
          Value s = k.fmul(paramAt(m, c, "a", h), k.softplus(dt));
          if (c.expForm)
            s = k.exp(s);
          k.storeTo(s,
                    k.gep(m.ptr("score"), k.f32Type, m.bhj("score", bi, h, j)));
        });
  });
  m.finish();
  return func;
}

//===----------------------------------------------------------------------===//
// value_bias_grad
//===----------------------------------------------------------------------===//

SmallVector<KernelParam>
mlir::dma::valueBiasGradKernelParams(const ValueBiasGradKernelConfig &c) {
  using K = KernelParam;
  SmallVector<KernelParam> p = {
      {"grad", K::Pointer}, {"value", K::Pointer}, {"weight", K::Pointer}};
  if (c.forward.dtBias)
    p.push_back({"dt_bias", K::Pointer});
  p.append({{"a", K::Pointer},
            {"g", K::Pointer},
            {"e", K::Pointer},
            {"partial", K::Pointer},
            {"grad_value", K::Pointer},
            {"grad_weight", K::Pointer}});
  if (c.forward.dtBias)
    p.push_back({"grad_dt_bias", K::Pointer});
  p.append({{"grad_a", K::Pointer},
            {"B", K::I32},
            {"Lk", K::I32},
            {"Hkv", K::I32},
            {"value_stride_b", K::I64},
            {"value_stride_l", K::I64},
            {"value_stride_h", K::I64},
            {"weight_stride_h", K::I64},
            {"grad_stride_b", K::I64},
            {"grad_stride_h", K::I64},
            {"grad_value_stride_b", K::I64},
            {"grad_value_stride_l", K::I64},
            {"grad_value_stride_h", K::I64},
            {"grad_weight_stride_h", K::I64}});
  return p;
}

gpu::GPUFuncOp mlir::dma::emitValueBiasGradKernel(
    OpBuilder &b, Location loc, gpu::GPUModuleOp module, StringRef name,
    const ValueBiasGradKernelConfig &c, ValueBiasGradStep step) {
  OpBuilder::InsertionGuard guard(b);
  SmallVector<KernelParam> params = valueBiasGradKernelParams(c);
  int64_t D = c.forward.headDim;
  auto ceil = [](const std::string &x, int64_t d) {
    return "ceil(" + x + "/" + std::to_string(d) + ")";
  };
  std::array<std::string, 3> grid =
      step == ValueBiasGradStep::Dt
          ? std::array<std::string, 3>{ceil("Lk", kValueBiasKeysPerCTA), "B",
                                       "1"}
      : step == ValueBiasGradStep::Value
          ? std::array<std::string, 3>{ceil("Lk*Hkv*" + std::to_string(D / 8),
                                            kMaskThreads),
                                       "B", "1"}
      : step == ValueBiasGradStep::Params
          ? std::array<std::string, 3>{
                ceil("Hkv*(Hkv*" + std::to_string(D / 8) + "+1)",
                     kMaskThreads),
                "B*" + ceil("Lk", kValueBiasGradRows), "1"}
          : std::array<std::string, 3>{
                ceil("Hkv*(Hkv*" + std::to_string(D) + "+2)", kMaskThreads),
                "1", "1"};
  const char *role = step == ValueBiasGradStep::Dt      ? "value_bias_bwd_dt"
                     : step == ValueBiasGradStep::Value ? "value_bias_bwd_value"
                     : step == ValueBiasGradStep::Params
                         ? "value_bias_bwd_params"
                         : "value_bias_bwd_reduce";
  auto func = createKernelFunc(
      b, loc, module, name,
      {role, params, grid, kMaskThreads, 0});
  MaskEmitter m(b, loc, func, params);
  KernelBuilder &k = m.k;
  const ValueBiasKernelConfig &f = c.forward;
  Value t = m.globalX(kMaskThreads);
  Value Lk = m.arg("Lk"), Hkv = m.arg("Hkv");
  // g and e are [B, Lk, Hkv] (contiguous): row (b, j) = b * Lk + j.
  auto scratchAt = [&](const char *name, Value row, Value h) {
    Value off = k.add(k.mul(k.sext64(row), k.sext64(Hkv)), k.sext64(h));
    return k.gep(m.ptr(name), k.f32Type, off);
  };
  // Columns of [W | b_dt | A] per KV head.
  Value cols = k.add(k.mul(Hkv, k.c32(D)), k.c32(2));
  Value columnsAll = k.mul(Hkv, cols);

  switch (step) {
  case ValueBiasGradStep::Dt: {
    func->setAttr("dma.block_m", b.getI64IntegerAttr(kValueBiasKeysPerCTA));
    Value bi = k.blockId(1);
    forWarpKeys(m, [&](Value j0, Value lane) {
      forHeadGroups(
          m, lane, j0,
          [&](Value h0) { return emitWarpDt(m, f, lane, bi, j0, h0); },
          [&](Value h, Value j, Value dt) {
            Value sp = k.softplus(dt);
            // softplus' = sigmoid, and exactly 1 where softplus returns dt.
            Value sigmoid =
                k.fdiv(k.f32(1.0), k.fadd(k.f32(1.0), k.exp(k.fneg(dt))));
            sigmoid = k.select(k.cmpf(fpr(FPred::OGT), dt, k.f32(20.0)),
                               k.f32(1.0), sigmoid);
            Value a = paramAt(m, f, "a", h);
            Value ds = k.loadAs(k.f32Type, k.gep(m.ptr("grad"), k.f32Type,
                                                 m.bhj("grad", bi, h, j)));
            if (f.expForm)
              ds = k.fmul(ds, k.exp(k.fmul(a, sp))); // d exp(x) = exp(x) dx
            Value row = k.add(k.mul(bi, Lk), j);
            k.storeTo(k.fmul(k.fmul(ds, a), sigmoid), scratchAt("g", row, h));
            k.storeTo(k.fmul(ds, sp), scratchAt("e", row, h));
          });
    });
    break;
  }
  case ValueBiasGradStep::Value: {
    // One thread per 8 consecutive columns of a key's Hkv * D values.
    Value bi = k.blockId(1);
    Value chunksPerKey = k.mul(Hkv, k.c32(D / 8));
    k.ifThen(k.cmpi(ip(IPred::slt), t, k.mul(Lk, chunksPerKey)), [&] {
      Value j = k.divsi(t, chunksPerKey);
      Value col = k.mul(k.remsi(t, chunksPerKey), k.c32(8));
      Value hp = k.divsi(col, k.c32(D)), d = k.remsi(col, k.c32(D));
      Value row = k.add(k.mul(bi, Lk), j);
      SmallVector<Value> init(8, k.f32(0.0));
      SmallVector<Value> sum = m.loop(Hkv, init, [&](Value h, ValueRange acc) {
        Value g = k.loadAs(k.f32Type, scratchAt("g", row, h));
        SmallVector<Value> w = k.loadF32x8(
            f.paramElement,
            k.gep(m.ptr("weight"), f.paramElement,
                  k.add(m.strided("weight", "h", h), k.sext64(col))));
        SmallVector<Value> next;
        for (int i = 0; i < 8; ++i)
          next.push_back(k.fma(g, w[i], acc[i]));
        return next;
      });
      Value off = k.add(k.add(m.strided("grad_value", "b", bi),
                              m.strided("grad_value", "l", j)),
                        k.add(m.strided("grad_value", "h", hp), k.sext64(d)));
      k.storeF32x8(c.gradValueElement, sum,
                   k.gep(m.ptr("grad_value"), c.gradValueElement, off));
    });
    break;
  }
  case ValueBiasGradStep::Params: {
    // Thread (h, c): 8 columns of W's row h (c < Hkv * D / 8) or, for the
    // last c, b_dt and A; CTA row y is chunk jc of batch b's keys. The
    // partial sums land at [chunk, h, column] of the [W | b_dt | A] layout.
    Value chunkIdx = k.blockId(1);
    Value chunksPerBatch = k.divsi(k.add(Lk, k.c32(kValueBiasGradRows - 1)),
                                   k.c32(kValueBiasGradRows));
    Value bi = k.divsi(chunkIdx, chunksPerBatch);
    Value first =
        k.mul(k.remsi(chunkIdx, chunksPerBatch), k.c32(kValueBiasGradRows));
    Value count = k.minsi(k.c32(kValueBiasGradRows), k.sub(Lk, first));
    Value groups = k.add(k.mul(Hkv, k.c32(D / 8)), k.c32(1));
    k.ifThen(k.cmpi(ip(IPred::slt), t, k.mul(Hkv, groups)), [&] {
      Value h = k.divsi(t, groups), cg = k.remsi(t, groups);
      Value rowLen = k.mul(Hkv, k.c32(D));
      Value partialRow = k.add(k.mul(k.sext64(chunkIdx), k.sext64(columnsAll)),
                               k.sext64(k.mul(h, cols)));
      auto storePartial = [&](Value col, ArrayRef<Value> sums) {
        for (auto [i, x] : llvm::enumerate(sums))
          k.storeTo(x,
                    k.gep(m.ptr("partial"), k.f32Type,
                          k.add(partialRow, k.sext64(k.add(col, k.c32(i))))));
      };
      Value row0 = k.add(k.mul(bi, Lk), first);
      k.ifThenElse(
          k.cmpi(ip(IPred::slt), cg, k.sub(groups, k.c32(1))),
          [&] {
            Value col = k.mul(cg, k.c32(8));
            Value hp = k.divsi(col, k.c32(D)), d = k.remsi(col, k.c32(D));
            Value vBase = k.add(
                k.add(m.strided("value", "b", bi), m.strided("value", "h", hp)),
                k.sext64(d));
            SmallVector<Value> init(8, k.f32(0.0));
            SmallVector<Value> sums =
                m.loop(count, init, [&](Value i, ValueRange acc) {
                  Value j = k.add(first, i);
                  Value g =
                      k.loadAs(k.f32Type, scratchAt("g", k.add(row0, i), h));
                  SmallVector<Value> v = k.loadF32x8(
                      f.element,
                      k.gep(m.ptr("value"), f.element,
                            k.add(vBase, m.strided("value", "l", j))));
                  SmallVector<Value> next;
                  for (int e = 0; e < 8; ++e)
                    next.push_back(k.fma(g, v[e], acc[e]));
                  return next;
                });
            storePartial(col, sums);
          },
          [&] {
            SmallVector<Value> sums = m.loop(
                count, {k.f32(0.0), k.f32(0.0)}, [&](Value i, ValueRange acc) {
                  Value row = k.add(row0, i);
                  Value g = k.loadAs(k.f32Type, scratchAt("g", row, h));
                  Value e = k.loadAs(k.f32Type, scratchAt("e", row, h));
                  return SmallVector<Value>{k.fadd(acc[0], g),
                                            k.fadd(acc[1], e)};
                });
            storePartial(rowLen, sums);
          });
    });
    break;
  }
  case ValueBiasGradStep::Reduce: {
    k.ifThen(k.cmpi(ip(IPred::slt), t, columnsAll), [&] {
      Value chunks =
          k.mul(m.arg("B"), k.divsi(k.add(Lk, k.c32(kValueBiasGradRows - 1)),
                                    k.c32(kValueBiasGradRows)));
      Value sum = m.loop(chunks, {k.f32(0.0)}, [&](Value s, ValueRange acc) {
        Value off =
            k.add(k.mul(k.sext64(s), k.sext64(columnsAll)), k.sext64(t));
        Value p = k.loadAs(k.f32Type, k.gep(m.ptr("partial"), k.f32Type, off));
        return SmallVector<Value>{k.fadd(acc[0], p)};
      })[0];
      Value h = k.divsi(t, cols), col = k.remsi(t, cols);
      Value rowLen = k.mul(Hkv, k.c32(D));
      Type pe = c.gradParamElement;
      k.ifThenElse(
          k.cmpi(ip(IPred::slt), col, rowLen),
          [&] {
            Value off = k.add(m.strided("grad_weight", "h", h), k.sext64(col));
            storeAs(k, pe, sum, k.gep(m.ptr("grad_weight"), pe, off));
          },
          [&] {
            Value isA = k.cmpi(ip(IPred::eq), col, k.add(rowLen, k.c32(1)));
            k.ifThenElse(
                isA,
                [&] {
                  storeAs(k, pe, sum, k.gep(m.ptr("grad_a"), pe, k.sext64(h)));
                },
                [&] {
                  if (f.dtBias)
                    storeAs(k, pe, sum,
                            k.gep(m.ptr("grad_dt_bias"), pe, k.sext64(h)));
                });
          });
    });
    break;
  }
  }
  m.finish();
  return func;
}

//===----------------------------------------------------------------------===//
// Shared top-k
//===----------------------------------------------------------------------===//

SmallVector<KernelParam>
mlir::dma::topkSharedKernelParams(const TopKKernelConfig &c) {
  SmallVector<KernelParam> p;
  addTopKParams(p, c, {"keep"});
  return p;
}

namespace {

/// Block-wide sums over the CTA's warps through an i32 slot per warp in
/// shared memory. Every thread must call them (they contain barriers).
class BlockReduce {
public:
  BlockReduce(KernelBuilder &k, Value tid) : k(k) {
    lane = k.remsi(tid, k.c32(32));
    warp = k.divsi(tid, k.c32(32));
    slots = LLVM::AddressOfOp::create(k.builder(), k.location(), k.ptrShared,
                                      kSharedMemoryGlobal);
  }

  /// The sum of `x` (i32) over the CTA, in every thread.
  Value sum(Value x) {
    for (int offset : {16, 8, 4, 2, 1})
      x = k.add(x, k.shuffleXor(x, offset));
    publish(x);
    Value total = k.c32(0);
    for (int w = 0; w < kWarps; ++w)
      total = k.add(total, slot(w));
    k.barrier();
    return total;
  }

  /// The sum of `x` (i32) over the threads before this one (in thread
  /// order), and the CTA's total.
  std::pair<Value, Value> exclusiveSum(Value x) {
    return k.blockExclusiveSum(x, lane, warp, slots, kWarps);
  }

private:
  static constexpr int kWarps = kTopKSharedThreads / 32;
  KernelBuilder &k;
  Value lane, warp, slots;

  /// Lane 0 of each warp stores the warp's value; then a barrier.
  void publish(Value v) {
    k.ifThen(k.cmpi(ip(IPred::eq), lane, k.c32(0)),
             [&] { k.storeTo(v, k.gep(slots, k.i32Type, warp)); });
    k.barrier();
  }
  Value slot(int w) {
    return k.loadAs(k.i32Type, k.gep(slots, k.i32Type, k.c32(w)));
  }
};

} // namespace

gpu::GPUFuncOp mlir::dma::emitTopKSharedKernel(OpBuilder &b, Location loc,
                                               gpu::GPUModuleOp module,
                                               StringRef name,
                                               const TopKKernelConfig &c) {
  OpBuilder::InsertionGuard guard(b);
  SmallVector<KernelParam> params = topkSharedKernelParams(c);
  auto func = createKernelFunc(b, loc, module, name,
                               {"topk_shared", params, {"Hkv", "B", "1"},
                                kTopKSharedThreads, kTopKSharedBytes});
  MaskEmitter m(b, loc, func, params);
  KernelBuilder &k = m.k;
  BlockReduce block(k, m.tid);
  // The radix select's shared memory follows BlockReduce's warp slots.
  static_assert(kTopKSharedBytes ==
                    4 * kTopKSharedThreads / 32 +
                        RadixSelect::sharedBytes(kTopKSharedThreads, 1),
                "MaskKernels.h states the kernel's shared memory");
  Value smem = LLVM::AddressOfOp::create(b, loc, k.ptrShared,
                                         kSharedMemoryGlobal);
  Value h = k.blockId(0), bi = k.blockId(1);
  Value Lk = m.arg("Lk"), W = m.arg("W");
  constexpr int64_t T = kTopKSharedThreads;
  Value zero = k.c32(0);

  // Key j's score as an unsigned integer of the same order (flip all bits
  // of negative floats, the sign bit of the others), with -0 folded into
  // +0 so that equal scores tie; 0 for keys top-k may not keep (no allowed
  // score maps to 0: that would be a NaN).
  auto computeKey = [&](Value j) {
    Value valid = k.cmpi(ip(IPred::slt), j, Lk);
    KeyScore ks = keyScore(m, c.padding, bi, h, k.select(valid, j, zero));
    Value bits = k.bitcast(k.i32Type, k.fadd(ks.score, k.f32(0.0)));
    Value negative = k.cmpi(ip(IPred::slt), bits, zero);
    Value key =
        k.select(negative, k.xori(bits, k.c32(-1)),
                 k.ori(bits, k.c32(std::numeric_limits<int32_t>::min())));
    return k.select(k.andi(valid, ks.allowed), key, zero);
  };
  Value keep = m.ptr("keep");
  Value keepRow = k.add(m.strided("keep", "b", bi), m.strided("keep", "h", h));
  auto storeKeep = [&](Value slot, Value pos) {
    Value v = c.indexElement.isInteger(32) ? pos : k.sext64(pos);
    k.storeTo(v, k.gep(keep, c.indexElement, k.add(keepRow, k.sext64(slot))));
  };
  // Thread t owns the `per` consecutive keys j = t * per + r, r < per
  // (per = ceil(Lk / T)): counts and the CTA-wide prefix sums of the
  // compaction are per thread, not per key. `overKeys(init, body)` runs
  // body(j, key, carried) over the thread's keys. Up to kTopKRegisterKeys
  // keys per thread stay in registers (computed once; slots r >= per are
  // skipped by a CTA-uniform branch); longer rows recompute them from the
  // scores at every step.
  Value per = k.divsi(k.add(Lk, k.c32(T - 1)), k.c32(T));
  Value first = k.mul(m.tid, per);
  using KeyBody =
      function_ref<SmallVector<Value>(Value j, Value key, ValueRange acc)>;
  using OverKeys =
      function_ref<SmallVector<Value>(ValueRange init, KeyBody body)>;
  auto select = [&](OverKeys overKeys) -> Value {
    // The number of keys satisfying `pred`, summed over the CTA.
    auto countKeys = [&](function_ref<Value(Value)> pred) {
      Value local = overKeys({zero}, [&](Value, Value key, ValueRange acc) {
        return SmallVector<Value>{m.count(acc[0], pred(key))};
      })[0];
      return block.sum(local);
    };
    // The w-th largest key (0 when fewer than W keys are allowed), how
    // many keys equal to it the selection takes and how many there are: a
    // radix select, one 8-bit digit per pass from the top, histograms in
    // shared memory (4 passes, against 32 counting steps of a bitwise
    // search). After the last pass the rank left is the ties taken, and
    // the last digit's bin counts all ties. A pass whose picked bin holds
    // exactly the rank left ends the search: the selection takes every key
    // of that bin, so the prefix (lower digits 0) is a threshold keeping
    // the same keys, all of them "ties" (distinct scores at L = 4096 mostly
    // stop after two passes).
    Value allowed = countKeys(
        [&](Value key) { return k.cmpi(ip(IPred::ne), key, zero); });
    SmallVector<Value> selection = k.ifElse(
        k.cmpi(ip(IPred::slt), allowed, W),
        {k.i32Type, k.i32Type, k.i32Type},
        [&] { return SmallVector<Value>{zero, zero, zero}; },
        [&] {
          RadixSelect radix(k, smem, 4 * kTopKSharedThreads / 32, m.tid, T,
                            1);
          // (prefix, rank left, keys in the picked bin): CTA-uniform (read
          // from shared memory after pick's barrier), so the passes'
          // barriers are too. The search is done when the last two match.
          SmallVector<Value> state{zero, W, zero};
          SmallVector<Type> types(3, k.i32Type);
          for (int64_t pass = 0; pass < 4; ++pass) {
            int64_t shift = 24 - 8 * pass;
            auto step = [&]() -> SmallVector<Value> {
              Value prefix = state[0], rank = state[1];
              // Every thread has read the last pass's bin count (the done
              // test) before the bins are zeroed.
              if (pass > 0)
                k.barrier();
              radix.clear();
              overKeys({}, [&](Value, Value key, ValueRange) {
                Value match = k.cmpi(ip(IPred::ne), key, zero);
                if (pass > 0)
                  match = k.andi(match, k.cmpi(ip(IPred::eq),
                                               k.shrui(key, k.c32(shift + 8)),
                                               k.shrui(prefix,
                                                       k.c32(shift + 8))));
                Value digit = k.andi(k.shrui(key, k.c32(shift)), k.c32(255));
                // The top digit (sign, exponent) clusters: one atomic per
                // digit of the warp. Later digits spread over the bins: an
                // atomic per lane, without match.any's latency.
                if (pass == 0)
                  radix.count(0, digit, match);
                else
                  k.ifThen(match, [&] { radix.countOne(0, digit); });
                return SmallVector<Value>{};
              });
              auto picked = radix.pick({rank});
              prefix = k.ori(prefix, k.shli(picked[0].first, k.c32(shift)));
              rank = picked[0].second;
              return {prefix, rank, radix.binCount(0, picked[0].first)};
            };
            state = pass == 0
                        ? step()
                        : k.ifElse(k.cmpi(ip(IPred::eq), state[1], state[2]),
                                   types, [&] { return state; }, step);
          }
          return state;
        });
    Value threshold = selection[0], tiesNeeded = selection[1];

    // Keys above the threshold, and the first `tiesNeeded` keys equal to
    // it, in ascending position. A thread's keys are consecutive, so one
    // CTA-wide prefix sum of per-thread counts gives every kept key its
    // slot. Most selections take every tie (distinct scores): one sum.
    auto isKey = [&](Value key) { return k.cmpi(ip(IPred::ne), key, zero); };
    auto storeKept = [&](function_ref<Value(Value)> keeps) {
      auto [slot, total] = block.exclusiveSum(
          overKeys({zero}, [&](Value, Value key, ValueRange acc) {
            return SmallVector<Value>{m.count(acc[0], keeps(key))};
          })[0]);
      overKeys({slot}, [&](Value j, Value key, ValueRange acc) {
        Value keepIt = keeps(key);
        k.ifThen(keepIt, [&] { storeKeep(acc[0], j); });
        return SmallVector<Value>{m.count(acc[0], keepIt)};
      });
      return total;
    };
    return k.ifElse(
        k.cmpi(ip(IPred::eq), tiesNeeded, selection[2]), {k.i32Type},
        [&] {
          return SmallVector<Value>{storeKept([&](Value key) {
            return k.andi(k.cmpi(ip(IPred::uge), key, threshold), isKey(key));
          })};
        },
        [&] {
          // The ties before this thread's keys, then each key's tie rank.
          auto isTie = [&](Value key) {
            return k.andi(k.cmpi(ip(IPred::eq), key, threshold), isKey(key));
          };
          Value tiesBefore = block.exclusiveSum(
              overKeys({zero}, [&](Value, Value key, ValueRange acc) {
                return SmallVector<Value>{m.count(acc[0], isTie(key))};
              })[0]).first;
          // keepIt of the thread's keys in order needs the running tie
          // rank: counted, then stored, in two walks carrying it.
          auto walk = [&](bool store, Value slot) {
            return overKeys(
                {tiesBefore, slot}, [&](Value j, Value key, ValueRange acc) {
                  Value tie = isTie(key);
                  Value keepIt = k.ori(
                      k.cmpi(ip(IPred::ugt), key, threshold),
                      k.andi(tie, k.cmpi(ip(IPred::slt), acc[0], tiesNeeded)));
                  if (store)
                    k.ifThen(keepIt, [&] { storeKeep(acc[1], j); });
                  return SmallVector<Value>{m.count(acc[0], tie),
                                            m.count(acc[1], keepIt)};
                })[1];
          };
          auto [slot, total] = block.exclusiveSum(walk(false, zero));
          walk(true, slot);
          return SmallVector<Value>{total};
        })[0];
  };
  // Keys in registers, `slots` per thread (slots r >= per skipped by a
  // CTA-uniform branch).
  auto inRegisters = [&](int64_t slots) {
    SmallVector<Value> keys;
    for (int64_t r = 0; r < slots; ++r) {
      Value j = k.add(first, k.c32(r));
      keys.push_back(k.ifElse(
          k.cmpi(ip(IPred::slt), k.c32(r), per), {k.i32Type},
          [&] { return SmallVector<Value>{computeKey(j)}; },
          [&] { return SmallVector<Value>{zero}; })[0]);
    }
    return SmallVector<Value>{select([&](ValueRange init, KeyBody body) {
      SmallVector<Value> acc(init);
      for (int64_t r = 0; r < slots; ++r) {
        Value j = k.add(first, k.c32(r));
        Value live = k.cmpi(ip(IPred::slt), k.c32(r), per);
        if (acc.empty()) {
          k.ifThen(live, [&] { body(j, keys[r], {}); });
          continue;
        }
        SmallVector<Type> types(acc.size(), k.i32Type);
        acc = k.ifElse(
            live, types, [&] { return body(j, keys[r], acc); },
            [&] { return acc; });
      }
      return acc;
    })};
  };
  auto recomputed = [&] {
    return SmallVector<Value>{select([&](ValueRange init, KeyBody body) {
      return m.loop(per, init, [&](Value r, ValueRange acc) {
        Value j = k.add(first, r);
        return body(j, computeKey(j), acc);
      });
    })};
  };
  // The padding mask's pointer and stride take registers too. Rows take
  // the smallest tier of register slots that holds them: the kernel is a
  // latency chain of ~2000 instructions per warp at L = 4096 (Nsight
  // Compute, run 51), and skipping 24 empty slots of 32 cost ~4
  // instructions each in every pass over the keys.
  int64_t registerKeys =
      c.padding ? kTopKRegisterKeys * 3 / 4 : kTopKRegisterKeys;
  SmallVector<int64_t> tiers;
  for (int64_t slots = kTopKRegisterKeys / 4; slots < registerKeys; slots *= 2)
    tiers.push_back(slots);
  tiers.push_back(registerKeys);
  std::function<SmallVector<Value>(size_t)> tier = [&](size_t i) {
    if (i == tiers.size())
      return recomputed();
    return k.ifElse(k.cmpi(ip(IPred::sle), Lk, k.c32(tiers[i] * T)),
                    {k.i32Type}, [&] { return inRegisters(tiers[i]); },
                    [&] { return tier(i + 1); });
  };
  Value kept = tier(0)[0];
  // -1 after the kept keys (fewer than W allowed).
  Value slotChunks = k.divsi(k.add(W, k.c32(T - 1)), k.c32(T));
  m.loop(slotChunks, {}, [&](Value ch, ValueRange) {
    Value slot = k.add(k.mul(ch, k.c32(T)), m.tid);
    k.ifThen(k.andi(k.cmpi(ip(IPred::sge), slot, kept),
                    k.cmpi(ip(IPred::slt), slot, W)),
             [&] { storeKeep(slot, k.c32(-1)); });
    return SmallVector<Value>{};
  });
  m.finish();
  return func;
}

