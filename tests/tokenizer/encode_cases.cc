// encode_cases: encodes llama.cpp tokenizer test cases with kvserve's BpeTokenizer.
//
//   encode_cases TOKENIZER_JSON CASES_FILE
//
// CASES_FILE is a llama.cpp `ggml-vocab-*.gguf.inp` file: cases separated by
// "\n__ggml_vocab_test__\n" (read as llama.cpp's tests/test-tokenizer-0.cpp does). Prints one line
// per case, in order: the ids of the case, space-separated, encoded without BOS (as the vectors
// are: add_special=false). Exit status 0; 2 if the tokenizer.json is refused (its status on
// stderr); 1 for usage or I/O errors. The comparison with the `.out` file is the caller's
// (tests/tokenizer/llamacpp_vocab_test.py).
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_join.h"
#include "engine/tokenizer/bpe_tokenizer.h"

namespace {

bool ReadFile(const char* path, std::string* contents) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  contents->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !in.bad();
}

std::vector<std::string> SplitCases(const std::string& raw) {
  static constexpr char kSeparator[] = "\n__ggml_vocab_test__\n";
  const size_t separator_size = sizeof(kSeparator) - 1;
  std::vector<std::string> cases;
  size_t pos = 0;
  while (pos < raw.size()) {
    const size_t next = raw.find(kSeparator, pos);
    if (next == std::string::npos) {
      cases.push_back(raw.substr(pos));
      break;
    }
    cases.push_back(raw.substr(pos, next - pos));
    pos = next + separator_size;
  }
  return cases;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s TOKENIZER_JSON CASES_FILE\n", argv[0]);
    return 1;
  }
  std::string json, raw;
  if (!ReadFile(argv[1], &json) || !ReadFile(argv[2], &raw)) {
    std::fprintf(stderr, "encode_cases: cannot read %s or %s\n", argv[1], argv[2]);
    return 1;
  }
  absl::StatusOr<std::unique_ptr<kvserve::BpeTokenizer>> tokenizer =
      kvserve::BpeTokenizer::Create(json, argv[1], {});
  if (!tokenizer.ok()) {
    std::fprintf(stderr, "%s\n", tokenizer.status().ToString().c_str());
    return 2;
  }
  for (const std::string& text : SplitCases(raw)) {
    const std::vector<int32_t> ids = (*tokenizer)->Encode(text, /*add_bos=*/false);
    std::printf("%s\n", absl::StrJoin(ids, " ").c_str());
  }
  return 0;
}
