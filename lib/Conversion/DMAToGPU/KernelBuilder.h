//===- KernelBuilder.h - builders for NVVM kernel code ----------*- C++ -*-===//
//
// Terse builders for the device code the GPU lowering emits: 32/64-bit
// integer arithmetic, global and shared pointers (LLVM dialect), and the
// NVVM warp-level operations the attention kernels are made of (cp.async,
// ldmatrix, mma.sync m16n8k16, shuffles, barriers).
//
//===----------------------------------------------------------------------===//

#ifndef DMA_LIB_CONVERSION_DMATOGPU_KERNELBUILDER_H
#define DMA_LIB_CONVERSION_DMATOGPU_KERNELBUILDER_H

#include "dma/Utils/LoopEmitter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMTypes.h"
#include "mlir/IR/AffineExpr.h"
#include "llvm/ADT/DenseMap.h"

#include <array>

namespace mlir::dma {

// Comparison predicates as LoopEmitter's cmpi/cmpf take them.
using IPred = arith::CmpIPredicate;
using FPred = arith::CmpFPredicate;
inline int ip(IPred p) { return static_cast<int>(p); }
inline int fpr(FPred p) { return static_cast<int>(p); }

class KernelBuilder : public LoopEmitter {
public:
  KernelBuilder(OpBuilder &b, Location loc);

  Type i1Type, i8Type, i32Type, i64Type, f32Type;
  LLVM::LLVMPointerType ptrGlobal, ptrShared, ptrGeneric;

  Value c32(int64_t v) { return intOf(i32Type, v); }
  Value c64(int64_t v) { return intOf(i64Type, v); }
  Value sext64(Value v);
  Value i32ToIndex(Value v);
  Value indexToI32(Value v);
  Value divsi(Value a, Value c);
  Value remsi(Value a, Value c);
  Value xori(Value a, Value c);
  Value shrui(Value a, Value c);
  Value fneg(Value a);
  Value fmin(Value a, Value c);
  /// The i32 value of affine expression `e` at `dims` (i32, non-negative:
  /// floordiv and mod are signed division and remainder there); a
  /// subexpression in `known` is its value there (computed once, elsewhere).
  Value evaluate(AffineExpr e, ArrayRef<Value> dims,
                 const llvm::DenseMap<AffineExpr, Value> &known);

  // Memory (LLVM dialect pointers).
  Value toGlobal(Value genericPtr);
  /// Element pointer `ptr + offset` (offset in elements of `elt`).
  Value gep(Value ptr, Type elt, Value offset);
  Value loadAs(Type t, Value ptr);
  void storeTo(Value v, Value ptr);
  /// Loads a float element of type `elt` and widens it to f32.
  Value loadF32(Type elt, Value ptr);
  /// Loads 8 consecutive float elements of type `elt` (16-bit: one 16-byte
  /// load; f32: two) as f32; `ptr` must be 16-byte aligned.
  SmallVector<Value> loadF32x8(Type elt, Value ptr);
  /// loadF32x8's loads alone (16-byte vectors of `elt`), and their
  /// conversion: for issuing many loads before converting any (registers
  /// hold the packed halves meanwhile).
  SmallVector<Value> loadRawX8(Type elt, Value ptr);
  SmallVector<Value> unpackF32x8(Type elt, ArrayRef<Value> raw);
  /// Stores 8 f32 values as 8 consecutive elements of type `elt` (16-byte
  /// aligned).
  void storeF32x8(Type elt, ArrayRef<Value> values, Value ptr);

  // Thread geometry.
  Value threadIdX();
  Value blockId(int dim);
  Value gridDimX();

  // Synchronisation and asynchronous copies.
  void barrier();
  /// 16-byte cp.async global -> shared; `srcBytes` (0 or 16) zero-fills.
  void cpAsync16(Value dst, Value src, Value srcBytes);
  /// 4-byte cp.async (through L1); `srcBytes` (0 or 4) zero-fills.
  void cpAsync4(Value dst, Value src, Value srcBytes);
  /// *ptr += v on a global f32 (red.global.add.f32; unordered).
  void atomicAddF32(Value globalPtr, Value v);
  /// *ptr += v on an i32 (shared or global), returning the old value.
  Value atomicAddI32(Value ptr, Value v);
  /// ptr[0] += a, ptr[1] += b in one instruction (red.global.add.v2.f32,
  /// sm_90 and newer; ptr 8-byte aligned).
  void atomicAddF32x2(Value globalPtr, Value a, Value b);
  /// An i32 load with acquire semantics at GPU scope (ld.acquire.gpu).
  Value loadAcquireI32(Value globalPtr);
  /// An i32 store with release semantics at GPU scope (st.release.gpu).
  void storeReleaseI32(Value globalPtr, Value v);
  /// fence.acq_rel.gpu: the thread's earlier memory operations (reductions
  /// included) are ordered before its later ones, GPU-wide.
  void fenceGpu();
  void cpAsyncCommit();
  void cpAsyncWaitAll();
  /// Waits until at most `pending` committed groups are in flight.
  void cpAsyncWaitGroup(int64_t pending);

  // Warp-level matrix operations (16-bit elements).
  std::array<Value, 4> ldmatrixX4(Value sharedPtr, bool transpose);
  /// D = A B + C for m16n8k16 with 16-bit A/B (`eltF16` selects f16).
  std::array<Value, 4> mma(const std::array<Value, 4> &a,
                           const std::array<Value, 2> &bFrag,
                           const std::array<Value, 4> &c, bool eltF16);

  // Hopper's warpgroup MMA (sm_90a): every thread of a warpgroup (4
  // consecutive warps) issues the same instructions.
  /// The shared-memory matrix descriptor of an operand at `sharedPtr` in
  /// the 128-byte-swizzled layout (8-row atoms of 1024 bytes, 1024-byte
  /// aligned): `leadingBytes` / `strideBytes` are its leading and stride
  /// dimension byte offsets (PTX ISA, "Matrix Descriptor Format").
  Value wgmmaDescriptor(Value sharedPtr, int64_t leadingBytes,
                        int64_t strideBytes);
  /// `desc` with its start address moved by `bytes` (a multiple of 16).
  Value wgmmaAdvance(Value desc, int64_t bytes);
  /// D = A B + D (m64nNk16, f32 accumulators `acc`: N / 2 per thread in
  /// the order of mma.sync's m16n8 blocks), A (M x K, K-major) and B from
  /// shared memory; B is K-major, or N-major when `transposeB`.
  SmallVector<Value> wgmmaSS(Value descA, Value descB, ValueRange acc,
                             int64_t n, bool eltF16, bool transposeB);
  /// The same with A from registers: four i32 of 16-bit pairs per thread,
  /// mma.sync's m16n8k16 A fragment for the warp's 16 rows.
  SmallVector<Value> wgmmaRS(const std::array<Value, 4> &a, Value descB,
                             ValueRange acc, int64_t n, bool eltF16,
                             bool transposeB);
  /// wgmma.fence: orders earlier register writes (accumulators, A) before
  /// the wgmma.mma_async that read them.
  void wgmmaFence();
  /// Commits the issued wgmma.mma_async as one group.
  void wgmmaCommit();
  /// Waits until at most `pending` committed groups are in flight.
  void wgmmaWait(int64_t pending);
  /// bar.sync `id`, `threads`: waits until `threads` threads (this one
  /// included) have arrived at named barrier `id` (i32, 1..15).
  void namedBarrierSync(Value id, int64_t threads);
  /// bar.arrive `id`, `threads`: counts this thread in without waiting.
  void namedBarrierArrive(Value id, int64_t threads);
  /// fence.proxy.async.shared::cta: the thread's shared-memory writes
  /// (cp.async included, once waited for) become visible to the async
  /// proxy that wgmma reads shared memory through.
  void fenceProxyAsyncShared();

  /// Packs two f32 into one i32 of two 16-bit floats (`lo` in the low half).
  Value pack2(Value lo, Value hi, Type elt16);
  /// The two floats of a pack2 result, as f32 (`lo` first).
  std::pair<Value, Value> unpack2(Value packed, Type elt16);
  Value shuffleXor(Value v, int offset);
  /// The value of lane - offset (lanes below offset keep their own).
  Value shuffleUp(Value v, int offset);
  /// Inclusive prefix sums (i32) of each of `x` over the warp's lanes, for
  /// the lane `lane` (every lane of the warp must call it).
  SmallVector<Value> warpInclusiveSums(SmallVector<Value> x, Value lane);
  /// The sum of `x` (i32) over the CTA's threads before this one (thread
  /// order) and the CTA's total, through `warps` i32 slots of shared memory
  /// at `slots`. Every thread must call it (two barriers).
  std::pair<Value, Value> blockExclusiveSum(Value x, Value lane, Value warp,
                                            Value slots, int64_t warps);
  /// The warp's predicate bits (vote.sync.ballot over all 32 lanes).
  Value ballot(Value pred);
  /// The lanes whose i32 `v` equals this lane's (match.any.sync over all
  /// 32 lanes; every lane must execute it).
  Value matchAny(Value v);
  /// Number of set bits of an i32.
  Value popc(Value v);
  Value bitcast(Type to, Value v);
  Value shli(Value a, Value c);
  /// 2^x (ex2.approx.ftz).
  Value exp2(Value x);
  /// a * b + c, fused (one FFMA).
  Value fma(Value a, Value b, Value c);
};

} // namespace mlir::dma

#endif
