//===- ToolMain.cpp - what dma-opt and dma-compile run inside -------------===//

#include "dma/Utils/ToolMain.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/ProgramStack.h"

using namespace mlir;

/// Whether the '<' at `at` opens `array<index`: MLIR 22's parser reads
/// the element width of a dense array as a float's and crashes on index.
static bool isIndexArray(llvm::StringRef text, size_t at) {
  llvm::StringRef before = text.take_front(at).rtrim();
  if (!before.ends_with("array"))
    return false;
  before = before.drop_back(5);
  if (!before.empty() &&
      (llvm::isAlnum(before.back()) || before.back() == '_' ||
       before.back() == '.' || before.back() == '$'))
    return false;
  llvm::StringRef after = text.drop_front(at + 1).ltrim();
  return after.consume_front("index") &&
         (after.empty() || !(llvm::isAlnum(after.front()) ||
                             after.front() == '_' || after.front() == '.'));
}

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
    case '<':
      if (isIndexArray(text, i)) {
        os << name << ":" << line << ":" << i - lineStart + 1
           << ": error: dense arrays of index (array<index: ...>) crash "
              "MLIR's parser; use an integer type such as i64\n";
        return failure();
      }
      [[fallthrough]];
    case '(':
    case '[':
    case '{':
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
