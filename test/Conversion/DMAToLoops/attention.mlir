// RUN: dma-opt %s -split-input-file --convert-dma-to-loops --canonicalize --cse | FileCheck %s

// Causal, no mask: rows run in parallel; the key loop stops at the causal
// limit i + Lk - Lq (clamped to [0, Lk]); one pass for the row max, one for
// the sum and P.V; empty rows store 0 and -inf.

// CHECK-LABEL: func @causal_no_mask
//       CHECK:   %[[NINF:[a-z0-9_]+]] = arith.constant 0xFF800000 : f32
//       CHECK:   scf.parallel (%[[B:[a-z0-9_]+]], %[[H:[a-z0-9_]+]], %[[I:[a-z0-9_]+]]) =
//       CHECK:     %[[G:[a-z0-9_]+]] = arith.divui %[[H]], %c2 : index
//       CHECK:     %[[END0:[a-z0-9_]+]] = arith.addi %[[I]], %c25 : index
//       CHECK:     %[[END1:[a-z0-9_]+]] = arith.minsi %[[END0]], %c32 : index
//       CHECK:     %[[END:[a-z0-9_]+]] = arith.maxsi %[[END1]], %c0 : index
//       CHECK:     %[[M:[a-z0-9_]+]] = scf.for %[[J:[a-z0-9_]+]] = %c0 to %[[END]] step %c1 iter_args(%[[MX:[a-z0-9_]+]] = %[[NINF]]) -> (f32)
//       CHECK:       memref.load %{{.*}}[%[[B]], %[[J]], %[[G]], %{{.*}}] : memref<2x32x2x16xf32>
//       CHECK:       arith.maximumf %[[MX]]
//       CHECK:     %[[EMPTY:[a-z0-9_]+]] = arith.cmpf oeq, %[[M]], %[[NINF]] : f32
//       CHECK:     scf.if %[[EMPTY]] {
//       CHECK:       memref.store %[[NINF]], %{{.*}}[%[[B]], %[[H]], %[[I]]] : memref<2x4x8xf32>
//       CHECK:     } else {
//       CHECK:       %[[ACC:[a-z0-9_]+]] = memref.alloc() : memref<16xf32>
//       CHECK:       %[[L:[a-z0-9_]+]] = scf.for %{{.*}} = %c0 to %[[END]]
//       CHECK:         math.exp
//       CHECK:       arith.divf %{{.*}}, %[[L]] : f32
//       CHECK:       %[[LOG:[a-z0-9_]+]] = math.log %[[L]] : f32
//       CHECK:       %[[LSE:[a-z0-9_]+]] = arith.addf %[[M]], %[[LOG]] : f32
//       CHECK:       memref.store %[[LSE]], %{{.*}}[%[[B]], %[[H]], %[[I]]]
//       CHECK:       memref.dealloc %[[ACC]]
func.func @causal_no_mask(%q: memref<2x8x4x16xf32>, %k: memref<2x32x2x16xf32>,
    %v: memref<2x32x2x16xf32>, %o: memref<2x8x4x16xf32>, %l: memref<2x4x8xf32>) {
  dma.attention q(%q : memref<2x8x4x16xf32>) k(%k : memref<2x32x2x16xf32>)
      v(%v : memref<2x32x2x16xf32>)
      outs(%o, %l : memref<2x8x4x16xf32>, memref<2x4x8xf32>) causal
  return
}

// -----

// Shared top-k walks the W kept positions instead of the Lk keys: -1
// padding and out-of-range entries are skipped, causality is tested per
// position, and the position is clamped before any load.

// CHECK-LABEL: func @shared_topk
//       CHECK:   scf.parallel (%{{.*}}, %[[H:[a-z0-9_]+]], %[[I:[a-z0-9_]+]]) =
//       CHECK:     %[[G:[a-z0-9_]+]] = arith.divui %[[H]], %c2 : index
//       CHECK:     %[[LIM:[a-z0-9_]+]] = arith.addi %[[I]], %c24 : index
//       CHECK:     scf.for %[[T:[a-z0-9_]+]] = %c0 to %c8 step %c1
//       CHECK:       %[[RAW:[a-z0-9_]+]] = memref.load %{{.*}}[%c0, %[[G]], %[[T]]] : memref<1x2x8xi32>
//       CHECK:       %[[J:[a-z0-9_]+]] = arith.index_cast %[[RAW]] : i32 to index
//       CHECK:       %[[NONNEG:[a-z0-9_]+]] = arith.cmpi sge, %[[J]], %c0 : index
//       CHECK:       %[[INSIDE:[a-z0-9_]+]] = arith.cmpi slt, %[[J]], %c32 : index
//       CHECK:       %[[OK0:[a-z0-9_]+]] = arith.andi %[[NONNEG]], %[[INSIDE]] : i1
//       CHECK:       %[[CAUSAL:[a-z0-9_]+]] = arith.cmpi sle, %[[J]], %[[LIM]] : index
//       CHECK:       %[[OK:[a-z0-9_]+]] = arith.andi %[[OK0]], %[[CAUSAL]] : i1
//       CHECK:       %[[SAFE:[a-z0-9_]+]] = arith.select %[[OK]], %[[J]], %c0 : index
//       CHECK:       scf.if %[[OK]] -> (f32)
//       CHECK:         memref.load %{{.*}}[%{{.*}}, %[[SAFE]], %[[G]], %{{.*}}] : memref<2x32x2x16xf32>
func.func @shared_topk(%q: memref<2x8x4x16xf32>, %k: memref<2x32x2x16xf32>,
    %v: memref<2x32x2x16xf32>, %idx: memref<1x2x8xi32>, %o: memref<2x8x4x16xf32>,
    %l: memref<2x4x8xf32>) {
  dma.attention q(%q : memref<2x8x4x16xf32>) k(%k : memref<2x32x2x16xf32>)
      v(%v : memref<2x32x2x16xf32>) keep(%idx : memref<1x2x8xi32>)
      outs(%o, %l : memref<2x8x4x16xf32>, memref<2x4x8xf32>) causal
  return
}

// -----

// A dense mask is read per (row, key) through its broadcast indices (size-1
// dimensions read index 0); the bias is added after the soft cap.

// CHECK-LABEL: func @dense_mask_bias_softcap
//       CHECK:   %[[CAP:[a-z0-9_]+]] = arith.constant 3.000000e+01 : f32
//       CHECK:   scf.parallel (%[[B:[a-z0-9_]+]], %[[H:[a-z0-9_]+]], %[[I:[a-z0-9_]+]]) =
//       CHECK:     scf.for %[[J:[a-z0-9_]+]] =
//       CHECK:       %[[KEPT:[a-z0-9_]+]] = memref.load %{{.*}}[%[[B]], %c0, %[[I]], %[[J]]] : memref<2x1x8x32xi1>
//       CHECK:       scf.if %[[KEPT]] -> (f32)
//       CHECK:         %[[DOT:[a-z0-9_]+]] = scf.for
//       CHECK:         %[[X:[a-z0-9_]+]] = arith.mulf {{.*}}%[[DOT]]{{.*}} : f32
//       CHECK:         %[[XC:[a-z0-9_]+]] = arith.divf %[[X]], %[[CAP]] : f32
//       CHECK:         %[[T:[a-z0-9_]+]] = math.tanh %[[XC]] : f32
//       CHECK:         %[[CAPPED:[a-z0-9_]+]] = arith.mulf %[[T]], %[[CAP]] : f32
//       CHECK:         %[[BV:[a-z0-9_]+]] = memref.load %{{.*}}[%c0, %{{.*}}, %c0, %[[J]]] : memref<1x2x1x32xf32>
//       CHECK:         arith.addf %[[CAPPED]], %[[BV]] : f32
func.func @dense_mask_bias_softcap(%q: memref<2x8x4x16xf32>, %k: memref<2x32x2x16xf32>,
    %v: memref<2x32x2x16xf32>, %b: memref<1x2x1x32xf32>, %m: memref<2x1x8x32xi1>,
    %o: memref<2x8x4x16xf32>, %l: memref<2x4x8xf32>) {
  dma.attention q(%q : memref<2x8x4x16xf32>) k(%k : memref<2x32x2x16xf32>)
      v(%v : memref<2x32x2x16xf32>) bias(%b : memref<1x2x1x32xf32>)
      mask(%m : memref<2x1x8x32xi1>)
      outs(%o, %l : memref<2x8x4x16xf32>, memref<2x4x8xf32>) softcap(30.0)
  return
}

// -----

// Per-query top-k: row i reads the threshold and tiebreak of its causal
// prefix end and keeps key j when s[j] > thr, or s[j] == thr and j <= tie.

// CHECK-LABEL: func @per_query_topk
//       CHECK:   scf.parallel (%{{.*}}, %{{.*}}, %[[I:[a-z0-9_]+]]) =
//       CHECK:     %[[LIM:[a-z0-9_]+]] = arith.addi %[[I]], %c24 : index
//       CHECK:     scf.for %[[J:[a-z0-9_]+]] =
//       CHECK:       %[[S:[a-z0-9_]+]] = memref.load %{{.*}}[%c0, %{{.*}}, %[[J]]] : memref<1x2x32xf32>
//       CHECK:       %[[THR:[a-z0-9_]+]] = memref.load %{{.*}}[%c0, %{{.*}}, %[[LIM]]] : memref<1x2x32xf32>
//       CHECK:       %[[TIE:[a-z0-9_]+]] = memref.load %{{.*}}[%c0, %{{.*}}, %[[LIM]]] : memref<1x2x32xi32>
//       CHECK:       %[[JI:[a-z0-9_]+]] = arith.index_cast %[[J]] : index to i32
//       CHECK:       %[[ABOVE:[a-z0-9_]+]] = arith.cmpf ogt, %[[S]], %[[THR]] : f32
//       CHECK:       %[[EQ:[a-z0-9_]+]] = arith.cmpf oeq, %[[S]], %[[THR]] : f32
//       CHECK:       %[[LE:[a-z0-9_]+]] = arith.cmpi sle, %[[JI]], %[[TIE]] : i32
//       CHECK:       %[[TIED:[a-z0-9_]+]] = arith.andi %[[EQ]], %[[LE]] : i1
//       CHECK:       %[[KEPT:[a-z0-9_]+]] = arith.ori %[[ABOVE]], %[[TIED]] : i1
//       CHECK:       scf.if %[[KEPT]] -> (f32)
func.func @per_query_topk(%q: memref<2x8x4x16xf32>, %k: memref<2x32x2x16xf32>,
    %v: memref<2x32x2x16xf32>, %s: memref<1x2x32xf32>, %thr: memref<1x2x32xf32>,
    %tie: memref<1x2x32xi32>, %o: memref<2x8x4x16xf32>, %l: memref<2x4x8xf32>) {
  dma.attention q(%q : memref<2x8x4x16xf32>) k(%k : memref<2x32x2x16xf32>)
      v(%v : memref<2x32x2x16xf32>)
      keep_rows(%s, %thr, %tie : memref<1x2x32xf32>, memref<1x2x32xf32>, memref<1x2x32xi32>)
      outs(%o, %l : memref<2x8x4x16xf32>, memref<2x4x8xf32>) causal
  return
}

// -----

// Dynamic shapes: every size comes from memref.dim and the default scale is
// 1/sqrt(D) of the runtime head dim.

// CHECK-LABEL: func @dynamic_default_scale
//       CHECK:   %[[D:[a-z0-9_]+]] = memref.dim %{{.*}}, %c3 : memref<?x?x?x?xf16>
//       CHECK:   %[[DI:[a-z0-9_]+]] = arith.index_cast %[[D]] : index to i64
//       CHECK:   %[[DF:[a-z0-9_]+]] = arith.sitofp %[[DI]] : i64 to f32
//       CHECK:   math.rsqrt %[[DF]] : f32
//       CHECK:   arith.extf %{{.*}} : f16 to f32
//       CHECK:   arith.truncf %{{.*}} : f32 to f16
func.func @dynamic_default_scale(%q: memref<?x?x?x?xf16>, %k: memref<?x?x?x?xf16>,
    %v: memref<?x?x?x?xf16>, %o: memref<?x?x?x?xf16>, %l: memref<?x?x?xf32>) {
  dma.attention q(%q : memref<?x?x?x?xf16>) k(%k : memref<?x?x?x?xf16>)
      v(%v : memref<?x?x?x?xf16>)
      outs(%o, %l : memref<?x?x?x?xf16>, memref<?x?x?xf32>)
  return
}
