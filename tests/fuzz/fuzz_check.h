// FUZZ_CHECK(condition, message parts...): the fuzz targets' assertion of a property.
//
// Unlike assert() it stays on in Release (NDEBUG) builds. On failure it prints the file, line, the
// condition and absl::StrCat(message parts...) to stderr and calls abort(), so that libFuzzer
// saves the input as a crash and the corpus replay test (fuzz_corpus_replay.cc) fails.
//
// Threads: no state; the fuzz targets are single-threaded.
#ifndef KVSERVE_TESTS_FUZZ_FUZZ_CHECK_H_
#define KVSERVE_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"

#define FUZZ_CHECK(condition, ...)                                                               \
  do {                                                                                           \
    if (!(condition)) {                                                                          \
      const std::string fuzz_check_message = absl::StrCat(__VA_ARGS__);                          \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s: %s\n", __FILE__, __LINE__, #condition, \
                   fuzz_check_message.c_str());                                                  \
      std::abort();                                                                              \
    }                                                                                            \
  } while (false)

#endif  // KVSERVE_TESTS_FUZZ_FUZZ_CHECK_H_
