// Python's operators over the value model, as jinja2 evaluates them.
//
//   + - * / // % **  numbers (bool counts as int; int op int stays int except `/`; int64
//                    overflow is an error rather than a bigint); str + str, list + list,
//                    tuple + tuple; str * int and list * int repeat. `str % x` (printf-style
//                    formatting) is refused with a message.
//   unary - +        numbers
//   == != < <= > >=  Equals / Compare (jinja_value.h)
//   in, not in       substring for strings, membership for lists, keys for dicts; nothing is in
//                    undefined
// Errors are INVALID_ARGUMENT with Python's wording ("unsupported operand type(s) for -: 'str'
// and 'int'", "division by zero"); an undefined operand fails with its hint ("'x' is undefined").
//
// Threads: pure functions.
#ifndef KVSERVE_ENGINE_CHAT_JINJA_OPERATORS_H_
#define KVSERVE_ENGINE_CHAT_JINJA_OPERATORS_H_

#include <cstddef>

#include "absl/status/statusor.h"
#include "engine/chat/jinja_ast.h"
#include "engine/chat/jinja_value.h"

namespace kvserve::jinja {

// `op` is one of the arithmetic operators (not and / or). Strings longer than `max_bytes` bytes
// and lists longer than `max_bytes` items are an error rather than an allocation.
absl::StatusOr<Value> Arithmetic(BinaryExpr::Op op, const Value& a, const Value& b,
                                 size_t max_bytes);
absl::StatusOr<Value> UnaryArithmetic(UnaryExpr::Op op, const Value& a);
absl::StatusOr<bool> CompareValues(CompareExpr::Op op, const Value& a, const Value& b);
// `item in container`.
absl::StatusOr<bool> Contains(const Value& container, const Value& item);

}  // namespace kvserve::jinja

#endif  // KVSERVE_ENGINE_CHAT_JINJA_OPERATORS_H_
