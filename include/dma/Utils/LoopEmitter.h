//===- LoopEmitter.h - terse builders for scalar loop nests -----*- C++ -*-===//
//
// The dma lowerings to loops build a lot of scalar code: index arithmetic,
// f32 math, memref loads that widen to f32, scf loops and ifs. LoopEmitter
// wraps one OpBuilder and Location so that this code reads like the math it
// implements. Every scf helper inserts through the same builder, so the body
// callbacks simply keep using the emitter.
//
//===----------------------------------------------------------------------===//

#ifndef DMA_UTILS_LOOPEMITTER_H
#define DMA_UTILS_LOOPEMITTER_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/Location.h"
#include "mlir/IR/Value.h"
#include "llvm/ADT/STLFunctionalExtras.h"

namespace mlir::dma {

class LoopEmitter {
public:
  LoopEmitter(OpBuilder &b, Location loc) : bp(&b), loc(loc) {}

  OpBuilder &builder() { return *bp; }
  /// Emits through `b` from now on (a conversion pattern's rewriter, so the
  /// driver sees every op created).
  void setBuilder(OpBuilder &b) { bp = &b; }
  Location location() const { return loc; }
  /// Gives the ops emitted from now on location `l`.
  void setLocation(Location l) { loc = l; }

  // Constants.
  Value index(int64_t v);
  Value f32(double v);
  Value boolean(bool v);
  Value intOf(Type type, int64_t v);

  // Index arithmetic (signed where it matters: causal limits can be < 0).
  Value add(Value a, Value c);
  Value sub(Value a, Value c);
  Value mul(Value a, Value c);
  Value divui(Value a, Value c);
  Value minsi(Value a, Value c);
  Value maxsi(Value a, Value c);
  Value cmpi(int pred, Value a, Value c); // pred: arith::CmpIPredicate
  Value andi(Value a, Value c);
  Value ori(Value a, Value c);
  Value notb(Value a);
  Value select(Value cond, Value a, Value c);
  Value indexCast(Type to, Value v);

  // f32 arithmetic.
  Value fadd(Value a, Value c);
  Value fsub(Value a, Value c);
  Value fmul(Value a, Value c);
  Value fdiv(Value a, Value c);
  Value fmax(Value a, Value c); // NaN-propagating maximum
  Value cmpf(int pred, Value a, Value c); // pred: arith::CmpFPredicate
  Value exp(Value a);
  Value log(Value a);
  Value log1p(Value a);
  Value tanh(Value a);
  Value isNaN(Value a);
  /// softplus(x) = log(1 + e^x), returning x itself above 20.
  Value softplus(Value x);

  // Memory. loadF32/storeF32 convert between f32 and the element type.
  Value dim(Value shaped, int64_t d);
  SmallVector<Value> dims(Value shaped);
  Value load(Value memref, ValueRange indices);
  void store(Value v, Value memref, ValueRange indices);
  Value loadF32(Value memref, ValueRange indices);
  void storeF32(Value v, Value memref, ValueRange indices);
  /// Loads an i32/i64 element as an index.
  Value loadIndex(Value memref, ValueRange indices);
  /// Stores an index into an i32/i64 element.
  void storeIndex(Value v, Value memref, ValueRange indices);
  /// Heap buffers (memref.alloc): stack buffers inside loops would never be
  /// popped once the loops become branches.
  Value allocF32(ValueRange sizes);
  Value allocOf(Type elt, ValueRange sizes);
  /// A buffer of `like`'s shape (static sizes kept) with element type `elt`.
  Value allocLike(Value like, Type elt);
  void dealloc(Value memref);
  /// Fills every element of a memref with an f32 constant (converted).
  void fill(Value memref, double value);
  /// Copies `src` (f32) into `dst`, converting to dst's element type.
  void copyConvert(Value src, Value dst);

  // Control flow.
  using LoopBody = function_ref<SmallVector<Value>(Value iv, ValueRange args)>;
  /// scf.for iv in [lb, ub) carrying `init`; returns the final values.
  SmallVector<Value> forLoop(Value lb, Value ub, ValueRange init,
                             LoopBody body);
  void forLoop(Value lb, Value ub, function_ref<void(Value iv)> body);
  /// Nested scf.for over [0, ub_k) for each bound.
  void forEach(ValueRange ubs, function_ref<void(ValueRange ivs)> body);
  /// scf.parallel over [0, ub_k); the body must not carry values.
  void parallel(ValueRange ubs, function_ref<void(ValueRange ivs)> body);
  /// scf.if yielding `types`; each branch returns its yielded values.
  SmallVector<Value> ifElse(Value cond, TypeRange types,
                            function_ref<SmallVector<Value>()> thenFn,
                            function_ref<SmallVector<Value>()> elseFn);
  void ifThen(Value cond, function_ref<void()> thenFn);
  void ifThenElse(Value cond, function_ref<void()> thenFn,
                  function_ref<void()> elseFn);
  /// scf.while: `cond` computes (continue?, values passed to the body) from
  /// the carried values; `body` computes the next carried values.
  SmallVector<Value>
  whileLoop(ValueRange init,
            function_ref<std::pair<Value, SmallVector<Value>>(ValueRange)> cond,
            function_ref<SmallVector<Value>(ValueRange)> body);
  /// ceil(a / c) of a non-negative index `a`.
  Value ceilDiv(Value a, int64_t c);
  /// The first index in [lo, hi) (non-negative integers or indices) where
  /// `before` is false, hi if there is none, for `before` true on a prefix
  /// of the range: a binary search (sorted lists' lower bounds).
  Value partitionPoint(Value lo, Value hi, function_ref<Value(Value)> before);

private:
  OpBuilder *bp;
  Location loc;
};

} // namespace mlir::dma

#endif // DMA_UTILS_LOOPEMITTER_H
