//===- LayoutTest.cpp - the tile layouts against the hardware -------------===//
//
// #dma.mma's map must be exactly the accumulator fragment of PTX's
// mma.sync.m16n8k16 (PTX ISA, "Matrix Fragments for mma.m16n8k16": row =
// groupID + 8 (i >= 2), col = 2 threadID_in_group + (i & 1) for c_i), laid
// out over warps and 16-row / 8-column blocks, and cover the tile once;
// #dma.rows must name the rows those fragments hold; #dma.shared's swizzle
// must keep every 16-byte chunk in its row, be a bijection, and let the
// eight row addresses of one ldmatrix 8x8 matrix hit eight bank groups.
// With wgmma, #dma.mma's map must be the accumulator fragment of
// wgmma.mma_async.m64nNk16 (PTX ISA, "Matrix Fragments for
// wgmma.mma_async.m64nNk16": thread T of a warpgroup holds d_i at row
// 16 (T / 32) + (T mod 32) / 4 + 8 ((i / 2) mod 2), col 8 (i / 4) +
// 2 (T mod 4) + i mod 2), warpgroup g at rows 64 g; and #dma.shared's
// column blocks must be wgmma's 128-byte-swizzled canonical layout.
//
//===----------------------------------------------------------------------===//

#include "dma/Dialect/DMA/IR/DMAAttrs.h"
#include "dma/Dialect/DMA/IR/DMADialect.h"

#include "mlir/IR/AffineMap.h"
#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

#include <set>
#include <utility>

using namespace mlir;
using namespace mlir::dma;

namespace {

struct LayoutTest : ::testing::Test {
  LayoutTest() { ctx.loadDialect<DMADialect>(); }
  MLIRContext ctx;
};

std::pair<int64_t, int64_t> at(AffineMap map, int64_t w, int64_t l,
                               int64_t v) {
  SmallVector<int64_t> r = map.compose(ArrayRef<int64_t>{w, l, v});
  return {r[0], r.size() > 1 ? r[1] : -1};
}

TEST_F(LayoutTest, MmaMapIsTheHardwareFragmentAndCoversTheTile) {
  for (int64_t warps : {1, 2, 4, 8})
    for (int64_t rowTiles : {1, 2, 4})
      for (int64_t cols : {8, 32, 64, 128}) {
        auto layout = MmaLayoutAttr::get(&ctx, warps, rowTiles, false);
        AffineMap map = layout.getMap();
        std::set<std::pair<int64_t, int64_t>> seen;
        for (int64_t w = 0; w < warps; ++w)
          for (int64_t lane = 0; lane < 32; ++lane)
            for (int64_t mt = 0; mt < rowTiles; ++mt)
              for (int64_t j = 0; j < cols / 8; ++j)
                for (int64_t i = 0; i < 4; ++i) {
                  int64_t group = lane / 4, inGroup = lane % 4;
                  int64_t row = 16 * rowTiles * w + 16 * mt + group +
                                8 * (i >= 2);
                  int64_t col = 8 * j + 2 * inGroup + (i & 1);
                  auto got = at(map, w, lane, layout.valueOf(mt, j, i));
                  ASSERT_EQ(got, std::make_pair(row, col))
                      << "warps " << warps << " row_tiles " << rowTiles
                      << " lane " << lane << " c" << i;
                  seen.insert(got);
                }
        EXPECT_EQ(static_cast<int64_t>(seen.size()), layout.getRows() * cols);
        EXPECT_EQ(layout.valuesPerLane(cols) * 32 * warps,
                  layout.getRows() * cols);
      }
}

TEST_F(LayoutTest, RowsAreTheRowsOfTheFragments) {
  for (int64_t rowTiles : {1, 2}) {
    auto mma = MmaLayoutAttr::get(&ctx, 4, rowTiles, false);
    auto rows = RowsLayoutAttr::get(&ctx, mma);
    for (int64_t w = 0; w < 4; ++w)
      for (int64_t lane = 0; lane < 32; ++lane)
        for (int64_t mt = 0; mt < rowTiles; ++mt)
          for (int64_t half = 0; half < 2; ++half) {
            int64_t row = at(rows.getMap(), w, lane, 2 * mt + half).first;
            // Accumulator values 2 half and 2 half + 1 of every column block.
            for (int64_t e : {2 * half, 2 * half + 1})
              EXPECT_EQ(row,
                        at(mma.getMap(), w, lane, mma.valueOf(mt, 3, e)).first);
          }
  }
}

TEST_F(LayoutTest, SwizzleKeepsRowsAndSpreadsLdmatrixRows) {
  for (int64_t swizzle : {1, 2, 4, 8})
    for (int64_t cols : {16, 32, 64, 80, 96, 128, 256}) {
      auto layout = SharedLayoutAttr::get(&ctx, 2, swizzle, 0);
      auto type = RankedTensorType::get({32, cols},
                                        Float16Type::get(&ctx), layout);
      int64_t rowBytes = cols * 2;
      std::set<int64_t> offsets;
      for (int64_t stage = 0; stage < 2; ++stage)
        for (int64_t row = 0; row < 32; ++row)
          for (int64_t col = 0; col < cols; ++col) {
            int64_t off = layout.byteOffset(type, stage, row, col);
            ASSERT_EQ(off / rowBytes, stage * 32 + row) << "left its row";
            offsets.insert(off);
          }
      EXPECT_EQ(static_cast<int64_t>(offsets.size()), 2 * 32 * cols);
      // ldmatrix reads 8 rows of 16 bytes at one logical chunk; with
      // swizzle 8 and whole 8-chunk groups they land in 8 distinct 16-byte
      // bank groups (offset / 16 mod 8).
      if (swizzle != 8 || cols % 64 != 0)
        continue;
      for (int64_t chunk = 0; chunk < cols / 8; ++chunk) {
        std::set<int64_t> banks;
        for (int64_t row = 0; row < 8; ++row)
          banks.insert(layout.byteOffset(type, 0, row, 8 * chunk) / 16 % 8);
        EXPECT_EQ(banks.size(), 8u) << "cols " << cols << " chunk " << chunk;
      }
    }
}

TEST_F(LayoutTest, WgmmaMapIsTheWarpgroupAccumulator) {
  for (int64_t warps : {4, 8})
    for (int64_t n : {32, 64, 128, 256}) {
      auto layout = MmaLayoutAttr::get(&ctx, warps, 1, true);
      for (int64_t w = 0; w < warps; ++w)
        for (int64_t lane = 0; lane < 32; ++lane)
          for (int64_t i = 0; i < n / 2; ++i) {
            int64_t t = 32 * (w % 4) + lane; // thread in the warpgroup
            int64_t row = 64 * (w / 4) + 16 * (t / 32) + (t % 32) / 4 +
                          8 * ((i / 2) % 2);
            int64_t col = 8 * (i / 4) + 2 * (t % 4) + i % 2;
            // The struct's value i is block i / 4, element i mod 4.
            auto got = at(layout.getMap(), w, lane,
                          layout.valueOf(0, i / 4, i % 4));
            ASSERT_EQ(got, std::make_pair(row, col))
                << "warps " << warps << " lane " << lane << " d" << i;
          }
    }
}

TEST_F(LayoutTest, ColumnBlocksAreWgmmaSwizzledAtoms) {
  // The canonical 128-byte-swizzled layout of 16-bit elements (CUTLASS's
  // Swizzle<3,4,3> over 8 x 64 atoms): element (r, c) of a [rows, C]
  // tile in blocks of 64 columns lies in block c / 64 at
  // (r / 8) * 1024 + (r mod 8) * 128 + ((c mod 64) / 8 xor r mod 8) * 16
  // + (c mod 8) * 2, the byte address bits 4-6 XORed with bits 7-9.
  for (int64_t rows : {32, 64, 128})
    for (int64_t cols : {64, 128, 256}) {
      auto layout = SharedLayoutAttr::get(&ctx, 2, 8, 64);
      auto type = RankedTensorType::get({rows, cols},
                                        BFloat16Type::get(&ctx), layout);
      for (int64_t stage = 0; stage < 2; ++stage)
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t c = 0; c < cols; ++c) {
            int64_t linear = (r / 8) * 1024 + (r % 8) * 128 + (c % 64) * 2;
            int64_t swizzled = linear ^ (((linear >> 7) & 7) << 4);
            int64_t want = stage * rows * cols * 2 + (c / 64) * rows * 128 +
                           swizzled;
            ASSERT_EQ(layout.byteOffset(type, stage, r, c), want)
                << rows << "x" << cols << " (" << r << ", " << c << ")";
          }
    }
}

} // namespace
