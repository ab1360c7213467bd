#include "engine/chat/jinja_text.h"

#include <locale.h>
#include <wctype.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace kvserve::jinja {
namespace {

// glibc's C.UTF-8 locale carries the Unicode case tables; without it only ASCII is mapped.
locale_t Utf8Locale() {
  static const locale_t locale = [] {
    locale_t l = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(0));
    if (l == static_cast<locale_t>(0)) l = newlocale(LC_CTYPE_MASK, "C.utf8", l);
    return l;
  }();
  return locale;
}

uint32_t ToUpper(uint32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') ? c - 32 : c;
  locale_t l = Utf8Locale();
  return l ? static_cast<uint32_t>(towupper_l(static_cast<wint_t>(c), l)) : c;
}

uint32_t ToLower(uint32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  locale_t l = Utf8Locale();
  return l ? static_cast<uint32_t>(towlower_l(static_cast<wint_t>(c), l)) : c;
}

bool IsUpperCp(uint32_t c) {
  if (c < 0x80) return c >= 'A' && c <= 'Z';
  locale_t l = Utf8Locale();
  return l && iswupper_l(static_cast<wint_t>(c), l);
}

bool IsLowerCp(uint32_t c) {
  if (c < 0x80) return c >= 'a' && c <= 'z';
  locale_t l = Utf8Locale();
  return l && iswlower_l(static_cast<wint_t>(c), l);
}

bool IsCased(uint32_t c) { return IsUpperCp(c) || IsLowerCp(c); }

bool IsAlphaCp(uint32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  locale_t l = Utf8Locale();
  return l && iswalpha_l(static_cast<wint_t>(c), l);
}

bool IsDigitCp(uint32_t c) { return c >= '0' && c <= '9'; }

// Applies `map` to every code point of `s`.
template <typename Map>
std::string MapCodePoints(absl::string_view s, Map map) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t len;
    uint32_t c = DecodeCodePoint(s, i, &len);
    if (len == 1 && c >= 0x80) {
      out.push_back(s[i]);  // an invalid byte passes through
    } else {
      AppendUtf8(map(c), &out);
    }
    i += len;
  }
  return out;
}

template <typename Pred>
bool AllCodePoints(absl::string_view s, Pred pred) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size();) {
    size_t len;
    if (!pred(DecodeCodePoint(s, i, &len))) return false;
    i += len;
  }
  return true;
}

bool IsLineBreak(uint32_t c) {
  return c == '\n' || c == '\r' || c == 0x0b || c == 0x0c || c == 0x1c || c == 0x1d || c == 0x1e ||
         c == 0x85 || c == 0x2028 || c == 0x2029;
}

// Code points Python's repr() escapes: controls, separators and format characters it does not
// consider printable (the common ones).
bool ReprEscapes(uint32_t c) {
  if (c < 0x20 || (c >= 0x7f && c <= 0xa0) || c == 0xad) return true;
  if (c == 0x1680 || (c >= 0x2000 && c <= 0x200f) || (c >= 0x2028 && c <= 0x202f)) return true;
  if ((c >= 0x205f && c <= 0x2064) || c == 0x3000 || c == 0xfeff) return true;
  return false;
}

}  // namespace

uint32_t DecodeCodePoint(absl::string_view s, size_t pos, size_t* length) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char b0 = byte(pos);
  *length = 1;
  if (b0 < 0x80) return b0;
  size_t n;
  uint32_t cp;
  if ((b0 & 0xe0) == 0xc0) {
    n = 2;
    cp = b0 & 0x1f;
  } else if ((b0 & 0xf0) == 0xe0) {
    n = 3;
    cp = b0 & 0x0f;
  } else if ((b0 & 0xf8) == 0xf0) {
    n = 4;
    cp = b0 & 0x07;
  } else {
    return b0;
  }
  if (pos + n > s.size()) return b0;
  for (size_t k = 1; k < n; ++k) {
    if ((byte(pos + k) & 0xc0) != 0x80) return b0;
    cp = (cp << 6) | (byte(pos + k) & 0x3f);
  }
  // Overlong forms, surrogates and values past U+10FFFF are invalid.
  static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return b0;
  *length = n;
  return cp;
}

void AppendUtf8(uint32_t c, std::string* out) {
  if (c < 0x80) {
    out->push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out->push_back(static_cast<char>(0xc0 | (c >> 6)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3f)));
  } else if (c < 0x10000) {
    out->push_back(static_cast<char>(0xe0 | (c >> 12)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3f)));
  } else {
    out->push_back(static_cast<char>(0xf0 | (c >> 18)));
    out->push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3f)));
  }
}

std::vector<size_t> CodePointOffsets(absl::string_view s) {
  std::vector<size_t> offsets;
  offsets.reserve(s.size() + 1);
  for (size_t i = 0; i < s.size();) {
    offsets.push_back(i);
    size_t len;
    DecodeCodePoint(s, i, &len);
    i += len;
  }
  offsets.push_back(s.size());
  return offsets;
}

int64_t CodePointCount(absl::string_view s) {
  int64_t n = 0;
  for (size_t i = 0; i < s.size(); ++n) {
    size_t len;
    DecodeCodePoint(s, i, &len);
    i += len;
  }
  return n;
}

std::vector<std::string> SplitCodePoints(absl::string_view s) {
  std::vector<std::string> out;
  const std::vector<size_t> offsets = CodePointOffsets(s);
  for (size_t k = 0; k + 1 < offsets.size(); ++k) {
    out.emplace_back(s.substr(offsets[k], offsets[k + 1] - offsets[k]));
  }
  return out;
}

bool IsPySpace(uint32_t c) {
  return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
         c == 0x205f || c == 0x3000;
}

std::string PyStrip(absl::string_view s, const std::optional<std::string>& chars, bool left,
                    bool right) {
  std::vector<uint32_t> set;
  if (chars.has_value()) {
    for (size_t i = 0; i < chars->size();) {
      size_t len;
      set.push_back(DecodeCodePoint(*chars, i, &len));
      i += len;
    }
  }
  const auto strip = [&](uint32_t c) {
    return chars.has_value() ? std::find(set.begin(), set.end(), c) != set.end() : IsPySpace(c);
  };
  const std::vector<size_t> offsets = CodePointOffsets(s);
  size_t first = 0, last = offsets.size() - 1;  // code point indices [first, last)
  size_t len;
  if (left) {
    while (first < last && strip(DecodeCodePoint(s, offsets[first], &len))) ++first;
  }
  if (right) {
    while (last > first && strip(DecodeCodePoint(s, offsets[last - 1], &len))) --last;
  }
  return std::string(s.substr(offsets[first], offsets[last] - offsets[first]));
}

std::vector<std::string> PySplitWhitespace(absl::string_view s, int64_t maxsplit) {
  std::vector<std::string> out;
  size_t i = 0;
  size_t len;
  while (i < s.size()) {
    while (i < s.size() && IsPySpace(DecodeCodePoint(s, i, &len))) i += len;
    if (i >= s.size()) break;
    if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
      out.emplace_back(s.substr(i));  // the rest, trailing whitespace included
      return out;
    }
    size_t start = i;
    while (i < s.size() && !IsPySpace(DecodeCodePoint(s, i, &len))) i += len;
    out.emplace_back(s.substr(start, i - start));
  }
  return out;
}

std::vector<std::string> PySplit(absl::string_view s, absl::string_view sep, int64_t maxsplit) {
  std::vector<std::string> out;
  size_t start = 0;
  while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
    size_t at = s.find(sep, start);
    if (at == absl::string_view::npos) break;
    out.emplace_back(s.substr(start, at - start));
    start = at + sep.size();
  }
  out.emplace_back(s.substr(start));
  return out;
}

std::vector<std::string> PyRSplit(absl::string_view s, absl::string_view sep, int64_t maxsplit) {
  std::vector<std::string> out;
  size_t end = s.size();
  int64_t splits = 0;
  while (maxsplit < 0 || splits < maxsplit) {
    if (end < sep.size()) break;
    size_t at = s.rfind(sep, end - sep.size());
    if (at == absl::string_view::npos) break;
    out.emplace_back(s.substr(at + sep.size(), end - at - sep.size()));
    end = at;
    ++splits;
  }
  out.emplace_back(s.substr(0, end));
  std::reverse(out.begin(), out.end());
  return out;
}

std::vector<std::string> PySplitLines(absl::string_view s) {
  std::vector<std::string> out;
  size_t start = 0, i = 0;
  while (i < s.size()) {
    size_t len;
    uint32_t c = DecodeCodePoint(s, i, &len);
    if (IsLineBreak(c)) {
      out.emplace_back(s.substr(start, i - start));
      i += len;
      if (c == '\r' && i < s.size() && s[i] == '\n') ++i;
      start = i;
    } else {
      i += len;
    }
  }
  if (start < s.size()) out.emplace_back(s.substr(start));
  return out;
}

std::string PyReplace(absl::string_view s, absl::string_view old_text, absl::string_view new_text,
                      int64_t count) {
  std::string out;
  int64_t done = 0;
  if (old_text.empty()) {
    const std::vector<size_t> offsets = CodePointOffsets(s);
    for (size_t k = 0; k + 1 < offsets.size(); ++k) {
      if (count < 0 || done < count) {
        absl::StrAppend(&out, new_text);
        ++done;
      }
      absl::StrAppend(&out, s.substr(offsets[k], offsets[k + 1] - offsets[k]));
    }
    if (count < 0 || done < count) absl::StrAppend(&out, new_text);
    return out;
  }
  size_t start = 0;
  while (count < 0 || done < count) {
    size_t at = s.find(old_text, start);
    if (at == absl::string_view::npos) break;
    absl::StrAppend(&out, s.substr(start, at - start));
    absl::StrAppend(&out, new_text);
    start = at + old_text.size();
    ++done;
  }
  absl::StrAppend(&out, s.substr(start));
  return out;
}

std::string PyUpper(absl::string_view s) { return MapCodePoints(s, ToUpper); }
std::string PyLower(absl::string_view s) { return MapCodePoints(s, ToLower); }

std::string PyCapitalize(absl::string_view s) {
  bool first = true;
  return MapCodePoints(s, [&](uint32_t c) {
    uint32_t mapped = first ? ToUpper(c) : ToLower(c);
    first = false;
    return mapped;
  });
}

std::string PyTitle(absl::string_view s) {
  bool previous_cased = false;
  return MapCodePoints(s, [&](uint32_t c) {
    uint32_t mapped = previous_cased ? ToLower(c) : ToUpper(c);
    previous_cased = IsCased(c);
    return mapped;
  });
}

std::string JinjaTitle(absl::string_view s) {
  // re.split(r"([-\s({\[<]+)"): each non-separator run gets its first character upper-cased
  // and the rest lower-cased.
  const auto is_separator = [](uint32_t c) {
    return IsPySpace(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
  };
  bool word_start = true;
  return MapCodePoints(s, [&](uint32_t c) {
    if (is_separator(c)) {
      word_start = true;
      return c;
    }
    uint32_t mapped = word_start ? ToUpper(c) : ToLower(c);
    word_start = false;
    return mapped;
  });
}

bool PyIsLower(absl::string_view s) {
  bool cased = false;
  for (size_t i = 0; i < s.size();) {
    size_t len;
    uint32_t c = DecodeCodePoint(s, i, &len);
    if (IsUpperCp(c)) return false;
    cased |= IsLowerCp(c);
    i += len;
  }
  return cased;
}

bool PyIsUpper(absl::string_view s) {
  bool cased = false;
  for (size_t i = 0; i < s.size();) {
    size_t len;
    uint32_t c = DecodeCodePoint(s, i, &len);
    if (IsLowerCp(c)) return false;
    cased |= IsUpperCp(c);
    i += len;
  }
  return cased;
}

bool PyIsAlpha(absl::string_view s) { return AllCodePoints(s, IsAlphaCp); }
bool PyIsDigit(absl::string_view s) { return AllCodePoints(s, IsDigitCp); }
bool PyIsAlnum(absl::string_view s) {
  return AllCodePoints(s, [](uint32_t c) { return IsAlphaCp(c) || IsDigitCp(c); });
}
bool PyIsSpace(absl::string_view s) { return AllCodePoints(s, IsPySpace); }

std::string PyStrRepr(absl::string_view s) {
  const bool has_single = s.find('\'') != absl::string_view::npos;
  const bool has_double = s.find('"') != absl::string_view::npos;
  const char quote = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, quote);
  for (size_t i = 0; i < s.size();) {
    size_t len;
    uint32_t c = DecodeCodePoint(s, i, &len);
    if (len == 1 && c >= 0x80) {
      absl::StrAppendFormat(&out, "\\x%02x", c);  // an invalid byte
    } else if (c == '\\' || c == static_cast<uint32_t>(quote)) {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (ReprEscapes(c)) {
      absl::StrAppendFormat(&out, c < 0x100 ? "\\x%02x" : "\\u%04x", c);
    } else {
      absl::StrAppend(&out, s.substr(i, len));
    }
    i += len;
  }
  out.push_back(quote);
  return out;
}

}  // namespace kvserve::jinja
