// The command-line flags every kvserve client binary (kvctl, kvload) shares for talking to a
// secured server: --tls_ca, --tls_cert, --tls_key, --auth_token_file. Defined once here; a binary
// gets them by linking kvserve_client_security_flags and calling SecurityOptionsFromFlags().
//
// Threads: call after absl::ParseCommandLine, from any thread.
#ifndef KVSERVE_CLIENTS_CLIENT_SECURITY_FLAGS_H_
#define KVSERVE_CLIENTS_CLIENT_SECURITY_FLAGS_H_

#include "clients/client_channel.h"

namespace kvserve {

// The flags' values, for ClientChannelFactory::Create (which reads and checks the files).
ClientSecurityOptions SecurityOptionsFromFlags();

}  // namespace kvserve

#endif  // KVSERVE_CLIENTS_CLIENT_SECURITY_FLAGS_H_
