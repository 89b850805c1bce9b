// RUN: dma-opt %s -split-input-file --convert-dma-tiles-to-gpu -verify-diagnostics

// Hand-edited tiled forwards (dma-tile-attention + dma-assign-layouts of a
// bf16 forward, B1 H2 L64 D16) that convert-dma-tiles-to-gpu must refuse
// with a diagnostic instead of generating a kernel that ignores the edit:
// an op it does not know in the loop nest, and layouts the generator does
// not implement.

#mma = #dma.mma<warps = 2, row_tiles = 2, (d0, d1, d2) -> (d0 * 32 + ((d2 floordiv 4) mod 2) * 16 + d1 floordiv 4 + ((d2 floordiv 2) mod 2) * 8, (d2 floordiv 8) * 8 + (d1 mod 4) * 2 + d2 mod 2)>
#shared = #dma.shared<stages = 2, swizzle = 1>
#shared1 = #dma.shared<stages = 1, swizzle = 8>
#shared2 = #dma.shared<stages = 2, swizzle = 8>
#rows = #dma.rows<#mma>
  func.func @f(%arg0: memref<1x64x2x16xbf16>, %arg1: memref<1x64x2x16xbf16>, %arg2: memref<1x64x2x16xbf16>, %arg3: memref<1x64x2x16xbf16>, %arg4: memref<1x2x64xf32>) {
    %c1 = arith.constant 1 : index
    %c64 = arith.constant 64 : index
    %c2 = arith.constant 2 : index
    %c64_0 = arith.constant 64 : index
    %c2_1 = arith.constant 2 : index
    %c1_2 = arith.constant 1 : index
    %0 = arith.maxsi %c2_1, %c1_2 : index
    %1 = arith.divui %c2, %0 : index
    %c1_3 = arith.constant 1 : index
    %2 = arith.maxsi %1, %c1_3 : index
    %3 = arith.subi %c64_0, %c64 : index
    %c63 = arith.constant 63 : index
    %4 = arith.addi %c64, %c63 : index
    %c64_4 = arith.constant 64 : index
    %5 = arith.divui %4, %c64_4 : index
    // expected-note @+1 {{in this loop nest}}
    scf.forall (%arg5, %arg6, %arg7) in (%c1, %c2, %5) {
      %6 = arith.divui %arg6, %2 : index
      %7 = tensor.empty() : tensor<64xi32, #rows>
      %8 = tensor.empty() : tensor<32xi32, #shared>
      %9 = tensor.empty() : tensor<64x16xbf16, #shared1>
      %10 = tensor.empty() : tensor<32x16xbf16, #shared2>
      %11 = tensor.empty() : tensor<32x16xbf16, #shared2>
      %12 = tensor.empty() : tensor<64x32xf32, #mma>
      %13 = tensor.empty() : tensor<64x32xf32, #mma>
      %14 = tensor.empty() : tensor<64x32xf32, #mma>
      %c64_5 = arith.constant 64 : index
      %15 = arith.muli %arg7, %c64_5 : index
      %16 = dma.tile.iota %15 bound %c64 outs(%7 : tensor<64xi32, #rows>) -> tensor<64xi32, #rows>
      %17 = dma.tile.gather %arg0[%arg5, %arg6] rows(%16 : tensor<64xi32, #rows>) : memref<1x64x2x16xbf16> outs(%9 : tensor<64x16xbf16, #shared1>) -> tensor<64x16xbf16, #shared1>
      %18 = tensor.empty() : tensor<64x16xf32, #mma>
      %cst = arith.constant 0.000000e+00 : f32
      %19 = linalg.fill ins(%cst : f32) outs(%18 : tensor<64x16xf32, #mma>) -> tensor<64x16xf32, #mma>
      %20 = tensor.empty() : tensor<64xf32, #rows>
      %cst_6 = arith.constant 0xFF800000 : f32
      %21 = linalg.fill ins(%cst_6 : f32) outs(%20 : tensor<64xf32, #rows>) -> tensor<64xf32, #rows>
      %22 = tensor.empty() : tensor<64xf32, #rows>
      %cst_7 = arith.constant 0.000000e+00 : f32
      %23 = linalg.fill ins(%cst_7 : f32) outs(%22 : tensor<64xf32, #rows>) -> tensor<64xf32, #rows>
      %c31 = arith.constant 31 : index
      %24 = arith.addi %c64_0, %c31 : index
      %c32 = arith.constant 32 : index
      %25 = arith.divui %24, %c32 : index
      %c0 = arith.constant 0 : index
      %c1_8 = arith.constant 1 : index
      %26:3 = scf.for %arg8 = %c0 to %25 step %c1_8 iter_args(%arg9 = %19, %arg10 = %21, %arg11 = %23) -> (tensor<64x16xf32, #mma>, tensor<64xf32, #rows>, tensor<64xf32, #rows>) {
        %c32_9 = arith.constant 32 : index
        %27 = arith.muli %arg8, %c32_9 : index
        %28 = dma.tile.iota %27 bound %c64_0 outs(%8 : tensor<32xi32, #shared>) {dma.key_positions} -> tensor<32xi32, #shared>
        %29 = dma.tile.gather %arg1[%arg5, %6] rows(%28 : tensor<32xi32, #shared>) : memref<1x64x2x16xbf16> outs(%10 : tensor<32x16xbf16, #shared2>) -> tensor<32x16xbf16, #shared2>
        %30 = dma.tile.gather %arg2[%arg5, %6] rows(%28 : tensor<32xi32, #shared>) : memref<1x64x2x16xbf16> outs(%11 : tensor<32x16xbf16, #shared2>) -> tensor<32x16xbf16, #shared2>
        %cst_10 = arith.constant 0.000000e+00 : f32
        %31 = linalg.fill ins(%cst_10 : f32) outs(%12 : tensor<64x32xf32, #mma>) -> tensor<64x32xf32, #mma>
        // expected-error @+1 {{convert-dma-tiles-to-gpu: 'math.absf' in a tiled forward is not an op the GPU lowering knows}}
        %unknown = math.absf %cst : f32
        %32 = dma.tile.dot %17, %29 transpose_rhs : tensor<64x16xbf16, #shared1>, tensor<32x16xbf16, #shared2> outs(%31 : tensor<64x32xf32, #mma>) -> tensor<64x32xf32, #mma>
        %33 = dma.tile.logits %32 rows(%16) keys(%28) at(%arg5, %arg6) heads(%c2) key_offset(%3) scale(2.500000e-01) : tensor<64x32xf32, #mma>, tensor<64xi32, #rows>, tensor<32xi32, #shared> outs(%13 : tensor<64x32xf32, #mma>) -> tensor<64x32xf32, #mma>
        %34:4 = dma.tile.softmax %33 : tensor<64x32xf32, #mma> outs(%14, %arg9, %arg10, %arg11 : tensor<64x32xf32, #mma>, tensor<64x16xf32, #mma>, tensor<64xf32, #rows>, tensor<64xf32, #rows>) -> tensor<64x32xf32, #mma>, tensor<64x16xf32, #mma>, tensor<64xf32, #rows>, tensor<64xf32, #rows>
        %35 = dma.tile.dot %34#0, %30 : tensor<64x32xf32, #mma>, tensor<32x16xbf16, #shared2> outs(%34#1 : tensor<64x16xf32, #mma>) -> tensor<64x16xf32, #mma>
        scf.yield %35, %34#2, %34#3 : tensor<64x16xf32, #mma>, tensor<64xf32, #rows>, tensor<64xf32, #rows>
      } {dma.key_loop}
      dma.tile.store_output %26#0, %26#1, %26#2 rows(%16) into %arg3, %arg4[%arg5, %arg6] : tensor<64x16xf32, #mma>, tensor<64xf32, #rows>, tensor<64xf32, #rows>, tensor<64xi32, #rows>, memref<1x64x2x16xbf16>, memref<1x2x64xf32>
    } {dma.query_tiles}
    return
  }

// -----

#mma = #dma.mma<warps = 2, row_tiles = 2, (d0, d1, d2) -> (d0 * 32 + ((d2 floordiv 4) mod 2) * 16 + d1 floordiv 4 + ((d2 floordiv 2) mod 2) * 8, (d2 floordiv 8) * 8 + (d1 mod 4) * 2 + d2 mod 2)>
#shared = #dma.shared<stages = 2, swizzle = 1>
#shared1 = #dma.shared<stages = 1, swizzle = 8>
#shared2 = #dma.shared<stages = 2, swizzle = 8>
#rows = #dma.rows<#mma>
#qtwo = #dma.shared<stages = 2, swizzle = 8>
  func.func @f(%arg0: memref<1x64x2x16xbf16>, %arg1: memref<1x64x2x16xbf16>, %arg2: memref<1x64x2x16xbf16>, %arg3: memref<1x64x2x16xbf16>, %arg4: memref<1x2x64xf32>) {
    %c1 = arith.constant 1 : index
    %c64 = arith.constant 64 : index
    %c2 = arith.constant 2 : index
    %c64_0 = arith.constant 64 : index
    %c2_1 = arith.constant 2 : index
    %c1_2 = arith.constant 1 : index
    %0 = arith.maxsi %c2_1, %c1_2 : index
    %1 = arith.divui %c2, %0 : index
    %c1_3 = arith.constant 1 : index
    %2 = arith.maxsi %1, %c1_3 : index
    %3 = arith.subi %c64_0, %c64 : index
    %c63 = arith.constant 63 : index
    %4 = arith.addi %c64, %c63 : index
    %c64_4 = arith.constant 64 : index
    %5 = arith.divui %4, %c64_4 : index
    // expected-error @+1 {{convert-dma-tiles-to-gpu: the kernel loads Q once (stages = 1), swizzled and blocked like K and V}}
    scf.forall (%arg5, %arg6, %arg7) in (%c1, %c2, %5) {
      %6 = arith.divui %arg6, %2 : index
      %7 = tensor.empty() : tensor<64xi32, #rows>
      %8 = tensor.empty() : tensor<32xi32, #shared>
      %9 = tensor.empty() : tensor<64x16xbf16, #qtwo>
      %10 = tensor.empty() : tensor<32x16xbf16, #shared2>
      %11 = tensor.empty() : tensor<32x16xbf16, #shared2>
      %12 = tensor.empty() : tensor<64x32xf32, #mma>
      %13 = tensor.empty() : tensor<64x32xf32, #mma>
      %14 = tensor.empty() : tensor<64x32xf32, #mma>
      %c64_5 = arith.constant 64 : index
      %15 = arith.muli %arg7, %c64_5 : index
      %16 = dma.tile.iota %15 bound %c64 outs(%7 : tensor<64xi32, #rows>) -> tensor<64xi32, #rows>
      %17 = dma.tile.gather %arg0[%arg5, %arg6] rows(%16 : tensor<64xi32, #rows>) : memref<1x64x2x16xbf16> outs(%9 : tensor<64x16xbf16, #qtwo>) -> tensor<64x16xbf16, #qtwo>
      %18 = tensor.empty() : tensor<64x16xf32, #mma>
      %cst = arith.constant 0.000000e+00 : f32
      %19 = linalg.fill ins(%cst : f32) outs(%18 : tensor<64x16xf32, #mma>) -> tensor<64x16xf32, #mma>
      %20 = tensor.empty() : tensor<64xf32, #rows>
      %cst_6 = arith.constant 0xFF800000 : f32
      %21 = linalg.fill ins(%cst_6 : f32) outs(%20 : tensor<64xf32, #rows>) -> tensor<64xf32, #rows>
      %22 = tensor.empty() : tensor<64xf32, #rows>
      %cst_7 = arith.constant 0.000000e+00 : f32
      %23 = linalg.fill ins(%cst_7 : f32) outs(%22 : tensor<64xf32, #rows>) -> tensor<64xf32, #rows>
      %c31 = arith.constant 31 : index
      %24 = arith.addi %c64_0, %c31 : index
      %c32 = arith.constant 32 : index
      %25 = arith.divui %24, %c32 : index
      %c0 = arith.constant 0 : index
      %c1_8 = arith.constant 1 : index
      %26:3 = scf.for %arg8 = %c0 to %25 step %c1_8 iter_args(%arg9 = %19, %arg10 = %21, %arg11 = %23) -> (tensor<64x16xf32, #mma>, tensor<64xf32, #rows>, tensor<64xf32, #rows>) {
        %c32_9 = arith.constant 32 : index
        %27 = arith.muli %arg8, %c32_9 : index
        %28 = dma.tile.iota %27 bound %c64_0 outs(%8 : tensor<32xi32, #shared>) {dma.key_positions} -> tensor<32xi32, #shared>
        %29 = dma.tile.gather %arg1[%arg5, %6] rows(%28 : tensor<32xi32, #shared>) : memref<1x64x2x16xbf16> outs(%10 : tensor<32x16xbf16, #shared2>) -> tensor<32x16xbf16, #shared2>
        %30 = dma.tile.gather %arg2[%arg5, %6] rows(%28 : tensor<32xi32, #shared>) : memref<1x64x2x16xbf16> outs(%11 : tensor<32x16xbf16, #shared2>) -> tensor<32x16xbf16, #shared2>
        %cst_10 = arith.constant 0.000000e+00 : f32
        %31 = linalg.fill ins(%cst_10 : f32) outs(%12 : tensor<64x32xf32, #mma>) -> tensor<64x32xf32, #mma>
        %32 = dma.tile.dot %17, %29 transpose_rhs : tensor<64x16xbf16, #qtwo>, tensor<32x16xbf16, #shared2> outs(%31 : tensor<64x32xf32, #mma>) -> tensor<64x32xf32, #mma>
        %33 = dma.tile.logits %32 rows(%16) keys(%28) at(%arg5, %arg6) heads(%c2) key_offset(%3) scale(2.500000e-01) : tensor<64x32xf32, #mma>, tensor<64xi32, #rows>, tensor<32xi32, #shared> outs(%13 : tensor<64x32xf32, #mma>) -> tensor<64x32xf32, #mma>
        %34:4 = dma.tile.softmax %33 : tensor<64x32xf32, #mma> outs(%14, %arg9, %arg10, %arg11 : tensor<64x32xf32, #mma>, tensor<64x16xf32, #mma>, tensor<64xf32, #rows>, tensor<64xf32, #rows>) -> tensor<64x32xf32, #mma>, tensor<64x16xf32, #mma>, tensor<64xf32, #rows>, tensor<64xf32, #rows>
        %35 = dma.tile.dot %34#0, %30 : tensor<64x32xf32, #mma>, tensor<32x16xbf16, #shared2> outs(%34#1 : tensor<64x16xf32, #mma>) -> tensor<64x16xf32, #mma>
        scf.yield %35, %34#2, %34#3 : tensor<64x16xf32, #mma>, tensor<64xf32, #rows>, tensor<64xf32, #rows>
      } {dma.key_loop}
      dma.tile.store_output %26#0, %26#1, %26#2 rows(%16) into %arg3, %arg4[%arg5, %arg6] : tensor<64x16xf32, #mma>, tensor<64xf32, #rows>, tensor<64xf32, #rows>, tensor<64xi32, #rows>, memref<1x64x2x16xbf16>, memref<1x2x64xf32>
    } {dma.query_tiles}
    return
  }

// -----

#mma = #dma.mma<warps = 2, row_tiles = 2, (d0, d1, d2) -> (d0 * 32 + ((d2 floordiv 4) mod 2) * 16 + d1 floordiv 4 + ((d2 floordiv 2) mod 2) * 8, (d2 floordiv 8) * 8 + (d1 mod 4) * 2 + d2 mod 2)>
#shared = #dma.shared<stages = 2, swizzle = 1>
#shared1 = #dma.shared<stages = 1, swizzle = 8>
#shared2 = #dma.shared<stages = 2, swizzle = 8>
#rows = #dma.rows<#mma>
#vthree = #dma.shared<stages = 3, swizzle = 8>
  func.func @f(%arg0: memref<1x64x2x16xbf16>, %arg1: memref<1x64x2x16xbf16>, %arg2: memref<1x64x2x16xbf16>, %arg3: memref<1x64x2x16xbf16>, %arg4: memref<1x2x64xf32>) {
    %c1 = arith.constant 1 : index
    %c64 = arith.constant 64 : index
    %c2 = arith.constant 2 : index
    %c64_0 = arith.constant 64 : index
    %c2_1 = arith.constant 2 : index
    %c1_2 = arith.constant 1 : index
    %0 = arith.maxsi %c2_1, %c1_2 : index
    %1 = arith.divui %c2, %0 : index
    %c1_3 = arith.constant 1 : index
    %2 = arith.maxsi %1, %c1_3 : index
    %3 = arith.subi %c64_0, %c64 : index
    %c63 = arith.constant 63 : index
    %4 = arith.addi %c64, %c63 : index
    %c64_4 = arith.constant 64 : index
    %5 = arith.divui %4, %c64_4 : index
    // expected-error @+1 {{convert-dma-tiles-to-gpu: the kernel stages K, V and the key positions in one ring of buffers: their #dma.shared layouts must agree}}
    scf.forall (%arg5, %arg6, %arg7) in (%c1, %c2, %5) {
      %6 = arith.divui %arg6, %2 : index
      %7 = tensor.empty() : tensor<64xi32, #rows>
      %8 = tensor.empty() : tensor<32xi32, #shared>
      %9 = tensor.empty() : tensor<64x16xbf16, #shared1>
      %10 = tensor.empty() : tensor<32x16xbf16, #shared2>
      %11 = tensor.empty() : tensor<32x16xbf16, #vthree>
      %12 = tensor.empty() : tensor<64x32xf32, #mma>
      %13 = tensor.empty() : tensor<64x32xf32, #mma>
      %14 = tensor.empty() : tensor<64x32xf32, #mma>
      %c64_5 = arith.constant 64 : index
      %15 = arith.muli %arg7, %c64_5 : index
      %16 = dma.tile.iota %15 bound %c64 outs(%7 : tensor<64xi32, #rows>) -> tensor<64xi32, #rows>
      %17 = dma.tile.gather %arg0[%arg5, %arg6] rows(%16 : tensor<64xi32, #rows>) : memref<1x64x2x16xbf16> outs(%9 : tensor<64x16xbf16, #shared1>) -> tensor<64x16xbf16, #shared1>
      %18 = tensor.empty() : tensor<64x16xf32, #mma>
      %cst = arith.constant 0.000000e+00 : f32
      %19 = linalg.fill ins(%cst : f32) outs(%18 : tensor<64x16xf32, #mma>) -> tensor<64x16xf32, #mma>
      %20 = tensor.empty() : tensor<64xf32, #rows>
      %cst_6 = arith.constant 0xFF800000 : f32
      %21 = linalg.fill ins(%cst_6 : f32) outs(%20 : tensor<64xf32, #rows>) -> tensor<64xf32, #rows>
      %22 = tensor.empty() : tensor<64xf32, #rows>
      %cst_7 = arith.constant 0.000000e+00 : f32
      %23 = linalg.fill ins(%cst_7 : f32) outs(%22 : tensor<64xf32, #rows>) -> tensor<64xf32, #rows>
      %c31 = arith.constant 31 : index
      %24 = arith.addi %c64_0, %c31 : index
      %c32 = arith.constant 32 : index
      %25 = arith.divui %24, %c32 : index
      %c0 = arith.constant 0 : index
      %c1_8 = arith.constant 1 : index
      %26:3 = scf.for %arg8 = %c0 to %25 step %c1_8 iter_args(%arg9 = %19, %arg10 = %21, %arg11 = %23) -> (tensor<64x16xf32, #mma>, tensor<64xf32, #rows>, tensor<64xf32, #rows>) {
        %c32_9 = arith.constant 32 : index
        %27 = arith.muli %arg8, %c32_9 : index
        %28 = dma.tile.iota %27 bound %c64_0 outs(%8 : tensor<32xi32, #shared>) {dma.key_positions} -> tensor<32xi32, #shared>
        %29 = dma.tile.gather %arg1[%arg5, %6] rows(%28 : tensor<32xi32, #shared>) : memref<1x64x2x16xbf16> outs(%10 : tensor<32x16xbf16, #shared2>) -> tensor<32x16xbf16, #shared2>
        %30 = dma.tile.gather %arg2[%arg5, %6] rows(%28 : tensor<32xi32, #shared>) : memref<1x64x2x16xbf16> outs(%11 : tensor<32x16xbf16, #vthree>) -> tensor<32x16xbf16, #vthree>
        %cst_10 = arith.constant 0.000000e+00 : f32
        %31 = linalg.fill ins(%cst_10 : f32) outs(%12 : tensor<64x32xf32, #mma>) -> tensor<64x32xf32, #mma>
        %32 = dma.tile.dot %17, %29 transpose_rhs : tensor<64x16xbf16, #shared1>, tensor<32x16xbf16, #shared2> outs(%31 : tensor<64x32xf32, #mma>) -> tensor<64x32xf32, #mma>
        %33 = dma.tile.logits %32 rows(%16) keys(%28) at(%arg5, %arg6) heads(%c2) key_offset(%3) scale(2.500000e-01) : tensor<64x32xf32, #mma>, tensor<64xi32, #rows>, tensor<32xi32, #shared> outs(%13 : tensor<64x32xf32, #mma>) -> tensor<64x32xf32, #mma>
        %34:4 = dma.tile.softmax %33 : tensor<64x32xf32, #mma> outs(%14, %arg9, %arg10, %arg11 : tensor<64x32xf32, #mma>, tensor<64x16xf32, #mma>, tensor<64xf32, #rows>, tensor<64xf32, #rows>) -> tensor<64x32xf32, #mma>, tensor<64x16xf32, #mma>, tensor<64xf32, #rows>, tensor<64xf32, #rows>
        %35 = dma.tile.dot %34#0, %30 : tensor<64x32xf32, #mma>, tensor<32x16xbf16, #vthree> outs(%34#1 : tensor<64x16xf32, #mma>) -> tensor<64x16xf32, #mma>
        scf.yield %35, %34#2, %34#3 : tensor<64x16xf32, #mma>, tensor<64xf32, #rows>, tensor<64xf32, #rows>
      } {dma.key_loop}
      dma.tile.store_output %26#0, %26#1, %26#2 rows(%16) into %arg3, %arg4[%arg5, %arg6] : tensor<64x16xf32, #mma>, tensor<64xf32, #rows>, tensor<64xf32, #rows>, tensor<64xi32, #rows>, memref<1x64x2x16xbf16>, memref<1x2x64xf32>
    } {dma.query_tiles}
    return
  }

// -----

// A key loop carrying a value besides the softmax state (a step counter):
// the key loop's pattern does not match it, so the conversion fails on the
// scf.for instead of generating a kernel that drops the counter.

#mma = #dma.mma<warps = 2, row_tiles = 2, (d0, d1, d2) -> (d0 * 32 + ((d2 floordiv 4) mod 2) * 16 + d1 floordiv 4 + ((d2 floordiv 2) mod 2) * 8, (d2 floordiv 8) * 8 + (d1 mod 4) * 2 + d2 mod 2)>
#shared = #dma.shared<stages = 2, swizzle = 1>
#shared1 = #dma.shared<stages = 1, swizzle = 8>
#shared2 = #dma.shared<stages = 2, swizzle = 8>
#rows = #dma.rows<#mma>
  func.func @f(%arg0: memref<1x64x2x16xbf16>, %arg1: memref<1x64x2x16xbf16>, %arg2: memref<1x64x2x16xbf16>, %arg3: memref<1x64x2x16xbf16>, %arg4: memref<1x2x64xf32>) {
    %c1 = arith.constant 1 : index
    %c64 = arith.constant 64 : index
    %c2 = arith.constant 2 : index
    %c64_0 = arith.constant 64 : index
    %c2_1 = arith.constant 2 : index
    %c1_2 = arith.constant 1 : index
    %0 = arith.maxsi %c2_1, %c1_2 : index
    %1 = arith.divui %c2, %0 : index
    %c1_3 = arith.constant 1 : index
    %2 = arith.maxsi %1, %c1_3 : index
    %3 = arith.subi %c64_0, %c64 : index
    %c63 = arith.constant 63 : index
    %4 = arith.addi %c64, %c63 : index
    %c64_4 = arith.constant 64 : index
    %5 = arith.divui %4, %c64_4 : index
    // expected-error @+1 {{convert-dma-tiles-to-gpu: the tiled forward's ops could not all be lowered}}
    scf.forall (%arg5, %arg6, %arg7) in (%c1, %c2, %5) {
      %6 = arith.divui %arg6, %2 : index
      %7 = tensor.empty() : tensor<64xi32, #rows>
      %8 = tensor.empty() : tensor<32xi32, #shared>
      %9 = tensor.empty() : tensor<64x16xbf16, #shared1>
      %10 = tensor.empty() : tensor<32x16xbf16, #shared2>
      %11 = tensor.empty() : tensor<32x16xbf16, #shared2>
      %12 = tensor.empty() : tensor<64x32xf32, #mma>
      %13 = tensor.empty() : tensor<64x32xf32, #mma>
      %14 = tensor.empty() : tensor<64x32xf32, #mma>
      %c64_5 = arith.constant 64 : index
      %15 = arith.muli %arg7, %c64_5 : index
      %16 = dma.tile.iota %15 bound %c64 outs(%7 : tensor<64xi32, #rows>) -> tensor<64xi32, #rows>
      %17 = dma.tile.gather %arg0[%arg5, %arg6] rows(%16 : tensor<64xi32, #rows>) : memref<1x64x2x16xbf16> outs(%9 : tensor<64x16xbf16, #shared1>) -> tensor<64x16xbf16, #shared1>
      %18 = tensor.empty() : tensor<64x16xf32, #mma>
      %cst = arith.constant 0.000000e+00 : f32
      %19 = linalg.fill ins(%cst : f32) outs(%18 : tensor<64x16xf32, #mma>) -> tensor<64x16xf32, #mma>
      %20 = tensor.empty() : tensor<64xf32, #rows>
      %cst_6 = arith.constant 0xFF800000 : f32
      %21 = linalg.fill ins(%cst_6 : f32) outs(%20 : tensor<64xf32, #rows>) -> tensor<64xf32, #rows>
      %22 = tensor.empty() : tensor<64xf32, #rows>
      %cst_7 = arith.constant 0.000000e+00 : f32
      %23 = linalg.fill ins(%cst_7 : f32) outs(%22 : tensor<64xf32, #rows>) -> tensor<64xf32, #rows>
      %c31 = arith.constant 31 : index
      %24 = arith.addi %c64_0, %c31 : index
      %c32 = arith.constant 32 : index
      %25 = arith.divui %24, %c32 : index
      %c0 = arith.constant 0 : index
      %c1_8 = arith.constant 1 : index
      // expected-error @+1 {{failed to legalize operation 'scf.for'}}
      %26:4 = scf.for %arg8 = %c0 to %25 step %c1_8 iter_args(%arg9 = %19, %arg10 = %21, %arg11 = %23, %steps = %c0) -> (tensor<64x16xf32, #mma>, tensor<64xf32, #rows>, tensor<64xf32, #rows>, index) {
        %c32_9 = arith.constant 32 : index
        %27 = arith.muli %arg8, %c32_9 : index
        %28 = dma.tile.iota %27 bound %c64_0 outs(%8 : tensor<32xi32, #shared>) {dma.key_positions} -> tensor<32xi32, #shared>
        %29 = dma.tile.gather %arg1[%arg5, %6] rows(%28 : tensor<32xi32, #shared>) : memref<1x64x2x16xbf16> outs(%10 : tensor<32x16xbf16, #shared2>) -> tensor<32x16xbf16, #shared2>
        %30 = dma.tile.gather %arg2[%arg5, %6] rows(%28 : tensor<32xi32, #shared>) : memref<1x64x2x16xbf16> outs(%11 : tensor<32x16xbf16, #shared2>) -> tensor<32x16xbf16, #shared2>
        %cst_10 = arith.constant 0.000000e+00 : f32
        %31 = linalg.fill ins(%cst_10 : f32) outs(%12 : tensor<64x32xf32, #mma>) -> tensor<64x32xf32, #mma>
        %32 = dma.tile.dot %17, %29 transpose_rhs : tensor<64x16xbf16, #shared1>, tensor<32x16xbf16, #shared2> outs(%31 : tensor<64x32xf32, #mma>) -> tensor<64x32xf32, #mma>
        %33 = dma.tile.logits %32 rows(%16) keys(%28) at(%arg5, %arg6) heads(%c2) key_offset(%3) scale(2.500000e-01) : tensor<64x32xf32, #mma>, tensor<64xi32, #rows>, tensor<32xi32, #shared> outs(%13 : tensor<64x32xf32, #mma>) -> tensor<64x32xf32, #mma>
        %34:4 = dma.tile.softmax %33 : tensor<64x32xf32, #mma> outs(%14, %arg9, %arg10, %arg11 : tensor<64x32xf32, #mma>, tensor<64x16xf32, #mma>, tensor<64xf32, #rows>, tensor<64xf32, #rows>) -> tensor<64x32xf32, #mma>, tensor<64x16xf32, #mma>, tensor<64xf32, #rows>, tensor<64xf32, #rows>
        %35 = dma.tile.dot %34#0, %30 : tensor<64x32xf32, #mma>, tensor<32x16xbf16, #shared2> outs(%34#1 : tensor<64x16xf32, #mma>) -> tensor<64x16xf32, #mma>
        %next = arith.addi %steps, %c1_8 : index
        scf.yield %35, %34#2, %34#3, %next : tensor<64x16xf32, #mma>, tensor<64xf32, #rows>, tensor<64xf32, #rows>, index
      } {dma.key_loop}
      dma.tile.store_output %26#0, %26#1, %26#2 rows(%16) into %arg3, %arg4[%arg5, %arg6] : tensor<64x16xf32, #mma>, tensor<64xf32, #rows>, tensor<64xf32, #rows>, tensor<64xi32, #rows>, memref<1x64x2x16xbf16>, memref<1x2x64xf32>
    } {dma.query_tiles}
    return
  }
