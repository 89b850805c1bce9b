// The listings quoted in docs/pipeline.md, checked against what dma-opt
// prints for docs/examples/walkthrough.mlir.

// 2. Bufferized.
// RUN: dma-opt %dma_src_root/docs/examples/walkthrough.mlir --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" | FileCheck %s --check-prefix=BUF
// BUF: %alloc = memref.alloc() {alignment = 64 : i64} : memref<1x4x2x8xf32>
// BUF-NEXT: %alloc_0 = memref.alloc() {alignment = 64 : i64} : memref<1x2x4xf32>
// BUF-NEXT: dma.attention q(%arg0 : memref<1x4x2x8xf32>) k(%arg1 : memref<1x16x1x8xf32>) v(%arg2 : memref<1x16x1x8xf32>) bias(%arg3 : memref<1x1x1x16xf32>) keep(%arg4 : memref<1x1x4xi32>) outs(%alloc, %alloc_0 : memref<1x4x2x8xf32>, memref<1x2x4xf32>) causal
// BUF-NEXT: return %alloc, %alloc_0 : memref<1x4x2x8xf32>, memref<1x2x4xf32>

// 3. Tiled.
// RUN: dma-opt %dma_src_root/docs/examples/walkthrough.mlir --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --dma-tile-attention="q-tile=4 k-tile=4" --canonicalize | FileCheck %s --check-prefix=TILED
// TILED: scf.forall (%arg5) in (2) {
// TILED: %9 = dma.tile.iota %c0 bound %c4 outs(%1 : tensor<4xi32>) -> tensor<4xi32>
// TILED-NEXT: %10 = dma.tile.gather %arg0[%c0, %arg5] rows(%9 : tensor<4xi32>) : memref<1x4x2x8xf32> outs(%3 : tensor<4x8xf32>) -> tensor<4x8xf32>
// TILED: %17:3 = scf.for %arg6 = %c0 to %c4 step %c1 iter_args(%arg7 = %12, %arg8 = %14, %arg9 = %16) -> (tensor<4x8xf32>, tensor<4xf32>, tensor<4xf32>) {
// TILED-NEXT: %18 = arith.muli %arg6, %c4 : index
// TILED-NEXT: %19 = dma.tile.iota %18 bound %c16 outs(%2 : tensor<4xi32>) {dma.key_positions} -> tensor<4xi32>
// TILED-NEXT: %20 = dma.tile.gather %arg1[%c0, %0] rows(%19 : tensor<4xi32>)
// TILED-NEXT: %21 = dma.tile.gather %arg2[%c0, %0] rows(%19 : tensor<4xi32>)
// TILED-NEXT: %22 = linalg.fill ins(%cst_0 : f32) outs(%6 : tensor<4x4xf32>) -> tensor<4x4xf32>
// TILED-NEXT: %23 = dma.tile.dot %10, %20 transpose_rhs : tensor<4x8xf32>, tensor<4x8xf32> outs(%22 : tensor<4x4xf32>) -> tensor<4x4xf32>
// TILED-NEXT: %24 = dma.tile.logits %23 rows(%9) keys(%19) at(%c0, %arg5) heads(%c2) key_offset(%c12) scale(0.35355339059327373) causal bias(%arg3 : memref<1x1x1x16xf32>) keep(%arg4 : memref<1x1x4xi32>)
// TILED-NEXT: %25:4 = dma.tile.softmax %24 : tensor<4x4xf32> outs(%8, %arg7, %arg8, %arg9 :
// TILED-NEXT: %26 = dma.tile.dot %25#0, %21 : tensor<4x4xf32>, tensor<4x8xf32> outs(%25#1 : tensor<4x8xf32>) -> tensor<4x8xf32>
// TILED-NEXT: scf.yield %26, %25#2, %25#3 : tensor<4x8xf32>, tensor<4xf32>, tensor<4xf32>
// TILED-NEXT: } {dma.key_loop}
// TILED-NEXT: dma.tile.store_output %17#0, %17#1, %17#2 rows(%9) into %alloc, %alloc_1[%c0, %arg5]
// TILED-NEXT: } {dma.query_tiles}

// 4. Gathered.
// RUN: dma-opt %dma_src_root/docs/examples/walkthrough.mlir --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --dma-tile-attention="q-tile=4 k-tile=4" --dma-gather-keys --canonicalize | FileCheck %s --check-prefix=GATHER
// GATHER: %17:2 = scf.while (%arg6 = %c0, %arg7 = %c4) : (index, index) -> (index, index) {
// GATHER: %18 = arith.addi %17#0, %c3 : index
// GATHER-NEXT: %19 = arith.divui %18, %c4 : index
// GATHER-NEXT: %20:3 = scf.for %arg6 = %c0 to %19 step %c1 iter_args(%arg7 = %12, %arg8 = %14, %arg9 = %16) -> (tensor<4x8xf32>, tensor<4xf32>, tensor<4xf32>) {
// GATHER-NEXT: %21 = arith.muli %arg6, %c4 : index
// GATHER-NEXT: %22 = dma.tile.positions %arg4[%c0, %c0] offset %21 bound %c16 : memref<1x1x4xi32> outs(%2 : tensor<4xi32>) {dma.key_positions} -> tensor<4xi32>
// GATHER: %27 = dma.tile.logits %26 rows(%9) keys(%22) at(%c0, %arg5) heads(%c2) key_offset(%c12) scale(0.35355339059327373) causal bias(%arg3 : memref<1x1x1x16xf32>) keep(%arg4 : memref<1x1x4xi32>) keys_kept

// 5. Tiles bufferized.
// RUN: dma-opt %dma_src_root/docs/examples/walkthrough.mlir --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --dma-tile-attention="q-tile=4 k-tile=4" --dma-gather-keys --one-shot-bufferize --canonicalize | FileCheck %s --check-prefix=TILEBUF
// TILEBUF: %alloc_2 = memref.alloc() {alignment = 64 : i64} : memref<4xi32>
// TILEBUF: scf.for %arg6 = %c0 to %3 step %c1 {
// TILEBUF-NEXT: %4 = arith.muli %arg6, %c4 : index
// TILEBUF-NEXT: dma.tile.positions %arg4[%c0, %c0] offset %4 bound %c16 : memref<1x1x4xi32> outs(%alloc_3 : memref<4xi32>) {dma.key_positions}
// TILEBUF-NEXT: dma.tile.gather %arg1[%c0, %0] rows(%alloc_3 : memref<4xi32>) : memref<1x16x1x8xf32> outs(%alloc_5 : memref<4x8xf32>)
// TILEBUF: dma.tile.softmax %alloc_8 : memref<4x4xf32> outs(%alloc_9, %alloc_10, %alloc_11, %alloc_12 : memref<4x4xf32>, memref<4x8xf32>, memref<4xf32>, memref<4xf32>)
// TILEBUF-NEXT: dma.tile.dot %alloc_9, %alloc_6 : memref<4x4xf32>, memref<4x8xf32> outs(%alloc_10 : memref<4x8xf32>)
// TILEBUF-NEXT: } {dma.key_loop}

// 6. Loops.
// RUN: dma-opt %dma_src_root/docs/examples/walkthrough.mlir --dma-cpu-pipeline="q-tile=4 k-tile=4 lower-to-llvm=false" | FileCheck %s --check-prefix=LOOPS
// LOOPS-NOT: dma.
// LOOPS: %17 = arith.maximumf %arg9, %16 : f32

// 7. LLVM.
// RUN: dma-opt %dma_src_root/docs/examples/walkthrough.mlir --dma-cpu-pipeline | FileCheck %s --check-prefix=LLVM
// LLVM: llvm.func @attend(%arg0: !llvm.ptr, %arg1: !llvm.ptr, %arg2: i64,
// LLVM: llvm.intr.exp(%{{.*}}) : (f32) -> f32
