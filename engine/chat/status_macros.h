// Status propagation for the chat library's internals (absl of this vintage has no macros).
//
//   CHAT_RETURN_IF_ERROR(expr);              // returns the absl::Status `expr` if it is not OK
//   CHAT_ASSIGN_OR_RETURN(auto x, expr);     // x = *expr, or returns expr.status()
#ifndef KVSERVE_ENGINE_CHAT_STATUS_MACROS_H_
#define KVSERVE_ENGINE_CHAT_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define CHAT_RETURN_IF_ERROR(expr)               \
  do {                                           \
    const ::absl::Status chat_status_ = (expr);  \
    if (!chat_status_.ok()) return chat_status_; \
  } while (0)

#define CHAT_STATUS_CONCAT_INNER(a, b) a##b
#define CHAT_STATUS_CONCAT(a, b) CHAT_STATUS_CONCAT_INNER(a, b)
#define CHAT_ASSIGN_OR_RETURN(lhs, expr) \
  CHAT_ASSIGN_OR_RETURN_IMPL(CHAT_STATUS_CONCAT(chat_statusor_, __LINE__), lhs, expr)
#define CHAT_ASSIGN_OR_RETURN_IMPL(statusor, lhs, expr) \
  auto statusor = (expr);                               \
  if (!statusor.ok()) return statusor.status();         \
  lhs = *std::move(statusor)

#endif  // KVSERVE_ENGINE_CHAT_STATUS_MACROS_H_
