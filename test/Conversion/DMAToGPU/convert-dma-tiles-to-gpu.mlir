// RUN: dma-opt %s -split-input-file --dma-tile-attention="q-tile=64 k-tile=32" --dma-gather-keys=per-query=false --dma-assign-layouts --convert-dma-tiles-to-gpu | FileCheck %s
// RUN: dma-opt %s -split-input-file --dma-tile-attention="q-tile=64 k-tile=32" --dma-gather-keys=per-query=false --dma-assign-layouts=warps=4 --convert-dma-tiles-to-gpu | FileCheck %s --check-prefix=WARPS
// RUN: dma-opt %s -split-input-file --dma-tile-attention="q-tile=64 k-tile=32" --dma-gather-keys=per-query=false --dma-assign-layouts=stages=3 --convert-dma-tiles-to-gpu | FileCheck %s --check-prefix=STAGES
// RUN: dma-opt %s -split-input-file --dma-tile-attention="q-tile=64 k-tile=32" --dma-gather-keys=per-query=false --dma-assign-layouts --convert-dma-tiles-to-gpu=deterministic=1 | FileCheck %s --check-prefix=DET
// RUN: dma-opt %s -split-input-file --dma-tile-attention="q-tile=64 k-tile=32" --dma-gather-keys --dma-assign-layouts --convert-dma-tiles-to-gpu | FileCheck %s --check-prefix=CAND
// RUN: dma-opt %s -split-input-file --dma-tile-attention="q-tile=64 k-tile=32" --dma-gather-keys --dma-assign-layouts --convert-dma-tiles-to-gpu=deterministic=1 | FileCheck %s --check-prefix=CANDDET

// Dense causal forward: the tiled loop nest becomes one launch of a kernel
// with one CTA per (query tile, head, batch); q-tile 64 with two 16-row
// tiles per warp is 2 warps (64 threads). Shared memory holds Q (64 x 64
// bf16), two K and two V buffers (32 x 64 each) and two position rows:
// 8192 + 16384 + 256 bytes.

// CHECK-LABEL: func.func @dense_causal
//   CHECK-NOT:   scf.forall
//       CHECK:   gpu.launch_func @dma_kernels::@dma_attention_fwd_bf16_d64_m64n32w2_causal_0
//  CHECK-SAME:     threads in (%c64{{[_0-9]*}}, %c1{{[_0-9]*}}, %c1{{[_0-9]*}})
//  CHECK-SAME:     dynamic_shared_memory_size %c24832_i32
//       CHECK: gpu.module @dma_kernels
//       CHECK:   gpu.func @dma_attention_fwd_bf16_d64_m64n32w2_causal_0
//  CHECK-SAME:     kernel attributes {dma.block_m = 64 : i64, dma.grid = ["ceil(Lq/64)", "H", "B"], dma.kernel_params = ["q:ptr", "k:ptr", "v:ptr", "o:ptr", "lse:ptr", "B:i32", "Lq:i32", "Lk:i32", "H:i32", "Hkv:i32", "scale:f32",
//  CHECK-SAME:     dma.shared_bytes = 24832 : i64, dma.threads = 64 : i64
// The prologue: Q and the first K/V tile by cp.async (one group).
//       CHECK:     nvvm.cp.async.shared.global {{.*}}, 16, cache = cg
//       CHECK:     nvvm.cp.async.commit.group
// The key loop: wait for tile t, prefetch tile t + 1, S = Q K^T on tensor
// cores, the logits (unmasked on full tiles), online softmax, O += P V.
//       CHECK:     scf.for
//       CHECK:       nvvm.cp.async.wait.group 0
//       CHECK:       nvvm.barrier0
//       CHECK:       nvvm.cp.async.shared.global
//       CHECK:       nvvm.cp.async.commit.group
//       CHECK:       nvvm.ldmatrix {{.*}} {eltType = #nvvm.ld_st_matrix_elt_type<b16>, layout = #nvvm.mma_layout<row>, num = 4 : i32, shape = #nvvm.ld_st_matrix_shape<m = 8, n = 8>}
//       CHECK:       nvvm.mma.sync {{.*}} {layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>, multiplicandAPtxType = #nvvm.mma_type<bf16>, multiplicandBPtxType = #nvvm.mma_type<bf16>, shape = #nvvm.shape<m = 16, n = 8, k = 16>}
//       CHECK:       scf.if
//       CHECK:       } else {
//       CHECK:         arith.select {{.*}} : f32
//       CHECK:       nvvm.shfl.sync bfly
//       CHECK:       llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f"
//       CHECK:       nvvm.ldmatrix {{.*}}layout = #nvvm.mma_layout<col>
//       CHECK:       nvvm.mma.sync
//       CHECK:       scf.yield
// The epilogue: normalised O rows and the LSE.
//       CHECK:     math.log
//       CHECK:     gpu.return

// STAGES-LABEL: func.func @dense_causal
//       STAGES:   gpu.launch_func @dma_kernels::@dma_attention_fwd_bf16_d64_m64n32w2s3_causal_0
// Three buffers: 8192 + 3 x 8192 + 3 x 128 bytes; two tiles in flight
// before the loop, and the loop waits until at most one is pending.
//  STAGES-SAME:     dynamic_shared_memory_size %c33152_i32
//       STAGES:   nvvm.cp.async.commit.group
//       STAGES:   nvvm.cp.async.commit.group
//       STAGES:   scf.for
//       STAGES:     nvvm.cp.async.wait.group 1
//       STAGES:     nvvm.barrier0

// WARPS-LABEL: func.func @dense_causal
//       WARPS:   gpu.launch_func @dma_kernels::@dma_attention_fwd_bf16_d64_m64n32w4_causal_0
//  WARPS-SAME:     threads in (%c128{{[_0-9]*}}, %c1{{[_0-9]*}}, %c1{{[_0-9]*}})
func.func @dense_causal(%q: memref<?x?x?x64xbf16>, %k: memref<?x?x?x64xbf16>,
    %v: memref<?x?x?x64xbf16>, %o: memref<?x?x?x64xbf16>,
    %l: memref<?x?x?xf32>) {
  dma.attention q(%q : memref<?x?x?x64xbf16>) k(%k : memref<?x?x?x64xbf16>)
      v(%v : memref<?x?x?x64xbf16>)
      outs(%o, %l : memref<?x?x?x64xbf16>, memref<?x?x?xf32>) causal
  return
}

// -----

// Shared top-k with a per-key bias (f16): the key walk reads the kept
// positions (a binary search bounds it causally), gathers K/V rows by
// position and stages the bias of each kept key in shared memory. Nothing
// in the key loop checks the list; after its epilogue, one CTA per list
// (first query tile, first head of the list) reads the whole list and
// asserts it ascends.

// CHECK-LABEL: func.func @shared_topk_key_bias
//       CHECK:   gpu.launch_func @dma_kernels::@dma_attention_fwd_f16_d128_m64n32w2_keep_keybias_causal_0
//       CHECK:   gpu.func @dma_attention_fwd_f16_d128_m64n32w2_keep_keybias_causal_0
//  CHECK-SAME:     "bias:ptr", "keep:ptr"
//  CHECK-SAME:     "keep_heads:i32", "keep_w:i32", "keep_stride_b:i64", "keep_stride_h:i64"
//       CHECK:     scf.while
//   CHECK-NOT:     cf.assert
//       CHECK:     scf.for
//   CHECK-NOT:     cf.assert
//       CHECK:       nvvm.mma.sync {{.*}} : (vector<2xf16>, vector<2xf16>, f32)
//   CHECK-NOT:     cf.assert
//       CHECK:     nvvm.cp.async.wait.group 0
//   CHECK-NOT:     cf.assert
//       CHECK:     scf.if %[[CHECKER:.*]] {
//       CHECK:       %[[BROKEN:.*]] = scf.for {{.*}} iter_args(%{{.*}} = %false) -> (i1)
//       CHECK:       %[[OK:.*]] = arith.xori %[[BROKEN]]
//       CHECK:       cf.assert %[[OK]], "dma: keep lists must hold ascending, unique key positions below Lk, then -1 padding"
//       CHECK:     gpu.return
func.func @shared_topk_key_bias(%q: memref<?x?x?x128xf16>,
    %k: memref<?x?x?x128xf16>, %v: memref<?x?x?x128xf16>,
    %bias: memref<?x?x1x?xf16>, %keep: memref<?x?x?xi32>,
    %o: memref<?x?x?x128xf16>, %l: memref<?x?x?xf32>) {
  dma.attention q(%q : memref<?x?x?x128xf16>) k(%k : memref<?x?x?x128xf16>)
      v(%v : memref<?x?x?x128xf16>) bias(%bias : memref<?x?x1x?xf16>)
      keep(%keep : memref<?x?x?xi32>)
      outs(%o, %l : memref<?x?x?x128xf16>, memref<?x?x?xf32>) causal
  return
}

// -----

// The per-query top-k and dense masks decide each element from its row:
// one 16-row tile per warp leaves room for that state (4 warps). Walked
// contiguously without dma-gather-keys' candidates ("keeprowsscan").

// CHECK-LABEL: func.func @per_query
//       CHECK:   gpu.launch_func @dma_kernels::@dma_attention_fwd_bf16_d64_m64n32w4_keeprowsscan_causal_0
//       CHECK:   "keep_score:ptr", "keep_threshold:ptr", "keep_tiebreak:ptr"

// With dma.tile.candidates (dma-gather-keys' default), each CTA collects
// its query tile's candidates into shared memory first: rounds of 32 steps
// x 128 threads over consecutive keys (coalesced), a ballot per step and
// class, the warps' packed counts scanned by warp 0 (barriers around it),
// then the keys every row keeps stored from slot 0 up and the others from
// slot 8191 down (33796 bytes more shared memory: 24832 -> 58628); the key
// loop then walks the list (its whole tiles of keys every row keeps without
// per-element tests), or the keys contiguously where the list did not fit.

// CAND-LABEL: func.func @per_query
//       CAND:   gpu.launch_func @dma_kernels::@dma_attention_fwd_bf16_d64_m64n32w4_keeprows_causal_0 {{.*}} dynamic_shared_memory_size %c58628_i32
//       CAND:   gpu.func @dma_attention_fwd_bf16_d64_m64n32w4_keeprows_causal_0
//       CAND:     arith.divsi %{{.*}}, %c4096_i32
//       CAND:     %[[N:[0-9]+]]:2 = scf.for %{{.*}} = %c0 to %{{.*}} step %c1 iter_args(%{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) -> (i32, i32)
//       CAND:       nvvm.vote.sync  ballot
//       CAND:       nvvm.vote.sync  ballot
//       CAND:       nvvm.barrier0
//       CAND:       nvvm.shfl.sync  up
//       CAND:       nvvm.barrier0
//       CAND:       arith.constant 8191 : i32
//       CAND:       llvm.store %{{.*}}, %{{.*}} : i32, !llvm.ptr<3>
//       CAND:       nvvm.barrier0
//       CAND:       scf.yield
//       CAND:     %[[ALL:[0-9]+]] = arith.addi %[[N]]#0, %[[N]]#1
//       CAND:     %[[FITS:[0-9]+]] = arith.cmpi sle, %[[ALL]], %c8192_i32
//       CAND:     nvvm.barrier0
//       CAND:     arith.select %[[FITS]]
//       CAND:     scf.for
//       CAND:       nvvm.barrier0
func.func @per_query(%q: memref<?x?x?x64xbf16>, %k: memref<?x?x?x64xbf16>,
    %v: memref<?x?x?x64xbf16>, %s: memref<?x?x?xf32>, %thr: memref<?x?x?xf32>,
    %tie: memref<?x?x?xi32>, %o: memref<?x?x?x64xbf16>, %l: memref<?x?x?xf32>) {
  dma.attention q(%q : memref<?x?x?x64xbf16>) k(%k : memref<?x?x?x64xbf16>)
      v(%v : memref<?x?x?x64xbf16>)
      keep_rows(%s, %thr, %tie : memref<?x?x?xf32>, memref<?x?x?xf32>, memref<?x?x?xi32>)
      outs(%o, %l : memref<?x?x?x64xbf16>, memref<?x?x?xf32>) causal
  return
}

// -----

// The backward: a Delta kernel (rowsum(dO * O), a warp per row) and the
// key-tile-outer kernel over (key chunks, KV heads, batch): dK and dV of a
// chunk in registers, stored once at the keys' positions; dQ and the key
// bias's gradient added with f32 atomics. The ungathered alternative of the
// shared top-k walk is dropped (the GPU always walks the list). With
// 64-query steps the warps form a grid (32 keys x 32 queries each for S^T
// and dP^T): P^T and dS^T go to shared memory (a branch skips the
// visibility tests on full steps), a barrier, then dV, dK and dQ from the
// shared tiles. Last, one launch of the conversion kernel turns the four f32
// sums (dQ, dBias, dK, dV: one per grid row) into bf16, 8 elements per
// thread with 16-byte accesses and a scalar tail.

// CHECK-LABEL: func.func @backward_shared_topk
//       CHECK:   gpu.launch_func @dma_kernels::@dma_attention_bwd_delta_bf16_dv64_0
//  CHECK-SAME:     threads in (%c128{{[_0-9]*}}, %c1{{[_0-9]*}}, %c1{{[_0-9]*}})
//       CHECK:   scf.if %true
//       CHECK:     gpu.launch_func @dma_kernels::@dma_attention_bwd_bf16_d64_m64n32w2_keep_keybias_causal_1
//       CHECK:   gpu.launch_func @dma_kernels::@dma_convert_f32_to_bf16 blocks in (%{{.*}}, %{{.*}}, %c1{{[_0-9]*}}) threads in (%c256
// Four pairs (the grid's y, by the kernel's grid expressions below).
//  CHECK-SAME:     %c4_i32{{[_0-9]*}} : i32)
//       CHECK:   memref.dealloc
//       CHECK:   memref.dealloc
//   CHECK-NOT:     dma.tile
//       CHECK:   gpu.func @dma_attention_bwd_delta_bf16_dv64_0
//  CHECK-SAME:     dma.role = "delta"
//       CHECK:     nvvm.shfl.sync bfly
//       CHECK:   gpu.func @dma_attention_bwd_bf16_d64_m64n32w2_keep_keybias_causal_1
// A CTA per tile of the shared list's keys.
//  CHECK-SAME:     dma.grid = ["ceil(keep_w/32)", "H", "B"]
//  CHECK-SAME:     "q:ptr", "k:ptr", "v:ptr", "do:ptr", "lse:ptr", "delta:ptr", "dq:ptr", "dk:ptr", "dv:ptr", "bias:ptr", "dbias:ptr", "keep:ptr"
//  CHECK-SAME:     dma.layout = "warp_grid"
//  CHECK-SAME:     dma.role = "backward"
//       CHECK:     scf.for
//       CHECK:       nvvm.mma.sync
//       CHECK:       scf.if
//       CHECK:         llvm.store
//       CHECK:       nvvm.mma.sync
//       CHECK:       nvvm.barrier0
//       CHECK:       nvvm.ldmatrix {{.*}}layout = #nvvm.mma_layout<col>
//       CHECK:       llvm.atomicrmw fadd
//       CHECK:       scf.yield
//       CHECK:     llvm.atomicrmw fadd
//       CHECK:     gpu.return
//       CHECK:   gpu.func @dma_convert_f32_to_bf16
//  CHECK-SAME:     dma.grid = ["ceil(max(n0,n1,n2,n3)/2048)", "pairs", "1"]
//  CHECK-SAME:     "src0:ptr", "dst0:ptr", "src1:ptr", "dst1:ptr", "src2:ptr", "dst2:ptr", "src3:ptr", "dst3:ptr", "n0:i64", "n1:i64", "n2:i64", "n3:i64", "pairs:i32"
//  CHECK-SAME:     dma.role = "convert"
//       CHECK:     llvm.load {{.*}} {alignment = 16 : i64} : !llvm.ptr<1> -> vector<4xf32>
//       CHECK:     arith.truncf {{.*}} : vector<8xf32> to vector<8xbf16>
//       CHECK:     scf.for
//       CHECK:       arith.truncf {{.*}} : f32 to bf16
// The deterministic backward: zeroed i32 semaphores around the launch; the
// kernel takes its turn (thread 0 spins on an acquire load, the CTA adds,
// fences, thread 0 releases turn + 1) for each query tile's dQ and, at the
// end, for dK, dV and the key bias's gradient (summed in registers over
// the walk instead of added per step).

// DET-LABEL: func.func @backward_shared_topk
//       DET:   memref.alloc({{.*}}) : memref<?xi32>
//       DET:   memref.alloc({{.*}}) : memref<?xi32>
//       DET:   gpu.launch_func @dma_kernels::@dma_attention_bwd_bf16_d64_m64n32w2_keep_keybias_causal_det_1
//       DET:   memref.dealloc {{.*}} : memref<?xi32>
//       DET:   gpu.func @dma_attention_bwd_bf16_d64_m64n32w2_keep_keybias_causal_det_1
//  DET-SAME:     "sem_dq:ptr", "sem_dkv:ptr"]
//  DET-SAME:     dma.layout = "key_rows"
//       DET:     scf.for
//       DET:       scf.while
//       DET:         llvm.inline_asm {{.*}}"ld.acquire.gpu.global.b32 $0, [$1];"
//       DET:       nvvm.barrier0
//       DET:       llvm.atomicrmw fadd
//       DET:       llvm.inline_asm {{.*}}"fence.acq_rel.gpu;"
//       DET:       nvvm.barrier0
//       DET:       llvm.inline_asm {{.*}}"st.release.gpu.global.b32 [$0], $1;"
//       DET:     scf.while
//       DET:     llvm.atomicrmw fadd
//       DET:     llvm.inline_asm {{.*}}"st.release.gpu.global.b32 [$0], $1;"
//       DET:     gpu.return
func.func @backward_shared_topk(%do: memref<?x?x?x64xbf16>, %q: memref<?x?x?x64xbf16>,
    %k: memref<?x?x?x64xbf16>, %v: memref<?x?x?x64xbf16>,
    %o: memref<?x?x?x64xbf16>, %lse: memref<?x?x?xf32>,
    %bias: memref<?x?x1x?xbf16>, %keep: memref<?x?x?xi32>,
    %dq: memref<?x?x?x64xbf16>, %dk: memref<?x?x?x64xbf16>,
    %dv: memref<?x?x?x64xbf16>, %db: memref<?x?x1x?xbf16>) {
  dma.attention_grad grad(%do : memref<?x?x?x64xbf16>)
      q(%q : memref<?x?x?x64xbf16>) k(%k : memref<?x?x?x64xbf16>)
      v(%v : memref<?x?x?x64xbf16>) out(%o : memref<?x?x?x64xbf16>)
      lse(%lse : memref<?x?x?xf32>) bias(%bias : memref<?x?x1x?xbf16>)
      keep(%keep : memref<?x?x?xi32>)
      outs(%dq, %dk, %dv, %db : memref<?x?x?x64xbf16>, memref<?x?x?x64xbf16>,
           memref<?x?x?x64xbf16>, memref<?x?x1x?xbf16>) causal
  return
}

// -----

// The per-query backward over ranked key tiles (dma.tile.ranked_keys, the
// default of dma-gather-keys): dynamic head counts leave dma-gather-keys'
// run-time choice, which the GPU settles on the ranked walk (scf.if %true;
// each CTA ranks its own query head's scores, and dK, dV are added
// atomically). The kernel sorts its chunk of 512 keys in shared memory (u64
// keys, bitonic: compare-exchanges in both directions), takes its slice as
// the key positions, and warp 0 finds the last prefix its best key passes
// with a 32-way search (ballot + popcount). Deterministic mode keeps
// contiguous tiles (its dQ turns follow their order).

// CAND-LABEL: func.func @per_query_backward
//       CAND:   scf.if %true
//       CAND:     gpu.launch_func @dma_kernels::@dma_attention_bwd_bf16_d64_m64n32w2_keeprowsrank_causal_{{[0-9]+}}
//   CAND-NOT:   keeprowsscan
//       CAND:   gpu.func @dma_attention_bwd_bf16_d64_m64n32w2_keeprowsrank_causal_{{[0-9]+}}
//       CAND:     arith.shli %{{.*}}, %c32_i64 : i64
//       CAND:     nvvm.barrier0
//       CAND:     arith.cmpi ult, %{{.*}}, %{{.*}} : i64
//       CAND:     arith.cmpi ugt, %{{.*}}, %{{.*}} : i64
//       CAND:     nvvm.vote.sync  ballot
//       CAND:     llvm.intr.ctpop

// CANDDET-LABEL: func.func @per_query_backward
//       CANDDET:   gpu.launch_func @dma_kernels::@dma_attention_bwd_bf16_d64_m64n32w2_keeprowsscan_causal_det_{{[0-9]+}}
//   CANDDET-NOT:   keeprowsrank
func.func @per_query_backward(%do: memref<?x?x?x64xbf16>, %q: memref<?x?x?x64xbf16>,
    %k: memref<?x?x?x64xbf16>, %v: memref<?x?x?x64xbf16>,
    %o: memref<?x?x?x64xbf16>, %lse: memref<?x?x?xf32>,
    %s: memref<?x?x?xf32>, %thr: memref<?x?x?xf32>, %tie: memref<?x?x?xi32>,
    %dq: memref<?x?x?x64xbf16>, %dk: memref<?x?x?x64xbf16>,
    %dv: memref<?x?x?x64xbf16>) {
  dma.attention_grad grad(%do : memref<?x?x?x64xbf16>)
      q(%q : memref<?x?x?x64xbf16>) k(%k : memref<?x?x?x64xbf16>)
      v(%v : memref<?x?x?x64xbf16>) out(%o : memref<?x?x?x64xbf16>)
      lse(%lse : memref<?x?x?xf32>)
      keep_rows(%s, %thr, %tie : memref<?x?x?xf32>, memref<?x?x?xf32>, memref<?x?x?xi32>)
      outs(%dq, %dk, %dv : memref<?x?x?x64xbf16>, memref<?x?x?x64xbf16>,
           memref<?x?x?x64xbf16>) causal
  return
}
