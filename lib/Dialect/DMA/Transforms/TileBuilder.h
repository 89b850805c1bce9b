//===- TileBuilder.h - builders for the tile form of attention --*- C++ -*-===//
//
// Shared by dma-tile-attention, dma-block-skip and dma-gather-keys: terse
// constructors for tile ops on tensors, and the markers by which the later
// passes find the loops that dma-tile-attention made.
//
//===----------------------------------------------------------------------===//

#ifndef DMA_LIB_DIALECT_DMA_TRANSFORMS_TILEBUILDER_H
#define DMA_LIB_DIALECT_DMA_TRANSFORMS_TILEBUILDER_H

#include "dma/Dialect/DMA/IR/DMAOps.h"
#include "dma/Utils/LoopEmitter.h"

#include "mlir/Dialect/SCF/IR/SCF.h"

namespace mlir::dma {

// Markers (unit attributes) that dma-tile-attention puts on the IR it
// builds, so that the skipping/gathering passes can find their loops.
/// The forward's parallel loop over (batch, head, query tile).
inline constexpr llvm::StringLiteral kQueryTilesAttr = "dma.query_tiles";
/// The forward's sequential loop over key tiles.
inline constexpr llvm::StringLiteral kKeyLoopAttr = "dma.key_loop";
/// The backward's parallel loop over (batch, KV head, key tile).
inline constexpr llvm::StringLiteral kKeyTilesAttr = "dma.key_tiles";
/// The backward's sequential loop over query tiles.
inline constexpr llvm::StringLiteral kQueryLoopAttr = "dma.query_loop";
/// The op producing a tile's key positions.
inline constexpr llvm::StringLiteral kKeyPositionsAttr = "dma.key_positions";
/// The global with the visit counters (memref<2xi64>: tiles, keys).
inline constexpr llvm::StringLiteral kVisitCountsGlobal = "dma_visit_counts";

class TileBuilder : public LoopEmitter {
public:
  using LoopEmitter::LoopEmitter;

  Value empty(ArrayRef<int64_t> shape, Type elt);
  /// linalg.fill of `dest` with a float or integer constant.
  Value fill(Value dest, double value);

  Value iota(Value start, Value bound, Value dest);
  Value gather(Value source, Value b, Value head, Value rows, Value dest);
  Value dot(Value lhs, Value rhs, Value acc, bool transposeLhs,
            bool transposeRhs);
  /// Reads element i of a rank-1 i32 tile as an index.
  Value extractIndex(Value tile, int64_t i);
  /// Number of valid positions in a positions tile.
  Value count(Value positions);
  /// Adds one tile and `keys` keys to the visit counters.
  void countVisit(Value keys);
};

/// Walks up from `op` to the closest ancestor of type OpTy that carries the
/// unit attribute `marker`.
template <typename OpTy>
OpTy enclosingMarked(Operation *op, StringRef marker) {
  for (Operation *p = op->getParentOp(); p; p = p->getParentOp())
    if (auto t = dyn_cast<OpTy>(p); t && t->hasAttr(marker))
      return t;
  return nullptr;
}

} // namespace mlir::dma

#endif
