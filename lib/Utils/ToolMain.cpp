//===- ToolMain.cpp - what dma-opt and dma-compile run inside -------------===//

#include "dma/Utils/ToolMain.h"

#include "llvm/Support/ProgramStack.h"

using namespace mlir;

LogicalResult dma::checkNesting(llvm::StringRef text, llvm::StringRef name,
                                llvm::raw_ostream &os, unsigned limit) {
  unsigned depth = 0, line = 1;
  size_t lineStart = 0;
  for (size_t i = 0, n = text.size(); i < n; ++i) {
    char c = text[i];
    switch (c) {
    case '\n':
      ++line;
      lineStart = i + 1;
      break;
    case '"': // a string literal: brackets inside do not nest
      for (++i; i < n && text[i] != '"' && text[i] != '\n'; ++i)
        if (text[i] == '\\')
          ++i;
      break;
    case '/':
      if (i + 1 < n && text[i + 1] == '/')
        while (i + 1 < n && text[i + 1] != '\n')
          ++i;
      break;
    case '-': // `->` closes nothing
      if (i + 1 < n && text[i + 1] == '>')
        ++i;
      break;
    case '(':
    case '[':
    case '{':
    case '<':
      if (++depth > limit) {
        os << name << ":" << line << ":" << i - lineStart + 1
           << ": error: the input nests brackets more than " << limit
           << " levels deep here; the dma tools accept at most " << limit
           << " (flatten the nesting or split the input)\n";
        return failure();
      }
      break;
    case ')':
    case ']':
    case '}':
    case '>':
      // Unbalanced closers (`>=` of an integer set) are the parser's to
      // report; they must not hide the nesting that follows.
      if (depth)
        --depth;
      break;
    default:
      break;
    }
  }
  return success();
}

int dma::runWithLargeStack(llvm::function_ref<int()> body) {
  int result = 1;
  llvm::runOnNewStack(kToolStackBytes, [&] { result = body(); });
  return result;
}
