// dma-compile rejects a malformed --variant or --chip with a message naming
// what is wrong, before compiling anything (exit code 2). Before, an empty
// spec compiled the default variant, causal=2 was taken as 1, a repeated
// key let the last one win, d=0 got through to the pipeline and an empty
// or old chip crashed LLVM. No CUDA toolkit is needed: nothing compiles.

// RUN: not dma-compile -o %t --variant "" 2>&1 | FileCheck %s --check-prefix=EMPTY
// EMPTY: dma-compile: bad --variant '': empty variant (give comma-separated key=value pairs, e.g. dtype=bf16,d=128)
// RUN: not dma-compile -o %t --variant ",,," 2>&1 | FileCheck %s --check-prefix=COMMAS
// COMMAS: dma-compile: bad --variant ',,,': empty item (a stray ',')
// RUN: not dma-compile -o %t --variant "d=64,,causal=1" 2>&1 | FileCheck %s --check-prefix=COMMAS2
// COMMAS2: bad --variant 'd=64,,causal=1': empty item (a stray ',')
// RUN: not dma-compile -o %t --variant "causal=2" 2>&1 | FileCheck %s --check-prefix=FLAG
// FLAG: bad --variant 'causal=2': causal must be 0 or 1, got 2
// RUN: not dma-compile -o %t --variant "kind=bwd,deterministic=-1" 2>&1 | FileCheck %s --check-prefix=FLAG2
// FLAG2: deterministic must be 0 or 1, got -1
// RUN: not dma-compile -o %t --variant "causal" 2>&1 | FileCheck %s --check-prefix=NOVALUE
// NOVALUE: bad --variant 'causal': 'causal' has no value (write key=value)
// RUN: not dma-compile -o %t --variant "d=64,causal=1,d=128" 2>&1 | FileCheck %s --check-prefix=TWICE
// TWICE: bad --variant 'd=64,causal=1,d=128': key 'd' given twice
// RUN: not dma-compile -o %t --variant "d=0" 2>&1 | FileCheck %s --check-prefix=D0
// D0: bad --variant 'd=0': d must be a multiple of 16 in [16, 256], got 0
// RUN: not dma-compile -o %t --variant "d=-16" 2>&1 | FileCheck %s --check-prefix=DNEG
// DNEG: bad --variant 'd=-16': d must be a multiple of 16 in [16, 256], got -16
// RUN: not dma-compile -o %t --variant "d=72" 2>&1 | FileCheck %s --check-prefix=D72
// D72: d must be a multiple of 16 in [16, 256], got 72
// RUN: not dma-compile -o %t --variant "d=64,dv=0" 2>&1 | FileCheck %s --check-prefix=DV
// DV: dv must be a multiple of 16 in [16, 256], got 0
// RUN: not dma-compile -o %t --variant "d=99999999999999999999" 2>&1 | FileCheck %s --check-prefix=BIG
// BIG: '99999999999999999999' is not an integer (for d)
// RUN: not dma-compile -o %t --variant "q_tile=8" 2>&1 | FileCheck %s --check-prefix=QTILE
// QTILE: q_tile must be a multiple of 16 in [16, 128], got 8
// RUN: not dma-compile -o %t --variant "k_tile=256" 2>&1 | FileCheck %s --check-prefix=KTILE
// KTILE: k_tile must be a multiple of 16 in [16, 128], got 256
// RUN: not dma-compile -o %t --variant "q_tile=abc" 2>&1 | FileCheck %s --check-prefix=NOTINT
// NOTINT: 'abc' is not an integer (for q_tile)
// RUN: not dma-compile -o %t --variant "kind=value_bias,d=12" 2>&1 | FileCheck %s --check-prefix=VBD
// VBD: d must be a multiple of 8 in [8, 1024], got 12
// RUN: not dma-compile -o %t --variant "dtype=fp8" 2>&1 | FileCheck %s --check-prefix=DTYPE
// DTYPE: unknown dtype 'fp8' (one of bf16 f16)
// RUN: not dma-compile -o %t --variant "colour=red" 2>&1 | FileCheck %s --check-prefix=KEY
// KEY: unknown key 'colour'

// RUN: not dma-compile -o %t --shipped --head-dims=64,72 2>&1 | FileCheck %s --check-prefix=DIMS
// DIMS: dma-compile: bad --head-dims: a head dim must be a multiple of 16 in [16, 256], got 72
// RUN: not dma-compile -o %t --head-dims=64 --variant d=64 2>&1 | FileCheck %s --check-prefix=DIMSONLY
// DIMSONLY: dma-compile: --head-dims selects among the shipped variants: give --shipped too
// RUN: not dma-compile -o %t --variant "kind=value_bias_bwd,step=rank" 2>&1 | FileCheck %s --check-prefix=STEP
// STEP: unknown step 'rank' (one of dt value params reduce)

// RUN: not dma-compile -o %t --chip= --variant d=64 2>&1 | FileCheck %s --check-prefix=CHIP
// RUN: not dma-compile -o %t --chip=sm_75 --shipped 2>&1 | FileCheck %s --check-prefix=CHIP75
// CHIP: dma-compile: unsupported --chip '': the kernels compile for sm_80, sm_86, sm_87, sm_89, sm_90, sm_90a, sm_100, sm_100a, sm_103, sm_103a, sm_110, sm_110a, sm_120, sm_120a, sm_121, sm_121a
// CHIP75: dma-compile: unsupported --chip 'sm_75': the kernels compile for sm_80,
