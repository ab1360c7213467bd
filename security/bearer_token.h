// Bearer tokens: the shared secret that `--auth_token_file` names, on both sides of the wire.
//
//   ReadBearerTokenFile  reads a token file (daemon and clients alike): the file's content with
//                        surrounding whitespace (e.g. the trailing newline) removed. Refused, with
//                        the path in the message: unreadable, larger than 64 KiB, empty after
//                        trimming, longer than kMaxBearerTokenBytes, or containing a byte outside
//                        visible ASCII (0x21..0x7e), since it travels as an HTTP/2 header value.
//   BearerTokenVerifier  the server's check of one `authorization` header value, "Bearer <token>"
//                        (the scheme is case-insensitive, RFC 6750). It keeps only the SHA-256
//                        digest of the expected token and compares digests with CRYPTO_memcmp,
//                        so the time taken does not depend on how much of a guess was right, nor
//                        on its length. Refusals are UNAUTHENTICATED and never quote the presented
//                        value or the expected token.
//
// Invariant: no function here logs anything, and no error message contains a token.
// Threads: ReadBearerTokenFile is a plain function; a BearerTokenVerifier is immutable after
// Create and may be shared by any number of threads.
#ifndef KVSERVE_SECURITY_BEARER_TOKEN_H_
#define KVSERVE_SECURITY_BEARER_TOKEN_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kvserve {

inline constexpr size_t kMaxBearerTokenBytes = 4096;
// The metadata key (gRPC keys are lower case) and the scheme in front of the token.
inline constexpr char kAuthorizationMetadataKey[] = "authorization";
inline constexpr char kBearerScheme[] = "Bearer";

absl::StatusOr<std::string> ReadBearerTokenFile(const std::string& path);

// INVALID_ARGUMENT unless `token` is 1..kMaxBearerTokenBytes visible-ASCII bytes. `source` names
// where it came from (e.g. the file) in the message.
absl::Status ValidateBearerToken(absl::string_view token, absl::string_view source);

// "Bearer <token>", the value clients send under kAuthorizationMetadataKey.
std::string BearerAuthorizationValue(absl::string_view token);

class BearerTokenVerifier {
 public:
  // INVALID_ARGUMENT if `token` is not a valid token (see ValidateBearerToken).
  static absl::StatusOr<BearerTokenVerifier> Create(absl::string_view token);

  // `authorization`: the value of the request's authorization header, nullopt if it had none.
  // OK if it is "Bearer <the token>"; otherwise UNAUTHENTICATED saying what is wrong (missing,
  // not a Bearer credential, wrong token) without quoting it.
  absl::Status Verify(std::optional<absl::string_view> authorization) const;

 private:
  using Digest = std::array<uint8_t, 32>;
  explicit BearerTokenVerifier(const Digest& expected) : expected_(expected) {}

  Digest expected_;  // SHA-256 of the token
};

}  // namespace kvserve

#endif  // KVSERVE_SECURITY_BEARER_TOKEN_H_
