// REQUIRES: cuda-toolkit
// dma-compile --check-abi: each manifest entry against the launch the
// compiler builds for its variant at concrete sizes (B 2, Lq 200, Lk 328,
// H 4, Hkv 2, W 96): parameters, grid expressions evaluated as the runtime
// evaluates them, block and shared memory.

// RUN: rm -rf %t && mkdir -p %t
// RUN: dma-compile -o %t/b --toolkit %cuda_toolkit --variant kind=topk,selection=per_query --variant dtype=bf16,d=64,mask=mask,causal=1 > /dev/null
// RUN: dma-compile -o %t/b --check-abi | FileCheck %s --check-prefix=GOOD
// GOOD: ABI check of {{.*}}manifest.json: 4 entries, 4 launches, 0 mismatches

// A grid x over the keys where the kernel walks query tiles (200 queries:
// 2 tiles, 328 keys: 3).
// RUN: cp -r %t/b %t/grid
// RUN: sed -i -e '0,/"ceil(Lq\/128)"/s//"ceil(Lk\/128)"/' %t/grid/manifest.json
// RUN: not dma-compile -o %t/grid --check-abi 2>&1 | FileCheck %s --check-prefix=GRID
// GRID: ABI mismatch: dtype=bf16,d=64,dv=64,mask=mask,bias=none,causal=1,{{.*}}: grid x is 'ceil(Lk/128)' in the manifest, 'ceil(Lq/128)' in the kernel
// GRID: ABI mismatch: {{.*}}: grid x: the launch has 2, the manifest's 'ceil(Lk/128)' gives 3
// GRID: 4 entries, 4 launches, 2 mismatches

// A parameter the kernel does not take, and a kernel it does not launch.
// RUN: cp -r %t/b %t/param
// RUN: sed -i -e 's/"name": "mask_batch"/"name": "mask_rows"/' -e 's/"kernel": "dma_mask_list_m128n32_0"/"kernel": "dma_mask_list_m64n32_0"/' %t/param/manifest.json
// RUN: not dma-compile -o %t/param --check-abi 2>&1 | FileCheck %s --check-prefix=PARAM
// PARAM-DAG: ABI mismatch: {{.*}},step=mask_summary (dma_mask_state_m128n32_0): parameter 7 is mask_rows:i32 in the manifest, mask_batch:i32 in the kernel
// PARAM-DAG: ABI mismatch: {{.*}},step=mask_list: the compiler launches no kernel dma_mask_list_m64n32_0 for dtype=bf16,d=64
// PARAM: 4 entries, 3 launches, 2 mismatches

// Nothing to compile with --check-abi.
// RUN: not dma-compile -o %t/b --check-abi --shipped 2>&1 | FileCheck %s --check-prefix=ALONE
// ALONE: --check-abi compiles nothing: give no --variant or --shipped
