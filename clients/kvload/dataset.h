// Dataset: prompts for kvload from a JSONL file (--dataset FILE), instead of synthetic ones.
//
// One JSON object per line; blank lines are skipped. Each object has
//   "prompt":      the prompt text (a non-empty string; with --chat the user message), and
//   "max_tokens":  optional, a positive integer: this request's output length ("output_len", as
//                  in vLLM's custom datasets, is accepted too).
// Unknown keys are ignored. Any other line is an INVALID_ARGUMENT that names the line.
//
// Threads: plain functions.
#ifndef KVSERVE_CLIENTS_KVLOAD_DATASET_H_
#define KVSERVE_CLIENTS_KVLOAD_DATASET_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "clients/kvload/workload.h"

namespace kvserve::load {

// Parses JSONL text; `name` labels errors ("FILE:LINE: ...").
absl::StatusOr<std::vector<DatasetEntry>> ParseDataset(absl::string_view text,
                                                       absl::string_view name);
// Reads and parses `path`; NOT_FOUND if it cannot be read.
absl::StatusOr<std::vector<DatasetEntry>> ReadDataset(const std::string& path);

}  // namespace kvserve::load

#endif  // KVSERVE_CLIENTS_KVLOAD_DATASET_H_
