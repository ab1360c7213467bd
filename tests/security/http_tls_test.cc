// HttpTlsContext (server/openai/http_tls.h): the HTTP front end's TLS from the gRPC port's files,
// with the same start-up errors naming the flag; a context makes server-side TLS bufferevents.
// The handshakes themselves (TLS, mutual TLS refused without a client certificate, plaintext
// refused) are driven by curl, Python's ssl and the openai npm client in
// tests/integration/openai_http_test.py.
#include "server/openai/http_tls.h"

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/security/test_pki.h"

namespace kvserve::testing {
namespace {

using ::kvserve::openai::HttpTlsContext;
using ::testing::HasSubstr;

class HttpTlsContextTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<TestPki> pki = MakeTestPki();
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = new TestPki(*std::move(pki));
  }
  static void TearDownTestSuite() {
    if (pki_ != nullptr) RemoveTestPki(*pki_);
    delete pki_;
    pki_ = nullptr;
  }
  static TestPki* pki_;
};
TestPki* HttpTlsContextTest::pki_ = nullptr;

TEST_F(HttpTlsContextTest, ServesTheKeyPairAndMakesTlsConnections) {
  absl::StatusOr<std::unique_ptr<HttpTlsContext>> tls =
      HttpTlsContext::Create({.cert_file = pki_->server_cert, .key_file = pki_->server_key});
  ASSERT_TRUE(tls.ok()) << tls.status();
  EXPECT_FALSE((*tls)->mutual());
  event_base* base = event_base_new();
  ASSERT_NE(base, nullptr);
  bufferevent* bev = (*tls)->NewConnection(base);
  ASSERT_NE(bev, nullptr);
  EXPECT_NE(bufferevent_openssl_get_ssl(bev), nullptr);
  bufferevent_free(bev);
  event_base_free(base);
}

TEST_F(HttpTlsContextTest, AClientCaMakesItMutual) {
  absl::StatusOr<std::unique_ptr<HttpTlsContext>> tls =
      HttpTlsContext::Create({.cert_file = pki_->server_cert,
                              .key_file = pki_->server_key,
                              .client_ca_file = pki_->ca_cert});
  ASSERT_TRUE(tls.ok()) << tls.status();
  EXPECT_TRUE((*tls)->mutual());
}

TEST_F(HttpTlsContextTest, BadFilesAreStartUpErrorsNamingTheFlag) {
  absl::Status none = HttpTlsContext::Create({}).status();
  EXPECT_EQ(none.code(), absl::StatusCode::kInvalidArgument);

  absl::Status no_key = HttpTlsContext::Create({.cert_file = pki_->server_cert}).status();
  EXPECT_EQ(no_key.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(no_key.message(), HasSubstr("--tls_key"));

  absl::Status missing =
      HttpTlsContext::Create({.cert_file = pki_->dir + "/nope.pem", .key_file = pki_->server_key})
          .status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.message(), HasSubstr("--tls_cert"));

  absl::Status mismatched =
      HttpTlsContext::Create({.cert_file = pki_->server_cert, .key_file = pki_->client_key})
          .status();
  EXPECT_EQ(mismatched.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(mismatched.message(), HasSubstr("--tls_key"));

  absl::Status expired =
      HttpTlsContext::Create({.cert_file = pki_->expired_server_cert, .key_file = pki_->server_key})
          .status();
  EXPECT_EQ(expired.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(expired.message(), HasSubstr("--tls_cert"));

  absl::Status bad_ca = HttpTlsContext::Create({.cert_file = pki_->server_cert,
                                                .key_file = pki_->server_key,
                                                .client_ca_file = pki_->server_key})
                            .status();
  EXPECT_EQ(bad_ca.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad_ca.message(), HasSubstr("--tls_client_ca"));
}

}  // namespace
}  // namespace kvserve::testing
