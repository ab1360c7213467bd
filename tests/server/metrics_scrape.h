// Test helpers for the Prometheus endpoint: a tiny blocking HTTP/1.0 GET over a socket (no HTTP
// library needed), and a parser for the text exposition format good enough for exact checks.
// Shared by tests/server (in-process server) and tests/integration (the real daemon).
//
// Threads: plain functions; each call uses its own socket.
#ifndef KVSERVE_TESTS_SERVER_METRICS_SCRAPE_H_
#define KVSERVE_TESTS_SERVER_METRICS_SCRAPE_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace kvserve::testing {

// GET http://<ipv4>:<port><path>; the body of a 200 response, else an error naming the status.
inline absl::StatusOr<std::string> HttpGet(const std::string& ipv4, int port,
                                           const std::string& path,
                                           absl::Duration timeout = absl::Seconds(10)) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  const timeval tv = absl::ToTimeval(timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, ipv4.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError("not an IPv4 address: " + ipv4);
  }
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    return absl::UnavailableError(
        absl::StrCat("connect ", ipv4, ":", port, ": ", std::strerror(errno)));
  }
  // HTTP/1.0 without Accept-Encoding: a plain body, and the server closes when it is done.
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: ", ipv4, ":", port, "\r\n\r\n");
  for (size_t sent = 0; sent < request.size();) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return absl::UnavailableError(absl::StrCat("send: ", std::strerror(errno)));
    sent += static_cast<size_t>(n);
  }
  std::string response;
  char buffer[16384];
  for (;;) {
    const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::DeadlineExceededError(absl::StrCat("recv: ", std::strerror(errno)));
    }
    response.append(buffer, static_cast<size_t>(n));
  }
  const size_t header_end = response.find("\r\n\r\n");
  if (header_end == std::string::npos) {
    return absl::DataLossError("no end of headers in: " + response.substr(0, 200));
  }
  const absl::string_view status_line =
      absl::string_view(response).substr(0, response.find("\r\n"));
  if (!absl::StrContains(status_line, " 200 ")) {
    return absl::FailedPreconditionError(absl::StrCat("HTTP status: ", status_line));
  }
  return response.substr(header_end + 4);
}

// Samples of a text exposition, keyed by the series as written:
// `name` or `name{label="value",...}` (prometheus-cpp writes labels in a fixed order per family).
using MetricSamples = std::map<std::string, double>;

inline absl::StatusOr<MetricSamples> ParseMetrics(absl::string_view text) {
  MetricSamples samples;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipWhitespace())) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    // The value follows the last space outside the labels (label values here have no spaces).
    const size_t space = line.rfind(' ');
    if (space == absl::string_view::npos) {
      return absl::DataLossError(absl::StrCat("no value in line: ", line));
    }
    const absl::string_view value_text = line.substr(space + 1);
    double value = 0;
    if (absl::EqualsIgnoreCase(value_text, "nan")) {
      value = std::numeric_limits<double>::quiet_NaN();  // prometheus-cpp writes "Nan"
    } else if (!absl::SimpleAtod(value_text, &value)) {
      return absl::DataLossError(absl::StrCat("bad value in line: ", line));
    }
    samples[std::string(line.substr(0, space))] = value;
  }
  return samples;
}

// GET /metrics and parse it.
inline absl::StatusOr<MetricSamples> ScrapeMetrics(const std::string& ipv4, int port) {
  absl::StatusOr<std::string> body = HttpGet(ipv4, port, "/metrics");
  if (!body.ok()) return body.status();
  return ParseMetrics(*body);
}

// The value of `series`, or -1 if it is missing (every kvserve metric is >= 0).
inline double Sample(const MetricSamples& samples, const std::string& series) {
  const auto it = samples.find(series);
  return it == samples.end() ? -1 : it->second;
}

}  // namespace kvserve::testing

#endif  // KVSERVE_TESTS_SERVER_METRICS_SCRAPE_H_
