// RUN: dma-opt %s -split-input-file --convert-dma-mask-to-gpu | FileCheck %s

// value_bias: one warp per 4 keys, 32 keys per 256-thread CTA, a grid of
// ceil(Lk / 32) x B CTAs. For each group of 8 KV heads the warp's lanes
// take 8 consecutive values of each of the 4 keys (16-byte loads of bf16)
// and each weight row's 8 values once for all 4 keys (two 16-byte f32
// loads), fused multiply-adds into 32 accumulators (key, head); a
// transposing butterfly (16 + 8 + 4 + 2 + 1 shuffles) leaves lane l the sum
// of key l / 8, head l % 8, which applies softplus and A and stores its
// score.

// CHECK-LABEL: func.func @value_bias
//   CHECK-NOT:   dma.value_bias
//       CHECK:   gpu.launch_func @dma_kernels::@dma_value_bias_bf16_d64_log_dtbias_0
//  CHECK-SAME:     threads in (%c256{{[_0-9]*}}, %c1{{[_0-9]*}}, %c1{{[_0-9]*}})
//       CHECK: gpu.module @dma_kernels
//       CHECK:   gpu.func @dma_value_bias_bf16_d64_log_dtbias_0
//  CHECK-SAME:     dma.block_m = 32
//  CHECK-SAME:     dma.kernel_params = ["value:ptr", "weight:ptr", "dt_bias:ptr", "a:ptr", "score:ptr", "B:i32", "Lk:i32", "Hkv:i32",
//  CHECK-SAME:     dma.role = "value_bias"
//       CHECK:     scf.for
//       CHECK:       scf.for
//       CHECK:         llvm.load {{.*}} {alignment = 16 : i64} : !llvm.ptr<1> -> vector<8xbf16>
//       CHECK:         llvm.load {{.*}} {alignment = 16 : i64} : !llvm.ptr<1> -> vector<4xf32>
//       CHECK:         llvm.intr.fma
//   CHECK-COUNT-31:   nvvm.shfl.sync bfly
//   CHECK-NOT:        nvvm.shfl.sync
//       CHECK:       scf.if
//       CHECK:         math.log1p
//       CHECK:         llvm.store {{.*}} : f32, !llvm.ptr<1>
//       CHECK:     gpu.return
func.func @value_bias(%v: memref<?x?x?x64xbf16>, %w: memref<?x?xf32>,
    %bdt: memref<?xf32>, %a: memref<?xf32>, %s: memref<?x?x?xf32>) {
  dma.value_bias log value(%v : memref<?x?x?x64xbf16>)
      weight(%w : memref<?x?xf32>) dt_bias(%bdt : memref<?xf32>)
      a(%a : memref<?xf32>) outs(%s : memref<?x?x?xf32>)
  return
}

// -----

// The exp form: exp of the log form's score.

// CHECK-LABEL: func.func @value_bias_exp
//       CHECK:   gpu.launch_func @dma_kernels::@dma_value_bias_f16_d128_exp_0
//       CHECK:   gpu.func @dma_value_bias_f16_d128_exp_0
//       CHECK:     math.exp
//       CHECK:     math.log1p
//       CHECK:     math.exp
func.func @value_bias_exp(%v: memref<2x100x4x128xf16>, %w: memref<4x512xf32>,
    %a: memref<4xf32>, %s: memref<2x4x100xf32>) {
  dma.value_bias exp value(%v : memref<2x100x4x128xf16>)
      weight(%w : memref<4x512xf32>) a(%a : memref<4xf32>)
      outs(%s : memref<2x4x100xf32>)
  return
}

// -----

// Shared top-k: one 512-thread CTA per (KV head, batch); 1224 bytes of
// shared memory: 16 i32 slots for the CTA-wide counts, then the radix
// select's histogram, scan sums and picked digit. Rows of up to 24 x 512
// keys (with padding; 32 x 512 without) keep each thread's keys in
// registers (the unrolled branch), longer rows recompute them per pass
// (the loop). W (a kernel argument) comes from the destination's last
// dimension.
// The kernel: the allowed keys' count (warp shuffles, one slot per warp, a
// barrier); unless fewer than W, a 4-pass radix select of the W-th key
// (shared-memory atomics into the histogram, a shuffle scan over its
// bins); then the kept keys' slots: thread t owns consecutive keys, so
// one CTA-wide prefix sum of per-thread counts (shuffles up, a slot per
// warp) places them; -1 after the kept keys.

// CHECK-LABEL: func.func @shared
//       CHECK:   gpu.launch_func @dma_kernels::@dma_topk_shared_i32_padded_0
//  CHECK-SAME:     threads in (%c512, %c1{{[_0-9]*}}, %c1{{[_0-9]*}})
//  CHECK-SAME:     dynamic_shared_memory_size %c1224_i32
//       CHECK:   gpu.func @dma_topk_shared_i32_padded_0
//  CHECK-SAME:     dma.kernel_params = ["score:ptr", "padding:ptr", "keep:ptr", "B:i32", "Hkv:i32", "Lk:i32", "W:i32",
//  CHECK-SAME:     dma.role = "topk_shared"
//       CHECK:     scf.if
//       CHECK:       nvvm.shfl.sync bfly
//       CHECK:       nvvm.barrier0
//       CHECK:       scf.if
//       CHECK:       } else {
//       CHECK:         llvm.atomicrmw add {{.*}} monotonic : !llvm.ptr<3>, i32
//       CHECK:         nvvm.shfl.sync up
//       CHECK:       arith.cmpi uge
//       CHECK:       nvvm.shfl.sync up
//       CHECK:       nvvm.barrier0
//       CHECK:       llvm.store {{.*}} : i32, !llvm.ptr<1>
//       CHECK:     scf.for
//       CHECK:       llvm.store %c-1_i32
func.func @shared(%s: memref<?x?x?xf32>, %p: memref<?x?xi1>,
    %o: memref<?x?x64xi32>) {
  dma.topk shared keep(64) score(%s : memref<?x?x?xf32>)
      padding(%p : memref<?x?xi1>) outs(%o : memref<?x?x64xi32>)
  return
}

// -----

// Per-query top-k: one launch over (blocks of 256 prefix ends, KV heads,
// batch), 10368 bytes of shared memory (histograms, scan state, a list of
// 1024 64-bit keys). The radix select's first pass counts the earlier keys
// (8 loaded per thread before any is counted) into one histogram whose sum
// is their number; blocks whose earlier keys are at most w - 257 keep all
// (INT64_MAX tiebreak, -inf threshold); the others pick the bounds' top
// digits (a shuffle scan), run the later passes until both bounds are
// done, gather the keys between them and the block's own, sort them
// (bitonic: compare-exchanges in both directions) and walk them per prefix
// end.

// CHECK-LABEL: func.func @per_query
//       CHECK:   gpu.launch_func @dma_kernels::@dma_topk_per_query_i64_0
//  CHECK-SAME:     threads in (%c256
//  CHECK-SAME:     dynamic_shared_memory_size %c10368_i32
//       CHECK:   gpu.func @dma_topk_per_query_i64_0
//  CHECK-SAME:     dma.role = "topk_per_query"
//       CHECK:     llvm.store {{.*}} : f32, !llvm.ptr<1>
//       CHECK:     scf.for
// CHECK-COUNT-8:       llvm.atomicrmw add {{.*}} monotonic : !llvm.ptr<3>, i32
//       CHECK:     nvvm.shfl.sync bfly
//       CHECK:     scf.if
//       CHECK:       llvm.store %c9223372036854775807_i64, {{.*}} : i64, !llvm.ptr<1>
//       CHECK:     } else {
//       CHECK:       nvvm.shfl.sync up
//       CHECK:       scf.for
//       CHECK:         llvm.atomicrmw add {{.*}} monotonic : !llvm.ptr<3>, i32
//       CHECK:       arith.cmpi ult
//       CHECK:       arith.cmpi ugt
//       CHECK:       scf.for
//       CHECK:         arith.cmpi sle
//       CHECK:       llvm.store {{.*}} : i64, !llvm.ptr<1>
//       CHECK:       llvm.store {{.*}} : f32, !llvm.ptr<1>
func.func @per_query(%s: memref<?x?x?xf32>, %ms: memref<?x?x?xf32>,
    %thr: memref<?x?x?xf32>, %tie: memref<?x?x?xi64>) {
  dma.topk per_query keep(16) score(%s : memref<?x?x?xf32>)
      outs(%ms, %thr, %tie : memref<?x?x?xf32>, memref<?x?x?xf32>,
           memref<?x?x?xi64>)
  return
}

// -----

// value_bias_grad: f32 scratch for g, e ([B, Lk, Hkv]) and the partial sums
// (one per chunk of 128 keys and column of [W | b_dt | A]), four launches
// sharing their arguments, then the scratch freed. The params step sums its
// chunk's rows in order and the reduce step its chunks in order: no atomics.

// CHECK-LABEL: func.func @value_bias_grad
//       CHECK:   memref.alloc
//       CHECK:   memref.alloc
//       CHECK:   memref.alloc
//       CHECK:   gpu.launch_func @dma_kernels::@dma_value_bias_bwd_dt_bf16_d64_exp_dtbias_0
//       CHECK:   gpu.launch_func @dma_kernels::@dma_value_bias_bwd_value_bf16_d64_exp_dtbias_0
//       CHECK:   gpu.launch_func @dma_kernels::@dma_value_bias_bwd_params_bf16_d64_exp_dtbias_0
//       CHECK:   gpu.launch_func @dma_kernels::@dma_value_bias_bwd_reduce_bf16_d64_exp_dtbias_0
//  CHECK-SAME:     blocks in (%{{.*}}, %c1{{[_0-9]*}}, %c1{{[_0-9]*}})
//       CHECK:   memref.dealloc
//       CHECK:   gpu.func @dma_value_bias_bwd_dt_bf16_d64_exp_dtbias_0
//  CHECK-SAME:     dma.kernel_params = ["grad:ptr", "value:ptr", "weight:ptr", "dt_bias:ptr", "a:ptr", "g:ptr", "e:ptr", "partial:ptr", "grad_value:ptr", "grad_weight:ptr", "grad_dt_bias:ptr", "grad_a:ptr",
//  CHECK-SAME:     dma.role = "value_bias_bwd_dt"
//       CHECK:     nvvm.shfl.sync bfly
//       CHECK:     math.log1p
//       CHECK:     arith.divf
//       CHECK:     math.exp
//       CHECK:     llvm.store {{.*}} : f32, !llvm.ptr<1>
//       CHECK:     llvm.store {{.*}} : f32, !llvm.ptr<1>
//       CHECK:   gpu.func @dma_value_bias_bwd_value_bf16_d64_exp_dtbias_0
//       CHECK:     scf.for
//       CHECK:       llvm.intr.fma
//       CHECK:     arith.truncf {{.*}} : vector<8xf32> to vector<8xbf16>
//       CHECK:     llvm.store {{.*}} {alignment = 16 : i64} : vector<8xbf16>, !llvm.ptr<1>
//       CHECK:   gpu.func @dma_value_bias_bwd_params_bf16_d64_exp_dtbias_0
//       CHECK:     scf.if
//       CHECK:       scf.for
//       CHECK:         llvm.load {{.*}} -> vector<8xbf16>
//       CHECK:       } else {
//       CHECK:       scf.for
//       CHECK:   gpu.func @dma_value_bias_bwd_reduce_bf16_d64_exp_dtbias_0
//       CHECK:     scf.for
//   CHECK-NOT:     llvm.atomicrmw
//       CHECK:     gpu.return
func.func @value_bias_grad(%ds: memref<?x?x?xf32>, %v: memref<?x?x?x64xbf16>,
    %w: memref<?x?xf32>, %bdt: memref<?xf32>, %a: memref<?xf32>,
    %dv: memref<?x?x?x64xbf16>, %dw: memref<?x?xf32>, %ddt: memref<?xf32>,
    %da: memref<?xf32>) {
  dma.value_bias_grad exp grad(%ds : memref<?x?x?xf32>)
      value(%v : memref<?x?x?x64xbf16>) weight(%w : memref<?x?xf32>)
      dt_bias(%bdt : memref<?xf32>) a(%a : memref<?xf32>)
      outs(%dv, %dw, %ddt, %da : memref<?x?x?x64xbf16>, memref<?x?xf32>,
           memref<?xf32>, memref<?xf32>)
  return
}
