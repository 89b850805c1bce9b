//===- Passes.td - dma transformations ---------------------*- tablegen -*-===//
//
// The target-independent transformations: tile the attention ops into the
// online-softmax tile form, then make the key walk sparse (block skipping
// for dense masks, gathering the kept keys for top-k masks). They run on
// the memref form of the semantic ops; tiles are tensors until the CPU
// pipeline bufferizes them (or the GPU lowering maps them to registers).
//
//===----------------------------------------------------------------------===//

#ifndef DMA_DIALECT_DMA_TRANSFORMS_PASSES
#define DMA_DIALECT_DMA_TRANSFORMS_PASSES

include "mlir/Pass/PassBase.td"

def DMATileAttention : Pass<"dma-tile-attention", "ModuleOp"> {
  let summary = "Rewrite dma.attention(_grad) into the online-softmax tile form";
  let description = [{
    `dma.attention` (on memrefs, with static head dims) becomes a parallel
    loop over (batch, query head, query tile) and, inside, a sequential loop
    over key tiles carrying the accumulator, the row max and the row sum:

    ```mlir
    scf.forall (%b, %h, %qt) in (%B, %H, %nqt) {
      %qpos = dma.tile.iota %q0 bound %lq ...              // query rows
      %q = dma.tile.gather %Q[%b, %h] rows(%qpos) ...
      %r:3 = scf.for %kt = %c0 to %nkt ... iter_args(%acc, %max, %sum) {
        %kpos = dma.tile.iota %k0 bound %lk ...            // key positions
        %k = dma.tile.gather %K[%b, %g] rows(%kpos) ...
        %v = dma.tile.gather %V[%b, %g] rows(%kpos) ...
        %s = dma.tile.dot %q, %k transpose_rhs ...          // Q K^T
        %x = dma.tile.logits %s rows(%qpos) keys(%kpos) ... // scale, cap, bias, mask
        %p, %acc1, %max1, %sum1 = dma.tile.softmax %x ...   // online softmax
        %acc2 = dma.tile.dot %p, %v ...                     // += P V
        scf.yield %acc2, %max1, %sum1
      } {dma.key_loop}
      dma.tile.store_output %r#0, %r#1, %r#2 rows(%qpos) into %O, %LSE[%b, %h] ...
    }
    ```

    Lengths need not be multiples of the tile sizes (positions past the end
    are -1 and masked). With `causal`, each query tile's key loop stops at
    the last key its last row can see, so tiles wholly above the diagonal are
    never visited. Every mask form is still decided per element here
    (`dma-block-skip` and `dma-gather-keys` make the walk sparse).

    `dma.attention_grad` becomes the key-tile-outer backward: Delta =
    rowsum(dO * O) in its own parallel loop, then a parallel loop over
    (batch, KV head, key tile) that keeps dK and dV for its keys in tiles
    across the query heads of the group and the query tiles (causally from
    the first tile that can see the key tile), scatters them once, and adds
    the dQ (and dBias) contributions atomically into f32 accumulators, which
    are converted into the destinations at the end. On the CPU the parallel
    loops run in order, so the result is deterministic.

    Ops with dynamic head dims are left for `convert-dma-to-loops`.
  }];
  let options = [
    Option<"qTile", "q-tile", "int64_t", /*default=*/"64",
           "Query rows per tile (BM)">,
    Option<"kTile", "k-tile", "int64_t", /*default=*/"64",
           "Keys per tile (BN)">,
    Option<"countVisits", "count-visits", "bool", /*default=*/"false",
           "Count visited key tiles and keys in the public global "
           "@dma_visit_counts (memref<2xi64>: tiles, keys)">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::linalg::LinalgDialect",
    "::mlir::memref::MemRefDialect", "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def DMABlockSkip : Pass<"dma-block-skip"> {
  let summary = "Visit only the key tiles a dense mask keeps anything in";
  let description = [{
    For tiled attention with a dense boolean mask, summarises the mask once
    per (batch, mask head, query tile) with `dma.tile.mask_summary` (which
    key tiles hold a kept entry, and which are full) and rewrites the walk:

    * forward: the key loop runs over the listed tiles only (and stops at
      the causal limit); on full tiles `dma.tile.logits` gets
      `mask_full(true)` and does not read the mask;
    * backward: each (key tile, query tile) block that keeps nothing is
      skipped, full blocks skip reading the mask.

    Before (forward):

    ```mlir
    scf.for %kt = %c0 to %nkt ... {
      %kpos = dma.tile.iota %k0 bound %lk ...
      %x = dma.tile.logits ... mask(%m : ...) ...
    } {dma.key_loop}
    ```

    After:

    ```mlir
    dma.tile.mask_summary %m rows(%lq) q_tile(64) k_tile(64) ... outs(%state, %tiles, %count ...)
    ...
    scf.for %t = %c0 to %listed ... {
      %kt = memref.load %tiles[%mb, %mh, %qt, %t] ...
      %kpos = dma.tile.iota %k0 bound %lk ...
      %x = dma.tile.logits ... mask(%m : ...) mask_full(%full) ...
    } {dma.key_loop}
    ```

    `skip=false` leaves the IR unchanged, so tests can prove skipping exact.
  }];
  let options = [
    Option<"skip", "skip", "bool", /*default=*/"true",
           "Skip empty tiles and mask reads of full tiles">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect"
  ];
}

def DMAGatherKeys : Pass<"dma-gather-keys"> {
  let summary = "Walk only the kept keys of top-k masks, gathered into tiles";
  let description = [{
    For tiled attention with a top-k mask, replaces the walk over contiguous
    key tiles by a walk over gathered chunks of kept keys:

    * shared top-k (`keep`): the key loop walks the sorted kept positions in
      chunks of the key tile size (`dma.tile.positions`), stopping at the
      causal limit of the query tile's last row; K, V and bias rows are
      gathered by position and membership is known (`keys_kept`). The
      backward walks the same chunks in its outer loop and scatters dK, dV
      (and dBias) back to the original positions; keys never kept get zero.
    * per-query top-k (`keep_rows`): the forward key loop walks the
      candidates of the query tile (`dma.tile.candidates`: every key some
      row of the tile may keep, at most w + BM - 1 of them) and still decides
      each element from its row's threshold. The backward's key tiles become
      slices of chunks ordered by score (`dma.tile.ranked_keys`, chunks of
      `rank-chunk` keys), and its query loop walks only the query tiles
      with rows that keep a key of the tile (`dma.tile.keeping_rows`): the
      rows keeping a key form an interval from its causal row on, longer the
      higher its score.

    Causality is decided per element from the original positions. Before:

    ```mlir
    scf.for %kt = %c0 to %nkt ... {
      %kpos = dma.tile.iota %k0 bound %lk ...
      ... dma.tile.logits ... keep(%idx : ...) ...
    } {dma.key_loop}
    ```

    After:

    ```mlir
    scf.for %c = %c0 to %nchunks ... {
      %kpos = dma.tile.positions %idx[%kb, %kh] offset %t0 bound %lk ...
      ... dma.tile.logits ... keep(%idx : ...) keys_kept ...
    } {dma.key_loop}
    ```

    `gather=false` leaves the IR unchanged, so tests can prove it exact.
  }];
  let options = [
    Option<"gather", "gather", "bool", /*default=*/"true",
           "Walk kept keys instead of all key tiles">,
    Option<"perQuery", "per-query", "bool", /*default=*/"true",
           "Also gather the candidates of per-query top-k masks">,
    Option<"rankChunk", "rank-chunk", "int64_t",
           /*default=*/"::dma_defaults::kRankChunk",
           "Keys per chunk the per-query backward orders by score (rounded "
           "up to a multiple of the key tile)">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect", "::mlir::tensor::TensorDialect"
  ];
}

def DMAStaticExpandShape : Pass<"dma-static-expand-shape"> {
  let summary = "Give memref.expand_shape the static sizes its output_shape "
                "states";
  let description = [{
    A `memref.expand_shape` whose `output_shape` holds a static size where
    its result type has `?` is valid IR (canonicalization folds constant
    output sizes into `output_shape` without refining the type, and
    bufferization carries a `tensor.expand_shape` of that form over), but
    upstream `expand-strided-metadata` crashes on it. The CPU pipeline runs
    this pass just before `expand-strided-metadata`: the result type takes
    the static sizes and a `memref.cast` restores the old type for the
    users, so the crashing form never reaches it.

    Before:

    ```mlir
    %e = memref.expand_shape %m [[0, 1]] output_shape [2, 4]
        : memref<?xf32> into memref<?x?xf32>
    ```

    After:

    ```mlir
    %s = memref.expand_shape %m [[0, 1]] output_shape [2, 4]
        : memref<?xf32> into memref<2x4xf32>
    %e = memref.cast %s : memref<2x4xf32> to memref<?x?xf32>
    ```
  }];
  let dependentDialects = ["::mlir::memref::MemRefDialect"];
}

#endif // DMA_DIALECT_DMA_TRANSFORMS_PASSES
