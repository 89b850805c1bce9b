//===- ToolMain.h - what dma-opt and dma-compile run inside -----*- C++ -*-===//
//
// MLIR's parser, verifier and printer recurse once per nesting level of the
// input (regions, attribute lists, parentheses). Deeply nested input would
// overflow the stack and kill the tool with a signal. The tools therefore
// reject input nested deeper than kMaxNesting levels with a diagnostic
// before parsing it, and run on a thread whose stack leaves a wide margin
// for every input under that limit (deep recursion that brackets do not
// show, such as long chains of unary minus in affine expressions). The
// same scan rejects the one construct the fuzzer (test/fuzz) found to
// crash the upstream parser itself.
//
//===----------------------------------------------------------------------===//

#ifndef DMA_UTILS_TOOLMAIN_H
#define DMA_UTILS_TOOLMAIN_H

#include "mlir/Support/LLVM.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/raw_ostream.h"

namespace mlir::dma {

/// The deepest bracket nesting ((, [, {, <) the tools accept. Real IR
/// nests a few dozen levels; each level costs the parser a few hundred
/// bytes to a few KiB of stack.
inline constexpr unsigned kMaxNesting = 1000;

/// The stack of the thread the tools run on.
inline constexpr unsigned kToolStackBytes = 512u << 20;

/// Fails, printing `name:line:col: error: ...` to `os`, where `text` nests
/// brackets more than `limit` levels deep, or holds a construct that
/// crashes MLIR 22's parser (`array<index: ...>`). String literals and //
/// comments are skipped.
LogicalResult checkNesting(llvm::StringRef text, llvm::StringRef name,
                           llvm::raw_ostream &os,
                           unsigned limit = kMaxNesting);

/// Runs `body` on a thread with kToolStackBytes of stack and returns its
/// result.
int runWithLargeStack(llvm::function_ref<int()> body);

} // namespace mlir::dma

#endif // DMA_UTILS_TOOLMAIN_H
