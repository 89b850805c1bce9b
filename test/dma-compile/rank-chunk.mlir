// REQUIRES: cuda-toolkit
// --rank-chunk sets the chunk of keys the per-query backward orders by score
// (dma.tile.ranked_keys, on the GPU a bitonic sort per CTA). The manifest
// records the chunk the kernel sorts: the flag rounded up to the key tile by
// dma-gather-keys. A chunk outside [16, 65536] or not a multiple of 16 is
// refused before anything compiles.

// RUN: rm -rf %t
// RUN: dma-compile -o %t/a --toolkit %cuda_toolkit --rank-chunk 256 --variant kind=bwd,d=64,mask=keep_rows,bias=key,causal=1 | FileCheck %s --check-prefix=RANKED
// RANKED: compiled kind=bwd,{{.*}}mask=keep_rows{{.*}} -> dma_attention_bwd_bf16_d64_m64n128w8_keeprowsrank_keybias_causal_1
// RUN: FileCheck %s --check-prefix=CHUNK --input-file %t/a/manifest.json
// CHUNK: "rank_chunk": 256

// RUN: dma-compile -o %t/b --toolkit %cuda_toolkit --rank-chunk 80 --variant kind=bwd,d=64,mask=keep_rows,bias=key,causal=1
// RUN: FileCheck %s --check-prefix=ROUNDED --input-file %t/b/manifest.json
// ROUNDED: "rank_chunk": 128

// Other backward variants sort nothing and record no chunk.
// RUN: dma-compile -o %t/c --toolkit %cuda_toolkit --rank-chunk 256 --variant kind=bwd,d=64,mask=keep,bias=key,causal=1
// RUN: FileCheck %s --check-prefix=SHARED --input-file %t/c/manifest.json
// SHARED-NOT: rank_chunk

// RUN: not dma-compile -o %t/d --rank-chunk 0 --variant d=64 2>&1 | FileCheck %s --check-prefix=ZERO
// ZERO: dma-compile: bad --rank-chunk: the per-query backward's chunk must be a multiple of 16 keys in [16, 65536], got 0
// RUN: not dma-compile -o %t/d --rank-chunk 100 --variant d=64 2>&1 | FileCheck %s --check-prefix=ODD
// ODD: got 100
// RUN: not dma-compile -o %t/d --rank-chunk 131072 --variant d=64 2>&1 | FileCheck %s --check-prefix=BIG
// BIG: got 131072
