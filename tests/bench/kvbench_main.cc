// kvbench: `kvbench <subcommand> [flags]`. Subcommands register themselves with KVBENCH_SUBCOMMAND
// (see bench_common.h); this file defines the shared flags and dispatches.
#include <omp.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "tests/bench/bench_common.h"

namespace kvserve::bench {

bool AbslParseFlag(absl::string_view text, BatchSizes* out, std::string* error) {
  BatchSizes parsed;
  parsed.sizes.clear();
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int32_t size = 0;
    if (!absl::SimpleAtoi(part, &size) || size <= 0) {
      *error = absl::StrCat("batch sizes must be positive integers, got '", part, "'");
      return false;
    }
    parsed.sizes.push_back(size);
  }
  if (parsed.sizes.empty()) {
    *error = "no batch size given";
    return false;
  }
  *out = std::move(parsed);
  return true;
}

std::string AbslUnparseFlag(const BatchSizes& sizes) { return absl::StrJoin(sizes.sizes, ","); }

}  // namespace kvserve::bench

ABSL_FLAG(kvserve::bench::BatchSizes, batch, kvserve::bench::BatchSizes{},
          "Sequences in the batch; `decode` takes a comma-separated list (1,8,32,64).");
ABSL_FLAG(int32_t, context, 2048, "Tokens of context per sequence.");
ABSL_FLAG(int32_t, threads, 2, "OpenMP threads (0 = OpenMP's default).");
ABSL_FLAG(std::string, json, "", "Also write the results as a JSON object to this file.");
ABSL_FLAG(int32_t, layers, 8, "Transformer layers.");
ABSL_FLAG(int32_t, heads, 8, "Query heads.");
ABSL_FLAG(int32_t, kv_heads, 2, "KV heads (GQA groups).");
ABSL_FLAG(int32_t, head_dim, 64, "Floats per head.");
ABSL_FLAG(int32_t, page_size, 16, "Token slots per KV page.");

namespace {

std::string Usage() {
  std::string usage = "kvbench <subcommand> [flags]\n\nsubcommands:\n";
  for (const auto& [name, sub] : kvserve::bench::SubcommandRegistry()) {
    absl::StrAppend(&usage, "  ", name, "  ", sub.help, "\n");
  }
  absl::StrAppend(&usage, "\nflags: kvbench <subcommand> --helpfull");
  return usage;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(Usage());
  const auto& registry = kvserve::bench::SubcommandRegistry();
  if (argc < 2 || argv[1][0] == '-') {
    if (argc >= 2) absl::ParseCommandLine(argc, argv);  // handles --help / --helpfull
    std::fprintf(stderr, "%s\n", Usage().c_str());
    return 2;
  }
  auto it = registry.find(argv[1]);
  if (it == registry.end()) {
    std::fprintf(stderr, "unknown subcommand '%s'\n\n%s\n", argv[1], Usage().c_str());
    return 2;
  }
  // Drop the subcommand name and parse the flags that follow it.
  std::vector<char*> args;
  args.push_back(argv[0]);
  for (int i = 2; i < argc; ++i) args.push_back(argv[i]);
  std::vector<char*> positional =
      absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
  if (const int32_t threads = absl::GetFlag(FLAGS_threads); threads > 0)
    omp_set_num_threads(threads);
  return it->second.fn(static_cast<int>(positional.size()), positional.data());
}
