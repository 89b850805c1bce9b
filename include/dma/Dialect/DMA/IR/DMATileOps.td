//===- DMATileOps.td - the tile level of the dma dialect ---*- tablegen -*-===//
//
// The tiled form of attention (produced by dma-tile-attention, reshaped by
// dma-block-skip and dma-gather-keys) is written with these ops: small tiles
// are SSA values (static-shaped tensors, like Triton's blocks) and the big
// operands (Q, K, V, O, masks) stay memrefs that tiles are gathered from and
// scattered to. A tile holds whole rows of one (batch, head); which rows is
// given by a *positions* tile (i32, -1 = no row), so contiguous, gathered and
// padded tiles are one concept.
//
// Each family lowers separately: to loops for the CPU (convert-dma-to-loops)
// and, later, to tensor-core fragments for the GPU. Tile ops with tile
// results are destination-passing style and bufferize like the other dma
// ops; `dma.tile.store_output`, `dma.tile.scatter` and `dma.tile.bias_grad`
// only write memrefs.
//
//===----------------------------------------------------------------------===//

#ifndef DMA_DIALECT_DMA_IR_DMATILEOPS_TD
#define DMA_DIALECT_DMA_IR_DMATILEOPS_TD

class DMA_TileOp<string mnemonic, list<Trait> traits = []>
    : DMA_Op<"tile." # mnemonic, traits> {
  let hasVerifier = 1;
}

// A tile op whose tile results are written into `outs` (on tensors: one
// result per destination).
class DMA_TileDPSOp<string mnemonic, list<Trait> traits = []>
    : DMA_TileOp<mnemonic, !listconcat(traits, [
        DeclareOpInterfaceMethods<MemoryEffectsOpInterface>,
        DestinationStyleOpInterface])> {
  let results = (outs Variadic<AnyRankedTensor>:$results);
  code tileDecl = [{
    ::mlir::MutableOperandRange getDpsInitsMutable() { return getOutsMutable(); }
    /// Whether destination `i` is read (updated in place) rather than only
    /// written.
    bool readsDestination(unsigned i);
  }];
  let extraClassDeclaration = tileDecl;
}

// A tile op that only reads tiles and writes memrefs.
class DMA_TileSinkOp<string mnemonic, list<Trait> traits = []>
    : DMA_TileOp<mnemonic, !listconcat(traits, [
        DeclareOpInterfaceMethods<MemoryEffectsOpInterface>])>;

//===----------------------------------------------------------------------===//
// Positions
//===----------------------------------------------------------------------===//

def DMA_TileIotaOp : DMA_TileDPSOp<"iota"> {
  let summary = "positions start, start+1, ... of a contiguous tile";
  let description = [{
    `pos[i] = start + i` when it is below `bound`, else -1. The positions of
    a contiguous query or key tile (rows beyond the sequence are -1).

    ```mlir
    %qpos = dma.tile.iota %q0 bound %lq outs(%e : tensor<64xi32>) -> tensor<64xi32>
    ```
  }];
  let arguments = (ins Index:$start, Index:$bound, Variadic<DMA_Shaped>:$outs);
  let assemblyFormat = [{
    $start `bound` $bound `outs` `(` $outs `:` type($outs) `)` attr-dict
    (`->` type($results)^)?
  }];
}

def DMA_TilePositionsOp : DMA_TileDPSOp<"positions", [AttrSizedOperandSegments]> {
  let summary = "positions read from a list of key indices";
  let description = [{
    Reads `N` consecutive entries `list[indices..., offset + i]` of the last
    dimension of `list` (an `i32`/`i64` memref, or a tile such as the list of
    `dma.tile.candidates`). Entries past the end of the
    list, negative entries and entries `>= bound` become -1. This is how a
    gathered key tile is formed from a top-k list.

    ```mlir
    %kpos = dma.tile.positions %keep[%kb, %kh] offset %t0 bound %lk
        : memref<1x8x1024xi32> outs(%e : tensor<64xi32>) -> tensor<64xi32>
    ```
  }];
  let arguments = (ins DMA_Shaped:$list, Variadic<Index>:$indices,
                       Index:$offset, Index:$bound,
                       Variadic<DMA_Shaped>:$outs);
  let assemblyFormat = [{
    $list `[` $indices `]` `offset` $offset `bound` $bound `:` type($list)
    `outs` `(` $outs `:` type($outs) `)` attr-dict (`->` type($results)^)?
  }];
}

def DMA_TileCountOp : DMA_TileOp<"count", [
    DeclareOpInterfaceMethods<MemoryEffectsOpInterface>]> {
  let summary = "number of valid (non-negative) positions in a tile";
  let arguments = (ins DMA_Shaped:$positions);
  let results = (outs Index:$count);
  let assemblyFormat = "$positions `:` type($positions) attr-dict";
}

def DMA_TileCandidatesOp : DMA_TileDPSOp<"candidates"> {
  let summary = "keys that some row of a query tile may keep (per-query top-k)";
  let description = [{
    For the per-query top-k representation (`keep_score`, `keep_threshold`,
    `keep_tiebreak`, each [{B|1}, {Hkv|H|1}, Lk]) and a query tile whose
    rows see the causal prefixes ending at `first` .. `last`, writes in
    ascending order the keys `j <= last` with
    `s[j] > threshold[first] or (s[j] == threshold[first] and j <= tiebreak[first])`,
    then -1. Thresholds only grow with the prefix, so this is a superset of
    the union of the rows' kept sets, of size at most `w + last - first`.
    `at(b, h) heads(H)` select the (broadcast) row of the representation.

    ```mlir
    %cand = dma.tile.candidates %s, %thr, %tie at(%b, %h) heads(%H)
        prefixes(%first, %last) : memref<?x?x?xf32>, memref<?x?x?xf32>, memref<?x?x?xi32>
        outs(%list : tensor<?xi32>) -> tensor<?xi32>
    ```
  }];
  let arguments = (ins AnyMemRef:$keep_score, AnyMemRef:$keep_threshold,
                       AnyMemRef:$keep_tiebreak, Index:$b, Index:$h,
                       Index:$heads, Index:$first, Index:$last,
                       Variadic<DMA_Shaped>:$outs);
  let assemblyFormat = [{
    $keep_score `,` $keep_threshold `,` $keep_tiebreak
    `at` `(` $b `,` $h `)` `heads` `(` $heads `)`
    `prefixes` `(` $first `,` $last `)`
    `:` type($keep_score) `,` type($keep_threshold) `,` type($keep_tiebreak)
    `outs` `(` $outs `:` type($outs) `)` attr-dict (`->` type($results)^)?
  }];
}

def DMA_TileRankedKeysOp : DMA_TileDPSOp<"ranked_keys"> {
  let summary = "a key tile of a chunk ordered by per-query top-k score";
  let description = [{
    For the per-query top-k score `keep_score[kb, kh, :]`, the tile's
    entries `offset .. offset + N - 1` of the chunk holding `offset`: the
    chunk is the keys `[c0, min(c0 + chunk, bound))` with
    `c0 = offset - offset mod chunk`, ordered by descending score (equal
    scores by ascending position, NaN scores last); entry `i` is the key of
    rank `offset - c0 + i`, or -1 past the chunk. The tiles of one chunk are
    a permutation of its keys, so every key lies in exactly one tile.

    Why: thresholds of a causal per-query top-k only grow with the prefix, so
    the rows that keep key `j` are one interval starting at its causal row,
    ending later the higher its score. Ordering a chunk by score groups keys
    whose intervals end together, and a backward over such tiles walks
    only the query tiles some row of which keeps a key of the tile
    (`dma.tile.keeping_rows`), not every query tile after the chunk.

    ```mlir
    %kpos = dma.tile.ranked_keys %s[%kb, %kh] offset %k0 bound %lk chunk 512
        : memref<?x?x?xf32> outs(%e : tensor<64xi32>) -> tensor<64xi32>
    ```
  }];
  let arguments = (ins AnyMemRef:$keep_score, Index:$kb, Index:$kh,
                       Index:$offset, Index:$bound,
                       ConfinedAttr<I64Attr, [IntPositive]>:$chunk,
                       Variadic<DMA_Shaped>:$outs);
  let assemblyFormat = [{
    $keep_score `[` $kb `,` $kh `]` `offset` $offset `bound` $bound
    `chunk` $chunk `:` type($keep_score)
    `outs` `(` $outs `:` type($outs) `)` attr-dict (`->` type($results)^)?
  }];
}

def DMA_TileKeepingRowsOp : DMA_TileOp<"keeping_rows", [
    DeclareOpInterfaceMethods<MemoryEffectsOpInterface>]> {
  let summary = "the query rows that keep some key of a tile (per-query top-k)";
  let description = [{
    For the per-query top-k representation at `[kb, kh]` (each
    `[{B|1}, {Hkv|H|1}, Lk]`, indexed by the end of a causal prefix) and a
    tile of key positions (-1 for no key), returns `[first, end)` within
    `[0, rows)`: no row outside it keeps a key of the tile (`first == end`
    when no row keeps any). Row `i` has the prefix ending at
    `p = i + key_offset` (`Lk - 1` without `causal`) and keeps key `j <= p`
    when `s[j] > threshold[p] or (s[j] == threshold[p] and j <= tiebreak[p])`.
    Relies on what `dma.topk per_query` writes: a prefix's (threshold,
    tiebreak) never decreases as it grows, so the rows keeping `j` are an
    interval from its causal row on, found by binary search.

    ```mlir
    %first, %end = dma.tile.keeping_rows %kpos, %s, %thr, %tie [%kb, %kh]
        key_offset(%off) rows(%lq) causal
        : tensor<64xi32>, memref<?x?x?xf32>, memref<?x?x?xf32>, memref<?x?x?xi32>
    ```
  }];
  let arguments = (ins DMA_Shaped:$positions, AnyMemRef:$keep_score,
                       AnyMemRef:$keep_threshold, AnyMemRef:$keep_tiebreak,
                       Index:$kb, Index:$kh, Index:$key_offset, Index:$rows,
                       UnitAttr:$causal);
  let results = (outs Index:$first, Index:$end);
  let assemblyFormat = [{
    $positions `,` $keep_score `,` $keep_threshold `,` $keep_tiebreak
    `[` $kb `,` $kh `]` `key_offset` `(` $key_offset `)` `rows` `(` $rows `)`
    (`causal` $causal^)? `:` type($positions) `,` type($keep_score) `,`
    type($keep_threshold) `,` type($keep_tiebreak) attr-dict
  }];
}

//===----------------------------------------------------------------------===//
// Moving rows between memrefs and tiles
//===----------------------------------------------------------------------===//

def DMA_TileGatherOp : DMA_TileDPSOp<"gather"> {
  let summary = "gather the rows at `rows` of one (batch, head) into a tile";
  let description = [{
    For a [B, L, Hx, D] source, `tile[i, :] = source[b, rows[i], head, :]`;
    for a [B, Hx, L] source (LSE, Delta), `tile[i] = source[b, head, rows[i]]`.
    Rows at position -1 read as zero. Values convert to the tile's element
    type.

    ```mlir
    %k = dma.tile.gather %K[%b, %g] rows(%kpos : tensor<64xi32>)
        : memref<?x?x?x64xbf16> outs(%e : tensor<64x64xbf16>) -> tensor<64x64xbf16>
    ```
  }];
  let arguments = (ins AnyMemRef:$source, Index:$b, Index:$head,
                       DMA_Shaped:$rows, Variadic<DMA_Shaped>:$outs);
  let assemblyFormat = [{
    $source `[` $b `,` $head `]` `rows` `(` $rows `:` type($rows) `)`
    `:` type($source) `outs` `(` $outs `:` type($outs) `)` attr-dict
    (`->` type($results)^)?
  }];
}

def DMA_TileScatterOp : DMA_TileSinkOp<"scatter"> {
  let summary = "write (or add) a tile's rows into one (batch, head) of a memref";
  let description = [{
    The inverse of `dma.tile.gather`: `dest[b, rows[i], head, :] = tile[i, :]`
    (or `dest[b, head, rows[i]]` for a [B, Hx, L] destination), skipping rows
    at -1. With `accumulate` the tile is added to an f32 destination
    atomically, so concurrent tiles may target the same rows.

    ```mlir
    dma.tile.scatter %dk rows(%kpos) into %dK[%b, %g] accumulate
        : tensor<64x64xf32>, tensor<64xi32>, memref<?x?x?x64xf32>
    ```
  }];
  let arguments = (ins DMA_Shaped:$tile, DMA_Shaped:$rows, AnyMemRef:$dest,
                       Index:$b, Index:$head, UnitAttr:$accumulate);
  let assemblyFormat = [{
    $tile `rows` `(` $rows `)` `into` $dest `[` $b `,` $head `]`
    (`accumulate` $accumulate^)? attr-dict
    `:` type($tile) `,` type($rows) `,` type($dest)
  }];
}

//===----------------------------------------------------------------------===//
// Arithmetic on tiles
//===----------------------------------------------------------------------===//

def DMA_TileDotOp : DMA_TileDPSOp<"dot"> {
  let summary = "C += op(A) op(B) on tiles (f32 accumulation)";
  let description = [{
    `acc[m, n] += sum_k op(lhs)[m, k] * op(rhs)[k, n]` with `op` the
    transpose when `transpose_lhs` / `transpose_rhs` is set. Products and
    sums are f32; the accumulator is f32. Q K^T, P V, P^T dO, dS K, ... of
    the forward and backward are all this op (the mma of the GPU lowering).
    A zero entry of `op(lhs)` contributes nothing, even against a NaN or
    Inf in `op(rhs)`: in P V, dS K, P^T dO and dS^T Q it is the probability
    of a hidden key, whose V or K row must not reach the result.

    ```mlir
    %s = dma.tile.dot %q, %k transpose_rhs : tensor<64x64xbf16>, tensor<64x64xbf16>
        outs(%zero : tensor<64x64xf32>) -> tensor<64x64xf32>
    ```
  }];
  let arguments = (ins DMA_Shaped:$lhs, DMA_Shaped:$rhs,
                       Variadic<DMA_Shaped>:$outs,
                       UnitAttr:$transpose_lhs, UnitAttr:$transpose_rhs);
  let assemblyFormat = [{
    $lhs `,` $rhs (`transpose_lhs` $transpose_lhs^)?
    (`transpose_rhs` $transpose_rhs^)? `:` type($lhs) `,` type($rhs)
    `outs` `(` $outs `:` type($outs) `)` attr-dict (`->` type($results)^)?
  }];
}

def DMA_TileLogitsOp : DMA_TileDPSOp<"logits", [AttrSizedOperandSegments]> {
  let summary = "scale, soft cap, bias and visibility of a score tile";
  let description = [{
    From the raw dot products `raw[i, j]` of query row `rows[i]` and key
    `keys[j]` of batch `b`, head `h` (of `heads`), computes the logit of the
    spec, `softcap * tanh(scale * raw / softcap) + bias` (no cap when
    `softcap` is 0), or -inf where key j is not visible to row i: either
    position is -1, `keys[j] > rows[i] + key_offset` under `causal`
    (`key_offset` = Lk - Lq), or the mask form drops it:

    * `mask`: the dense boolean mask, unless `mask_full` (an i1 operand) is
      true, which says every entry of this tile is kept (block skipping);
    * `keep`: shared top-k; membership is tested by binary search in the
      sorted list, unless `keys_kept` says the keys were gathered from it;
    * `keep_rows`: per-query top-k, compared with row i's prefix entry.

    Bias and masks broadcast as for `dma.attention`.
  }];
  let arguments = (ins DMA_Shaped:$raw, DMA_Shaped:$rows, DMA_Shaped:$keys,
                       Index:$b, Index:$h, Index:$heads, Index:$key_offset,
                       Optional<AnyMemRef>:$bias,
                       Optional<AnyMemRef>:$mask,
                       Optional<I1>:$mask_full,
                       Optional<AnyMemRef>:$keep,
                       Optional<AnyMemRef>:$keep_score,
                       Optional<AnyMemRef>:$keep_threshold,
                       Optional<AnyMemRef>:$keep_tiebreak,
                       Variadic<DMA_Shaped>:$outs,
                       F64Attr:$scale,
                       DefaultValuedAttr<F64Attr, "0.0">:$softcap,
                       UnitAttr:$causal, UnitAttr:$keys_kept);
  let assemblyFormat = [{
    $raw `rows` `(` $rows `)` `keys` `(` $keys `)` `at` `(` $b `,` $h `)`
    `heads` `(` $heads `)` `key_offset` `(` $key_offset `)`
    `scale` `(` $scale `)` (`softcap` `(` $softcap^ `)`)? (`causal` $causal^)?
    (`bias` `(` $bias^ `:` type($bias) `)`)?
    (`mask` `(` $mask^ `:` type($mask) `)`)?
    (`mask_full` `(` $mask_full^ `)`)?
    (`keep` `(` $keep^ `:` type($keep) `)`)?
    (`keys_kept` $keys_kept^)?
    (`keep_rows` `(` $keep_score^ `,` $keep_threshold `,` $keep_tiebreak `:`
        type($keep_score) `,` type($keep_threshold) `,` type($keep_tiebreak) `)`)?
    `:` type($raw) `,` type($rows) `,` type($keys)
    `outs` `(` $outs `:` type($outs) `)` attr-dict (`->` type($results)^)?
  }];
}

def DMA_TileSoftmaxOp : DMA_TileDPSOp<"softmax"> {
  let summary = "one online-softmax step: new row max and sum, P, rescaled accumulator";
  let description = [{
    Reads the logits tile and updates the running state of a query tile in
    place (`acc` [M, Dv], `max` [M], `sum` [M], all f32), writing P [M, N]:

    ```
    max' = max(max, rowmax(logits))
    corr = exp(max - max')          (1 while max' is -inf)
    P    = exp(logits - max')       (0 while max' is -inf)
    sum' = sum * corr + rowsum(P)   acc' = acc * corr
    ```

    The caller then adds P V into `acc'` with `dma.tile.dot`.
  }];
  let arguments = (ins DMA_Shaped:$logits, Variadic<DMA_Shaped>:$outs);
  let assemblyFormat = [{
    $logits `:` type($logits) `outs` `(` $outs `:` type($outs) `)` attr-dict
    (`->` type($results)^)?
  }];
}

def DMA_TileStoreOutputOp : DMA_TileSinkOp<"store_output"> {
  let summary = "normalise the accumulator and store a query tile's O and LSE";
  let description = [{
    For each valid row: `O[b, rows[i], h, :] = acc[i, :] / sum[i]` and
    `LSE[b, h, rows[i]] = max[i] + log(sum[i])`; rows that saw no key
    (`max` = -inf) store O = 0 and LSE = -inf.
  }];
  let arguments = (ins DMA_Shaped:$acc, DMA_Shaped:$max, DMA_Shaped:$sum,
                       DMA_Shaped:$rows, AnyMemRef:$out, AnyMemRef:$lse,
                       Index:$b, Index:$h);
  let assemblyFormat = [{
    $acc `,` $max `,` $sum `rows` `(` $rows `)` `into` $out `,` $lse
    `[` $b `,` $h `]` attr-dict `:` type($acc) `,` type($max) `,` type($sum)
    `,` type($rows) `,` type($out) `,` type($lse)
  }];
}

def DMA_TileProbsOp : DMA_TileDPSOp<"probs"> {
  let summary = "P = exp(logits - LSE) for the backward";
  let description = [{
    `P[i, j] = exp(logits[i, j] - lse[i])`, 0 where the row's LSE is -inf.
  }];
  let arguments = (ins DMA_Shaped:$logits, DMA_Shaped:$lse,
                       Variadic<DMA_Shaped>:$outs);
  let assemblyFormat = [{
    $logits `,` $lse `:` type($logits) `,` type($lse)
    `outs` `(` $outs `:` type($outs) `)` attr-dict (`->` type($results)^)?
  }];
}

def DMA_TileDScoresOp : DMA_TileDPSOp<"dscores", [AttrSizedOperandSegments]> {
  let summary = "dS = P (dP - Delta) and the scaled, cap-differentiated dX";
  let description = [{
    `dS[i, j] = P[i, j] * (dP[i, j] - delta[i])` (the bias gradient) and
    `dX[i, j] = scale * dS[i, j] * (1 - tanh^2(scale * raw[i, j] / softcap))`
    (the factor is 1 without a soft cap; `raw` is then not needed), from
    which dQ = dX K and dK = dX^T Q. Where `P[i, j]` is 0 (key j hidden
    from row i) both are exactly 0, whatever `dP` and `raw` hold (a NaN or
    Inf in the hidden key's K or V row).
  }];
  let arguments = (ins DMA_Shaped:$probs, DMA_Shaped:$dprobs,
                       DMA_Shaped:$delta, Optional<DMA_Shaped>:$raw,
                       Variadic<DMA_Shaped>:$outs, F64Attr:$scale,
                       DefaultValuedAttr<F64Attr, "0.0">:$softcap);
  let assemblyFormat = [{
    $probs `,` $dprobs `,` $delta (`raw` `(` $raw^ `:` type($raw) `)`)?
    `scale` `(` $scale `)` (`softcap` `(` $softcap^ `)`)?
    `:` type($probs) `,` type($dprobs) `,` type($delta)
    `outs` `(` $outs `:` type($outs) `)` attr-dict (`->` type($results)^)?
  }];
}

def DMA_TileRowDotOp : DMA_TileDPSOp<"rowdot"> {
  let summary = "per-row dot product of two tiles (Delta = rowsum(dO * O))";
  let arguments = (ins DMA_Shaped:$lhs, DMA_Shaped:$rhs,
                       Variadic<DMA_Shaped>:$outs);
  let assemblyFormat = [{
    $lhs `,` $rhs `:` type($lhs) `,` type($rhs)
    `outs` `(` $outs `:` type($outs) `)` attr-dict (`->` type($results)^)?
  }];
}

def DMA_TileBiasGradOp : DMA_TileSinkOp<"bias_grad"> {
  let summary = "add dS into the bias gradient, reduced over broadcast dims";
  let description = [{
    Atomically adds `ds[i, j]` into the f32 `dbias` at the broadcast indices
    of (b, h, rows[i], keys[j]) — the same indices the forward read the bias
    at — so size-1 dimensions of the bias sum their contributions.
  }];
  let arguments = (ins DMA_Shaped:$ds, DMA_Shaped:$rows, DMA_Shaped:$keys,
                       AnyMemRef:$dbias, Index:$b, Index:$h, Index:$heads);
  let assemblyFormat = [{
    $ds `rows` `(` $rows `)` `keys` `(` $keys `)` `into` $dbias
    `at` `(` $b `,` $h `)` `heads` `(` $heads `)` attr-dict
    `:` type($ds) `,` type($rows) `,` type($keys) `,` type($dbias)
  }];
}

def DMA_TileConvertOp : DMA_TileSinkOp<"convert", [SameVariadicOperandSize]> {
  let summary = "convert f32 accumulators into the outputs, pairwise";
  let description = [{
    `dests[i] = sources[i]`, element by element, converted to the element
    type of `dests[i]` (round to nearest even): the last step of a tiled
    backward, whose gradients are summed in f32 scratch (`dma.tile.scatter
    accumulate`, `dma.tile.bias_grad`) and returned in the inputs' dtype.
    One op for all of a backward's gradients, so the GPU lowering converts
    them in one kernel launch (convert-dma-tiles-to-gpu); the CPU lowering
    writes a loop nest per pair.

    ```mlir
    dma.tile.convert %dq32, %dbias32 into %dq, %dbias
        : memref<?x?x?x64xf32>, memref<?x?x1x?xf32>
        -> memref<?x?x?x64xbf16>, memref<?x?x1x?xbf16>
    ```
  }];
  let arguments = (ins Variadic<AnyMemRef>:$sources,
                       Variadic<AnyMemRef>:$dests);
  let assemblyFormat = [{
    $sources `into` $dests attr-dict `:` type($sources) `->` type($dests)
  }];
}

//===----------------------------------------------------------------------===//
// Summaries for block skipping
//===----------------------------------------------------------------------===//

def DMA_MaskSummaryOp : DMA_TileDPSOp<"mask_summary"> {
  let summary = "which (query tile, key tile) blocks of a dense mask are empty, partial or full";
  let description = [{
    For a dense mask [{B|1}, Mh, {Lq|1}, Lk] and tiles of `q_tile` rows (of
    `rows` query rows) and `k_tile` keys, writes per (mask batch, mask head,
    query tile):

    * `state` [Mb, Mh, nQT, nKT] (i32): 0 when the block keeps no entry, 1
      when it keeps some, 2 when it keeps every entry of its valid rows and
      keys;
    * `tiles` [Mb, Mh, nQT, nKT] (i32): the non-empty key tiles, ascending,
      then -1;
    * `count` [Mb, Mh, nQT] (i32): how many there are.
  }];
  let arguments = (ins AnyMemRef:$mask, Index:$rows, Variadic<DMA_Shaped>:$outs,
                       I64Attr:$q_tile, I64Attr:$k_tile);
  let assemblyFormat = [{
    $mask `rows` `(` $rows `)` `q_tile` `(` $q_tile `)` `k_tile` `(` $k_tile `)`
    `:` type($mask) `outs` `(` $outs `:` type($outs) `)` attr-dict
    (`->` type($results)^)?
  }];
}

#endif // DMA_DIALECT_DMA_IR_DMATILEOPS_TD
