//===- json.h - a minimal JSON reader for bundle manifests -----*- C++ -*-===//
//
// Just enough JSON for manifest.json (objects, arrays, strings, numbers,
// booleans, null), so the runtime needs nothing beyond the C++ library and
// the CUDA driver.
//
//===----------------------------------------------------------------------===//

#ifndef DMA_RUNTIME_JSON_H
#define DMA_RUNTIME_JSON_H

#include <cstdlib>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace dma::json {

struct Value {
  enum Kind { Null, Bool, Number, String, Array, Object } kind = Null;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<Value> array;
  std::map<std::string, Value> object;

  const Value &operator[](const std::string &key) const {
    static const Value null;
    auto it = object.find(key);
    return it == object.end() ? null : it->second;
  }
  int64_t integer() const { return static_cast<int64_t>(number); }
};

class Parser {
public:
  explicit Parser(const std::string &text) : s(text) {}

  Value parse() {
    Value v = value();
    skip();
    if (pos != s.size())
      fail("trailing characters");
    return v;
  }

private:
  const std::string &s;
  size_t pos = 0;

  [[noreturn]] void fail(const std::string &what) {
    throw std::runtime_error("manifest.json: " + what + " at offset " +
                             std::to_string(pos));
  }
  void skip() {
    while (pos < s.size() && (s[pos] == ' ' || s[pos] == '\n' ||
                              s[pos] == '\t' || s[pos] == '\r'))
      ++pos;
  }
  bool consume(const char *word) {
    size_t n = std::char_traits<char>::length(word);
    if (s.compare(pos, n, word) != 0)
      return false;
    pos += n;
    return true;
  }
  Value value() {
    skip();
    if (pos >= s.size())
      fail("unexpected end");
    Value v;
    char c = s[pos];
    if (c == '{') {
      v.kind = Value::Object;
      ++pos;
      skip();
      if (pos < s.size() && s[pos] == '}') {
        ++pos;
        return v;
      }
      while (true) {
        skip();
        std::string key = str();
        skip();
        if (pos >= s.size() || s[pos++] != ':')
          fail("expected ':'");
        v.object[key] = value();
        skip();
        if (pos < s.size() && s[pos] == ',') {
          ++pos;
          continue;
        }
        if (pos < s.size() && s[pos] == '}') {
          ++pos;
          return v;
        }
        fail("expected ',' or '}'");
      }
    }
    if (c == '[') {
      v.kind = Value::Array;
      ++pos;
      skip();
      if (pos < s.size() && s[pos] == ']') {
        ++pos;
        return v;
      }
      while (true) {
        v.array.push_back(value());
        skip();
        if (pos < s.size() && s[pos] == ',') {
          ++pos;
          continue;
        }
        if (pos < s.size() && s[pos] == ']') {
          ++pos;
          return v;
        }
        fail("expected ',' or ']'");
      }
    }
    if (c == '"') {
      v.kind = Value::String;
      v.string = str();
      return v;
    }
    if (consume("true")) {
      v.kind = Value::Bool;
      v.boolean = true;
      return v;
    }
    if (consume("false")) {
      v.kind = Value::Bool;
      return v;
    }
    if (consume("null"))
      return v;
    char *end = nullptr;
    v.number = std::strtod(s.c_str() + pos, &end);
    if (end == s.c_str() + pos)
      fail("unexpected character");
    v.kind = Value::Number;
    pos = end - s.c_str();
    return v;
  }
  std::string str() {
    if (pos >= s.size() || s[pos] != '"')
      fail("expected a string");
    ++pos;
    std::string out;
    while (pos < s.size() && s[pos] != '"') {
      char c = s[pos++];
      if (c == '\\' && pos < s.size()) {
        char e = s[pos++];
        switch (e) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'u':
          pos += 4; // not used by manifests
          out += '?';
          break;
        default:
          out += e;
        }
        continue;
      }
      out += c;
    }
    if (pos >= s.size())
      fail("unterminated string");
    ++pos;
    return out;
  }
};

} // namespace dma::json

#endif
