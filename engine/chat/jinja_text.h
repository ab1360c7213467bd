// Python's str operations over UTF-8: what templates call as string methods and filters.
//
// Strings are UTF-8 bytes; the operations count, index and case-map code points, as Python's str
// does. Bytes that are not valid UTF-8 count as one code point each and pass through unchanged
// (they never fail). Whitespace is Python's str.isspace() set. Case mapping is Unicode simple case
// mapping (glibc's C.UTF-8 tables): it differs from Python only for the few characters whose
// Python mapping is several characters ("ß".upper() is "SS" there, "ß" here).
//
// Threads: every function is pure and thread-safe.
#ifndef KVSERVE_ENGINE_CHAT_JINJA_TEXT_H_
#define KVSERVE_ENGINE_CHAT_JINJA_TEXT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace kvserve::jinja {

// The code point at byte `pos` of `s` and its length in bytes (an invalid byte: itself, length 1).
uint32_t DecodeCodePoint(absl::string_view s, size_t pos, size_t* length);
void AppendUtf8(uint32_t code_point, std::string* out);
// Byte offsets of each code point's start, plus s.size() at the end.
std::vector<size_t> CodePointOffsets(absl::string_view s);
int64_t CodePointCount(absl::string_view s);
// The code points of `s`, each as its own string.
std::vector<std::string> SplitCodePoints(absl::string_view s);

// Python's str.isspace() for one code point.
bool IsPySpace(uint32_t code_point);

// str.strip / lstrip / rstrip: `chars` unset strips whitespace, else any of chars' code points.
std::string PyStrip(absl::string_view s, const std::optional<std::string>& chars, bool left,
                    bool right);
// str.split() / str.split(sep, maxsplit) / str.rsplit(...): maxsplit < 0 means no limit. An empty
// `sep` is an error in Python; callers check it.
std::vector<std::string> PySplitWhitespace(absl::string_view s, int64_t maxsplit);
std::vector<std::string> PySplit(absl::string_view s, absl::string_view sep, int64_t maxsplit);
std::vector<std::string> PyRSplit(absl::string_view s, absl::string_view sep, int64_t maxsplit);
// str.splitlines() (without keepends).
std::vector<std::string> PySplitLines(absl::string_view s);
// str.replace(old, new, count): count < 0 replaces all; an empty `old` inserts between characters.
std::string PyReplace(absl::string_view s, absl::string_view old_text, absl::string_view new_text,
                      int64_t count);

std::string PyUpper(absl::string_view s);
std::string PyLower(absl::string_view s);
// str.capitalize(): the first character upper case, the rest lower case.
std::string PyCapitalize(absl::string_view s);
// str.title(): upper case after every character that is not a letter, lower case elsewhere.
std::string PyTitle(absl::string_view s);
// Jinja's `title` filter: words start after spaces and any of "-({[<".
std::string JinjaTitle(absl::string_view s);
// str.islower() / str.isupper(): some cased character, and none of the other case.
bool PyIsLower(absl::string_view s);
bool PyIsUpper(absl::string_view s);
// str.isalpha / isdigit / isalnum / isspace: non-empty and every code point qualifies.
bool PyIsAlpha(absl::string_view s);
bool PyIsDigit(absl::string_view s);
bool PyIsAlnum(absl::string_view s);
bool PyIsSpace(absl::string_view s);

// Python's repr() of a str: single quotes unless the text has ' and no ", escapes for \\, the
// quote, \n, \r, \t and other control characters.
std::string PyStrRepr(absl::string_view s);

}  // namespace kvserve::jinja

#endif  // KVSERVE_ENGINE_CHAT_JINJA_TEXT_H_
