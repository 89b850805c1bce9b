//===- KernelBuilder.cpp - builders for NVVM kernel code ------------------===//

#include "KernelBuilder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::dma;

KernelBuilder::KernelBuilder(OpBuilder &b, Location loc) : LoopEmitter(b, loc) {
  MLIRContext *ctx = b.getContext();
  i1Type = b.getI1Type();
  i8Type = b.getI8Type();
  i32Type = b.getI32Type();
  i64Type = b.getI64Type();
  f32Type = b.getF32Type();
  ptrGlobal = LLVM::LLVMPointerType::get(ctx, 1);
  ptrShared = LLVM::LLVMPointerType::get(ctx, 3);
  ptrGeneric = LLVM::LLVMPointerType::get(ctx, 0);
}

Value KernelBuilder::sext64(Value v) {
  return arith::ExtSIOp::create(builder(), location(), i64Type, v);
}
Value KernelBuilder::i32ToIndex(Value v) {
  return arith::IndexCastOp::create(builder(), location(),
                                    builder().getIndexType(), v);
}
Value KernelBuilder::indexToI32(Value v) {
  return arith::IndexCastOp::create(builder(), location(), i32Type, v);
}
Value KernelBuilder::divsi(Value a, Value c) {
  return arith::DivSIOp::create(builder(), location(), a, c);
}
Value KernelBuilder::remsi(Value a, Value c) {
  return arith::RemSIOp::create(builder(), location(), a, c);
}
Value KernelBuilder::xori(Value a, Value c) {
  return arith::XOrIOp::create(builder(), location(), a, c);
}
Value KernelBuilder::shrui(Value a, Value c) {
  return arith::ShRUIOp::create(builder(), location(), a, c);
}
Value KernelBuilder::fneg(Value a) {
  return arith::NegFOp::create(builder(), location(), a);
}
Value KernelBuilder::fmin(Value a, Value c) {
  return arith::MinimumFOp::create(builder(), location(), a, c);
}

Value KernelBuilder::toGlobal(Value genericPtr) {
  return LLVM::AddrSpaceCastOp::create(builder(), location(), ptrGlobal,
                                       genericPtr);
}
Value KernelBuilder::gep(Value ptr, Type elt, Value offset) {
  return LLVM::GEPOp::create(builder(), location(), ptr.getType(), elt, ptr,
                             ArrayRef<LLVM::GEPArg>{offset});
}
Value KernelBuilder::loadAs(Type t, Value ptr) {
  return LLVM::LoadOp::create(builder(), location(), t, ptr);
}
void KernelBuilder::storeTo(Value v, Value ptr) {
  LLVM::StoreOp::create(builder(), location(), v, ptr);
}
Value KernelBuilder::loadF32(Type elt, Value ptr) {
  Value v = loadAs(elt, ptr);
  if (elt.isF32())
    return v;
  return arith::ExtFOp::create(builder(), location(), f32Type, v);
}

SmallVector<Value> KernelBuilder::loadF32x8(Type elt, Value ptr) {
  return unpackF32x8(elt, loadRawX8(elt, ptr));
}

SmallVector<Value> KernelBuilder::loadRawX8(Type elt, Value ptr) {
  OpBuilder &ob = builder();
  SmallVector<Value> parts;
  int64_t perLoad = elt.isF32() ? 4 : 8;
  for (int64_t part = 0; part < 8 / perLoad; ++part) {
    auto vecType = VectorType::get({perLoad}, elt);
    Value at = part ? gep(ptr, elt, c32(part * perLoad)) : ptr;
    parts.push_back(LLVM::LoadOp::create(ob, location(), vecType, at, 16));
  }
  return parts;
}

SmallVector<Value> KernelBuilder::unpackF32x8(Type elt, ArrayRef<Value> raw) {
  OpBuilder &ob = builder();
  SmallVector<Value> out;
  for (Value vec : raw) {
    int64_t n = cast<VectorType>(vec.getType()).getNumElements();
    for (int64_t i = 0; i < n; ++i) {
      Value x = LLVM::ExtractElementOp::create(ob, location(), vec, c32(i));
      out.push_back(elt.isF32() ? x
                                : arith::ExtFOp::create(ob, location(),
                                                        f32Type, x)
                                      .getResult());
    }
  }
  return out;
}

void KernelBuilder::storeF32x8(Type elt, ArrayRef<Value> values, Value ptr) {
  OpBuilder &ob = builder();
  int64_t perStore = elt.isF32() ? 4 : 8;
  for (int64_t part = 0; part < 8 / perStore; ++part) {
    Value vec = vector::FromElementsOp::create(
        ob, location(), VectorType::get({perStore}, f32Type),
        values.slice(part * perStore, perStore));
    if (!elt.isF32())
      vec = arith::TruncFOp::create(ob, location(),
                                    VectorType::get({perStore}, elt), vec);
    Value at = part ? gep(ptr, elt, c32(part * perStore)) : ptr;
    LLVM::StoreOp::create(ob, location(), vec, at, 16);
  }
}

Value KernelBuilder::threadIdX() {
  return NVVM::ThreadIdXOp::create(builder(), location(), i32Type);
}
Value KernelBuilder::blockId(int dim) {
  switch (dim) {
  case 0:
    return NVVM::BlockIdXOp::create(builder(), location(), i32Type);
  case 1:
    return NVVM::BlockIdYOp::create(builder(), location(), i32Type);
  default:
    return NVVM::BlockIdZOp::create(builder(), location(), i32Type);
  }
}

Value KernelBuilder::gridDimX() {
  return NVVM::GridDimXOp::create(builder(), location(), i32Type);
}

void KernelBuilder::barrier() {
  NVVM::Barrier0Op::create(builder(), location());
}
void KernelBuilder::cpAsync16(Value dst, Value src, Value srcBytes) {
  NVVM::CpAsyncOp::create(builder(), location(), dst, src, 16,
                          NVVM::LoadCacheModifierKind::CG, srcBytes);
}
void KernelBuilder::cpAsync4(Value dst, Value src, Value srcBytes) {
  NVVM::CpAsyncOp::create(builder(), location(), dst, src, 4,
                          NVVM::LoadCacheModifierKind::CA, srcBytes);
}
void KernelBuilder::atomicAddF32(Value globalPtr, Value v) {
  LLVM::AtomicRMWOp::create(builder(), location(), LLVM::AtomicBinOp::fadd,
                            globalPtr, v, LLVM::AtomicOrdering::monotonic);
}
Value KernelBuilder::atomicAddI32(Value ptr, Value v) {
  return LLVM::AtomicRMWOp::create(builder(), location(),
                                   LLVM::AtomicBinOp::add, ptr, v,
                                   LLVM::AtomicOrdering::monotonic);
}
void KernelBuilder::atomicAddF32x2(Value globalPtr, Value a, Value b) {
  OpBuilder &ob = builder();
  Value address = LLVM::PtrToIntOp::create(ob, location(), i64Type, globalPtr);
  LLVM::InlineAsmOp::create(
      ob, location(), TypeRange{}, ValueRange{address, a, b},
      ob.getStringAttr("red.global.add.v2.f32 [$0], {$1, $2};"),
      ob.getStringAttr("l,f,f"), ob.getUnitAttr(), UnitAttr(),
      LLVM::TailCallKindAttr::get(ob.getContext(),
                                  LLVM::tailcallkind::TailCallKind::None),
      LLVM::AsmDialectAttr(), ArrayAttr());
}
namespace {
/// Inline PTX with no result.
void asmVoid(OpBuilder &ob, Location loc, ValueRange operands, StringRef text,
             StringRef constraints) {
  LLVM::InlineAsmOp::create(
      ob, loc, TypeRange{}, operands, ob.getStringAttr(text),
      ob.getStringAttr(constraints), ob.getUnitAttr(), UnitAttr(),
      LLVM::TailCallKindAttr::get(ob.getContext(),
                                  LLVM::tailcallkind::TailCallKind::None),
      LLVM::AsmDialectAttr(), ArrayAttr());
}
} // namespace

Value KernelBuilder::loadAcquireI32(Value globalPtr) {
  OpBuilder &ob = builder();
  Value address = LLVM::PtrToIntOp::create(ob, location(), i64Type, globalPtr);
  return LLVM::InlineAsmOp::create(
             ob, location(), TypeRange{i32Type}, ValueRange{address},
             ob.getStringAttr("ld.acquire.gpu.global.b32 $0, [$1];"),
             ob.getStringAttr("=r,l,~{memory}"), ob.getUnitAttr(), UnitAttr(),
             LLVM::TailCallKindAttr::get(
                 ob.getContext(), LLVM::tailcallkind::TailCallKind::None),
             LLVM::AsmDialectAttr(), ArrayAttr())
      .getResult(0);
}
void KernelBuilder::storeReleaseI32(Value globalPtr, Value v) {
  Value address =
      LLVM::PtrToIntOp::create(builder(), location(), i64Type, globalPtr);
  asmVoid(builder(), location(), {address, v},
          "st.release.gpu.global.b32 [$0], $1;", "l,r,~{memory}");
}
void KernelBuilder::fenceGpu() {
  asmVoid(builder(), location(), {}, "fence.acq_rel.gpu;", "~{memory}");
}

void KernelBuilder::cpAsyncCommit() {
  NVVM::CpAsyncCommitGroupOp::create(builder(), location());
}
void KernelBuilder::cpAsyncWaitAll() { cpAsyncWaitGroup(0); }
void KernelBuilder::cpAsyncWaitGroup(int64_t pending) {
  NVVM::CpAsyncWaitGroupOp::create(builder(), location(),
                                   static_cast<int32_t>(pending));
}

std::array<Value, 4> KernelBuilder::ldmatrixX4(Value sharedPtr,
                                               bool transpose) {
  OpBuilder &ob = builder();
  auto structType = LLVM::LLVMStructType::getLiteral(
      ob.getContext(), {i32Type, i32Type, i32Type, i32Type});
  auto shape = NVVM::LdStMatrixShapeAttr::get(ob.getContext(), 8, 8);
  Value s = NVVM::LdMatrixOp::create(
      ob, location(), structType, sharedPtr, 4,
      transpose ? NVVM::MMALayout::col : NVVM::MMALayout::row, shape,
      NVVM::LdStMatrixEltType::B16);
  std::array<Value, 4> r;
  for (int i = 0; i < 4; ++i)
    r[i] = LLVM::ExtractValueOp::create(ob, location(), s, i);
  return r;
}

std::array<Value, 4> KernelBuilder::mma(const std::array<Value, 4> &a,
                                        const std::array<Value, 2> &bFrag,
                                        const std::array<Value, 4> &c,
                                        bool eltF16) {
  OpBuilder &ob = builder();
  auto structType = LLVM::LLVMStructType::getLiteral(
      ob.getContext(), {f32Type, f32Type, f32Type, f32Type});
  NVVM::MMATypes ptx = eltF16 ? NVVM::MMATypes::f16 : NVVM::MMATypes::bf16;
  // f16 operands are vector<2xf16> registers; bf16 ones are i32.
  auto operand = [&](Value packed) -> Value {
    if (!eltF16)
      return packed;
    return LLVM::BitcastOp::create(
        ob, location(), VectorType::get({2}, ob.getF16Type()), packed);
  };
  SmallVector<Value> aOps, bOps;
  for (Value v : a)
    aOps.push_back(operand(v));
  for (Value v : bFrag)
    bOps.push_back(operand(v));
  Value d = NVVM::MmaOp::create(
      ob, location(), structType, aOps, bOps,
      ValueRange(c), ArrayRef<int64_t>{16, 8, 16}, std::nullopt, std::nullopt,
      std::array<NVVM::MMATypes, 2>{ptx, ptx},
      std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                     NVVM::MMALayout::col});
  std::array<Value, 4> r;
  for (int i = 0; i < 4; ++i)
    r[i] = LLVM::ExtractValueOp::create(ob, location(), d, i);
  return r;
}

Value KernelBuilder::wgmmaDescriptor(Value sharedPtr, int64_t leadingBytes,
                                     int64_t strideBytes) {
  // Bits 0-13: start address >> 4; 16-29: leading dimension byte offset
  // >> 4; 32-45: stride dimension byte offset >> 4; 49-51: base offset (0:
  // atoms are 1024-byte aligned); 62-63: swizzle mode (1: 128 bytes).
  assert(leadingBytes % 16 == 0 && strideBytes % 16 == 0 &&
         leadingBytes >> 4 < (1 << 14) && strideBytes >> 4 < (1 << 14) &&
         "descriptor offsets are 14-bit counts of 16 bytes");
  OpBuilder &ob = builder();
  Value address = LLVM::PtrToIntOp::create(ob, location(), i64Type, sharedPtr);
  Value start = andi(shrui(address, c64(4)), c64((1 << 14) - 1));
  int64_t fixed = ((leadingBytes >> 4) << 16) |
                  (static_cast<int64_t>(strideBytes >> 4) << 32) |
                  (int64_t(1) << 62);
  return ori(start, c64(fixed));
}

Value KernelBuilder::wgmmaAdvance(Value desc, int64_t bytes) {
  assert(bytes % 16 == 0 && "descriptor addresses are 16-byte aligned");
  // The start address field does not overflow: shared memory is < 256 KB.
  return bytes ? add(desc, c64(bytes >> 4)) : desc;
}

namespace {

/// The N / 2 f32 accumulators of one thread as the struct wgmma takes.
Value accumulatorStruct(OpBuilder &ob, Location loc, ValueRange acc) {
  SmallVector<Type> types(acc.size(), ob.getF32Type());
  auto type = LLVM::LLVMStructType::getLiteral(ob.getContext(), types);
  Value s = LLVM::PoisonOp::create(ob, loc, type);
  for (auto [i, v] : llvm::enumerate(acc))
    s = LLVM::InsertValueOp::create(ob, loc, s, v, i);
  return s;
}

SmallVector<Value> accumulatorValues(OpBuilder &ob, Location loc, Value s,
                                     size_t n) {
  SmallVector<Value> acc;
  for (size_t i = 0; i < n; ++i)
    acc.push_back(LLVM::ExtractValueOp::create(ob, loc, s, i));
  return acc;
}

} // namespace

SmallVector<Value> KernelBuilder::wgmmaSS(Value descA, Value descB,
                                          ValueRange acc, int64_t n,
                                          bool eltF16, bool transposeB) {
  assert(static_cast<int64_t>(acc.size()) == n / 2 && "m64nN: N/2 per thread");
  OpBuilder &ob = builder();
  Value in = accumulatorStruct(ob, location(), acc);
  auto elt = eltF16 ? NVVM::WGMMATypes::f16 : NVVM::WGMMATypes::bf16;
  // NVVM's layouts: A row = K-major; B col = K-major, row = N-major.
  Value out = NVVM::WgmmaMmaAsyncOp::create(
      ob, location(), in.getType(), in, descA, descB,
      NVVM::MMAShapeAttr::get(ob.getContext(), 64, n, 16), elt, elt,
      NVVM::WGMMATypes::f32, NVVM::WGMMAScaleOut::one, NVVM::WGMMAScaleIn::one,
      NVVM::WGMMAScaleIn::one, NVVM::MMALayout::row,
      transposeB ? NVVM::MMALayout::row : NVVM::MMALayout::col,
      NVVM::MMAIntOverflowAttr());
  return accumulatorValues(ob, location(), out, acc.size());
}

SmallVector<Value> KernelBuilder::wgmmaRS(const std::array<Value, 4> &a,
                                          Value descB, ValueRange acc,
                                          int64_t n, bool eltF16,
                                          bool transposeB) {
  // NVVM's wgmma.mma_async takes A from shared memory only: the register
  // form is inline PTX. Operands: $0..$(N/2 - 1) the accumulators (tied to
  // the inputs after the descriptor), then A's four registers, B's
  // descriptor and the scale-d flag.
  assert(static_cast<int64_t>(acc.size()) == n / 2 && "m64nN: N/2 per thread");
  OpBuilder &ob = builder();
  int64_t m = n / 2;
  std::string text = "{\n.reg .pred p;\nsetp.ne.b32 p, $" +
                     std::to_string(m + 5) + ", 0;\n" +
                     "wgmma.mma_async.sync.aligned.m64n" + std::to_string(n) +
                     "k16.f32." + (eltF16 ? "f16.f16" : "bf16.bf16") + " {";
  std::string constraints;
  for (int64_t i = 0; i < m; ++i) {
    text += (i ? ", $" : "$") + std::to_string(i);
    constraints += "=f,";
  }
  text += "}, {$" + std::to_string(m) + ", $" + std::to_string(m + 1) +
          ", $" + std::to_string(m + 2) + ", $" + std::to_string(m + 3) +
          "}, $" + std::to_string(m + 4) + ", p, 1, 1, " +
          (transposeB ? "1" : "0") + ";\n}";
  constraints += "r,r,r,r,l,r";
  for (int64_t i = 0; i < m; ++i)
    constraints += "," + std::to_string(i);
  SmallVector<Value> operands(a.begin(), a.end());
  operands.push_back(descB);
  operands.push_back(c32(1)); // scale-d: D = A B + D
  operands.append(acc.begin(), acc.end());
  SmallVector<Type> types(m, f32Type);
  auto type = LLVM::LLVMStructType::getLiteral(ob.getContext(), types);
  Value out =
      LLVM::InlineAsmOp::create(
          ob, location(), TypeRange{type}, operands, ob.getStringAttr(text),
          ob.getStringAttr(constraints), ob.getUnitAttr(), UnitAttr(),
          LLVM::TailCallKindAttr::get(ob.getContext(),
                                      LLVM::tailcallkind::TailCallKind::None),
          LLVM::AsmDialectAttr(), ArrayAttr())
          .getResult(0);
  return accumulatorValues(ob, location(), out, m);
}

void KernelBuilder::wgmmaFence() {
  NVVM::WgmmaFenceAlignedOp::create(builder(), location());
}
void KernelBuilder::wgmmaCommit() {
  NVVM::WgmmaGroupSyncAlignedOp::create(builder(), location());
}
void KernelBuilder::wgmmaWait(int64_t pending) {
  NVVM::WgmmaWaitGroupSyncOp::create(builder(), location(), pending);
}
void KernelBuilder::namedBarrierSync(Value id, int64_t threads) {
  NVVM::BarrierOp::create(builder(), location(), TypeRange{}, id,
                          c32(threads), NVVM::BarrierReductionAttr(),
                          Value());
}
void KernelBuilder::namedBarrierArrive(Value id, int64_t threads) {
  NVVM::BarrierArriveOp::create(builder(), location(), id, c32(threads));
}
void KernelBuilder::fenceProxyAsyncShared() {
  MLIRContext *ctx = builder().getContext();
  NVVM::FenceProxyOp::create(
      builder(), location(),
      NVVM::ProxyKindAttr::get(ctx, NVVM::ProxyKind::async_shared),
      NVVM::SharedSpaceAttr::get(ctx, NVVM::SharedSpace::shared_cta));
}

Value KernelBuilder::pack2(Value lo, Value hi, Type elt16) {
  OpBuilder &ob = builder();
  Value v = vector::FromElementsOp::create(
      ob, location(), VectorType::get({2}, f32Type), ValueRange{lo, hi});
  Value t = arith::TruncFOp::create(ob, location(),
                                    VectorType::get({2}, elt16), v);
  return LLVM::BitcastOp::create(ob, location(), i32Type, t);
}

std::pair<Value, Value> KernelBuilder::unpack2(Value packed, Type elt16) {
  OpBuilder &ob = builder();
  Value t = LLVM::BitcastOp::create(ob, location(),
                                    VectorType::get({2}, elt16), packed);
  Value v = arith::ExtFOp::create(ob, location(),
                                  VectorType::get({2}, f32Type), t);
  auto at = [&](int64_t i) {
    return vector::ExtractOp::create(ob, location(), v, i).getResult();
  };
  return {at(0), at(1)};
}

Value KernelBuilder::shuffleXor(Value v, int offset) {
  return NVVM::ShflOp::create(builder(), location(), v.getType(),
                              c32(0xffffffff), v, c32(offset), c32(0x1f),
                              NVVM::ShflKind::bfly, UnitAttr());
}

SmallVector<Value> KernelBuilder::warpInclusiveSums(SmallVector<Value> x,
                                                    Value lane) {
  for (int offset : {1, 2, 4, 8, 16}) {
    Value take = cmpi(ip(IPred::sge), lane, c32(offset));
    for (Value &v : x)
      v = add(v, select(take, shuffleUp(v, offset), c32(0)));
  }
  return x;
}

std::pair<Value, Value> KernelBuilder::blockExclusiveSum(Value x, Value lane,
                                                        Value warp,
                                                        Value slots,
                                                        int64_t warps) {
  Value incl = warpInclusiveSums({x}, lane)[0];
  // Lane 31 holds the warp's total.
  ifThen(cmpi(ip(IPred::eq), lane, c32(31)),
         [&] { storeTo(incl, gep(slots, i32Type, warp)); });
  barrier();
  Value before = c32(0), total = c32(0);
  for (int64_t w = 0; w < warps; ++w) {
    Value c = loadAs(i32Type, gep(slots, i32Type, c32(w)));
    total = add(total, c);
    before = add(before, select(cmpi(ip(IPred::sgt), warp, c32(w)), c, c32(0)));
  }
  // Nobody overwrites the slots before everybody has read them.
  barrier();
  return {add(before, sub(incl, x)), total};
}

Value KernelBuilder::shuffleUp(Value v, int offset) {
  // c = 0: no clamp segment (the whole warp), lanes below `offset` get
  // their own value back.
  return NVVM::ShflOp::create(builder(), location(), v.getType(),
                              c32(0xffffffff), v, c32(offset), c32(0),
                              NVVM::ShflKind::up, UnitAttr());
}

Value KernelBuilder::ballot(Value pred) {
  return NVVM::VoteSyncOp::create(builder(), location(), i32Type,
                                  c32(0xffffffff), pred,
                                  NVVM::VoteSyncKind::ballot);
}
Value KernelBuilder::matchAny(Value v) {
  return NVVM::MatchSyncOp::create(builder(), location(), i32Type,
                                   c32(0xffffffff), v,
                                   NVVM::MatchSyncKind::any);
}
Value KernelBuilder::popc(Value v) {
  return LLVM::CtPopOp::create(builder(), location(), v);
}
Value KernelBuilder::bitcast(Type to, Value v) {
  return arith::BitcastOp::create(builder(), location(), to, v);
}
Value KernelBuilder::shli(Value a, Value c) {
  return arith::ShLIOp::create(builder(), location(), a, c);
}

Value KernelBuilder::exp2(Value x) {
  return LLVM::CallIntrinsicOp::create(
             builder(), location(), Type(f32Type),
             builder().getStringAttr("llvm.nvvm.ex2.approx.ftz.f"),
             ValueRange{x})
      .getResult(0);
}

Value KernelBuilder::fma(Value a, Value b, Value c) {
  return LLVM::FMAOp::create(builder(), location(), a, b, c);
}

Value KernelBuilder::evaluate(AffineExpr e, ArrayRef<Value> dims,
                              const llvm::DenseMap<AffineExpr, Value> &known) {
  if (Value v = known.lookup(e))
    return v;
  if (auto c = dyn_cast<AffineConstantExpr>(e))
    return c32(c.getValue());
  if (auto d = dyn_cast<AffineDimExpr>(e))
    return dims[d.getPosition()];
  auto bin = cast<AffineBinaryOpExpr>(e);
  Value l = evaluate(bin.getLHS(), dims, known),
        r = evaluate(bin.getRHS(), dims, known);
  switch (e.getKind()) {
  case AffineExprKind::Add:
    return add(l, r);
  case AffineExprKind::Mul:
    return mul(l, r);
  case AffineExprKind::FloorDiv:
    return divsi(l, r);
  case AffineExprKind::Mod:
    return remsi(l, r);
  default:
    llvm_unreachable("ceildiv is not in the fragment maps");
  }
}
