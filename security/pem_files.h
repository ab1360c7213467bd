// PEM files for TLS (`--tls_cert`, `--tls_key`, `--tls_client_ca` on the daemon; `--tls_ca`,
// `--tls_cert`, `--tls_key` on the clients), read and checked with OpenSSL before gRPC sees them,
// so that a bad file is a clear start-up error naming the flag and the path instead of a failed
// handshake later.
//
//   ReadPemCertificates  the file's text; it must hold at least one parseable X.509 certificate,
//                        and the first one must not have expired.
//   ReadPemPrivateKey    the file's text; it must hold an unencrypted private key (an encrypted
//                        one is refused rather than prompting for a passphrase).
//   ReadTlsKeyPair       both of the above, and the key must belong to the first certificate.
// Every error is INVALID_ARGUMENT (NOT_FOUND for a file that cannot be opened) and starts with
// "<flag> '<path>': ". Files larger than 1 MiB are refused unread. Key material never appears in
// a message.
//
// Threads: plain functions; OpenSSL's error queue is per thread and left empty.
#ifndef KVSERVE_SECURITY_PEM_FILES_H_
#define KVSERVE_SECURITY_PEM_FILES_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kvserve {

struct TlsKeyPair {
  std::string certificate_chain_pem;  // leaf first, then any intermediates
  std::string private_key_pem;
};

absl::StatusOr<std::string> ReadPemCertificates(absl::string_view flag, const std::string& path);
absl::StatusOr<std::string> ReadPemPrivateKey(absl::string_view flag, const std::string& path);
absl::StatusOr<TlsKeyPair> ReadTlsKeyPair(absl::string_view cert_flag, const std::string& cert_path,
                                          absl::string_view key_flag, const std::string& key_path);

}  // namespace kvserve

#endif  // KVSERVE_SECURITY_PEM_FILES_H_
