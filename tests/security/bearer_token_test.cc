// Token files and the server's bearer-token check (security/bearer_token.h).
#include "security/bearer_token.h"

#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/security/test_pki.h"

namespace kvserve {
namespace {

using ::kvserve::testing::WriteTestFile;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kToken[] = "kv-Test.token_123~";

BearerTokenVerifier Verifier() {
  absl::StatusOr<BearerTokenVerifier> verifier = BearerTokenVerifier::Create(kToken);
  EXPECT_TRUE(verifier.ok()) << verifier.status();
  return *std::move(verifier);
}

TEST(BearerTokenFileTest, TrimsSurroundingWhitespace) {
  const std::string path = WriteTestFile(::testing::TempDir(), "token_ok", "  \tsecret-1\r\n\n");
  absl::StatusOr<std::string> token = ReadBearerTokenFile(path);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(*token, "secret-1");
}

TEST(BearerTokenFileTest, RefusesMissingEmptyOversizedAndNonAsciiFilesNamingThePath) {
  const std::string dir = ::testing::TempDir();
  const std::string missing = dir + "/no_such_token_file";
  absl::StatusOr<std::string> r = ReadBearerTokenFile(missing);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr(missing));

  const std::string empty = WriteTestFile(dir, "token_empty", " \n\t\n");
  r = ReadBearerTokenFile(empty);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr(empty));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("empty"));

  const std::string huge = WriteTestFile(dir, "token_huge", std::string(100 * 1024, 'a'));
  r = ReadBearerTokenFile(huge);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("not a token file"));

  const std::string long_token =
      WriteTestFile(dir, "token_long", std::string(kMaxBearerTokenBytes + 1, 'b'));
  r = ReadBearerTokenFile(long_token);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("more than 4096"));

  // An inner space or a non-ASCII byte cannot go into a header; the message gives the offset and
  // never the token itself.
  const std::string spaced = WriteTestFile(dir, "token_spaced", "abc defSECRET\n");
  r = ReadBearerTokenFile(spaced);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("offset 3"));
  EXPECT_THAT(std::string(r.status().message()), Not(HasSubstr("SECRET")));
  const std::string utf8 = WriteTestFile(dir, "token_utf8", "p\xc3\xa4ss");
  r = ReadBearerTokenFile(utf8);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("offset 1"));
}

TEST(BearerTokenVerifierTest, AcceptsTheTokenWithAnyCaseOfTheScheme) {
  const BearerTokenVerifier verifier = Verifier();
  EXPECT_TRUE(verifier.Verify(absl::StrCat("Bearer ", kToken)).ok());
  EXPECT_TRUE(verifier.Verify(absl::StrCat("bearer ", kToken)).ok());
  EXPECT_TRUE(verifier.Verify(absl::StrCat("BEARER   ", kToken, " ")).ok());
  EXPECT_TRUE(verifier.Verify(BearerAuthorizationValue(kToken)).ok());
}

TEST(BearerTokenVerifierTest, RefusesEverythingElseWithoutQuotingIt) {
  const BearerTokenVerifier verifier = Verifier();
  const std::string token = kToken;
  struct Case {
    std::optional<std::string> header;
    std::string expected;
  };
  const Case cases[] = {
      {std::nullopt, "missing credentials"},
      {"", "not a Bearer credential"},
      {token, "not a Bearer credential"},  // no scheme
      {"Basic " + token, "not a Bearer credential"},
      {"Bearer", "not a Bearer credential"},
      {"Bearer ", "not a Bearer credential"},
      {"Bearer " + token.substr(0, token.size() - 1), "invalid bearer token"},  // a prefix
      {"Bearer " + token + "x", "invalid bearer token"},                        // longer
      {"Bearer " + std::string(token.size(), 'k'), "invalid bearer token"},     // same length
      {"Bearer kv-test.token_123~", "invalid bearer token"},  // the token is case-sensitive
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.header.value_or("<none>"));
    std::optional<absl::string_view> header;
    if (c.header.has_value()) header = *c.header;
    const absl::Status status = verifier.Verify(header);
    EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.expected));
    EXPECT_THAT(std::string(status.message()), Not(HasSubstr("token_123")));
  }
}

TEST(BearerTokenVerifierTest, CreateRefusesInvalidTokens) {
  EXPECT_EQ(BearerTokenVerifier::Create("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BearerTokenVerifier::Create("a b").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BearerTokenVerifier::Create(std::string(kMaxBearerTokenBytes + 1, 'z')).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(BearerTokenVerifier::Create(std::string(kMaxBearerTokenBytes, 'z')).ok());
}

}  // namespace
}  // namespace kvserve
