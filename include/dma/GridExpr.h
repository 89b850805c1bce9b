//===- GridExpr.h - launch grids as expressions over kernel parameters -*- C++ -*-===//
//
// A generated kernel's grid is written once, by its emitter, as three
// expressions over the kernel's own integer parameters, e.g. the forward's
//
//   ceil(Lq/128), H, B
//
// The compiler builds its gpu.launch_func grid by evaluating them over the
// launch operands (KernelABI.h), dma-compile copies them into the bundle's
// manifest, and the runtime evaluates them over the values it packs: one
// description, one parser, two algebras (IR values, integers).
//
// Grammar (whitespace is not allowed):
//
//   sum     := product ('+' product)*
//   product := atom ('*' atom)*
//   atom    := INT | NAME | 'ceil(' sum '/' INT ')' | 'max(' sum (',' sum)* ')'
//            | '(' sum ')'
//
// NAME is a parameter: a letter or '_', then letters, digits and '_'.
// Plain C++: the runtime builds without MLIR.
//
//===----------------------------------------------------------------------===//

#ifndef DMA_GRIDEXPR_H
#define DMA_GRIDEXPR_H

#include <cctype>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace dma {

/// Evaluates a grid expression in `Algebra`, which provides
///   using Value = ...;
///   Value constant(int64_t);
///   std::optional<Value> symbol(const std::string &name);  // nullopt: unknown
///   Value add(Value, Value), mul(Value, Value), max(Value, Value);
///   Value ceilDiv(Value, int64_t divisor);                 // divisor > 0
template <class Algebra> class GridExprEvaluator {
public:
  using Value = typename Algebra::Value;

  GridExprEvaluator(Algebra &algebra, const std::string &text)
      : algebra(algebra), text(text) {}

  /// The value of the expression, or nullopt with `error()` set.
  std::optional<Value> evaluate() {
    std::optional<Value> v = sum();
    if (v && pos != text.size())
      return fail("unexpected '" + text.substr(pos, 1) + "'");
    return v;
  }
  const std::string &error() const { return message; }

private:
  std::optional<Value> fail(const std::string &what) {
    if (message.empty())
      message = what + " at offset " + std::to_string(pos) + " of grid '" +
                text + "'";
    return std::nullopt;
  }
  bool eat(char c) {
    if (pos < text.size() && text[pos] == c) {
      ++pos;
      return true;
    }
    return false;
  }
  bool eatWord(const char *w) {
    size_t n = std::char_traits<char>::length(w);
    if (text.compare(pos, n, w) != 0)
      return false;
    pos += n;
    return true;
  }
  std::optional<int64_t> integer() {
    size_t start = pos;
    int64_t v = 0;
    while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
      if (v > (INT64_MAX - 9) / 10)
        return std::nullopt;
      v = v * 10 + (text[pos++] - '0');
    }
    if (pos == start)
      return std::nullopt;
    return v;
  }
  std::optional<Value> sum() {
    std::optional<Value> v = product();
    while (v && eat('+')) {
      std::optional<Value> r = product();
      if (!r)
        return std::nullopt;
      v = algebra.add(*v, *r);
    }
    return v;
  }
  std::optional<Value> product() {
    std::optional<Value> v = atom();
    while (v && eat('*')) {
      std::optional<Value> r = atom();
      if (!r)
        return std::nullopt;
      v = algebra.mul(*v, *r);
    }
    return v;
  }
  std::optional<Value> atom() {
    if (pos >= text.size())
      return fail("missing operand");
    if (std::isdigit(static_cast<unsigned char>(text[pos]))) {
      std::optional<int64_t> n = integer();
      if (!n)
        return fail("integer too large");
      return algebra.constant(*n);
    }
    if (eatWord("ceil(")) {
      std::optional<Value> v = sum();
      if (!v)
        return std::nullopt;
      if (!eat('/'))
        return fail("expected '/' in ceil(...)");
      std::optional<int64_t> d = integer();
      if (!d || *d <= 0)
        return fail("ceil(...) needs a positive integer divisor");
      if (!eat(')'))
        return fail("expected ')'");
      return algebra.ceilDiv(*v, *d);
    }
    if (eatWord("max(")) {
      std::optional<Value> v = sum();
      while (v && eat(',')) {
        std::optional<Value> r = sum();
        if (!r)
          return std::nullopt;
        v = algebra.max(*v, *r);
      }
      if (v && !eat(')'))
        return fail("expected ')'");
      return v;
    }
    if (eat('(')) {
      std::optional<Value> v = sum();
      if (v && !eat(')'))
        return fail("expected ')'");
      return v;
    }
    size_t start = pos;
    if (std::isalpha(static_cast<unsigned char>(text[pos])) || text[pos] == '_')
      while (pos < text.size() &&
             (std::isalnum(static_cast<unsigned char>(text[pos])) ||
              text[pos] == '_'))
        ++pos;
    if (pos == start)
      return fail("unexpected '" + text.substr(pos, 1) + "'");
    std::string name = text.substr(start, pos - start);
    std::optional<Value> v = algebra.symbol(name);
    if (!v) {
      pos = start;
      return fail("unknown parameter '" + name + "'");
    }
    return v;
  }

  Algebra &algebra;
  const std::string &text;
  size_t pos = 0;
  std::string message;
};

/// Integers: what the runtime computes a grid with. `lookup(name)` returns
/// the parameter's value or nullopt. Overflow past int64 cannot happen for
/// grids of i32 sizes times small factors; the caller checks each result
/// against the CUDA limits.
template <class Lookup> struct IntegerGridAlgebra {
  using Value = int64_t;
  Lookup lookup;
  Value constant(int64_t v) { return v; }
  std::optional<Value> symbol(const std::string &name) { return lookup(name); }
  Value add(Value a, Value b) { return a + b; }
  Value mul(Value a, Value b) { return a * b; }
  Value max(Value a, Value b) { return a > b ? a : b; }
  Value ceilDiv(Value a, int64_t d) { return a <= 0 ? 0 : (a + d - 1) / d; }
};

/// Evaluates `text` with the integer parameters `lookup` yields; nullopt
/// with `error` set when it does not parse or names an unknown parameter.
template <class Lookup>
std::optional<int64_t> evaluateGrid(const std::string &text, Lookup lookup,
                                    std::string &error) {
  IntegerGridAlgebra<Lookup> algebra{lookup};
  GridExprEvaluator<IntegerGridAlgebra<Lookup>> e(algebra, text);
  std::optional<int64_t> v = e.evaluate();
  if (!v)
    error = e.error();
  return v;
}

/// The parameters `text` names, in order of appearance (with repeats), or
/// nullopt with `error` set when it does not parse.
inline std::optional<std::vector<std::string>>
gridSymbols(const std::string &text, std::string &error) {
  std::vector<std::string> names;
  auto record = [&](const std::string &n) -> std::optional<int64_t> {
    names.push_back(n);
    return 1;
  };
  if (!evaluateGrid(text, record, error))
    return std::nullopt;
  return names;
}

/// Empty when `text` parses and names only parameters `isInteger(name)`
/// accepts (integer parameters of the kernel); the first problem otherwise.
/// The compiler checks what an emitter writes with it, the runtime what a
/// manifest says.
template <class IsInteger>
std::string checkGridNames(const std::string &text, IsInteger isInteger) {
  std::string error;
  std::optional<std::vector<std::string>> names = gridSymbols(text, error);
  if (!names)
    return error;
  for (const std::string &n : *names)
    if (!isInteger(n))
      return "grid '" + text + "' names '" + n +
             "', not an integer parameter";
  return "";
}

} // namespace dma

#endif
