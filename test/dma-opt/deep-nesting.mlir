// Deep nesting ends in a diagnostic, never a stack overflow: dma-opt
// rejects input nested more than 1000 levels deep before parsing it, and
// runs on a large stack so that everything under the limit goes through
// (5 nested modules around 10k brackets used to overflow the parser).

// RUN: %python -c "print('module {' * 5 + 'func.func @f() attributes {a = ' + '[' * 10000 + ']' * 10000 + '} { return }' + '}' * 5)" | not dma-opt 2>&1 | FileCheck %s --check-prefix=DEEP
// DEEP: <stdin>:1:{{[0-9]+}}: error: the input nests brackets more than 1000 levels deep here; the dma tools accept at most 1000 (flatten the nesting or split the input)

// Just under the limit: nested regions and modules through the pipelines.
// RUN: %python -c "print('func.func @f() {' + ' scf.execute_region {' * 990 + ' scf.yield }' * 990 + ' return }')" | dma-opt --dma-cpu-pipeline | FileCheck %s --check-prefix=REGIONS
// REGIONS: llvm.func @f
// RUN: %python -c "print('module {' * 990 + 'func.func @g() { return }' + '}' * 990)" | dma-opt --dma-gpu-pipeline=format=none | FileCheck %s --check-prefix=MODULES
// MODULES: func.func @g

// Brackets in strings and comments do not count.
// RUN: %python -c "print('// ' + '[' * 5000 + '\nfunc.func @h() attributes {s = \"' + '(' * 5000 + '\"} { return }')" | dma-opt | FileCheck %s --check-prefix=TEXT
// TEXT: func.func @h
