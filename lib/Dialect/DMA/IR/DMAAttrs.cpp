//===- DMAAttrs.cpp - layouts of GPU tiles --------------------------------===//
//
// The fragment maps of #dma.mma / #dma.rows and the address map of
// #dma.shared. The maps are written once here; the GPU lowering evaluates
// them (KernelBuilder::evaluate) and the unit tests check them against the
// PTX ISA's description of mma.sync's fragments.
//
//===----------------------------------------------------------------------===//

#include "dma/Dialect/DMA/IR/DMAAttrs.h"
#include "dma/Dialect/DMA/IR/DMADialect.h"

#include "mlir/IR/AffineExpr.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::dma;

#define GET_ATTRDEF_CLASSES
#include "dma/Dialect/DMA/IR/DMAAttrs.cpp.inc"

void DMADialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dma/Dialect/DMA/IR/DMAAttrs.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// #dma.mma
//===----------------------------------------------------------------------===//

AffineMap MmaLayoutAttr::getMap() const {
  MLIRContext *ctx = getContext();
  AffineExpr w = getAffineDimExpr(0, ctx), l = getAffineDimExpr(1, ctx),
             v = getAffineDimExpr(2, ctx);
  int64_t r = getRowTiles();
  AffineExpr row = w * (16 * r) + (v.floorDiv(4) % r) * 16 + l.floorDiv(4) +
                   (v.floorDiv(2) % 2) * 8;
  AffineExpr col = v.floorDiv(4 * r) * 8 + (l % 4) * 2 + v % 2;
  return AffineMap::get(3, 0, {row, col}, ctx);
}

LogicalResult
MmaLayoutAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                      int64_t warps, int64_t rowTiles, bool wgmma) {
  if (warps < 1 || warps > 32)
    return emitError() << "#dma.mma: warps must be in [1, 32], got " << warps;
  if (rowTiles < 1)
    return emitError() << "#dma.mma: row_tiles must be positive, got "
                       << rowTiles;
  // A warpgroup (4 warps) computes 64 rows, 16 per warp.
  if (wgmma && (warps % 4 || rowTiles != 1))
    return emitError() << "#dma.mma: wgmma fragments need whole warpgroups "
                          "(a multiple of 4 warps) of one 16-row tile per "
                          "warp, got warps = "
                       << warps << ", row_tiles = " << rowTiles;
  return success();
}

LogicalResult
MmaLayoutAttr::verifyTile(function_ref<InFlightDiagnostic()> emitError,
                          RankedTensorType type) const {
  if (type.getRank() != 2 || !type.getElementType().isF32())
    return emitError() << "#dma.mma holds 2-D f32 tiles, not " << type;
  if (type.getDimSize(0) != getRows())
    return emitError() << "#dma.mma<warps = " << getWarps()
                       << ", row_tiles = " << getRowTiles() << "> covers "
                       << getRows() << " rows, the tile has "
                       << type.getDimSize(0);
  if (type.getDimSize(1) % 8 != 0)
    return emitError() << "#dma.mma tiles have a multiple of 8 columns, not "
                       << type.getDimSize(1);
  return success();
}

Attribute MmaLayoutAttr::parse(AsmParser &parser, Type) {
  int64_t warps = 0, rowTiles = 0;
  if (parser.parseLess() || parser.parseKeyword("warps") ||
      parser.parseEqual() || parser.parseInteger(warps) ||
      parser.parseComma() || parser.parseKeyword("row_tiles") ||
      parser.parseEqual() || parser.parseInteger(rowTiles))
    return {};
  AffineMap map;
  bool wgmma = false;
  SMLoc mapLoc = parser.getCurrentLocation();
  if (succeeded(parser.parseOptionalComma())) {
    wgmma = succeeded(parser.parseOptionalKeyword("wgmma"));
    mapLoc = parser.getCurrentLocation();
    if ((!wgmma || succeeded(parser.parseOptionalComma())) &&
        parser.parseAffineMap(map))
      return {};
  }
  if (parser.parseGreater())
    return {};
  auto attr = getChecked([&] { return parser.emitError(mapLoc); },
                         parser.getContext(), warps, rowTiles, wgmma);
  if (attr && map && map != attr.getMap()) {
    parser.emitError(mapLoc)
        << "#dma.mma: the map is fixed by the mma's fragments: expected "
        << AffineMapAttr::get(attr.getMap());
    return {};
  }
  return attr;
}

void MmaLayoutAttr::print(AsmPrinter &printer) const {
  printer << "<warps = " << getWarps() << ", row_tiles = " << getRowTiles()
          << (getWgmma() ? ", wgmma" : "") << ", " << getMap() << ">";
}

//===----------------------------------------------------------------------===//
// #dma.rows
//===----------------------------------------------------------------------===//

AffineMap RowsLayoutAttr::getMap() const {
  MLIRContext *ctx = getContext();
  AffineExpr w = getAffineDimExpr(0, ctx), l = getAffineDimExpr(1, ctx),
             v = getAffineDimExpr(2, ctx);
  int64_t r = getParent().getRowTiles();
  return AffineMap::get(3, 0,
                        w * (16 * r) + v.floorDiv(2) * 16 + l.floorDiv(4) +
                            (v % 2) * 8);
}

LogicalResult
RowsLayoutAttr::verifyTile(function_ref<InFlightDiagnostic()> emitError,
                           RankedTensorType type) const {
  if (type.getRank() != 1)
    return emitError() << "#dma.rows holds 1-D tiles, not " << type;
  if (type.getDimSize(0) != getParent().getRows())
    return emitError() << "#dma.rows of a layout of " << getParent().getRows()
                       << " rows on a tile of " << type.getDimSize(0);
  return success();
}

//===----------------------------------------------------------------------===//
// #dma.shared
//===----------------------------------------------------------------------===//

LogicalResult
SharedLayoutAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                         int64_t stages, int64_t swizzle, int64_t blockCols) {
  if (blockCols < 0 || blockCols % 8)
    return emitError() << "#dma.shared: block_cols must be a multiple of 8 "
                          "(whole 16-byte chunks of 16-bit columns), got "
                       << blockCols;
  if (stages < 1 || stages > 8)
    return emitError() << "#dma.shared: stages must be in [1, 8], got "
                       << stages;
  if (swizzle != 1 && swizzle != 2 && swizzle != 4 && swizzle != 8)
    return emitError() << "#dma.shared: swizzle must be 1, 2, 4 or 8 "
                          "(16-byte chunks per group), got "
                       << swizzle;
  return success();
}

SmallVector<std::pair<int64_t, int64_t>>
SharedLayoutAttr::swizzleGroups(int64_t chunks) const {
  SmallVector<std::pair<int64_t, int64_t>> groups; // (first chunk, size)
  int64_t start = 0, size = getSwizzle();
  for (; start + size <= chunks; start += size)
    groups.push_back({start, size});
  for (size /= 2; size >= 1; size /= 2)
    if (start + size <= chunks) {
      groups.push_back({start, size});
      start += size;
    }
  return groups;
}

int64_t SharedLayoutAttr::swizzleMask(int64_t chunk, int64_t chunks) const {
  for (auto [start, size] : swizzleGroups(chunks))
    if (chunk < start + size)
      return size - 1;
  return 0;
}

int64_t SharedLayoutAttr::byteOffset(RankedTensorType type, int64_t stage,
                                     int64_t row, int64_t col) const {
  int64_t bytes = type.getElementTypeBitWidth() / 8;
  int64_t rows = type.getDimSize(0);
  if (type.getRank() == 1)
    return (stage * rows + row) * bytes;
  int64_t cols = type.getDimSize(1);
  int64_t tileBytes = rows * cols * bytes;
  // Column blocks: block `col / C` is a [rows, C] tile of its own.
  int64_t blockCols = getBlockCols() ? getBlockCols() : cols;
  int64_t block = col / blockCols;
  col %= blockCols;
  int64_t rowBytes = blockCols * bytes;
  int64_t chunk = col * bytes / 16;
  int64_t phys = chunk ^ (row & swizzleMask(chunk, rowBytes / 16));
  return stage * tileBytes + block * rows * rowBytes + row * rowBytes +
         phys * 16 + (col * bytes) % 16;
}

LogicalResult
SharedLayoutAttr::verifyTile(function_ref<InFlightDiagnostic()> emitError,
                             RankedTensorType type) const {
  if (type.getRank() == 1) {
    if (getSwizzle() != 1)
      return emitError() << "#dma.shared: a 1-D tile is not swizzled "
                            "(swizzle = 1), got swizzle = "
                         << getSwizzle();
    if (getBlockCols())
      return emitError() << "#dma.shared: a 1-D tile has no column blocks "
                            "(block_cols = 0), got block_cols = "
                         << getBlockCols();
    return success();
  }
  if (type.getRank() != 2 || type.getElementTypeBitWidth() != 16)
    return emitError() << "#dma.shared holds 1-D tiles or 2-D tiles of "
                          "16-bit elements (ldmatrix), not "
                       << type;
  if (type.getDimSize(1) % 8 != 0)
    return emitError() << "#dma.shared rows are whole 16-byte chunks: "
                       << type.getDimSize(1) << " columns";
  if (getBlockCols() && type.getDimSize(1) % getBlockCols() != 0)
    return emitError() << "#dma.shared: " << type.getDimSize(1)
                       << " columns do not split into blocks of "
                       << getBlockCols();
  return success();
}

//===----------------------------------------------------------------------===//
// Layouts on tile types
//===----------------------------------------------------------------------===//

LogicalResult
mlir::dma::verifyTileLayout(function_ref<InFlightDiagnostic()> emitError,
                            Type type) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor || !tensor.getEncoding())
    return success();
  return TypeSwitch<Attribute, LogicalResult>(tensor.getEncoding())
      .Case<MmaLayoutAttr, RowsLayoutAttr, SharedLayoutAttr>(
          [&](auto layout) { return layout.verifyTile(emitError, tensor); })
      .Default([&](Attribute other) {
        return emitError() << "tile encoding " << other
                           << " is not a #dma layout (mma, rows, shared)";
      });
}

Attribute mlir::dma::tileLayoutOf(Value tile) {
  auto tensor = dyn_cast<RankedTensorType>(tile.getType());
  return tensor ? tensor.getEncoding() : Attribute();
}
