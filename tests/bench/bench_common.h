// Shared pieces of the kvbench tool (tests/bench/): the subcommand registry, the common flags,
// KeyValuePrinter for results, and the STREAM-triad bandwidth probe.
//
// Promises:
//   * A file registers a subcommand with KVBENCH_SUBCOMMAND("name", "help", Fn); `kvbench name ...`
//     then calls Fn after absl::ParseCommandLine has parsed every flag (flags are global, so a
//     subcommand's own flags must carry a distinct prefix, e.g. --attention_reps). Fn receives the
//     positional arguments left over, argv[0] being the program name.
//   * The flags below are shared by all subcommands; kvbench_main.cc defines them. --threads is
//     applied (omp_set_num_threads) before the subcommand runs.
//   * KeyValuePrinter prints `key: value` lines to stdout as they are added and, if asked, writes
//   the
//     same pairs as one JSON object.
//   * StreamTriadGbs() reports STREAM's convention: 3 arrays × bytes per iteration (a = b + s*c),
//   not
//     counting the write-allocate read of `a` (real DRAM traffic is 4/3 of that with normal
//     stores).
//
// Threads: everything here runs on the main thread; StreamTriadGbs uses an OpenMP parallel region
// over omp_get_max_threads() workers.
#ifndef KVSERVE_TESTS_BENCH_BENCH_COMMON_H_
#define KVSERVE_TESTS_BENCH_BENCH_COMMON_H_

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace kvserve::bench {

// --batch: one batch size or a comma-separated list ("1,8,32,64"). Subcommands that take one size
// read it as an int32_t (the first); `kvbench decode` runs every size.
struct BatchSizes {
  std::vector<int32_t> sizes{32};
  operator int32_t() const { return sizes.front(); }  // NOLINT: one-size subcommands
};
bool AbslParseFlag(absl::string_view text, BatchSizes* out, std::string* error);
std::string AbslUnparseFlag(const BatchSizes& sizes);

}  // namespace kvserve::bench

// Common flags (defined in kvbench_main.cc).
ABSL_DECLARE_FLAG(kvserve::bench::BatchSizes, batch);  // sequences in the batch (or a list)
ABSL_DECLARE_FLAG(int32_t, context);                   // tokens of context per sequence
ABSL_DECLARE_FLAG(int32_t, threads);                   // OpenMP threads; 0 = OpenMP's default
ABSL_DECLARE_FLAG(std::string, json);  // also write results as a JSON object to this file
// Model shape (defaults: the "tiny" preset) and KV page size.
ABSL_DECLARE_FLAG(int32_t, layers);
ABSL_DECLARE_FLAG(int32_t, heads);
ABSL_DECLARE_FLAG(int32_t, kv_heads);
ABSL_DECLARE_FLAG(int32_t, head_dim);
ABSL_DECLARE_FLAG(int32_t, page_size);

namespace kvserve::bench {

using SubcommandFn = int (*)(int argc, char** argv);

struct Subcommand {
  std::string help;
  SubcommandFn fn = nullptr;
};

// name → subcommand; filled by static registrars before main() runs.
inline std::map<std::string, Subcommand>& SubcommandRegistry() {
  static auto* registry = new std::map<std::string, Subcommand>();
  return *registry;
}

struct SubcommandRegistrar {
  SubcommandRegistrar(const char* name, const char* help, SubcommandFn fn) {
    SubcommandRegistry()[name] = Subcommand{help, fn};
  }
};

#define KVBENCH_SUBCOMMAND_CONCAT_INNER(a, b) a##b
#define KVBENCH_SUBCOMMAND_CONCAT(a, b) KVBENCH_SUBCOMMAND_CONCAT_INNER(a, b)
#define KVBENCH_SUBCOMMAND(name, help, fn)                                      \
  static const ::kvserve::bench::SubcommandRegistrar KVBENCH_SUBCOMMAND_CONCAT( \
      kvbench_subcommand_registrar_, __LINE__)(name, help, fn)

// Collects `key: value` results: prints each line as it is added, then optionally writes all of
// them as one JSON object (insertion order).
class KeyValuePrinter {
 public:
  void Add(const std::string& key, double value) {
    std::printf("%s: %s\n", key.c_str(), absl::StrFormat("%.6g", value).c_str());
    entries_.emplace_back(key, std::isfinite(value) ? absl::StrFormat("%.9g", value) : "null");
    std::fflush(stdout);
  }
  void Add(const std::string& key, int64_t value) {
    std::printf("%s: %lld\n", key.c_str(), static_cast<long long>(value));
    entries_.emplace_back(key, absl::StrCat(value));
    std::fflush(stdout);
  }
  void Add(const std::string& key, int32_t value) { Add(key, int64_t{value}); }
  void Add(const std::string& key, const std::string& value) {
    std::printf("%s: %s\n", key.c_str(), value.c_str());
    entries_.emplace_back(key, Quote(value));
    std::fflush(stdout);
  }
  void Add(const std::string& key, const char* value) { Add(key, std::string(value)); }

  std::string ToJson() const {
    std::string out = "{";
    for (size_t i = 0; i < entries_.size(); ++i) {
      absl::StrAppend(&out, i == 0 ? "\n  " : ",\n  ", Quote(entries_[i].first), ": ",
                      entries_[i].second);
    }
    absl::StrAppend(&out, "\n}\n");
    return out;
  }

  // Writes ToJson() to `path`; does nothing for an empty path.
  absl::Status WriteJson(const std::string& path) const {
    if (path.empty()) return absl::OkStatus();
    std::FILE* f = std::fopen(path.c_str(), "w");
    if (f == nullptr)
      return absl::UnavailableError(absl::StrCat("cannot open ", path, " for writing"));
    const std::string text = ToJson();
    const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
    if (std::fclose(f) != 0 || !ok) return absl::DataLossError(absl::StrCat("cannot write ", path));
    return absl::OkStatus();
  }

 private:
  static std::string Quote(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += c;
      } else if (static_cast<unsigned char>(c) < 0x20) {
        out += absl::StrFormat("\\u%04x", c);
      } else {
        out += c;
      }
    }
    return out + "\"";
  }

  std::vector<std::pair<std::string, std::string>> entries_;
};

// Prints `kvbench: <status>` to stderr; the exit code for a failed subcommand.
inline int Fail(const absl::Status& status) {
  std::fprintf(stderr, "kvbench: %s\n", status.ToString().c_str());
  return 1;
}

// Writes the results to --json if given; the subcommand's exit code.
inline int FinishReport(const KeyValuePrinter& out) {
  if (absl::Status s = out.WriteJson(absl::GetFlag(FLAGS_json)); !s.ok()) return Fail(s);
  return 0;
}

// STREAM triad a[i] = b[i] + s * c[i] over three arrays of `array_bytes` (default 64 MiB each, far
// beyond any last-level cache), OpenMP static schedule on omp_get_max_threads() threads, arrays
// first-touched by the same threads. Returns the best of `reps` repetitions in GB/s (1e9 bytes),
// counting 3 × array_bytes per repetition (STREAM's convention). Returns 0 if memory is short.
inline double StreamTriadGbs(int64_t array_bytes = int64_t{64} << 20, int reps = 10) {
  const int64_t n = array_bytes / static_cast<int64_t>(sizeof(double));
  auto* a = static_cast<double*>(std::aligned_alloc(64, n * sizeof(double)));
  auto* b = static_cast<double*>(std::aligned_alloc(64, n * sizeof(double)));
  auto* c = static_cast<double*>(std::aligned_alloc(64, n * sizeof(double)));
  double best = 0.0;
  if (a != nullptr && b != nullptr && c != nullptr) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      a[i] = 1.0;
      b[i] = 2.0;
      c[i] = 0.5;
    }
    const double s = 3.0;
    double best_seconds = 1e30;
    for (int r = 0; r < reps; ++r) {
      const double start = omp_get_wtime();
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < n; ++i) a[i] = b[i] + s * c[i];
      best_seconds = std::min(best_seconds, omp_get_wtime() - start);
    }
    // Use the result so the loop cannot be dropped.
    if (a[n / 2] != 2.0 + s * 0.5) std::fprintf(stderr, "stream triad: wrong result\n");
    best = 3.0 * static_cast<double>(n * sizeof(double)) / best_seconds / 1e9;
  }
  std::free(a);
  std::free(b);
  std::free(c);
  return best;
}

}  // namespace kvserve::bench

#endif  // KVSERVE_TESTS_BENCH_BENCH_COMMON_H_
