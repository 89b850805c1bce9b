//===- Passes.td - dma conversion passes -------------------*- tablegen -*-===//

#ifndef DMA_CONVERSION_PASSES
#define DMA_CONVERSION_PASSES

include "mlir/Pass/PassBase.td"

def ConvertDMAToLoops : Pass<"convert-dma-to-loops"> {
  let summary = "Lower dma ops on memrefs to direct, untiled scf loops";
  let description = [{
    The reference lowering: each dma op on memrefs becomes a scalar loop
    nest over arith, math, memref and scf, computing exactly the function of
    the semantics page in f32. It is untiled on purpose: it is the simplest
    correct program for each op, the CPU fallback, and the yardstick the
    tiled lowerings are compared against.

    * `dma.attention`: per (batch, head, query row) one pass over the visible
      keys for the row maximum, a second for the sum and P.V; empty rows
      write O = 0, LSE = -inf.
    * `dma.attention_grad`: Delta = rowsum(dO * O), then per row and visible
      key dS, accumulating dQ, dK, dV, dBias in f32 scratch (sequential, so
      deterministic), converted into the destinations at the end.
    * `dma.value_bias`: the dot product with the weight row, softplus, scale.
    * `dma.topk`: one pass per (batch, KV head) keeping a size-w min-heap of
      the best keys so far; its root after key c is prefix c's threshold
      (per_query), and its contents are the kept set (shared).

    Ops still on tensors are rejected: run `one-shot-bufferize` first.

    Before:

    ```mlir
    dma.attention q(%q : memref<1x4x1x8xf32>) k(%k : memref<1x4x1x8xf32>)
        v(%v : memref<1x4x1x8xf32>)
        outs(%o, %lse : memref<1x4x1x8xf32>, memref<1x1x4xf32>) causal
    ```

    After (abridged):

    ```mlir
    scf.parallel (%b, %h, %i) = (%c0, %c0, %c0) to (%c1, %c1, %c4) ... {
      memref.alloca_scope {
        %m = scf.for %j = %c0 to %end iter_args(%mx = %ninf) -> (f32) {
          ... %s = scale * dot(q[b,i,h], k[b,j,g]) ...
          %n = arith.maximumf %mx, %s : f32
          scf.yield %n : f32
        }
        %empty = arith.cmpf oeq, %m, %ninf : f32
        scf.if %empty { ... O = 0, LSE = -inf ... } else { ... }
      }
    }
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect"
  ];
}

def DMAAssignLayouts : Pass<"dma-assign-layouts", "ModuleOp"> {
  let summary = "Give each tile of a tiled forward its GPU layout";
  let description = [{
    Decides where every tile of a tiled attention forward lives on the GPU
    and writes it into the tile's tensor type as an encoding
    (DMAAttrs.td), so the choice is in the IR and the verifiers check it:

    * the score, probability and output tiles (2-D f32): `#dma.mma`, the
      accumulator fragments of mma.sync m16n8k16 spread over `warps` warps
      (the map (warp, lane, value) -> (row, col) is printed with it);
    * row max, row sum and the query positions (1-D): `#dma.rows` of it;
    * gathered Q, K and V (2-D, 16-bit): `#dma.shared`, XOR-swizzled for
      ldmatrix; K and V in a ring of `stages` buffers, Q in one;
    * the key positions: `#dma.shared` with K's stages, unswizzled.

    With `mma=wgmma` (sm_90a) the fragments are Hopper's warpgroup MMA's
    (`#dma.mma<..., wgmma>`: one 16-row tile per warp, q-tile / 16 warps,
    four per warpgroup) and Q, K and V are split into 64-column blocks
    (`#dma.shared<..., block_cols = 64>`), the 128-byte-swizzled layout a
    wgmma shared-memory descriptor reads. A forward whose tiles wgmma
    cannot take keeps mma.sync's layouts.

    Tiles tied together (a destination and its op's result, a loop's
    iteration arguments) get one layout; a conflict fails the pass.
    `convert-dma-tiles-to-gpu` reads warps, stages, swizzle and each
    thread's rows and columns from these layouts.

    Before (abridged):

    ```mlir
    %s = dma.tile.dot %q, %k transpose_rhs : tensor<128x64xbf16>, tensor<32x64xbf16>
        outs(%z : tensor<128x32xf32>) -> tensor<128x32xf32>
    ```

    After:

    ```mlir
    #mma = #dma.mma<warps = 4, row_tiles = 2, (d0, d1, d2) -> (...)>
    #shared = #dma.shared<stages = 2, swizzle = 8>
    #shared1 = #dma.shared<stages = 1, swizzle = 8>
    %s = dma.tile.dot %q, %k transpose_rhs
        : tensor<128x64xbf16, #shared1>, tensor<32x64xbf16, #shared>
        outs(%z : tensor<128x32xf32, #mma>) -> tensor<128x32xf32, #mma>
    ```
  }];
  let options = [
    Option<"warps", "warps", "int64_t", /*default=*/"0",
           "Warps per CTA (the #dma.mma layout's); each owns q-tile / warps query rows (a multiple "
           "of 16). 0 picks two 16-row tiles per warp for kernels without "
           "per-element mask or bias state, one otherwise">,
    Option<"stages", "stages", "int64_t", /*default=*/"::dma_defaults::kStages",
           "K/V tiles in shared memory (2 to 4): tile t + stages - 1 is "
           "copied while tile t is computed">,
    Option<"swizzle", "swizzle", "int64_t", /*default=*/"8",
           "16-byte chunks per XOR-swizzle group of the shared Q, K and V "
           "tiles (1, 2, 4 or 8; 8 makes ldmatrix conflict-free)">,
    Option<"mma", "mma", "std::string", /*default=*/"\"mma_sync\"",
           "The tensor-core instruction the fragments are laid out for: "
           "mma_sync (sm_80 and newer), wgmma (sm_90a's warpgroup MMA; "
           "forwards whose tiles it cannot take, a q-tile that is not 64 or "
           "128 or head dims that are not multiples of 64, keep mma_sync), "
           "or auto (wgmma where it fits, but mma_sync for a shared top-k "
           "or a dense mask, "
           "measured faster there)">
  ];
}

def ConvertDMATilesToGPU : Pass<"convert-dma-tiles-to-gpu", "ModuleOp"> {
  let summary = "Generate the GPU kernel of each tiled attention forward";
  let description = [{
    Takes the tiled forward that `dma-tile-attention` (and `dma-gather-keys`)
    produced, with the layouts of `dma-assign-layouts`, and maps it onto
    the GPU: the parallel loop over (batch, head, query tile) becomes the
    grid, one CTA per query tile, with the warps of its `#dma.mma` layout
    (each owning whole 16-row tiles). The loop nest's body moves into the
    kernel and a dialect conversion lowers each tile op by its own pattern
    (`lib/Conversion/DMAToGPU/ForwardPatterns.cpp`), on the values one
    thread holds of each tile by its layout (`#dma.mma`: mma.sync
    accumulator fragments; `#dma.rows`: the thread's rows; `#dma.shared`:
    the tile's slot in its ring of shared buffers). An op of the nest with
    no pattern fails the pass, named in the diagnostic; every generated
    instruction is located at (and named by) the tile op it comes from.

    * the key loop (`scf.for`): the cp.async pipeline, the walk's length
      (contiguous key tiles, chunks of a shared top-k list, per-query
      candidates, block-skip lists);
    * `dma.tile.gather`: cp.async into XOR-swizzled shared memory (Q once;
      K and V in stages, rows by position, zero-filled past the end);
    * `dma.tile.dot`: `ldmatrix` + `nvvm.mma.sync` m16n8k16 (bf16 or f16 in,
      f32 accumulate); with `#dma.mma<..., wgmma>` fragments (sm_90a) one
      `wgmma.mma_async` m64nNk16 per warpgroup and 16-deep step instead,
      Q and K (S = Q K^T) or V (O += P V, P from registers) read from
      shared memory through matrix descriptors;
    * `dma.tile.logits` / `dma.tile.softmax`: element-wise on the mma
      accumulator fragments, row reductions with quad shuffles, P repacked
      in registers as the A operand of P V;
    * `dma.tile.store_output`: normalised rows of O, and LSE.

    The kernel (a `gpu.func` in `gpu.module @dma_kernels`, NVVM and LLVM
    dialect inside) takes raw pointers, i32 sizes and i64 element strides
    (0 for broadcast dimensions), listed by `forwardKernelParams`; the loop
    nest is replaced by a `gpu.launch_func` that passes them from the
    memrefs.

    Before (abridged):

    ```mlir
    scf.forall (%b, %h, %qt) in (%B, %H, %nqt) {
      ... scf.for %kt ... { dma.tile.gather ... dma.tile.dot ... } {dma.key_loop}
    } {dma.query_tiles}
    ```

    After:

    ```mlir
    gpu.launch_func @dma_kernels::@dma_attention_fwd_bf16_d128_m64n64_keep_causal_0
        blocks in (%nqt, %H, %B) threads in (%c128, %c1, %c1)
        dynamic_shared_memory_size %c82432_i32 args(%q : !llvm.ptr, ...)
    gpu.module @dma_kernels {
      gpu.func @dma_attention_fwd_... kernel { ... nvvm.mma.sync ... }
    }
    ```

    The tiled backward (dma.delta_tiles and dma.key_tiles loop nests)
    becomes a Delta kernel and a key-tile-outer kernel
    (`lib/Conversion/DMAToGPU/BackwardKernel.cpp`): with 64-query steps
    (and not deterministic) its warps form a grid of 32-key x 32-query
    groups exchanging P^T and dS^T through shared memory
    (`BackwardWarpGrid.cpp`), otherwise each warp owns 16 keys for every
    product. The backward's kernels are still generated from a
    configuration read off its nest, not yet pattern by pattern.
  }];
  let options = [
    Option<"vectorAtomics", "vector-atomics", "bool", /*default=*/"false",
           "The backward adds column pairs with one red.global.add.v2.f32 "
           "(sm_90 and newer; --dma-gpu-pipeline sets it from the chip)">,
    Option<"deterministic", "deterministic", "bool", /*default=*/"false",
           "The backward's CTAs add into shared rows (dQ per query tile; "
           "dK, dV and a per-key dBias per key tile) in a fixed order, "
           "taking turns through zeroed semaphores: bitwise reproducible "
           "gradients, at the cost of waiting">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::gpu::GPUDialect",
    "::mlir::LLVM::LLVMDialect", "::mlir::NVVM::NVVMDialect",
    "::mlir::math::MathDialect", "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect", "::mlir::ub::UBDialect",
    "::mlir::vector::VectorDialect"
  ];
}

def CheckGPUChip : Pass<"dma-check-gpu-chip", "ModuleOp"> {
  let summary = "Fail unless `chip` is a GPU the kernels compile for";
  let description = [{
    The first pass of `--dma-gpu-pipeline`: the generated kernels use
    mma.sync m16n8k16 with bf16/f16 inputs, ldmatrix and cp.async (sm_80
    and newer), and each chip needs its own PTX version. An empty, older
    (sm_70, sm_75) or unknown chip would otherwise end in a crash or a
    fatal error deep in LLVM's instruction selection; this pass fails
    instead, with a message listing the supported chips:

    sm_80, sm_86, sm_87, sm_89, sm_90, sm_90a, sm_100, sm_100a, sm_103,
    sm_103a, sm_110, sm_110a, sm_120, sm_120a, sm_121, sm_121a.

    Each compiles end to end (NVVM, PTX, ptxas of CUDA 13); the IR is not
    changed. `mma=wgmma` or `auto` (the forward on the warpgroup MMA)
    needs sm_90a.
  }];
  let options = [
    Option<"chip", "chip", "std::string", /*default=*/"\"sm_90a\"",
           "The target GPU, as --dma-gpu-pipeline's `chip`">,
    Option<"mma", "mma", "std::string", /*default=*/"\"mma_sync\"",
           "The forward's tensor-core instruction (mma_sync, wgmma or "
           "auto), as --dma-gpu-pipeline's `mma` resolves it">
  ];
}

def ConvertDMAMaskToGPU : Pass<"convert-dma-mask-to-gpu", "ModuleOp"> {
  let summary = "Generate the GPU kernels of dma.value_bias and dma.topk";
  let description = [{
    Replaces each mask-generation op on memrefs by launches of kernels it
    generates into `gpu.module @dma_kernels`
    (`include/dma/Conversion/DMAToGPU/MaskKernels.h` describes them):

    * `dma.value_bias`: one thread per (key, KV head), the dot product of
      the value row with the weight row in f32, then softplus and A (and
      exp for the `exp` form);
    * `dma.topk shared`: one 512-thread CTA per (batch, KV head) finds the
      w-th largest score with a 32-step bitwise search over the scores'
      order-preserving integer keys (held in registers for rows of up to
      16384 keys; a CTA-wide count per step), then writes
      the kept positions in ascending order through CTA-wide prefix counts
      (ties toward the lower index), -1 padded;
    * `dma.topk per_query`: three launches, one thread per key: each allowed
      key's rank (score descending, index ascending), each prefix's w-th key
      in rank order (the tiebreak), its score (the threshold).

    The top-k selects exactly what `convert-dma-to-loops` selects (it only
    compares the given f32 scores); the value bias sums in the same order
    with fused multiply-adds, so it agrees to f32 rounding. Scores are f32,
    the top-k outputs i32 or i64, and the innermost dimension of every
    operand must be contiguous.

    Before:

    ```mlir
    dma.topk shared keep(64) score(%s : memref<?x?x?xf32>)
        outs(%idx : memref<?x?x64xi32>)
    ```

    After:

    ```mlir
    gpu.launch_func @dma_kernels::@dma_topk_shared_i32_0
        blocks in (%Hkv, %B, %c1) threads in (%c1024, %c1, %c1)
        dynamic_shared_memory_size %c128_i32 args(%score : !llvm.ptr, ...)
    gpu.module @dma_kernels {
      gpu.func @dma_topk_shared_i32_0(...) kernel { ... nvvm.vote.sync ballot ... }
    }
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::gpu::GPUDialect",
    "::mlir::LLVM::LLVMDialect", "::mlir::NVVM::NVVMDialect",
    "::mlir::math::MathDialect", "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect", "::mlir::vector::VectorDialect"
  ];
}

#endif // DMA_CONVERSION_PASSES
