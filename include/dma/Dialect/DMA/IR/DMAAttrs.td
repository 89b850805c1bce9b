//===- DMAAttrs.td - layouts of GPU tiles -------------------*- tablegen -*-===//
//
// Where each tile of a GPU kernel lives, as an encoding of its tensor type
// (Triton's approach): `dma-assign-layouts` puts them on the tiled forward,
// the tile ops' verifiers check they fit together, and the GPU lowering
// reads warps, stages, swizzle and every fragment coordinate from them.
//
//   tensor<128x32xf32, #dma.mma<...>>       registers: mma accumulators
//   tensor<128xf32, #dma.rows<#dma.mma..>>  registers: one value per row
//   tensor<32x64xbf16, #dma.shared<...>>    shared memory, swizzled, staged
//
//===----------------------------------------------------------------------===//

#ifndef DMA_DIALECT_DMA_IR_DMAATTRS_TD
#define DMA_DIALECT_DMA_IR_DMAATTRS_TD

include "dma/Dialect/DMA/IR/DMADialect.td"
include "mlir/IR/AttrTypeBase.td"

class DMA_Attr<string name, string attrMnemonic>
    : AttrDef<DMA_Dialect, name> {
  let mnemonic = attrMnemonic;
}

def DMA_MmaLayoutAttr : DMA_Attr<"MmaLayout", "mma"> {
  let summary = "register fragments of mma.sync m16n8 accumulators";
  let description = [{
    A [M, N] f32 tile held in the accumulator fragments of
    `mma.sync.m16n8k16` by `warps` warps: warp w owns rows
    [16 R w, 16 R (w + 1)) as `R = row_tiles` tiles of 16 rows, and each
    16 x 8 block of them is one mma accumulator (4 values per lane). Value v
    of lane l of warp w holds element

    ```
    row = 16 R w + 16 ((v floordiv 4) mod R) + l floordiv 4 + 8 ((v floordiv 2) mod 2)
    col = 8 (v floordiv 4R) + 2 (l mod 4) + v mod 2
    ```

    so M = 16 R warps, and each lane holds 4 R N / 8 values. The map is
    printed with the attribute; a map given when parsing must be this one
    (the mma instruction fixes it).

    The same fragments, two 8-column blocks at a time, are the A operand of
    the next mma (P of P V needs no data movement).

    With `wgmma` the fragments are those of Hopper's warpgroup MMA
    (`wgmma.mma_async` m64nNk16, sm_90a): four consecutive warps form a
    warpgroup that computes a 64-row block in one instruction per 16-deep
    step, its accumulators spread as above with R = 1 (warp w of warpgroup
    g = w floordiv 4 holds rows 64 g + 16 (w mod 4) + ...: the same map),
    and P feeds P V from registers in the same way. It needs R = 1 and a
    multiple of 4 warps.

    ```mlir
    tensor<128x32xf32, #dma.mma<warps = 4, row_tiles = 2,
                                (w, l, v) -> (...)>>
    tensor<128x128xf32, #dma.mma<warps = 8, row_tiles = 1, wgmma,
                                 (w, l, v) -> (...)>>
    ```
  }];
  let parameters = (ins "int64_t":$warps, "int64_t":$rowTiles,
                        DefaultValuedParameter<"bool", "false">:$wgmma);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// (warp, lane, value) -> (row, col).
    ::mlir::AffineMap getMap() const;
    /// Rows of a tile in this layout: 16 R warps.
    int64_t getRows() const { return 16 * getWarps() * getRowTiles(); }
    /// Values per lane of a tile with `cols` columns.
    int64_t valuesPerLane(int64_t cols) const {
      return 4 * getRowTiles() * (cols / 8);
    }
    /// The value index of accumulator element `e` (0..3) of 16 x 8 block
    /// (row tile `mt`, column block `j`) of the warp.
    int64_t valueOf(int64_t mt, int64_t j, int64_t e) const {
      return (j * getRowTiles() + mt) * 4 + e;
    }
    /// Whether a [rows, cols] tile fits this layout (else says why).
    ::mlir::LogicalResult verifyTile(
        ::llvm::function_ref<::mlir::InFlightDiagnostic()> emitError,
        ::mlir::RankedTensorType type) const;
  }];
}

def DMA_RowsLayoutAttr : DMA_Attr<"RowsLayout", "rows"> {
  let summary = "one value per row of an mma fragment layout";
  let description = [{
    A [M] tile (row max, row sum, query positions) held beside an [M, N]
    tile in `parent`'s layout: lane l of warp w holds the rows its
    accumulators cover, value v at

    ```
    row = 16 R w + 16 (v floordiv 2) + l floordiv 4 + 8 (v mod 2)
    ```

    (2 R values per lane; the four lanes of a quad hold the same rows, so a
    row reduction is two quad shuffles).

    ```mlir
    tensor<128xf32, #dma.rows<#dma.mma<warps = 4, row_tiles = 2>>>
    ```
  }];
  let parameters = (ins "MmaLayoutAttr":$parent);
  let assemblyFormat = "`<` qualified($parent) `>`";
  let extraClassDeclaration = [{
    /// (warp, lane, value) -> (row).
    ::mlir::AffineMap getMap() const;
    ::mlir::LogicalResult verifyTile(
        ::llvm::function_ref<::mlir::InFlightDiagnostic()> emitError,
        ::mlir::RankedTensorType type) const;
  }];
}

def DMA_SharedLayoutAttr : DMA_Attr<"SharedLayout", "shared"> {
  let summary = "a tile staged in shared memory: ring of buffers, XOR swizzle";
  let description = [{
    The tile lives in shared memory, in `stages` buffers (a ring: the tile
    of step t sits in buffer t mod stages while later ones are copied in by
    cp.async). Rows are contiguous; 16-byte chunk c of row r of a 2-D tile
    is stored at chunk `c xor (r mod g)`, where g is the size of c's swizzle
    group: a row's chunks form groups of `swizzle`, then of the halves below
    it at the row's end (80 columns of bf16: 8 + 2), each aligned to its
    size, so the chunk stays in its row. With 8 the eight rows an ldmatrix
    reads at one column hit eight different bank groups. `swizzle = 1` is
    no swizzle (1-D tiles: key positions).

    With `block_cols = C` the columns are split into blocks of C, and each
    block is stored as a [rows, C] tile of its own (swizzled as above),
    one after the other: with C = 64 16-bit columns and swizzle 8, every 8
    rows of a block are one 1024-byte atom of the 128-byte-swizzled
    layout `wgmma` reads through a shared-memory matrix descriptor (K-major
    for Q and K, MN-major for V).

    ```mlir
    tensor<32x64xbf16, #dma.shared<stages = 2, swizzle = 8>>
    tensor<128x128xbf16, #dma.shared<stages = 2, swizzle = 8, block_cols = 64>>
    ```
  }];
  let parameters = (ins "int64_t":$stages, "int64_t":$swizzle,
                        DefaultValuedParameter<"int64_t", "0">:$blockCols);
  let assemblyFormat = "`<` `stages` `=` $stages `,` `swizzle` `=` $swizzle "
                       "(`,` `block_cols` `=` $blockCols^)? `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// The XOR mask of 16-byte chunk `chunk` in a row of `chunks` chunks
    /// (its swizzle group's size - 1).
    int64_t swizzleMask(int64_t chunk, int64_t chunks) const;
    /// The swizzle groups of a row of `chunks` chunks: (first, size).
    ::llvm::SmallVector<std::pair<int64_t, int64_t>>
    swizzleGroups(int64_t chunks) const;
    /// Byte offset of element (row, col) of buffer `stage` of a tile of
    /// this type.
    int64_t byteOffset(::mlir::RankedTensorType type, int64_t stage,
                       int64_t row, int64_t col) const;
    ::mlir::LogicalResult verifyTile(
        ::llvm::function_ref<::mlir::InFlightDiagnostic()> emitError,
        ::mlir::RankedTensorType type) const;
  }];
}

#endif // DMA_DIALECT_DMA_IR_DMAATTRS_TD
