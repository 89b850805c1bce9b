//===- TileEmitter.cpp - what the generated attention kernels share -------===//

#include "TileEmitter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"

#include <limits>

using namespace mlir;
using namespace mlir::dma;

void mlir::dma::declareSharedMemory(OpBuilder &b, gpu::GPUModuleOp module,
                                    int64_t alignment) {
  if (auto global = module.lookupSymbol<LLVM::GlobalOp>(kSharedMemoryGlobal)) {
    if (global.getAlignment().value_or(0) < static_cast<uint64_t>(alignment))
      global.setAlignment(alignment);
    return;
  }
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(module.getBody());
  auto type = LLVM::LLVMArrayType::get(b.getI8Type(), 0);
  LLVM::GlobalOp::create(b, module.getLoc(), type, /*isConstant=*/false,
                         LLVM::Linkage::External, kSharedMemoryGlobal,
                         Attribute(), alignment, /*addrSpace=*/3);
}

gpu::GPUFuncOp mlir::dma::createKernelFunc(OpBuilder &b, Location loc,
                                           gpu::GPUModuleOp module,
                                           StringRef name,
                                           const KernelABI &abi) {
  // A grid naming something other than an integer parameter is a bug of
  // the emitter, not of the input: every launch of the kernel would fail.
  assert(abi.check().empty() && "kernel grid must name integer parameters");
  declareSharedMemory(b, module);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToEnd(module.getBody());
  MLIRContext *ctx = b.getContext();
  SmallVector<Type> argTypes;
  for (const KernelParam &p : abi.params)
    argTypes.push_back(p.kind == KernelParam::Pointer
                           ? Type(LLVM::LLVMPointerType::get(ctx, 0))
                       : p.kind == KernelParam::I32 ? Type(b.getI32Type())
                       : p.kind == KernelParam::I64 ? Type(b.getI64Type())
                                                    : Type(b.getF32Type()));
  auto func = gpu::GPUFuncOp::create(b, loc, name,
                                     b.getFunctionType(argTypes, {}));
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  // The launch interface (KernelABI.h), for the launch and for dma-compile.
  SmallVector<Attribute> names, grid;
  for (const KernelParam &p : abi.params)
    names.push_back(b.getStringAttr(p.name + ":" + p.kindName()));
  for (const std::string &g : abi.grid)
    grid.push_back(b.getStringAttr(g));
  func->setAttr("dma.kernel_params", b.getArrayAttr(names));
  func->setAttr("dma.grid", b.getArrayAttr(grid));
  func->setAttr("dma.threads", b.getI64IntegerAttr(abi.threads));
  func->setAttr("dma.shared_bytes", b.getI64IntegerAttr(abi.sharedBytes));
  func->setAttr("dma.role", b.getStringAttr(abi.role));
  // One CTA per SM is the design point (the tiles take most registers);
  // without this ptxas may squeeze two CTAs in and spill.
  func->setAttr(NVVM::NVVMDialect::getMinctasmAttrName(),
                b.getI32IntegerAttr(1));
  func.setKnownBlockSizeAttr(
      b.getDenseI32ArrayAttr({static_cast<int32_t>(abi.threads), 1, 1}));
  return func;
}

void TileEmitter::setUp(ArrayRef<KernelParam> params) {
  OpBuilder &ob = k.builder();
  Block &entry = func.getBody().front();
  ob.setInsertionPointToStart(&entry);
  for (auto [i, p] : llvm::enumerate(params))
    args[p.name] = entry.getArgument(i);
  smem = LLVM::AddressOfOp::create(ob, k.location(), k.ptrShared,
                                   kSharedMemoryGlobal);
  tid = k.threadIdX();
  warp = k.divsi(tid, k.c32(32));
  lane = k.remsi(tid, k.c32(32));
  gid = k.divsi(lane, k.c32(4));
  tig = k.remsi(lane, k.c32(4));
  lane8 = k.remsi(lane, k.c32(8));
  lane16 = k.remsi(lane, k.c32(16));
  laneHi = k.divsi(lane, k.c32(16));
  laneMid = k.remsi(k.divsi(lane, k.c32(8)), k.c32(2));
  B = arg("B");
  Lq = arg("Lq");
  Lk = arg("Lk");
  H = arg("H");
  Hkv = arg("Hkv");
  keyOffset = k.sub(Lk, Lq);
}

std::pair<Value, Value> TileEmitter::rowAndChunk(Value c, int64_t it,
                                                 int64_t chunks) {
  int64_t threads = cfg.threads();
  if (threads % chunks)
    return {k.divsi(c, k.c32(chunks)), k.remsi(c, k.c32(chunks))};
  return {k.add(k.divsi(tid, k.c32(chunks)), k.c32(it * (threads / chunks))),
          k.remsi(tid, k.c32(chunks))};
}

void TileEmitter::copyRows(
    const std::string &tensor, int64_t rows, int64_t cols, Value dst,
    function_ref<Value(Value row, Value &valid)> rowOffset) {
  int64_t threads = cfg.threads();
  int64_t chunks = cols * elementBytes() / 16;
  int64_t total = rows * chunks;
  Value src0 = ptrArg(tensor);
  for (int64_t it = 0; it < (total + threads - 1) / threads; ++it) {
    Value c = k.add(tid, k.c32(it * threads));
    auto body = [&] {
      Value row, chunk;
      std::tie(row, chunk) = rowAndChunk(c, it, chunks);
      Value valid;
      Value off = k.add(rowOffset(row, valid), k.sext64(k.mul(chunk, k.c32(8))));
      Value target = k.gep(dst, k.i8Type, swizzled(row, chunk, cols));
      k.cpAsync16(target, k.gep(src0, cfg.element, off),
                  k.select(valid, k.c32(16), k.c32(0)));
    };
    if ((it + 1) * threads <= total)
      body();
    else
      k.ifThen(k.cmpi(ip(IPred::slt), c, k.c32(total)), body);
  }
}

Value TileEmitter::strided(const std::string &t, const char *d,
                              Value index) {
  return k.mul(k.sext64(index), arg(t + "_stride_" + d));
}

namespace {

void addends(AffineExpr e, SmallVectorImpl<AffineExpr> &terms) {
  if (e.getKind() == AffineExprKind::Add) {
    auto sum = cast<AffineBinaryOpExpr>(e);
    addends(sum.getLHS(), terms);
    addends(sum.getRHS(), terms);
    return;
  }
  terms.push_back(e);
}

} // namespace

Value TileEmitter::warpLaneSum(AffineExpr e) {
  // warp part + (constant + lane part): the constant folds into the
  // instructions' immediates and the parts are the same values for every
  // fragment (CSE), so a thread's rows and columns cost no registers each.
  SmallVector<AffineExpr> terms;
  addends(e, terms);
  int64_t constant = 0;
  AffineExpr warpPart, lanePart;
  for (AffineExpr t : terms) {
    if (auto c = dyn_cast<AffineConstantExpr>(t)) {
      constant += c.getValue();
      continue;
    }
    AffineExpr &part = t.isFunctionOfDim(1) ? lanePart : warpPart;
    part = part ? part + t : t;
  }
  // The lane's quad and place in it (setUp computes them once).
  MLIRContext *ctx = cfg.element.getContext();
  AffineExpr l = getAffineDimExpr(1, ctx);
  llvm::DenseMap<AffineExpr, Value> known = {{l.floorDiv(4), gid},
                                             {l % 4, tig}};
  Value v = k.c32(constant);
  if (lanePart)
    v = k.add(v, k.evaluate(lanePart, {warp, lane}, known));
  if (warpPart)
    v = k.add(k.evaluate(warpPart, {warp, lane}, known), v);
  return v;
}

std::pair<Value, Value> TileEmitter::fragmentAt(int64_t mt, int64_t j,
                                                int64_t e) {
  MmaLayoutAttr layout = cfg.fragments;
  assert(layout && "the forward's fragments come from dma-assign-layouts");
  MLIRContext *ctx = layout.getContext();
  // The map at this value index: an expression of (warp, lane) alone. The
  // expression builders fold the constant terms as they rebuild it;
  // simplifyAffineMap would not help (it rewrites `l mod 4` as
  // `l - (l floordiv 4) * 4`, an extra multiply-add per use).
  AffineMap map = layout.getMap().replace(
      getAffineDimExpr(2, ctx),
      getAffineConstantExpr(layout.valueOf(mt, j, e), ctx), 3, 0);
  return {warpLaneSum(map.getResult(0)), warpLaneSum(map.getResult(1))};
}

Value TileEmitter::swizzleMask(Value chunk, int64_t cols) {
  // Groups shrink towards the row's end: the last one the chunk reaches.
  Value mask = k.c32(0);
  for (auto [start, size] : shared.swizzleGroups(cols * elementBytes() / 16))
    mask = k.select(k.cmpi(ip(IPred::sge), chunk, k.c32(start)),
                    k.c32(size - 1), mask);
  return mask;
}

int64_t TileEmitter::swizzleMask(int64_t chunk, int64_t cols) {
  return shared.swizzleMask(chunk, cols * elementBytes() / 16);
}

Value TileEmitter::swizzled(Value row, Value chunk, int64_t cols) {
  Value phys = k.xori(chunk, k.andi(row, swizzleMask(chunk, cols)));
  return k.add(k.mul(row, k.c32(cols * elementBytes())),
               k.mul(phys, k.c32(16)));
}

Value TileEmitter::blockSwizzled(Value row, Value chunk, int64_t rows,
                                 int64_t cols) {
  if (!cfg.blockCols)
    return swizzled(row, chunk, cols);
  int64_t blockChunks = cfg.blockCols * elementBytes() / 16;
  assert(llvm::isPowerOf2_64(blockChunks) && cols % cfg.blockCols == 0 &&
         "whole column blocks of a power of 2 chunks");
  int64_t shift = llvm::Log2_64(blockChunks);
  Value block = k.shrui(chunk, k.c32(shift));
  Value inBlock = k.andi(chunk, k.c32(blockChunks - 1));
  return k.add(k.mul(block, k.c32(rows * cfg.blockCols * elementBytes())),
               swizzled(row, inBlock, cfg.blockCols));
}

Value TileEmitter::sharedAt(int64_t base, Value byteOffset) {
  return k.gep(smem, k.i8Type, k.add(byteOffset, k.c32(base)));
}

Value TileEmitter::swizzledAt(int64_t base, Value stageOffset,
                                 Value rowLane, int64_t rowConst,
                                 Value chunkLane, int64_t chunkConst,
                                 int64_t cols) {
  int64_t rowBytes = cols * elementBytes();
  // chunkConst and chunkConst + 1 share a group (chunk counts are even).
  int64_t mask = swizzleMask(chunkConst, cols);
  assert(rowConst % 8 == 0 && chunkConst % 2 == 0 && "not a split offset");
  Value phys = k.xori(k.add(chunkLane, k.c32(chunkConst & mask)),
                      k.andi(rowLane, k.c32(mask)));
  Value lanePart = k.add(k.mul(rowLane, k.c32(rowBytes)),
                         k.mul(phys, k.c32(16)));
  int64_t imm = base + rowConst * rowBytes + (chunkConst & ~mask) * 16;
  Value p = k.gep(smem, k.i8Type, k.add(stageOffset, lanePart));
  return k.gep(p, k.i8Type, k.c32(imm));
}

Value TileEmitter::headsPer(const std::string &t) {
  return k.maxsi(k.divsi(H, k.maxsi(arg(t + "_heads"), k.c32(1))), k.c32(1));
}

Value TileEmitter::headRow(const std::string &t) {
  if (auto it = headRows.find(t); it != headRows.end())
    return it->second;
  return k.add(strided(t, "b", b), strided(t, "h", k.divsi(h, headsPer(t))));
}

void TileEmitter::hoistHeadRows() {
  for (const char *t : {"bias", "mask", "keep", "keep_rows"})
    if (args.count(std::string(t) + "_heads"))
      headRows[t] = headRow(t);
}

Value TileEmitter::keepEntry(Value t, Value row, Value &inList, Value &index,
                             Value &base) {
  Value idx = k.add(k.mul(t, k.c32(cfg.blockN)), row);
  inList = k.cmpi(ip(IPred::slt), idx, arg("keep_w"));
  index = k.select(inList, idx, k.c32(0));
  base = headRow("keep");
  return keepAt(base, index);
}

Value TileEmitter::keepAt(Value base, Value i) {
  Value v = k.loadAs(cfg.keepElement,
                     k.gep(ptrArg("keep"), cfg.keepElement,
                           k.add(base, k.sext64(i))));
  if (!cfg.keepElement.isInteger(32))
    v = arith::TruncIOp::create(k.builder(), k.location(), k.i32Type, v);
  return v;
}

Value TileEmitter::keyPosition(Value t, Value row) {
  if (cfg.candidates) {
    // Entry t * blockN + row of the CTA's candidate list (all below Lk by
    // construction): the keys every row keeps from slot 0 up, then the
    // others from the last slot down; or the contiguous walk when it
    // overflowed.
    int64_t slots = cfg.candidateSlots();
    Value idx = k.add(k.mul(t, k.c32(cfg.blockN)), row);
    Value slot = k.select(k.cmpi(ip(IPred::slt), idx, candidateFull), idx,
                          k.sub(k.c32(slots - 1), k.sub(idx, candidateFull)));
    slot = k.maxsi(k.minsi(slot, k.c32(slots - 1)), k.c32(0));
    Value listed = k.loadAs(
        k.i32Type, k.gep(smem, k.i32Type, k.add(slot, k.c32(candidateOff / 4))));
    Value inList = k.cmpi(ip(IPred::slt), idx, candidateCount);
    Value contiguous =
        k.select(k.cmpi(ip(IPred::slt), idx, Lk), idx, k.c32(-1));
    return k.select(candidatesFit, k.select(inList, listed, k.c32(-1)),
                    contiguous);
  }
  if (!cfg.gathered) {
    Value idx = k.add(k.mul(t, k.c32(cfg.blockN)), row);
    return k.select(k.cmpi(ip(IPred::slt), idx, Lk), idx, k.c32(-1));
  }
  // Chunk t of the sorted list keep[kb, kh, :] (keepListBroken checks it;
  // its assert comes after the loads, so a position past Lk reads as no
  // key here and every load stays in bounds).
  Value inList, index, base;
  Value raw = keepEntry(t, row, inList, index, base);
  Value present = k.andi(k.andi(inList, k.cmpi(ip(IPred::sge), raw, k.c32(0))),
                         k.cmpi(ip(IPred::slt), raw, Lk));
  return k.select(present, raw, k.c32(-1));
}

Value TileEmitter::keepListBroken(Value t, Value row) {
  // The walk relies on the list's order (its chunks are bounded causally
  // by a binary search) and a repeated position would count a key twice:
  // an entry that does not ascend from the one before, or a position past
  // Lk, breaks the contract.
  Value inList, index, base;
  Value raw = keepEntry(t, row, inList, index, base);
  Value prev = keepAt(base, k.maxsi(k.sub(index, k.c32(1)), k.c32(0)));
  Value present = k.andi(inList, k.cmpi(ip(IPred::sge), raw, k.c32(0)));
  // (After -1 padding, prev < 0: any position is out of order.)
  Value misordered = k.andi(k.cmpi(ip(IPred::sgt), index, k.c32(0)),
                            k.ori(k.cmpi(ip(IPred::sle), raw, prev),
                                  k.cmpi(ip(IPred::slt), prev, k.c32(0))));
  return k.andi(present,
                k.ori(misordered, k.cmpi(ip(IPred::sge), raw, Lk)));
}

void TileEmitter::assertKeepList(Value broken) {
  // A device-side assert, as PyTorch's own index checks do, instead of a
  // silently wrong result.
  cf::AssertOp::create(k.builder(), k.location(), k.notb(broken),
                       "dma: keep lists must hold ascending, unique key "
                       "positions below Lk, then -1 padding");
}

Value TileEmitter::summaryRow(Value qt, int64_t qTile) {
  // The mask's (batch, head) of this CTA: a batch of one (stride 0)
  // serves every b; the head as headRow("mask") maps it.
  Value mb = k.select(k.cmpi(ip(IPred::eq), arg("mask_stride_b"), k.c64(0)),
                      k.c32(0), b);
  Value mh = k.divsi(h, headsPer("mask"));
  Value nQT = k.divsi(k.add(Lq, k.c32(qTile - 1)), k.c32(qTile));
  return k.add(k.mul(k.add(k.mul(mb, arg("mask_heads")), mh), nQT), qt);
}

Value TileEmitter::summaryKeyTiles(int64_t kTile) {
  return k.divsi(k.add(Lk, k.c32(kTile - 1)), k.c32(kTile));
}

Value TileEmitter::summaryAt(const char *buffer, Value rowStart, Value i) {
  return k.loadAs(k.i32Type, k.gep(ptrArg(buffer), k.i32Type,
                                   k.add(rowStart, k.sext64(i))));
}

Value TileEmitter::broadcastOffset(const std::string &t, Value row,
                                      Value key) {
  return k.add(headRow(t), k.add(strided(t, "q", row), strided(t, "k", key)));
}

Value TileEmitter::visible(Value qpos, Value qvalid, Value kpos, Value kept) {
  Value kvalid = k.cmpi(ip(IPred::sge), kpos, k.c32(0));
  Value vis = k.andi(qvalid, kvalid);
  Value cLim = k.add(qpos, keyOffset);
  if (cfg.causal)
    vis = k.andi(vis, k.cmpi(ip(IPred::sle), kpos, cLim));
  // Clamped positions keep every load in bounds; what they read only
  // matters where the element is visible anyway.
  Value qs = k.select(qvalid, qpos, k.c32(0));
  Value ks = k.select(kvalid, kpos, k.c32(0));
  if (cfg.mask == MaskKind::Dense) {
    Value m = k.loadAs(k.i8Type, k.gep(ptrArg("mask"), k.i8Type,
                                       broadcastOffset("mask", qs, ks)));
    vis = k.andi(vis, k.cmpi(ip(IPred::ne), m, k.intOf(k.i8Type, 0)));
  }
  if (cfg.mask == MaskKind::PerQueryTopK) {
    if (!kept)
      kept = keptAt(kpos, ks, prefixEntry(qpos, qvalid));
    vis = k.andi(vis, kept);
  }
  return vis;
}

std::pair<Value, Value> TileEmitter::thresholdAt(Value entry) {
  Value eOff = k.add(headRow("keep_rows"), k.sext64(entry));
  Type se = cfg.rowsScoreElement;
  Value thr = k.loadF32(se, k.gep(ptrArg("keep_threshold"), se, eOff));
  Value tie = k.loadAs(cfg.tiebreakElement,
                       k.gep(ptrArg("keep_tiebreak"), cfg.tiebreakElement,
                             eOff));
  return {thr, tie};
}

Value TileEmitter::prefixEntry(Value qpos, Value qvalid) {
  Value top = k.maxsi(k.sub(Lk, k.c32(1)), k.c32(0));
  if (!cfg.causal)
    return top;
  return k.minsi(
      k.maxsi(k.select(qvalid, k.add(qpos, keyOffset), k.c32(0)), k.c32(0)),
      top);
}

std::pair<Value, Value> TileEmitter::rowThreshold(Value qpos, Value qvalid) {
  SmallVector<Value> t = k.ifElse(
      k.cmpi(ip(IPred::sgt), Lk, k.c32(0)), {k.f32Type, cfg.tiebreakElement},
      [&] {
        auto [thr, tie] = thresholdAt(prefixEntry(qpos, qvalid));
        return SmallVector<Value>{thr, tie};
      },
      [&] {
        return SmallVector<Value>{k.f32(0.0), k.intOf(cfg.tiebreakElement, 0)};
      });
  return {t[0], t[1]};
}

Value TileEmitter::keepScoreAt(Value ks) {
  Type se = cfg.rowsScoreElement;
  return k.loadF32(se, k.gep(ptrArg("keep_score"), se,
                             k.add(headRow("keep_rows"), k.sext64(ks))));
}

Value TileEmitter::passesThreshold(Value s, Value kpos, Value thr, Value tie) {
  Value kw = cfg.tiebreakElement.isInteger(32) ? kpos : k.sext64(kpos);
  return k.ori(k.cmpf(fpr(FPred::OGT), s, thr),
               k.andi(k.cmpf(fpr(FPred::OEQ), s, thr),
                      k.cmpi(ip(IPred::sle), kw, tie)));
}

Value TileEmitter::keptAt(Value kpos, Value ks, Value entry) {
  auto [thr, tie] = thresholdAt(entry);
  return passesThreshold(keepScoreAt(ks), kpos, thr, tie);
}

Value TileEmitter::logit(Value raw, Value qpos, Value qvalid, Value kpos,
                         Value keyBias, Value kept) {
  Value ninf = k.f32(-std::numeric_limits<double>::infinity());
  Value qs = k.select(qvalid, qpos, k.c32(0));
  Value ks = k.maxsi(kpos, k.c32(0));
  return k.select(visible(qpos, qvalid, kpos, kept),
                  visibleLogit(raw, qs, ks, keyBias), ninf);
}

Value TileEmitter::visibleLogit(Value raw, Value qpos, Value kpos,
                                Value keyBias) {
  Value x = k.fmul(raw, arg("scale"));
  if (cfg.softcap > 0.0) {
    Value cap = arg("softcap");
    x = k.fmul(cap, math::TanhOp::create(k.builder(), k.location(),
                                         k.fdiv(x, cap)));
  }
  if (Value bias = biasAt(qpos, kpos, keyBias))
    x = k.fadd(x, bias);
  return x;
}

Value TileEmitter::biasAt(Value qpos, Value kpos, Value keyBias) {
  if (keyBias || !cfg.biasElement)
    return keyBias;
  Type be = cfg.biasElement;
  return k.loadF32(be, k.gep(ptrArg("bias"), be,
                             broadcastOffset("bias", qpos, kpos)));
}
