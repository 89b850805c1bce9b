// RUN: dma-opt %s -split-input-file --dma-tile-attention="q-tile=64 k-tile=32" --dma-assign-layouts --convert-dma-tiles-to-gpu -mlir-print-debuginfo -mlir-print-local-scope | FileCheck %s
// RUN: dma-opt %s -split-input-file --dma-tile-attention="q-tile=64 k-tile=32" --dma-assign-layouts --convert-dma-tiles-to-gpu | FileCheck %s --check-prefix=NOTILES

// convert-dma-tiles-to-gpu lowers the tiled forward one tile op at a time
// (ForwardPatterns.cpp): every instruction of the kernel is located at the
// tile op whose pattern emitted it, named by that op, in the nest's order.
// A causal forward with a per-key bias, B x H x L x 64, bf16.

// CHECK-LABEL: gpu.func @dma_attention_fwd_bf16_d64_m64n32w2_keybias_causal_0
// dma.tile.iota of the query rows: the positions of the thread's rows
// (#dma.mma's map at the thread's warp and lane), compared with Lq.
//       CHECK:   arith.cmpi slt, {{.*}} loc("dma.tile.iota"
// dma.tile.gather of Q: cp.async into its shared buffer.
//       CHECK:   nvvm.cp.async.shared.global {{.*}} loc("dma.tile.gather"
// The key loop: the walk's length, the first K/V tile and its key bias in
// flight, then per step: wait, barrier, copy the next tile.
//       CHECK:   nvvm.cp.async.commit.group loc("scf.for"
//       CHECK:   scf.for
//       CHECK:     nvvm.cp.async.wait.group 0 loc("scf.for"
//       CHECK:     nvvm.barrier0 loc("scf.for"
//       CHECK:     nvvm.cp.async.shared.global {{.*}} loc("scf.for"
// dma.tile.iota of the key positions: the ring slot of this step.
//       CHECK:     arith.remsi {{.*}} loc("dma.tile.iota"
// S = Q K^T: ldmatrix of Q and K, mma.sync.
//       CHECK:     nvvm.ldmatrix {{.*}} loc("dma.tile.dot"
//       CHECK:     nvvm.mma.sync {{.*}} loc("dma.tile.dot"
// dma.tile.logits: the key positions and biases of the thread's columns
// from shared memory, scaled, masked causally on partial tiles.
//       CHECK:     llvm.load {{.*}} loc("dma.tile.logits"
//       CHECK:     arith.mulf {{.*}} loc("dma.tile.logits"
// dma.tile.softmax: row max over the quad, exp2.
//       CHECK:     nvvm.shfl.sync bfly {{.*}} loc("dma.tile.softmax"
//       CHECK:     llvm.nvvm.ex2.approx.ftz.f{{.*}} loc("dma.tile.softmax"
// O += P V: ldmatrix.trans of V, mma.sync.
//       CHECK:     nvvm.ldmatrix {{.*}}layout = #nvvm.mma_layout<col>{{.*}} loc("dma.tile.dot"
//       CHECK:     nvvm.mma.sync {{.*}} loc("dma.tile.dot"
// The loop's yield: the next key bias into its slot.
//       CHECK:     llvm.store {{.*}} loc("scf.yield"
//       CHECK:     scf.yield
// After the loop: nothing in flight, then dma.tile.store_output.
//       CHECK:   nvvm.cp.async.wait.group 0 loc("scf.for"
//       CHECK:   llvm.store {{.*}} loc("dma.tile.store_output"
//       CHECK:   gpu.return

// No op of the tiled IR is left in the kernel, nor a host value.
// NOTILES-LABEL: gpu.func @dma_attention_fwd_bf16_d64_m64n32w2_keybias_causal_0
//   NOTILES-NOT:   {{dma\.tile|tensor\.|linalg\.|ub\.poison|memref\.}}
//       NOTILES:   gpu.return
func.func @causal_key_bias(%q: memref<?x?x?x64xbf16>, %k: memref<?x?x?x64xbf16>,
    %v: memref<?x?x?x64xbf16>, %bias: memref<?x?x1x?xbf16>,
    %o: memref<?x?x?x64xbf16>, %l: memref<?x?x?xf32>) {
  dma.attention q(%q : memref<?x?x?x64xbf16>) k(%k : memref<?x?x?x64xbf16>)
      v(%v : memref<?x?x?x64xbf16>) bias(%bias : memref<?x?x1x?xbf16>)
      outs(%o, %l : memref<?x?x?x64xbf16>, memref<?x?x?xf32>) causal
  return
}
