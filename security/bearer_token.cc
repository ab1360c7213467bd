#include "security/bearer_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <fstream>
#include <iterator>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace kvserve {
namespace {

// Token files are tiny; anything larger is not one (and is not read whole).
constexpr size_t kMaxTokenFileBytes = 64 * 1024;

// SHA-256 of `data`; nullopt if OpenSSL fails (only on allocation failure), so callers fail closed.
std::optional<std::array<uint8_t, 32>> Sha256(absl::string_view data) {
  std::array<uint8_t, 32> digest{};
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), digest.data(), &size, EVP_sha256(), nullptr) != 1 ||
      size != digest.size()) {
    return std::nullopt;
  }
  return digest;
}

}  // namespace

absl::Status ValidateBearerToken(absl::string_view token, absl::string_view source) {
  if (token.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": the bearer token is empty"));
  }
  if (token.size() > kMaxBearerTokenBytes) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": the bearer token has ", token.size(),
                                                   " bytes, more than ", kMaxBearerTokenBytes));
  }
  for (size_t i = 0; i < token.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(token[i]);
    if (c < 0x21 || c > 0x7e) {
      // The position, never the byte: the message must not reveal the token.
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": the bearer token has a byte outside visible ASCII at offset ", i,
                       " (whitespace, control and non-ASCII bytes cannot travel in a header)"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadBearerTokenFile(const std::string& path) {
  const std::string source = absl::StrCat("auth token file '", path, "'");
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(source, ": cannot be opened for reading"));
  std::string content;
  content.resize(kMaxTokenFileBytes + 1);
  in.read(content.data(), static_cast<std::streamsize>(content.size()));
  if (in.bad()) return absl::DataLossError(absl::StrCat(source, ": read error"));
  content.resize(static_cast<size_t>(in.gcount()));
  if (content.size() > kMaxTokenFileBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": larger than ", kMaxTokenFileBytes, " bytes; not a token file"));
  }
  const absl::string_view token = absl::StripAsciiWhitespace(content);
  if (absl::Status s = ValidateBearerToken(token, source); !s.ok()) return s;
  return std::string(token);
}

std::string BearerAuthorizationValue(absl::string_view token) {
  return absl::StrCat(kBearerScheme, " ", token);
}

absl::StatusOr<BearerTokenVerifier> BearerTokenVerifier::Create(absl::string_view token) {
  if (absl::Status s = ValidateBearerToken(token, "BearerTokenVerifier"); !s.ok()) return s;
  const std::optional<Digest> digest = Sha256(token);
  if (!digest.has_value()) return absl::InternalError("SHA-256 of the bearer token failed");
  return BearerTokenVerifier(*digest);
}

absl::Status BearerTokenVerifier::Verify(std::optional<absl::string_view> authorization) const {
  if (!authorization.has_value()) {
    return absl::UnauthenticatedError(
        "missing credentials: this server requires 'authorization: Bearer <token>' metadata");
  }
  const absl::string_view value = absl::StripAsciiWhitespace(*authorization);
  const size_t space = value.find(' ');
  if (space == absl::string_view::npos ||
      !absl::EqualsIgnoreCase(value.substr(0, space), kBearerScheme)) {
    return absl::UnauthenticatedError(
        "the authorization metadata is not a Bearer credential (expected 'Bearer <token>')");
  }
  const absl::string_view presented = absl::StripLeadingAsciiWhitespace(value.substr(space + 1));
  // Equal-length digests, compared in constant time: neither the position of the first wrong
  // byte nor the presented length shows in the timing.
  const std::optional<Digest> digest = Sha256(presented);
  if (!digest.has_value() ||
      CRYPTO_memcmp(digest->data(), expected_.data(), expected_.size()) != 0) {
    return absl::UnauthenticatedError("invalid bearer token");
  }
  return absl::OkStatus();
}

}  // namespace kvserve
