// The listings quoted in docs/pipeline.md, checked against what dma-opt
// prints for docs/examples/walkthrough.mlir.

// RUN: dma-opt %dma_src_root/docs/examples/walkthrough.mlir --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" | FileCheck %s --check-prefix=BUF
// BUF: %alloc = memref.alloc() {alignment = 64 : i64} : memref<1x4x2x8xf32>
// BUF-NEXT: %alloc_0 = memref.alloc() {alignment = 64 : i64} : memref<1x2x4xf32>
// BUF-NEXT: dma.attention q(%arg0 : memref<1x4x2x8xf32>) k(%arg1 : memref<1x16x1x8xf32>) v(%arg2 : memref<1x16x1x8xf32>) bias(%arg3 : memref<1x1x1x16xf32>) keep(%arg4 : memref<1x1x4xi32>) outs(%alloc, %alloc_0 : memref<1x4x2x8xf32>, memref<1x2x4xf32>) causal
// BUF-NEXT: return %alloc, %alloc_0 : memref<1x4x2x8xf32>, memref<1x2x4xf32>

// RUN: dma-opt %dma_src_root/docs/examples/walkthrough.mlir --dma-cpu-pipeline="tile=false lower-to-llvm=false" | FileCheck %s --check-prefix=LOOPS
// LOOPS: scf.parallel (%arg5, %arg6) = (%c0, %c0) to (%c2, %c4) step (%c1, %c1) {
// LOOPS-NEXT: %0 = arith.addi %arg6, %c12 : index
// LOOPS-NEXT: %1 = scf.for %arg7 = %c0 to %c4 step %c1 iter_args(%arg8 = %cst_0) -> (f32) {
// LOOPS-NEXT: %3 = memref.load %arg4[%c0, %c0, %arg7] : memref<1x1x4xi32>
// LOOPS-NEXT: %4 = arith.index_cast %3 : i32 to index
// LOOPS: %8 = arith.cmpi sle, %4, %0 : index
// LOOPS: %11 = scf.if %9 -> (f32) {
// LOOPS: %14 = memref.load %arg3[%c0, %c0, %c0, %10] : memref<1x1x1x16xf32>
// LOOPS-NEXT: %15 = arith.addf %13, %14 : f32
// LOOPS-NEXT: %16 = arith.maximumf %arg8, %15 : f32
// LOOPS-NEXT: scf.yield %16 : f32
// LOOPS-NEXT: } else {
// LOOPS-NEXT: scf.yield %arg8 : f32
// LOOPS: %2 = arith.cmpf oeq, %1, %cst_0 : f32
// LOOPS-NEXT: scf.if %2 {

// RUN: dma-opt %dma_src_root/docs/examples/walkthrough.mlir --dma-cpu-pipeline=tile=false | FileCheck %s --check-prefix=LLVM
// LLVM: llvm.func @attend(%arg0: !llvm.ptr, %arg1: !llvm.ptr, %arg2: i64,
// LLVM: llvm.intr.exp(%{{.*}}) : (f32) -> f32
// LLVM: llvm.intr.log(%{{.*}}) : (f32) -> f32
