#include "tests/security/test_pki.h"

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace kvserve::testing {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Runs `command` (openssl arguments) in `dir` through the shell, stderr to a log file.
absl::Status Openssl(const std::string& dir, const std::string& command) {
  const std::string line =
      absl::StrCat("cd '", dir, "' && openssl ", command, " >/dev/null 2>>openssl.log");
  if (std::system(line.c_str()) != 0) {
    return absl::InternalError(
        absl::StrCat("openssl ", command, " failed:\n", ReadAll(dir + "/openssl.log")));
  }
  return absl::OkStatus();
}

// A key and a certificate for `name` signed by `ca`, with the extensions in `extensions`.
absl::Status SignedCertificate(const std::string& dir, const std::string& ca,
                               const std::string& name, const std::string& subject,
                               const std::string& extensions, int days) {
  WriteTestFile(dir, name + ".ext", extensions);
  if (absl::Status s =
          Openssl(dir, absl::StrCat("req -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
                                    "-nodes -keyout ",
                                    name, ".key -out ", name, ".csr -subj '/CN=", subject, "'"));
      !s.ok()) {
    return s;
  }
  return Openssl(dir, absl::StrCat("x509 -req -in ", name, ".csr -CA ", ca, ".crt -CAkey ", ca,
                                   ".key -CAcreateserial -days ", days, " -extfile ", name,
                                   ".ext -out ", name, ".crt"));
}

absl::Status SelfSignedCa(const std::string& dir, const std::string& name,
                          const std::string& subject) {
  return Openssl(dir, absl::StrCat("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
                                   "-keyout ",
                                   name, ".key -out ", name, ".crt -days 2 -subj '/CN=", subject,
                                   "' -addext basicConstraints=critical,CA:TRUE "
                                   "-addext keyUsage=critical,keyCertSign,cRLSign"));
}

}  // namespace

std::string WriteTestFile(const std::string& dir, const std::string& name,
                          const std::string& content) {
  const std::string path = dir + "/" + name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

absl::StatusOr<TestPki> MakeTestPki() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern =
      absl::StrCat(base != nullptr && *base != '\0' ? base : "/tmp", "/kvserve_pki.XXXXXX");
  if (::mkdtemp(pattern.data()) == nullptr) return absl::InternalError("mkdtemp failed");
  const std::string dir = pattern;
  const std::string server_ext =
      "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n";
  const std::string client_ext = "extendedKeyUsage=clientAuth\n";
  for (absl::Status s : {
           SelfSignedCa(dir, "ca", "kvserve test CA"),
           SignedCertificate(dir, "ca", "server", "localhost", server_ext, 2),
           SignedCertificate(dir, "ca", "client", "kvserve test client", client_ext, 2),
           SelfSignedCa(dir, "other_ca", "unrelated CA"),
           SignedCertificate(dir, "other_ca", "other_client", "stranger", client_ext, 2),
           Openssl(dir,
                   "x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
                   "-days -1 -extfile server.ext -out expired_server.crt"),
           Openssl(dir, "pkey -in server.key -aes256 -passout pass:x -out encrypted_server.key"),
       }) {
    if (!s.ok()) return s;
  }
  TestPki pki;
  pki.dir = dir;
  pki.ca_cert = dir + "/ca.crt";
  pki.server_cert = dir + "/server.crt";
  pki.server_key = dir + "/server.key";
  pki.client_cert = dir + "/client.crt";
  pki.client_key = dir + "/client.key";
  pki.other_ca_cert = dir + "/other_ca.crt";
  pki.other_client_cert = dir + "/other_client.crt";
  pki.other_client_key = dir + "/other_client.key";
  pki.expired_server_cert = dir + "/expired_server.crt";
  pki.encrypted_server_key = dir + "/encrypted_server.key";
  return pki;
}

void RemoveTestPki(const TestPki& pki) {
  if (pki.dir.empty()) return;
  std::error_code ignored;
  std::filesystem::remove_all(pki.dir, ignored);
}

}  // namespace kvserve::testing
