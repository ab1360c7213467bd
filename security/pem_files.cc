#include "security/pem_files.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <fstream>
#include <memory>

#include "absl/strings/str_cat.h"

namespace kvserve {
namespace {

constexpr size_t kMaxPemFileBytes = 1 << 20;

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

std::string Where(absl::string_view flag, const std::string& path) {
  return absl::StrCat(flag, " '", path, "'");
}

// OpenSSL's reason for the last failure on this thread (e.g. "bad decrypt"), and an empty queue.
std::string TakeOpenSslError() {
  const unsigned long code = ERR_peek_last_error();
  std::string reason;
  if (code != 0) {
    const char* text = ERR_reason_error_string(code);
    reason = text != nullptr ? text : absl::StrCat("error ", code);
  }
  ERR_clear_error();
  return reason;
}

absl::StatusOr<std::string> ReadSmallFile(absl::string_view flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(Where(flag, path), ": cannot be opened"));
  std::string content(kMaxPemFileBytes + 1, '\0');
  in.read(content.data(), static_cast<std::streamsize>(content.size()));
  if (in.bad()) return absl::DataLossError(absl::StrCat(Where(flag, path), ": read error"));
  content.resize(static_cast<size_t>(in.gcount()));
  if (content.size() > kMaxPemFileBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(flag, path), ": larger than ", kMaxPemFileBytes, " bytes"));
  }
  if (content.empty())
    return absl::InvalidArgumentError(absl::StrCat(Where(flag, path), ": empty"));
  return content;
}

BioPtr MemoryBio(const std::string& text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// The first certificate in `pem` (the leaf), or null; the number of certificates in *count.
X509Ptr ParseCertificates(const std::string& pem, int* count) {
  *count = 0;
  BioPtr bio = MemoryBio(pem);
  X509Ptr first;
  while (bio != nullptr) {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (cert == nullptr) break;
    if (first == nullptr) first = std::move(cert);
    ++*count;
  }
  ERR_clear_error();  // the end of the input is reported as an error
  return first;
}

// A passphrase callback that supplies none, so OpenSSL never prompts on the terminal.
int NoPassphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*user*/) { return 0; }

}  // namespace

absl::StatusOr<std::string> ReadPemCertificates(absl::string_view flag, const std::string& path) {
  absl::StatusOr<std::string> pem = ReadSmallFile(flag, path);
  if (!pem.ok()) return pem.status();
  int count = 0;
  X509Ptr leaf = ParseCertificates(*pem, &count);
  if (leaf == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        Where(flag, path), ": no PEM certificate in it (expected -----BEGIN CERTIFICATE-----)"));
  }
  if (X509_cmp_current_time(X509_get0_notAfter(leaf.get())) <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(Where(flag, path), ": the certificate expired"));
  }
  return *std::move(pem);
}

absl::StatusOr<std::string> ReadPemPrivateKey(absl::string_view flag, const std::string& path) {
  absl::StatusOr<std::string> pem = ReadSmallFile(flag, path);
  if (!pem.ok()) return pem.status();
  BioPtr bio = MemoryBio(*pem);
  PkeyPtr key(bio == nullptr ? nullptr
                             : PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
  if (key == nullptr) {
    const std::string reason = TakeOpenSslError();
    return absl::InvalidArgumentError(absl::StrCat(
        Where(flag, path),
        ": no unencrypted PEM private key in it (expected -----BEGIN PRIVATE KEY----- or similar",
        reason.empty() ? "" : "; OpenSSL: ", reason, ")"));
  }
  return *std::move(pem);
}

absl::StatusOr<TlsKeyPair> ReadTlsKeyPair(absl::string_view cert_flag, const std::string& cert_path,
                                          absl::string_view key_flag, const std::string& key_path) {
  absl::StatusOr<std::string> cert = ReadPemCertificates(cert_flag, cert_path);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPemPrivateKey(key_flag, key_path);
  if (!key.ok()) return key.status();
  int count = 0;
  X509Ptr leaf = ParseCertificates(*cert, &count);
  BioPtr bio = MemoryBio(*key);
  PkeyPtr pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
  if (leaf == nullptr || pkey == nullptr || X509_check_private_key(leaf.get(), pkey.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(Where(key_flag, key_path),
                                                   " is not the private key of the certificate in ",
                                                   Where(cert_flag, cert_path)));
  }
  return TlsKeyPair{*std::move(cert), *std::move(key)};
}

}  // namespace kvserve
