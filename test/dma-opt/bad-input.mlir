// dma-opt rejects malformed input and wrong ops with a diagnostic and a
// non-zero exit, never a crash (`not` fails on a signal).

// RUN: printf 'this is not MLIR at all' | not dma-opt 2>&1 | FileCheck %s --check-prefix=TEXT
// TEXT: error: custom op 'this' is unknown

// RUN: printf 'func.func @f(%%a: tensor<4xf32>' | not dma-opt 2>&1 | FileCheck %s --check-prefix=TRUNC
// TRUNC: error:

// RUN: printf '\x00\xff\xfe\x01\x7f garbage \xc3\x28' | not dma-opt 2>&1 | FileCheck %s --check-prefix=BINARY
// BINARY: error:

// RUN: printf 'func.func @f() {\n  dma.bogus\n  return\n}' | not dma-opt 2>&1 | FileCheck %s --check-prefix=UNKNOWN
// UNKNOWN: error: custom op 'dma.bogus' is unknown

// RUN: not dma-opt %s --dma-no-such-pass 2>&1 | FileCheck %s --check-prefix=FLAG
// FLAG: Unknown command line argument '--dma-no-such-pass'

// RUN: not dma-opt %s --dma-cpu-pipeline="no-such-option=1" 2>&1 | FileCheck %s --check-prefix=OPTION
// OPTION: no-such-option

// Found by test/fuzz: a dense array of index crashed MLIR's parser.
// RUN: printf 'func.func @f() attributes {a = array<index: 0, 1>} { return }' | not dma-opt 2>&1 | FileCheck %s --check-prefix=INDEXARRAY
// INDEXARRAY: <stdin>:1:37: error: dense arrays of index (array<index: ...>) crash MLIR's parser; use an integer type such as i64

func.func @valid() {
  return
}
