// RUN: dma-opt %s -split-input-file -verify-diagnostics

// One case per verifier rule of the tile layouts: the attributes
// (lib/Dialect/DMA/IR/DMAAttrs.cpp), a layout on a tile it does not fit, and
// the layouts a tile op's operands need together (DMATileOps.cpp).

// expected-error @+1 {{#dma.mma: warps must be in [1, 32], got 0}}
func.func @f(%a: tensor<16x8xf32, #dma.mma<warps = 0, row_tiles = 1>>)

// -----

// expected-error @+1 {{#dma.mma: row_tiles must be positive, got 0}}
func.func @f(%a: tensor<16x8xf32, #dma.mma<warps = 1, row_tiles = 0>>)

// -----

// expected-error @+1 {{#dma.mma: the map is fixed by the mma's fragments: expected}}
func.func @f(%a: tensor<16x8xf32, #dma.mma<warps = 1, row_tiles = 1, (d0, d1, d2) -> (d1, d2)>>)

// -----

// expected-error @+1 {{#dma.mma: wgmma fragments need whole warpgroups (a multiple of 4 warps) of one 16-row tile per warp, got warps = 2, row_tiles = 1}}
func.func @f(%a: tensor<32x8xf32, #dma.mma<warps = 2, row_tiles = 1, wgmma>>)

// -----

// expected-error @+1 {{#dma.mma: wgmma fragments need whole warpgroups (a multiple of 4 warps) of one 16-row tile per warp, got warps = 4, row_tiles = 2}}
func.func @f(%a: tensor<128x8xf32, #dma.mma<warps = 4, row_tiles = 2, wgmma>>)

// -----

// expected-error @+1 {{#dma.shared: block_cols must be a multiple of 8 (whole 16-byte chunks of 16-bit columns), got 12}}
func.func @f(%a: tensor<16x24xbf16, #dma.shared<stages = 1, swizzle = 8, block_cols = 12>>)


// -----

// expected-error @+1 {{#dma.shared: stages must be in [1, 8], got 0}}
func.func @f(%a: tensor<16x8xbf16, #dma.shared<stages = 0, swizzle = 8>>)

// -----

// expected-error @+1 {{#dma.shared: swizzle must be 1, 2, 4 or 8 (16-byte chunks per group), got 3}}
func.func @f(%a: tensor<16x8xbf16, #dma.shared<stages = 1, swizzle = 3>>)

// -----

func.func @f(%q: tensor<16x16xbf16>, %k: tensor<8x16xbf16>, %acc: tensor<16x8xf16, #dma.mma<warps = 1, row_tiles = 1>>) {
  // expected-error @+1 {{accumulator must have f32 elements}}
  %s = dma.tile.dot %q, %k transpose_rhs : tensor<16x16xbf16>, tensor<8x16xbf16> outs(%acc : tensor<16x8xf16, #dma.mma<warps = 1, row_tiles = 1>>) -> tensor<16x8xf16, #dma.mma<warps = 1, row_tiles = 1>>
  return
}

// -----

func.func @f(%l: tensor<16xf32, #dma.mma<warps = 1, row_tiles = 1>>, %p: tensor<16x8xf32>, %acc: tensor<16x8xf32>, %m: tensor<16xf32>) {
  // expected-error @+1 {{row max: #dma.mma holds 2-D f32 tiles, not 'tensor<16xf32, #dma.mma}}
  %r:4 = dma.tile.softmax %p : tensor<16x8xf32> outs(%p, %acc, %l, %m : tensor<16x8xf32>, tensor<16x8xf32>, tensor<16xf32, #dma.mma<warps = 1, row_tiles = 1>>, tensor<16xf32>) -> tensor<16x8xf32>, tensor<16x8xf32>, tensor<16xf32, #dma.mma<warps = 1, row_tiles = 1>>, tensor<16xf32>
  return
}

// -----

func.func @f(%q: tensor<64x16xbf16>, %k: tensor<8x16xbf16>, %acc: tensor<64x8xf32, #dma.mma<warps = 4, row_tiles = 2>>) {
  // expected-error @+1 {{accumulator: #dma.mma<warps = 4, row_tiles = 2> covers 128 rows, the tile has 64}}
  %s = dma.tile.dot %q, %k transpose_rhs : tensor<64x16xbf16>, tensor<8x16xbf16> outs(%acc : tensor<64x8xf32, #dma.mma<warps = 4, row_tiles = 2>>) -> tensor<64x8xf32, #dma.mma<warps = 4, row_tiles = 2>>
  return
}

// -----

func.func @f(%q: tensor<16x16xbf16>, %k: tensor<4x16xbf16>, %acc: tensor<16x4xf32, #dma.mma<warps = 1, row_tiles = 1>>) {
  // expected-error @+1 {{accumulator: #dma.mma tiles have a multiple of 8 columns, not 4}}
  %s = dma.tile.dot %q, %k transpose_rhs : tensor<16x16xbf16>, tensor<4x16xbf16> outs(%acc : tensor<16x4xf32, #dma.mma<warps = 1, row_tiles = 1>>) -> tensor<16x4xf32, #dma.mma<warps = 1, row_tiles = 1>>
  return
}

// -----

func.func @f(%p: tensor<16x8xf32, #dma.rows<#dma.mma<warps = 1, row_tiles = 1>>>, %acc: tensor<16x8xf32>, %m: tensor<16xf32>) {
  // expected-error @+1 {{logits: #dma.rows holds 1-D tiles, not 'tensor<16x8xf32, #dma.rows}}
  %r:4 = dma.tile.softmax %p : tensor<16x8xf32, #dma.rows<#dma.mma<warps = 1, row_tiles = 1>>> outs(%acc, %acc, %m, %m : tensor<16x8xf32>, tensor<16x8xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<16x8xf32>, tensor<16x8xf32>, tensor<16xf32>, tensor<16xf32>
  return
}

// -----

func.func @f(%p: tensor<16x8xf32>, %m: tensor<32xf32, #dma.rows<#dma.mma<warps = 1, row_tiles = 1>>>) {
  // expected-error @+1 {{row max has shape 'tensor<32xf32, #dma.rows}}
  %r:4 = dma.tile.softmax %p : tensor<16x8xf32> outs(%p, %p, %m, %m : tensor<16x8xf32>, tensor<16x8xf32>, tensor<32xf32, #dma.rows<#dma.mma<warps = 1, row_tiles = 1>>>, tensor<32xf32, #dma.rows<#dma.mma<warps = 1, row_tiles = 1>>>) -> tensor<16x8xf32>, tensor<16x8xf32>, tensor<32xf32, #dma.rows<#dma.mma<warps = 1, row_tiles = 1>>>, tensor<32xf32, #dma.rows<#dma.mma<warps = 1, row_tiles = 1>>>
  return
}

// -----

func.func @f(%p: tensor<32x8xf32>, %m: tensor<32xf32, #dma.rows<#dma.mma<warps = 1, row_tiles = 1>>>) {
  // expected-error @+1 {{row max: #dma.rows of a layout of 16 rows on a tile of 32}}
  %r:4 = dma.tile.softmax %p : tensor<32x8xf32> outs(%p, %p, %m, %m : tensor<32x8xf32>, tensor<32x8xf32>, tensor<32xf32, #dma.rows<#dma.mma<warps = 1, row_tiles = 1>>>, tensor<32xf32, #dma.rows<#dma.mma<warps = 1, row_tiles = 1>>>) -> tensor<32x8xf32>, tensor<32x8xf32>, tensor<32xf32, #dma.rows<#dma.mma<warps = 1, row_tiles = 1>>>, tensor<32xf32, #dma.rows<#dma.mma<warps = 1, row_tiles = 1>>>
  return
}

// -----

func.func @f(%i: index, %n: index, %e: tensor<16xi32, #dma.shared<stages = 1, swizzle = 8>>) {
  // expected-error @+1 {{positions: #dma.shared: a 1-D tile is not swizzled (swizzle = 1), got swizzle = 8}}
  %p = dma.tile.iota %i bound %n outs(%e : tensor<16xi32, #dma.shared<stages = 1, swizzle = 8>>) -> tensor<16xi32, #dma.shared<stages = 1, swizzle = 8>>
  return
}

// -----

func.func @f(%i: index, %n: index, %e: tensor<16xi32, #dma.shared<stages = 1, swizzle = 1, block_cols = 64>>) {
  // expected-error @+1 {{positions: #dma.shared: a 1-D tile has no column blocks (block_cols = 0), got block_cols = 64}}
  %p = dma.tile.iota %i bound %n outs(%e : tensor<16xi32, #dma.shared<stages = 1, swizzle = 1, block_cols = 64>>) -> tensor<16xi32, #dma.shared<stages = 1, swizzle = 1, block_cols = 64>>
  return
}

// -----

func.func @f(%q: tensor<16x96xbf16, #dma.shared<stages = 1, swizzle = 8, block_cols = 64>>, %k: tensor<8x96xbf16>, %acc: tensor<16x8xf32>) {
  // expected-error @+1 {{lhs: #dma.shared: 96 columns do not split into blocks of 64}}
  %s = dma.tile.dot %q, %k transpose_rhs : tensor<16x96xbf16, #dma.shared<stages = 1, swizzle = 8, block_cols = 64>>, tensor<8x96xbf16> outs(%acc : tensor<16x8xf32>) -> tensor<16x8xf32>
  return
}

// -----

func.func @f(%q: tensor<16x16xf32, #dma.shared<stages = 1, swizzle = 8>>, %k: tensor<8x16xbf16>, %acc: tensor<16x8xf32>) {
  // expected-error @+1 {{lhs: #dma.shared holds 1-D tiles or 2-D tiles of 16-bit elements (ldmatrix)}}
  %s = dma.tile.dot %q, %k transpose_rhs : tensor<16x16xf32, #dma.shared<stages = 1, swizzle = 8>>, tensor<8x16xbf16> outs(%acc : tensor<16x8xf32>) -> tensor<16x8xf32>
  return
}

// -----

func.func @f(%q: tensor<16x4xbf16, #dma.shared<stages = 1, swizzle = 8>>, %k: tensor<8x4xbf16>, %acc: tensor<16x8xf32>) {
  // expected-error @+1 {{lhs: #dma.shared rows are whole 16-byte chunks: 4 columns}}
  %s = dma.tile.dot %q, %k transpose_rhs : tensor<16x4xbf16, #dma.shared<stages = 1, swizzle = 8>>, tensor<8x4xbf16> outs(%acc : tensor<16x8xf32>) -> tensor<16x8xf32>
  return
}

// -----

func.func @f(%q: tensor<16x16xbf16, "rows">, %k: tensor<8x16xbf16>, %acc: tensor<16x8xf32>) {
  // expected-error @+1 {{lhs: tile encoding "rows" is not a #dma layout (mma, rows, shared)}}
  %s = dma.tile.dot %q, %k transpose_rhs : tensor<16x16xbf16, "rows">, tensor<8x16xbf16> outs(%acc : tensor<16x8xf32>) -> tensor<16x8xf32>
  return
}

// -----

func.func @f(%q: tensor<16x16xbf16, #dma.shared<stages = 1, swizzle = 8>>, %k: tensor<8x16xbf16, #dma.shared<stages = 1, swizzle = 8>>, %acc: tensor<16x8xf32, #dma.shared<stages = 1, swizzle = 8>>) {
  // expected-error @+1 {{accumulator: #dma.shared holds 1-D tiles or 2-D tiles of 16-bit elements}}
  %s = dma.tile.dot %q, %k transpose_rhs : tensor<16x16xbf16, #dma.shared<stages = 1, swizzle = 8>>, tensor<8x16xbf16, #dma.shared<stages = 1, swizzle = 8>> outs(%acc : tensor<16x8xf32, #dma.shared<stages = 1, swizzle = 8>>) -> tensor<16x8xf32, #dma.shared<stages = 1, swizzle = 8>>
  return
}

// -----

#mma = #dma.mma<warps = 1, row_tiles = 1>
#shared = #dma.shared<stages = 1, swizzle = 8>
func.func @f(%q: tensor<16x16xbf16, #shared>, %k: tensor<8x16xbf16>, %acc: tensor<16x8xf32, #mma>) {
  // expected-error @+1 {{rhs must be in a #dma.shared layout (ldmatrix)}}
  %s = dma.tile.dot %q, %k transpose_rhs : tensor<16x16xbf16, #shared>, tensor<8x16xbf16> outs(%acc : tensor<16x8xf32, #mma>) -> tensor<16x8xf32, #mma>
  return
}

// -----

#mma = #dma.mma<warps = 1, row_tiles = 1>
#shared = #dma.shared<stages = 1, swizzle = 8>
func.func @f(%p: tensor<32x16xf32, #dma.mma<warps = 2, row_tiles = 1>>, %v: tensor<16x16xbf16, #shared>, %acc: tensor<32x16xf32, #dma.mma<warps = 1, row_tiles = 2>>) {
  // expected-error @+1 {{lhs must be in a #dma.shared layout or in the accumulator's #dma.mma layout}}
  %o = dma.tile.dot %p, %v : tensor<32x16xf32, #dma.mma<warps = 2, row_tiles = 1>>, tensor<16x16xbf16, #shared> outs(%acc : tensor<32x16xf32, #dma.mma<warps = 1, row_tiles = 2>>) -> tensor<32x16xf32, #dma.mma<warps = 1, row_tiles = 2>>
  return
}

// -----

#shared = #dma.shared<stages = 1, swizzle = 8>
func.func @f(%q: tensor<16x16xbf16, #shared>, %k: tensor<8x16xbf16, #shared>, %acc: tensor<16x8xf32>) {
  // expected-error @+1 {{accumulator has no layout where its operands have one (run dma-assign-layouts)}}
  %s = dma.tile.dot %q, %k transpose_rhs : tensor<16x16xbf16, #shared>, tensor<8x16xbf16, #shared> outs(%acc : tensor<16x8xf32>) -> tensor<16x8xf32>
  return
}

// -----

#mma = #dma.mma<warps = 1, row_tiles = 1>
#rows = #dma.rows<#mma>
func.func @f(%s: tensor<16x8xf32, #mma>, %qpos: tensor<16xi32, #rows>, %kpos: tensor<8xi32>, %i: index) {
  // expected-error @+1 {{keys has no layout where the other tiles have one (run dma-assign-layouts)}}
  %l = dma.tile.logits %s rows(%qpos) keys(%kpos) at(%i, %i) heads(%i) key_offset(%i) scale(1.0) : tensor<16x8xf32, #mma>, tensor<16xi32, #rows>, tensor<8xi32> outs(%s : tensor<16x8xf32, #mma>) -> tensor<16x8xf32, #mma>
  return
}

// -----

#mma = #dma.mma<warps = 1, row_tiles = 1>
#rows = #dma.rows<#mma>
func.func @f(%s: tensor<16x16xf32, #mma>, %qpos: tensor<16xi32, #rows>, %kpos: tensor<16xi32, #rows>, %i: index) {
  // expected-error @+1 {{keys must be in a #dma.shared layout, not}}
  %l = dma.tile.logits %s rows(%qpos) keys(%kpos) at(%i, %i) heads(%i) key_offset(%i) scale(1.0) : tensor<16x16xf32, #mma>, tensor<16xi32, #rows>, tensor<16xi32, #rows> outs(%s : tensor<16x16xf32, #mma>) -> tensor<16x16xf32, #mma>
  return
}

// -----

#mma = #dma.mma<warps = 1, row_tiles = 1>
#mma2 = #dma.mma<warps = 2, row_tiles = 1>
func.func @f(%p: tensor<32x8xf32, #mma2>, %acc: tensor<32x8xf32, #mma2>, %m: tensor<32xf32, #dma.rows<#mma2>>, %l: tensor<32xf32, #dma.rows<#dma.mma<warps = 1, row_tiles = 2>>>) {
  // expected-error @+1 {{row sum must be in layout}}
  %r:4 = dma.tile.softmax %p : tensor<32x8xf32, #mma2> outs(%p, %acc, %m, %l : tensor<32x8xf32, #mma2>, tensor<32x8xf32, #mma2>, tensor<32xf32, #dma.rows<#mma2>>, tensor<32xf32, #dma.rows<#dma.mma<warps = 1, row_tiles = 2>>>) -> tensor<32x8xf32, #mma2>, tensor<32x8xf32, #mma2>, tensor<32xf32, #dma.rows<#mma2>>, tensor<32xf32, #dma.rows<#dma.mma<warps = 1, row_tiles = 2>>>
  return
}

// -----

#rows = #dma.rows<#dma.mma<warps = 1, row_tiles = 1>>
func.func @f(%K: memref<1x8x1x16xbf16>, %pos: tensor<16xi32>, %e: tensor<16xf32, #rows>, %i: index) {
  // expected-error @+1 {{gathers into a #dma.shared layout only}}
  %k = dma.tile.gather %K[%i, %i] rows(%pos : tensor<16xi32>) : memref<1x8x1x16xbf16> outs(%e : tensor<16xf32, #rows>) -> tensor<16xf32, #rows>
  return
}
