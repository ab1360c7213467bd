#include "clients/client_security_flags.h"

#include <string>

#include "absl/flags/flag.h"

ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA certificates to verify the server with; enables TLS (default: plaintext).");
ABSL_FLAG(std::string, tls_cert, "", "PEM client certificate for mutual TLS (needs --tls_ca).");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(std::string, auth_token_file, "",
          "File holding the bearer token to send as 'authorization: Bearer <token>'.");

namespace kvserve {

ClientSecurityOptions SecurityOptionsFromFlags() {
  return {.tls_ca_file = absl::GetFlag(FLAGS_tls_ca),
          .tls_cert_file = absl::GetFlag(FLAGS_tls_cert),
          .tls_key_file = absl::GetFlag(FLAGS_tls_key),
          .auth_token_file = absl::GetFlag(FLAGS_auth_token_file)};
}

}  // namespace kvserve
