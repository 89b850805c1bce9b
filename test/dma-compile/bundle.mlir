// REQUIRES: cuda-toolkit
// dma-compile into an existing bundle keeps what is there: the manifest is
// merged (a failed run used to rewrite it with an empty variant list, so
// the good cubins already there were no longer listed) and replaced
// atomically; a bundle of another chip is refused; ptxas runs under a
// time limit (a hanging ptxas used to hang dma-compile).

// RUN: rm -rf %t && mkdir -p %t/fake/bin
// RUN: dma-compile -o %t/b --toolkit %cuda_toolkit --variant kind=topk,selection=shared | FileCheck %s --check-prefix=FIRST
// FIRST: 1 variants compiled, 0 failed

// A variant that fails (its tiles do not fit shared memory) leaves the
// manifest as it was.
// RUN: not dma-compile -o %t/b --toolkit %cuda_toolkit --variant d=256,dv=256,q_tile=128,k_tile=128 2>&1 | FileCheck %s --check-prefix=FAIL
// FAIL: dma-compile: FAILED dtype=bf16,d=256,dv=256
// RUN: FileCheck %s --check-prefix=KEPT --input-file %t/b/manifest.json
// KEPT: "chip": "sm_90a"
// KEPT: "name": "kind=topk,selection=shared,padding=0"

// A second good variant adds to it.
// RUN: dma-compile -o %t/b --toolkit %cuda_toolkit --variant kind=topk,selection=shared,padding=1
// RUN: FileCheck %s --check-prefix=BOTH --input-file %t/b/manifest.json
// BOTH-DAG: "name": "kind=topk,selection=shared,padding=0"
// BOTH-DAG: "name": "kind=topk,selection=shared,padding=1"
// RUN: not ls %t/b/manifest.json.*.tmp

// An entry whose files are gone is not listed again.
// RUN: rm %t/b/dma_topk_shared_i32_padded_0.cubin
// RUN: not dma-compile -o %t/b --toolkit %cuda_toolkit --variant d=256,dv=256,q_tile=128,k_tile=128 2>&1 | FileCheck %s --check-prefix=GONE
// GONE: dropping kind=topk,selection=shared,padding=1 from the manifest: its files are missing or were overwritten
// RUN: FileCheck %s --check-prefix=ONE --input-file %t/b/manifest.json
// ONE: "name": "kind=topk,selection=shared,padding=0"
// ONE-NOT: padding=1

// One bundle, one chip (and compiler); an unreadable manifest is not
// silently replaced.
// RUN: not dma-compile -o %t/b --chip sm_80 --toolkit %cuda_toolkit --variant kind=topk 2>&1 | FileCheck %s --check-prefix=CHIP
// CHIP: manifest.json is a bundle for sm_90a by dma 0.5.0 (MLIR/LLVM 22); this run compiles for sm_80 by dma 0.5.0 (MLIR/LLVM 22): a bundle holds one chip and compiler, use another directory
// Its default variants are named by one forward mma (manifest forward_mma).
// RUN: not dma-compile -o %t/b --mma mma_sync --toolkit %cuda_toolkit --variant kind=topk 2>&1 | FileCheck %s --check-prefix=MMA
// MMA: manifest.json holds forwards of mma auto; this run compiles them with mma_sync: a bundle holds one, use another directory or --mma
// RUN: mkdir -p %t/c && echo 'not json' > %t/c/manifest.json
// RUN: not dma-compile -o %t/c --toolkit %cuda_toolkit --variant kind=topk 2>&1 | FileCheck %s --check-prefix=JUNK
// JUNK: manifest.json is not a bundle manifest ({{.*}}); remove it or compile into another directory

// A ptxas that hangs is killed after --ptxas-timeout seconds.
// RUN: printf '#!/bin/sh\nexec sleep 120\n' > %t/fake/bin/ptxas && chmod +x %t/fake/bin/ptxas
// RUN: ln -s %cuda_toolkit/nvvm %t/fake/nvvm
// RUN: not timeout 60 dma-compile -o %t/d --toolkit %t/fake --ptxas-timeout=1 --variant kind=topk 2>&1 | FileCheck %s --check-prefix=HANG
// HANG: ptxas did not finish within 1 s and was killed (raise --ptxas-timeout, 0 for no limit)
// HANG: dma-compile: FAILED kind=topk
