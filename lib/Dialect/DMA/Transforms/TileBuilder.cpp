//===- TileBuilder.cpp - builders for the tile form of attention ----------===//

#include "TileBuilder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::dma;

Value TileBuilder::empty(ArrayRef<int64_t> shape, Type elt) {
  return tensor::EmptyOp::create(builder(), location(), shape, elt);
}

Value TileBuilder::fill(Value dest, double value) {
  Type elt = cast<ShapedType>(dest.getType()).getElementType();
  Value cst;
  if (isa<FloatType>(elt))
    cst = arith::ConstantOp::create(builder(), location(),
                                    builder().getFloatAttr(elt, value));
  else
    cst = intOf(elt, static_cast<int64_t>(value));
  auto op = linalg::FillOp::create(builder(), location(), ValueRange{cst},
                                   ValueRange{dest});
  return op->getNumResults() ? op->getResult(0) : Value();
}

Value TileBuilder::iota(Value start, Value bound, Value dest) {
  return TileIotaOp::create(builder(), location(), dest.getType(), start,
                            bound, dest)
      .getResult(0);
}

Value TileBuilder::gather(Value source, Value b, Value head, Value rows,
                          Value dest) {
  return TileGatherOp::create(builder(), location(), dest.getType(), source, b,
                              head, rows, dest)
      .getResult(0);
}

Value TileBuilder::dot(Value lhs, Value rhs, Value acc, bool transposeLhs,
                       bool transposeRhs) {
  return TileDotOp::create(builder(), location(), acc.getType(), lhs, rhs, acc,
                           transposeLhs, transposeRhs)
      .getResult(0);
}

Value TileBuilder::extractIndex(Value tile, int64_t i) {
  Value v = tensor::ExtractOp::create(builder(), location(), tile,
                                      ValueRange{index(i)});
  return indexCast(builder().getIndexType(), v);
}

Value TileBuilder::count(Value positions) {
  return TileCountOp::create(builder(), location(), builder().getIndexType(),
                             positions);
}

void TileBuilder::countVisit(Value keys) {
  Type i64 = builder().getI64Type();
  Value counters = memref::GetGlobalOp::create(
      builder(), location(), MemRefType::get({2}, i64), kVisitCountsGlobal);
  memref::AtomicRMWOp::create(builder(), location(),
                              arith::AtomicRMWKind::addi, intOf(i64, 1),
                              counters, ValueRange{index(0)});
  memref::AtomicRMWOp::create(builder(), location(),
                              arith::AtomicRMWKind::addi, indexCast(i64, keys),
                              counters, ValueRange{index(1)});
}
