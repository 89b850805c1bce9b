// RUN: dma-opt %s -split-input-file --dma-tile-attention="q-tile=64 k-tile=32" --dma-block-skip --dma-assign-layouts --convert-dma-tiles-to-gpu | FileCheck %s
// RUN: dma-opt %s -split-input-file --dma-tile-attention="q-tile=64 k-tile=32" --dma-block-skip --dma-assign-layouts --convert-dma-tiles-to-gpu=deterministic=1 | FileCheck %s --check-prefix=DET
// RUN: dma-opt %s -split-input-file --dma-tile-attention="q-tile=64 k-tile=32" --dma-block-skip=skip=false --dma-assign-layouts --convert-dma-tiles-to-gpu | FileCheck %s --check-prefix=OFF
// A summary at another tile shape than the walk's (hand-edited tiled IR)
// is refused: the kernel would read states of the wrong blocks.
// RUN: dma-opt %s -split-input-file --dma-tile-attention="q-tile=64 k-tile=32" --dma-block-skip | sed -e 's/q_tile(64) k_tile(32)/q_tile(64) k_tile(64)/' | not dma-opt -split-input-file --dma-assign-layouts --convert-dma-tiles-to-gpu 2>&1 | FileCheck %s --check-prefix=STALE
// STALE: error: convert-dma-tiles-to-gpu: mask_full must be read from a dma.tile.mask_summary of the logits' mask at the tile's shape (run dma-block-skip)

// Dense mask, forward: dma-block-skip's summary (dma.tile.mask_summary)
// becomes two launches before the forward: the state kernel over (query
// tiles, groups of 16 key tiles, mask heads x batch) and the list kernel
// (a warp per query tile, mask head and batch); the forward takes the summary's three
// buffers after the mask, walks the listed key tiles (a binary search of
// the list bounds the causal walk) and keeps a full flag per K/V buffer in
// shared memory: 24832 + 2 x 4 bytes.

// CHECK-LABEL: func.func @forward_mask
//       CHECK:   %[[STATE:[a-z0-9_]+]] = memref.alloc({{.*}}) : memref<?x?x?x?xi32>
//       CHECK:   %[[TILES:[a-z0-9_]+]] = memref.alloc({{.*}}) : memref<?x?x?x?xi32>
//       CHECK:   %[[COUNT:[a-z0-9_]+]] = memref.alloc({{.*}}) : memref<?x?x?xi32>
//   CHECK-NOT:   dma.tile.mask_summary
//       CHECK:   gpu.launch_func @dma_kernels::@dma_mask_state_m64n32_0
//  CHECK-SAME:     threads in (%c128{{[_0-9]*}}, %c1{{[_0-9]*}}, %c1{{[_0-9]*}})
//       CHECK:   gpu.launch_func @dma_kernels::@dma_mask_list_m64n32_0
//  CHECK-SAME:     threads in (%c32{{[_0-9]*}}, %c1{{[_0-9]*}}, %c1{{[_0-9]*}})
// The forward runs two 16-row tiles per warp (2 warps for 64 rows): the
// mask is read on partial tiles only.
//       CHECK:   gpu.launch_func @dma_kernels::@dma_attention_fwd_bf16_d64_m64n32w2_maskskip_causal_0
//  CHECK-SAME:     threads in (%c64{{[_0-9]*}}, %c1{{[_0-9]*}}, %c1{{[_0-9]*}})
//  CHECK-SAME:     dynamic_shared_memory_size %c24840_i32
//       CHECK: gpu.module @dma_kernels
//       CHECK:   gpu.func @dma_attention_fwd_bf16_d64_m64n32w2_maskskip_causal_0
//  CHECK-SAME:     dma.kernel_params = ["q:ptr", "k:ptr", "v:ptr", "o:ptr", "lse:ptr", "mask:ptr", "mask_state:ptr", "mask_tiles:ptr", "mask_count:ptr", "B:i32",
// The walk's length: the listed tiles below the causal end (a while loop).
//       CHECK:     scf.while
// The key loop carries the (tile, state) of the next copy.
//       CHECK:     scf.for {{.*}} iter_args
//       CHECK:       nvvm.cp.async.wait.group 0
//       CHECK:       nvvm.barrier0
//       CHECK:   gpu.func @dma_mask_state_m64n32_0
//  CHECK-SAME:     dma.block_m = 64 : i64, dma.block_n = 32 : i64
// Its grid: query tiles, groups of 16 key tiles, (mask head, mask batch).
//  CHECK-SAME:     dma.grid = ["ceil(Lq/64)", "ceil(ceil(Lk/32)/16)", "mask_heads*mask_batch"]
//  CHECK-SAME:     dma.kernel_params = ["mask:ptr", "mask_state:ptr", "mask_tiles:ptr", "mask_count:ptr", "Lq:i32", "Lk:i32", "mask_heads:i32", "mask_batch:i32", "mask_stride_b:i64", "mask_stride_h:i64", "mask_stride_q:i64", "mask_stride_k:i64"]
//  CHECK-SAME:     dma.role = "mask_summary"
// A warp's (any, all) over its block by ballots.
//       CHECK:     nvvm.vote.sync ballot
//       CHECK:     nvvm.vote.sync ballot
// The list: a ballot and a popc per 32 key tiles.
//       CHECK:   gpu.func @dma_mask_list_m64n32_0
//  CHECK-SAME:     dma.role = "mask_list"
//       CHECK:     nvvm.vote.sync ballot
//       CHECK:     llvm.intr.ctpop

// skip=false: no summary, the kernel reads the mask per element.
// OFF-LABEL: func.func @forward_mask
//   OFF-NOT:   dma_mask_state
//       OFF:   gpu.launch_func @dma_kernels::@dma_attention_fwd_bf16_d64_m64n32w4_mask_causal_0
func.func @forward_mask(%q: memref<?x?x?x64xbf16>, %k: memref<?x?x?x64xbf16>,
    %v: memref<?x?x?x64xbf16>, %m: memref<?x?x?x?xi1>, %o: memref<?x?x?x64xbf16>,
    %l: memref<?x?x?xf32>) {
  dma.attention q(%q : memref<?x?x?x64xbf16>) k(%k : memref<?x?x?x64xbf16>)
      v(%v : memref<?x?x?x64xbf16>) mask(%m : memref<?x?x?x?xi1>)
      outs(%o, %l : memref<?x?x?x64xbf16>, memref<?x?x?xf32>) causal
  return
}

// -----

// Dense mask, backward: the summary at the backward's tiles (its query
// tile by its key tile) and a backward kernel that skips the steps of
// empty blocks (neither copied nor computed); the deterministic kernel
// still takes its dQ turn on them.

// CHECK-LABEL: func.func @backward_mask
//       CHECK:   gpu.launch_func @dma_kernels::@dma_attention_bwd_delta_bf16_dv64_0
//       CHECK:   gpu.launch_func @dma_kernels::@dma_mask_state_m64n32_0
//       CHECK:   gpu.launch_func @dma_kernels::@dma_mask_list_m64n32_0
//       CHECK:   gpu.launch_func @dma_kernels::@dma_attention_bwd_bf16_d64_m64n32w2_maskskip_causal_1
//       CHECK:   gpu.func @dma_attention_bwd_bf16_d64_m64n32w2_maskskip_causal_1
//  CHECK-SAME:     "mask:ptr", "mask_state:ptr", "mask_tiles:ptr", "mask_count:ptr"
// The step loop carries the states of this step's and the next step's
// blocks; an scf.if runs the step's work only for a non-empty block.
//       CHECK:     scf.for {{.*}} iter_args
//       CHECK:       nvvm.barrier0
//       CHECK:       scf.if
// DET-LABEL: func.func @backward_mask
//       DET:   gpu.func @dma_attention_bwd_bf16_d64_m64n32w2_maskskip_causal_det_1
func.func @backward_mask(%do: memref<?x?x?x64xbf16>, %q: memref<?x?x?x64xbf16>,
    %k: memref<?x?x?x64xbf16>, %v: memref<?x?x?x64xbf16>, %o: memref<?x?x?x64xbf16>,
    %lse: memref<?x?x?xf32>, %m: memref<?x?x?x?xi1>, %dq: memref<?x?x?x64xbf16>,
    %dk: memref<?x?x?x64xbf16>, %dv: memref<?x?x?x64xbf16>) {
  dma.attention_grad grad(%do : memref<?x?x?x64xbf16>) q(%q : memref<?x?x?x64xbf16>)
      k(%k : memref<?x?x?x64xbf16>) v(%v : memref<?x?x?x64xbf16>)
      out(%o : memref<?x?x?x64xbf16>) lse(%lse : memref<?x?x?xf32>)
      mask(%m : memref<?x?x?x?xi1>)
      outs(%dq, %dk, %dv : memref<?x?x?x64xbf16>, memref<?x?x?x64xbf16>, memref<?x?x?x64xbf16>) causal
  return
}
