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
  return arith::ConstantIndexOp::create(*bp, loc, v);
}
Value LoopEmitter::f32(double v) {
  return arith::ConstantOp::create(*bp, loc, bp->getF32FloatAttr(v));
}
Value LoopEmitter::boolean(bool v) {
  return arith::ConstantIntOp::create(*bp, loc, bp->getI1Type(), v);
}
Value LoopEmitter::intOf(Type type, int64_t v) {
  return arith::ConstantIntOp::create(*bp, loc, type, v);
}

Value LoopEmitter::add(Value a, Value c) {
  return arith::AddIOp::create(*bp, loc, a, c);
}
Value LoopEmitter::sub(Value a, Value c) {
  return arith::SubIOp::create(*bp, loc, a, c);
}
Value LoopEmitter::mul(Value a, Value c) {
  return arith::MulIOp::create(*bp, loc, a, c);
}
Value LoopEmitter::divui(Value a, Value c) {
  return arith::DivUIOp::create(*bp, loc, a, c);
}
Value LoopEmitter::minsi(Value a, Value c) {
  return arith::MinSIOp::create(*bp, loc, a, c);
}
Value LoopEmitter::maxsi(Value a, Value c) {
  return arith::MaxSIOp::create(*bp, loc, a, c);
}
Value LoopEmitter::cmpi(int pred, Value a, Value c) {
  return arith::CmpIOp::create(*bp, loc, static_cast<arith::CmpIPredicate>(pred),
                               a, c);
}
Value LoopEmitter::andi(Value a, Value c) {
  return arith::AndIOp::create(*bp, loc, a, c);
}
Value LoopEmitter::ori(Value a, Value c) {
  return arith::OrIOp::create(*bp, loc, a, c);
}
Value LoopEmitter::notb(Value a) {
  return arith::XOrIOp::create(*bp, loc, a, boolean(true));
}
Value LoopEmitter::select(Value cond, Value a, Value c) {
  return arith::SelectOp::create(*bp, loc, cond, a, c);
}
Value LoopEmitter::indexCast(Type to, Value v) {
  return arith::IndexCastOp::create(*bp, loc, to, v);
}

Value LoopEmitter::fadd(Value a, Value c) {
  return arith::AddFOp::create(*bp, loc, a, c);
}
Value LoopEmitter::fsub(Value a, Value c) {
  return arith::SubFOp::create(*bp, loc, a, c);
}
Value LoopEmitter::fmul(Value a, Value c) {
  return arith::MulFOp::create(*bp, loc, a, c);
}
Value LoopEmitter::fdiv(Value a, Value c) {
  return arith::DivFOp::create(*bp, loc, a, c);
}
Value LoopEmitter::fmax(Value a, Value c) {
  return arith::MaximumFOp::create(*bp, loc, a, c);
}
Value LoopEmitter::cmpf(int pred, Value a, Value c) {
  return arith::CmpFOp::create(*bp, loc, static_cast<arith::CmpFPredicate>(pred),
                               a, c);
}
Value LoopEmitter::exp(Value a) { return math::ExpOp::create(*bp, loc, a); }
Value LoopEmitter::log(Value a) { return math::LogOp::create(*bp, loc, a); }
Value LoopEmitter::log1p(Value a) { return math::Log1pOp::create(*bp, loc, a); }
Value LoopEmitter::tanh(Value a) { return math::TanhOp::create(*bp, loc, a); }
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
  return memref::DimOp::create(*bp, loc, shaped, d);
}
SmallVector<Value> LoopEmitter::dims(Value shaped) {
  SmallVector<Value> out;
  for (int64_t d = 0, e = cast<ShapedType>(shaped.getType()).getRank(); d < e;
       ++d)
    out.push_back(dim(shaped, d));
  return out;
}
Value LoopEmitter::load(Value memref, ValueRange indices) {
  return memref::LoadOp::create(*bp, loc, memref, indices);
}
void LoopEmitter::store(Value v, Value memref, ValueRange indices) {
  memref::StoreOp::create(*bp, loc, v, memref, indices);
}
Value LoopEmitter::loadF32(Value memref, ValueRange indices) {
  Value v = load(memref, indices);
  Type f32Type = bp->getF32Type();
  unsigned width = v.getType().getIntOrFloatBitWidth();
  if (width < 32)
    return arith::ExtFOp::create(*bp, loc, f32Type, v);
  if (width > 32)
    return arith::TruncFOp::create(*bp, loc, f32Type, v);
  return v;
}
void LoopEmitter::storeF32(Value v, Value memref, ValueRange indices) {
  Type elt = cast<MemRefType>(memref.getType()).getElementType();
  unsigned width = elt.getIntOrFloatBitWidth();
  if (width < 32)
    v = arith::TruncFOp::create(*bp, loc, elt, v);
  else if (width > 32)
    v = arith::ExtFOp::create(*bp, loc, elt, v);
  store(v, memref, indices);
}
Value LoopEmitter::loadIndex(Value memref, ValueRange indices) {
  return indexCast(bp->getIndexType(), load(memref, indices));
}
void LoopEmitter::storeIndex(Value v, Value memref, ValueRange indices) {
  Type elt = cast<MemRefType>(memref.getType()).getElementType();
  store(indexCast(elt, v), memref, indices);
}
Value LoopEmitter::allocF32(ValueRange sizes) {
  return allocOf(bp->getF32Type(), sizes);
}
Value LoopEmitter::allocOf(Type elt, ValueRange sizes) {
  SmallVector<int64_t> shape(sizes.size(), ShapedType::kDynamic);
  return memref::AllocOp::create(*bp, loc, MemRefType::get(shape, elt), sizes);
}
Value LoopEmitter::allocLike(Value like, Type elt) {
  auto type = cast<ShapedType>(like.getType());
  SmallVector<Value> dynamic;
  for (int64_t d = 0; d < type.getRank(); ++d)
    if (type.isDynamicDim(d))
      dynamic.push_back(dim(like, d));
  return memref::AllocOp::create(
      *bp, loc, MemRefType::get(type.getShape(), elt), dynamic);
}
void LoopEmitter::dealloc(Value memref) {
  memref::DeallocOp::create(*bp, loc, memref);
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
      scf::ForOp::create(*bp, loc, lb, ub, index(1), init,
                         [&](OpBuilder &, Location, Value iv, ValueRange args) {
                           SmallVector<Value> next = body(iv, args);
                           scf::YieldOp::create(*bp, loc, next);
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
      *bp, loc, lbs, ubs, steps,
      [&](OpBuilder &, Location, ValueRange ivs) { body(ivs); });
}
SmallVector<Value>
LoopEmitter::ifElse(Value cond, TypeRange types,
                    function_ref<SmallVector<Value>()> thenFn,
                    function_ref<SmallVector<Value>()> elseFn) {
  assert(!types.empty() && "use ifThenElse for an scf.if without results");
  auto ifOp = scf::IfOp::create(*bp, loc, types, cond, /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard guard(*bp);
    bp->setInsertionPointToStart(ifOp.thenBlock());
    scf::YieldOp::create(*bp, loc, thenFn());
  }
  {
    OpBuilder::InsertionGuard guard(*bp);
    bp->setInsertionPointToStart(ifOp.elseBlock());
    scf::YieldOp::create(*bp, loc, elseFn());
  }
  return SmallVector<Value>(ifOp.getResults());
}
void LoopEmitter::ifThen(Value cond, function_ref<void()> thenFn) {
  scf::IfOp::create(*bp, loc, cond, [&](OpBuilder &, Location) {
    thenFn();
    scf::YieldOp::create(*bp, loc);
  });
}
void LoopEmitter::ifThenElse(Value cond, function_ref<void()> thenFn,
                             function_ref<void()> elseFn) {
  scf::IfOp::create(
      *bp, loc, cond,
      [&](OpBuilder &, Location) {
        thenFn();
        scf::YieldOp::create(*bp, loc);
      },
      [&](OpBuilder &, Location) {
        elseFn();
        scf::YieldOp::create(*bp, loc);
      });
}
SmallVector<Value> LoopEmitter::whileLoop(
    ValueRange init,
    function_ref<std::pair<Value, SmallVector<Value>>(ValueRange)> cond,
    function_ref<SmallVector<Value>(ValueRange)> body) {
  SmallVector<Type> types(init.getTypes());
  auto loop = scf::WhileOp::create(
      *bp, loc, types, init,
      [&](OpBuilder &, Location, ValueRange args) {
        auto [keepGoing, passed] = cond(args);
        scf::ConditionOp::create(*bp, loc, keepGoing, passed);
      },
      [&](OpBuilder &, Location, ValueRange args) {
        scf::YieldOp::create(*bp, loc, body(args));
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
