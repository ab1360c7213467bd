// PEM checks (security/pem_files.h) against certificates made by openssl at test time.
#include "security/pem_files.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/security/test_pki.h"

namespace kvserve {
namespace {

using ::kvserve::testing::TestPki;
using ::kvserve::testing::WriteTestFile;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class PemFilesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<TestPki> pki = kvserve::testing::MakeTestPki();
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = new TestPki(*std::move(pki));
  }
  static void TearDownTestSuite() {
    if (pki_ != nullptr) kvserve::testing::RemoveTestPki(*pki_);
    delete pki_;
    pki_ = nullptr;
  }
  static TestPki* pki_;
};
TestPki* PemFilesTest::pki_ = nullptr;

TEST_F(PemFilesTest, AMatchingPairIsReadAsIs) {
  absl::StatusOr<TlsKeyPair> pair =
      ReadTlsKeyPair("--tls_cert", pki_->server_cert, "--tls_key", pki_->server_key);
  ASSERT_TRUE(pair.ok()) << pair.status();
  EXPECT_THAT(pair->certificate_chain_pem, StartsWith("-----BEGIN CERTIFICATE-----"));
  EXPECT_THAT(pair->private_key_pem, StartsWith("-----BEGIN PRIVATE KEY-----"));
  absl::StatusOr<std::string> ca = ReadPemCertificates("--tls_ca", pki_->ca_cert);
  EXPECT_TRUE(ca.ok()) << ca.status();
}

TEST_F(PemFilesTest, ErrorsNameTheFlagAndThePath) {
  const std::string missing = pki_->dir + "/missing.pem";
  absl::StatusOr<std::string> r = ReadPemCertificates("--tls_cert", missing);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(r.status().message()),
              StartsWith("--tls_cert '" + missing + "': cannot be opened"));

  const std::string garbage = WriteTestFile(pki_->dir, "garbage.pem", "hello, not a certificate\n");
  r = ReadPemCertificates("--tls_client_ca", garbage);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()),
              StartsWith("--tls_client_ca '" + garbage + "': no PEM"));

  const std::string empty = WriteTestFile(pki_->dir, "empty.pem", "");
  r = ReadPemPrivateKey("--tls_key", empty);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("empty"));

  // A certificate where the key should be, and a key where the certificate should be.
  r = ReadPemPrivateKey("--tls_key", pki_->server_cert);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("no unencrypted PEM private key"));
  r = ReadPemCertificates("--tls_cert", pki_->server_key);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("no PEM certificate"));
}

TEST_F(PemFilesTest, RefusesAnEncryptedKeyWithoutPrompting) {
  // stdin is not read: the passphrase callback supplies nothing.
  absl::StatusOr<std::string> r = ReadPemPrivateKey("--tls_key", pki_->encrypted_server_key);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("no unencrypted PEM private key"));
}

TEST_F(PemFilesTest, RefusesAKeyOfAnotherCertificate) {
  absl::StatusOr<TlsKeyPair> pair =
      ReadTlsKeyPair("--tls_cert", pki_->server_cert, "--tls_key", pki_->client_key);
  EXPECT_EQ(pair.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(pair.status().message()), HasSubstr("--tls_key '" + pki_->client_key +
                                                              "' is not the private key of the "
                                                              "certificate in --tls_cert '" +
                                                              pki_->server_cert + "'"));
}

TEST_F(PemFilesTest, RefusesAnExpiredCertificate) {
  absl::StatusOr<std::string> r = ReadPemCertificates("--tls_cert", pki_->expired_server_cert);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("expired"));
}

}  // namespace
}  // namespace kvserve
