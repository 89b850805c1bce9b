// RUN: dma-opt %s -split-input-file --convert-dma-to-loops --canonicalize --cse | FileCheck %s

// bf16 gradients: f32 scratch accumulators, a Delta = rowsum(dO * O) pass,
// then rows in order (dK, dV and dBias gather from many rows), skipping rows
// whose LSE is -inf; dS goes through the soft cap's derivative for dQ and dK
// but not for dBias; the scratch is narrowed into the destinations at the end.

// CHECK-LABEL: func @grad_bf16_softcap_bias
//  CHECK-SAME:   %[[LSE:[a-z0-9_]+]]: memref<2x4x8xf32>
//  CHECK-SAME:   %[[DQ:[a-z0-9_]+]]: memref<2x8x4x16xbf16>
//       CHECK:   %[[NINF:.*]] = arith.constant 0xFF800000 : f32
//       CHECK:   %[[DQACC:.*]] = memref.alloc() : memref<2x8x4x16xf32>
//       CHECK:   %[[DKACC:.*]] = memref.alloc() : memref<2x32x2x16xf32>
//       CHECK:   %[[DVACC:.*]] = memref.alloc() : memref<2x32x2x16xf32>
//       CHECK:   %[[DBACC:.*]] = memref.alloc() : memref<1x2x1x32xf32>
//       CHECK:   %[[DELTA:.*]] = memref.alloc() : memref<2x4x8xf32>
//       CHECK:   scf.parallel
//       CHECK:     memref.store %{{.*}}, %[[DELTA]]
//       CHECK:   scf.for %[[B:[a-z0-9_]+]] =
//       CHECK:     scf.for %[[H:[a-z0-9_]+]] =
//       CHECK:       scf.for %[[I:[a-z0-9_]+]] =
//       CHECK:         %[[ROWLSE:.*]] = memref.load %[[LSE]][%[[B]], %[[H]], %[[I]]]
//       CHECK:         %[[SEEN:.*]] = arith.cmpf one, %[[ROWLSE]], %[[NINF]] : f32
//       CHECK:         scf.if %[[SEEN]] {
//       CHECK:           %[[ROWDELTA:.*]] = memref.load %[[DELTA]][%[[B]], %[[H]], %[[I]]]
//       CHECK:           %[[T:.*]] = math.tanh
//       CHECK:           %[[SMINUS:.*]] = arith.subf %{{.*}}, %[[ROWLSE]] : f32
//       CHECK:           %[[P:.*]] = math.exp %[[SMINUS]] : f32
//       CHECK:           %[[DPMD:.*]] = arith.subf %{{.*}}, %[[ROWDELTA]] : f32
//       CHECK:           %[[DS:.*]] = arith.mulf %[[P]], %[[DPMD]] : f32
//       CHECK:           %[[T2:.*]] = arith.mulf %[[T]], %[[T]] : f32
//       CHECK:           %[[DER:.*]] = arith.subf %{{.*}}, %[[T2]] : f32
//       CHECK:           %[[DX:.*]] = arith.mulf %[[DS]], %[[DER]] : f32
//       CHECK:           memref.store %{{.*}}, %[[DQACC]]
//       CHECK:           memref.store %{{.*}}, %[[DKACC]]
//       CHECK:           memref.store %{{.*}}, %[[DVACC]]
//       CHECK:           %[[OLD:.*]] = memref.load %[[DBACC]][%c0, %{{.*}}, %c0, %{{.*}}]
//       CHECK:           %[[NEW:.*]] = arith.addf %[[OLD]], %[[DS]] : f32
//       CHECK:           memref.store %[[NEW]], %[[DBACC]]
//       CHECK:   memref.dealloc %[[DELTA]]
//       CHECK:   arith.truncf %{{.*}} : f32 to bf16
//       CHECK:   memref.store %{{.*}}, %[[DQ]]
//       CHECK:   memref.dealloc %[[DQACC]]
func.func @grad_bf16_softcap_bias(%do: memref<2x8x4x16xbf16>, %q: memref<2x8x4x16xbf16>,
    %k: memref<2x32x2x16xbf16>, %v: memref<2x32x2x16xbf16>, %o: memref<2x8x4x16xbf16>,
    %lse: memref<2x4x8xf32>, %b: memref<1x2x1x32xbf16>, %dq: memref<2x8x4x16xbf16>,
    %dk: memref<2x32x2x16xbf16>, %dv: memref<2x32x2x16xbf16>, %db: memref<1x2x1x32xbf16>) {
  dma.attention_grad grad(%do : memref<2x8x4x16xbf16>) q(%q : memref<2x8x4x16xbf16>)
      k(%k : memref<2x32x2x16xbf16>) v(%v : memref<2x32x2x16xbf16>)
      out(%o : memref<2x8x4x16xbf16>) lse(%lse : memref<2x4x8xf32>)
      bias(%b : memref<1x2x1x32xbf16>)
      outs(%dq, %dk, %dv, %db : memref<2x8x4x16xbf16>, memref<2x32x2x16xbf16>,
           memref<2x32x2x16xbf16>, memref<1x2x1x32xbf16>)
      causal softcap(20.0)
  return
}

// -----

// f32 gradients accumulate in the destinations themselves (zeroed first):
// no scratch is allocated besides Delta.

// CHECK-LABEL: func @grad_f32_in_place
//   CHECK-NOT:   memref.alloc() : memref<2x8x4x16xf32>
//       CHECK:   memref.alloc() : memref<2x4x8xf32>
//   CHECK-NOT:   memref.alloc
//       CHECK:   return
func.func @grad_f32_in_place(%do: memref<2x8x4x16xf32>, %q: memref<2x8x4x16xf32>,
    %k: memref<2x32x2x16xf32>, %v: memref<2x32x2x16xf32>, %o: memref<2x8x4x16xf32>,
    %lse: memref<2x4x8xf32>, %dq: memref<2x8x4x16xf32>,
    %dk: memref<2x32x2x16xf32>, %dv: memref<2x32x2x16xf32>) {
  dma.attention_grad grad(%do : memref<2x8x4x16xf32>) q(%q : memref<2x8x4x16xf32>)
      k(%k : memref<2x32x2x16xf32>) v(%v : memref<2x32x2x16xf32>)
      out(%o : memref<2x8x4x16xf32>) lse(%lse : memref<2x4x8xf32>)
      outs(%dq, %dk, %dv : memref<2x8x4x16xf32>, memref<2x32x2x16xf32>, memref<2x32x2x16xf32>)
  return
}
