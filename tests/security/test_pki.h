// A throwaway PKI for TLS tests, made with the `openssl` command at test time (never committed):
// a CA, a server certificate for "localhost" and 127.0.0.1 signed by it, a client certificate
// signed by it, and a second, unrelated CA with a client certificate of its own (which the
// server must refuse). EC P-256 keys, so it takes a few tens of milliseconds. Also an expired
// server certificate and a passphrase-protected copy of the server key, for the error paths.
//
// Threads: MakeTestPki runs child processes; call it from one thread (e.g. SetUpTestSuite).
#ifndef KVSERVE_TESTS_SECURITY_TEST_PKI_H_
#define KVSERVE_TESTS_SECURITY_TEST_PKI_H_

#include <string>

#include "absl/status/statusor.h"

namespace kvserve::testing {

struct TestPki {
  std::string dir;
  std::string ca_cert;
  std::string server_cert, server_key;
  std::string client_cert, client_key;
  std::string other_ca_cert;
  std::string other_client_cert, other_client_key;  // signed by other_ca_cert
  std::string expired_server_cert;                  // for server_key, notAfter in the past
  std::string encrypted_server_key;                 // server_key under passphrase "x"
};

// Creates the files in a new temporary directory (removed by RemoveTestPki). INTERNAL with
// openssl's stderr if a command fails.
absl::StatusOr<TestPki> MakeTestPki();
void RemoveTestPki(const TestPki& pki);

// Writes `content` to `dir`/`name`; the path.
std::string WriteTestFile(const std::string& dir, const std::string& name,
                          const std::string& content);

}  // namespace kvserve::testing

#endif  // KVSERVE_TESTS_SECURITY_TEST_PKI_H_
