// RUN: dma-opt %s | dma-opt | FileCheck %s
// RUN: dma-opt %s --mlir-print-op-generic | dma-opt | FileCheck %s

// The tile layouts (DMAAttrs.td) survive printing and parsing; #dma.mma
// prints its (warp, lane, value) -> (row, col) map, which the parser checks.

// CHECK-DAG: #[[MMA:.+]] = #dma.mma<warps = 4, row_tiles = 1, (d0, d1, d2) -> (d0 * 16 + d1 floordiv 4 + ((d2 floordiv 2) mod 2) * 8, (d2 floordiv 4) * 8 + (d1 mod 4) * 2 + d2 mod 2)>
// CHECK-DAG: #[[MMA2:.+]] = #dma.mma<warps = 4, row_tiles = 2, (d0, d1, d2) -> (d0 * 32 + ((d2 floordiv 4) mod 2) * 16 + d1 floordiv 4 + ((d2 floordiv 2) mod 2) * 8, (d2 floordiv 8) * 8 + (d1 mod 4) * 2 + d2 mod 2)>
// CHECK-DAG: #[[ROWS:.+]] = #dma.rows<#[[MMA]]>
// CHECK-DAG: #[[KV:.+]] = #dma.shared<stages = 2, swizzle = 8>
// CHECK-DAG: #[[Q:.+]] = #dma.shared<stages = 1, swizzle = 8>
// CHECK-DAG: #[[POS:.+]] = #dma.shared<stages = 2, swizzle = 1>

// CHECK-DAG: #[[WG:.+]] = #dma.mma<warps = 8, row_tiles = 1, wgmma, (d0, d1, d2) -> (d0 * 16 + d1 floordiv 4 + ((d2 floordiv 2) mod 2) * 8, (d2 floordiv 4) * 8 + (d1 mod 4) * 2 + d2 mod 2)>
// CHECK-DAG: #[[BLOCKS:.+]] = #dma.shared<stages = 2, swizzle = 8, block_cols = 64>

// CHECK-LABEL: func.func @types
// CHECK-SAME: tensor<128x32xf32, #[[MMA2]]>
// CHECK-SAME: tensor<128x128xf32, #[[WG]]>
// CHECK-SAME: tensor<128x128xbf16, #[[BLOCKS]]>
func.func @types(%a: tensor<128x32xf32, #dma.mma<warps = 4, row_tiles = 2>>,
                 %w: tensor<128x128xf32, #dma.mma<warps = 8, row_tiles = 1, wgmma>>,
                 %k: tensor<128x128xbf16, #dma.shared<stages = 2, swizzle = 8, block_cols = 64>>) {
  return
}

// A forward step with layouts: S = Q K^T, logits, softmax, O += P V.
// CHECK-LABEL: func.func @step
// CHECK: dma.tile.dot %{{.*}}, %{{.*}} transpose_rhs : tensor<64x64xbf16, #[[Q]]>, tensor<32x64xbf16, #[[KV]]> outs(%{{.*}} : tensor<64x32xf32, #[[MMA]]>)
// CHECK: dma.tile.logits {{.*}} : tensor<64x32xf32, #[[MMA]]>, tensor<64xi32, #[[ROWS]]>, tensor<32xi32, #[[POS]]>
// CHECK: dma.tile.softmax
// CHECK: dma.tile.dot %{{.*}}, %{{.*}} : tensor<64x32xf32, #[[MMA]]>, tensor<32x64xbf16, #[[KV]]>
// CHECK: dma.tile.store_output
func.func @step(%q: tensor<64x64xbf16, #dma.shared<stages = 1, swizzle = 8>>,
                %k: tensor<32x64xbf16, #dma.shared<stages = 2, swizzle = 8>>,
                %v: tensor<32x64xbf16, #dma.shared<stages = 2, swizzle = 8>>,
                %qpos: tensor<64xi32, #dma.rows<#dma.mma<warps = 4, row_tiles = 1>>>,
                %kpos: tensor<32xi32, #dma.shared<stages = 2, swizzle = 1>>,
                %s0: tensor<64x32xf32, #dma.mma<warps = 4, row_tiles = 1>>,
                %acc: tensor<64x64xf32, #dma.mma<warps = 4, row_tiles = 1>>,
                %m: tensor<64xf32, #dma.rows<#dma.mma<warps = 4, row_tiles = 1>>>,
                %l: tensor<64xf32, #dma.rows<#dma.mma<warps = 4, row_tiles = 1>>>,
                %i: index, %O: memref<1x64x1x64xbf16>, %LSE: memref<1x1x64xf32>) {
  %s = dma.tile.dot %q, %k transpose_rhs
      : tensor<64x64xbf16, #dma.shared<stages = 1, swizzle = 8>>, tensor<32x64xbf16, #dma.shared<stages = 2, swizzle = 8>>
      outs(%s0 : tensor<64x32xf32, #dma.mma<warps = 4, row_tiles = 1>>) -> tensor<64x32xf32, #dma.mma<warps = 4, row_tiles = 1>>
  %lg = dma.tile.logits %s rows(%qpos) keys(%kpos) at(%i, %i) heads(%i) key_offset(%i) scale(1.0)
      : tensor<64x32xf32, #dma.mma<warps = 4, row_tiles = 1>>, tensor<64xi32, #dma.rows<#dma.mma<warps = 4, row_tiles = 1>>>, tensor<32xi32, #dma.shared<stages = 2, swizzle = 1>>
      outs(%s0 : tensor<64x32xf32, #dma.mma<warps = 4, row_tiles = 1>>) -> tensor<64x32xf32, #dma.mma<warps = 4, row_tiles = 1>>
  %p, %acc1, %m1, %l1 = dma.tile.softmax %lg : tensor<64x32xf32, #dma.mma<warps = 4, row_tiles = 1>>
      outs(%s0, %acc, %m, %l : tensor<64x32xf32, #dma.mma<warps = 4, row_tiles = 1>>, tensor<64x64xf32, #dma.mma<warps = 4, row_tiles = 1>>, tensor<64xf32, #dma.rows<#dma.mma<warps = 4, row_tiles = 1>>>, tensor<64xf32, #dma.rows<#dma.mma<warps = 4, row_tiles = 1>>>)
      -> tensor<64x32xf32, #dma.mma<warps = 4, row_tiles = 1>>, tensor<64x64xf32, #dma.mma<warps = 4, row_tiles = 1>>, tensor<64xf32, #dma.rows<#dma.mma<warps = 4, row_tiles = 1>>>, tensor<64xf32, #dma.rows<#dma.mma<warps = 4, row_tiles = 1>>>
  %o = dma.tile.dot %p, %v
      : tensor<64x32xf32, #dma.mma<warps = 4, row_tiles = 1>>, tensor<32x64xbf16, #dma.shared<stages = 2, swizzle = 8>>
      outs(%acc1 : tensor<64x64xf32, #dma.mma<warps = 4, row_tiles = 1>>) -> tensor<64x64xf32, #dma.mma<warps = 4, row_tiles = 1>>
  dma.tile.store_output %o, %m1, %l1 rows(%qpos) into %O, %LSE[%i, %i]
      : tensor<64x64xf32, #dma.mma<warps = 4, row_tiles = 1>>, tensor<64xf32, #dma.rows<#dma.mma<warps = 4, row_tiles = 1>>>, tensor<64xf32, #dma.rows<#dma.mma<warps = 4, row_tiles = 1>>>, tensor<64xi32, #dma.rows<#dma.mma<warps = 4, row_tiles = 1>>>, memref<1x64x1x64xbf16>, memref<1x1x64xf32>
  return
}
