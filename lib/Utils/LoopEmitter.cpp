//===- LoopEmitter.cpp - terse builders for scalar loop nests -------------===//

#include "dma/Utils/LoopEmitter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <limits>

using namespace mlir;
using namespace mlir::dma;

Value LoopEmitter::index(int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}
Value LoopEmitter::f32(double v) {
  return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
}
Value LoopEmitter::boolean(bool v) {
  return arith::ConstantIntOp::create(b, loc, b.getI1Type(), v);
}
Value LoopEmitter::intOf(Type type, int64_t v) {
  return arith::ConstantIntOp::create(b, loc, type, v);
}

Value LoopEmitter::add(Value a, Value c) {
  return arith::AddIOp::create(b, loc, a, c);
}
Value LoopEmitter::sub(Value a, Value c) {
  return arith::SubIOp::create(b, loc, a, c);
}
Value LoopEmitter::mul(Value a, Value c) {
  return arith::MulIOp::create(b, loc, a, c);
}
Value LoopEmitter::divui(Value a, Value c) {
  return arith::DivUIOp::create(b, loc, a, c);
}
Value LoopEmitter::minsi(Value a, Value c) {
  return arith::MinSIOp::create(b, loc, a, c);
}
Value LoopEmitter::maxsi(Value a, Value c) {
  return arith::MaxSIOp::create(b, loc, a, c);
}
Value LoopEmitter::cmpi(int pred, Value a, Value c) {
  return arith::CmpIOp::create(b, loc, static_cast<arith::CmpIPredicate>(pred),
                               a, c);
}
Value LoopEmitter::andi(Value a, Value c) {
  return arith::AndIOp::create(b, loc, a, c);
}
Value LoopEmitter::ori(Value a, Value c) {
  return arith::OrIOp::create(b, loc, a, c);
}
Value LoopEmitter::notb(Value a) {
  return arith::XOrIOp::create(b, loc, a, boolean(true));
}
Value LoopEmitter::select(Value cond, Value a, Value c) {
  return arith::SelectOp::create(b, loc, cond, a, c);
}
Value LoopEmitter::indexCast(Type to, Value v) {
  return arith::IndexCastOp::create(b, loc, to, v);
}

Value LoopEmitter::fadd(Value a, Value c) {
  return arith::AddFOp::create(b, loc, a, c);
}
Value LoopEmitter::fsub(Value a, Value c) {
  return arith::SubFOp::create(b, loc, a, c);
}
Value LoopEmitter::fmul(Value a, Value c) {
  return arith::MulFOp::create(b, loc, a, c);
}
Value LoopEmitter::fdiv(Value a, Value c) {
  return arith::DivFOp::create(b, loc, a, c);
}
Value LoopEmitter::fmax(Value a, Value c) {
  return arith::MaximumFOp::create(b, loc, a, c);
}
Value LoopEmitter::cmpf(int pred, Value a, Value c) {
  return arith::CmpFOp::create(b, loc, static_cast<arith::CmpFPredicate>(pred),
                               a, c);
}
Value LoopEmitter::exp(Value a) { return math::ExpOp::create(b, loc, a); }
Value LoopEmitter::log(Value a) { return math::LogOp::create(b, loc, a); }
Value LoopEmitter::log1p(Value a) { return math::Log1pOp::create(b, loc, a); }
Value LoopEmitter::tanh(Value a) { return math::TanhOp::create(b, loc, a); }
Value LoopEmitter::isNaN(Value a) {
  return cmpf(static_cast<int>(arith::CmpFPredicate::UNO), a, a);
}
Value LoopEmitter::softplus(Value x) {
  // Above 20, log(1 + e^x) == x in f32; exp would only risk overflow.
  Value big = cmpf(static_cast<int>(arith::CmpFPredicate::OGT), x, f32(20.0));
  Value safe = select(big, f32(0.0), x);
  return select(big, x, log1p(exp(safe)));
}

Value LoopEmitter::dim(Value shaped, int64_t d) {
  auto type = cast<ShapedType>(shaped.getType());
  if (!type.isDynamicDim(d))
    return index(type.getDimSize(d));
  return memref::DimOp::create(b, loc, shaped, d);
}
SmallVector<Value> LoopEmitter::dims(Value shaped) {
  SmallVector<Value> out;
  for (int64_t d = 0, e = cast<ShapedType>(shaped.getType()).getRank(); d < e;
       ++d)
    out.push_back(dim(shaped, d));
  return out;
}
Value LoopEmitter::load(Value memref, ValueRange indices) {
  return memref::LoadOp::create(b, loc, memref, indices);
}
void LoopEmitter::store(Value v, Value memref, ValueRange indices) {
  memref::StoreOp::create(b, loc, v, memref, indices);
}
Value LoopEmitter::loadF32(Value memref, ValueRange indices) {
  Value v = load(memref, indices);
  Type f32Type = b.getF32Type();
  unsigned width = v.getType().getIntOrFloatBitWidth();
  if (width < 32)
    return arith::ExtFOp::create(b, loc, f32Type, v);
  if (width > 32)
    return arith::TruncFOp::create(b, loc, f32Type, v);
  return v;
}
void LoopEmitter::storeF32(Value v, Value memref, ValueRange indices) {
  Type elt = cast<MemRefType>(memref.getType()).getElementType();
  unsigned width = elt.getIntOrFloatBitWidth();
  if (width < 32)
    v = arith::TruncFOp::create(b, loc, elt, v);
  else if (width > 32)
    v = arith::ExtFOp::create(b, loc, elt, v);
  store(v, memref, indices);
}
Value LoopEmitter::loadIndex(Value memref, ValueRange indices) {
  return indexCast(b.getIndexType(), load(memref, indices));
}
void LoopEmitter::storeIndex(Value v, Value memref, ValueRange indices) {
  Type elt = cast<MemRefType>(memref.getType()).getElementType();
  store(indexCast(elt, v), memref, indices);
}
Value LoopEmitter::allocF32(ValueRange sizes) {
  return allocOf(b.getF32Type(), sizes);
}
Value LoopEmitter::allocOf(Type elt, ValueRange sizes) {
  SmallVector<int64_t> shape(sizes.size(), ShapedType::kDynamic);
  return memref::AllocOp::create(b, loc, MemRefType::get(shape, elt), sizes);
}
Value LoopEmitter::allocLike(Value like, Type elt) {
  auto type = cast<ShapedType>(like.getType());
  SmallVector<Value> dynamic;
  for (int64_t d = 0; d < type.getRank(); ++d)
    if (type.isDynamicDim(d))
      dynamic.push_back(dim(like, d));
  return memref::AllocOp::create(
      b, loc, MemRefType::get(type.getShape(), elt), dynamic);
}
void LoopEmitter::dealloc(Value memref) {
  memref::DeallocOp::create(b, loc, memref);
}
void LoopEmitter::fill(Value memref, double value) {
  Value c = f32(value);
  forEach(dims(memref), [&](ValueRange ivs) { storeF32(c, memref, ivs); });
}
void LoopEmitter::copyConvert(Value src, Value dst) {
  forEach(dims(dst),
          [&](ValueRange ivs) { storeF32(loadF32(src, ivs), dst, ivs); });
}

SmallVector<Value> LoopEmitter::forLoop(Value lb, Value ub, ValueRange init,
                                        LoopBody body) {
  auto loop =
      scf::ForOp::create(b, loc, lb, ub, index(1), init,
                         [&](OpBuilder &, Location, Value iv, ValueRange args) {
                           SmallVector<Value> next = body(iv, args);
                           scf::YieldOp::create(b, loc, next);
                         });
  return SmallVector<Value>(loop.getResults());
}
void LoopEmitter::forLoop(Value lb, Value ub,
                          function_ref<void(Value iv)> body) {
  forLoop(lb, ub, ValueRange{}, [&](Value iv, ValueRange) {
    body(iv);
    return SmallVector<Value>{};
  });
}
void LoopEmitter::forEach(ValueRange ubs,
                          function_ref<void(ValueRange ivs)> body) {
  SmallVector<Value> ivs;
  std::function<void(unsigned)> nest = [&](unsigned depth) {
    if (depth == ubs.size()) {
      body(ivs);
      return;
    }
    forLoop(index(0), ubs[depth], [&](Value iv) {
      ivs.push_back(iv);
      nest(depth + 1);
      ivs.pop_back();
    });
  };
  nest(0);
}
void LoopEmitter::parallel(ValueRange ubs,
                           function_ref<void(ValueRange ivs)> body) {
  SmallVector<Value> lbs(ubs.size(), index(0)), steps(ubs.size(), index(1));
  scf::ParallelOp::create(
      b, loc, lbs, ubs, steps,
      [&](OpBuilder &, Location, ValueRange ivs) { body(ivs); });
}
SmallVector<Value>
LoopEmitter::ifElse(Value cond, TypeRange types,
                    function_ref<SmallVector<Value>()> thenFn,
                    function_ref<SmallVector<Value>()> elseFn) {
  assert(!types.empty() && "use ifThenElse for an scf.if without results");
  auto ifOp = scf::IfOp::create(b, loc, types, cond, /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    scf::YieldOp::create(b, loc, thenFn());
  }
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.elseBlock());
    scf::YieldOp::create(b, loc, elseFn());
  }
  return SmallVector<Value>(ifOp.getResults());
}
void LoopEmitter::ifThen(Value cond, function_ref<void()> thenFn) {
  scf::IfOp::create(b, loc, cond, [&](OpBuilder &, Location) {
    thenFn();
    scf::YieldOp::create(b, loc);
  });
}
void LoopEmitter::ifThenElse(Value cond, function_ref<void()> thenFn,
                             function_ref<void()> elseFn) {
  scf::IfOp::create(
      b, loc, cond,
      [&](OpBuilder &, Location) {
        thenFn();
        scf::YieldOp::create(b, loc);
      },
      [&](OpBuilder &, Location) {
        elseFn();
        scf::YieldOp::create(b, loc);
      });
}
SmallVector<Value> LoopEmitter::whileLoop(
    ValueRange init,
    function_ref<std::pair<Value, SmallVector<Value>>(ValueRange)> cond,
    function_ref<SmallVector<Value>(ValueRange)> body) {
  SmallVector<Type> types(init.getTypes());
  auto loop = scf::WhileOp::create(
      b, loc, types, init,
      [&](OpBuilder &, Location, ValueRange args) {
        auto [keepGoing, passed] = cond(args);
        scf::ConditionOp::create(b, loc, keepGoing, passed);
      },
      [&](OpBuilder &, Location, ValueRange args) {
        scf::YieldOp::create(b, loc, body(args));
      });
  return SmallVector<Value>(loop.getResults());
}

Value LoopEmitter::partitionPoint(Value lo, Value hi,
                                  function_ref<Value(Value)> before) {
  bool isIndex = lo.getType().isIndex();
  Value two = isIndex ? index(2) : intOf(lo.getType(), 2);
  Value one = isIndex ? index(1) : intOf(lo.getType(), 1);
  return whileLoop(
      {lo, hi},
      [&](ValueRange r) {
        return std::make_pair(
            cmpi(static_cast<int>(arith::CmpIPredicate::slt), r[0], r[1]),
            SmallVector<Value>(r));
      },
      [&](ValueRange r) {
        Value mid = divui(add(r[0], r[1]), two);
        Value yes = before(mid);
        return SmallVector<Value>{select(yes, add(mid, one), r[0]),
                                  select(yes, r[1], mid)};
      })[0];
}

Value LoopEmitter::ceilDiv(Value a, int64_t c) {
  return divui(add(a, index(c - 1)), index(c));
}
