// The tiny random Hugging Face checkpoints of make_checkpoints.py, written at test time into a
// fresh temporary directory (one per test suite; see the script for what each holds).
//
// Threads: call from a test suite's SetUpTestSuite / TearDownTestSuite (one thread).
#ifndef KVSERVE_TESTS_CHECKPOINT_TEST_CHECKPOINTS_H_
#define KVSERVE_TESTS_CHECKPOINT_TEST_CHECKPOINTS_H_

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace kvserve::testing {

// Runs `script` (make_checkpoints.py) with Debian's /usr/bin/python3 into a new directory under
// /tmp; returns that directory, or "" if the script failed.
inline std::string WriteTestCheckpoints(const std::string& script) {
  char pattern[] = "/tmp/kvserve_checkpoints_XXXXXX";
  if (::mkdtemp(pattern) == nullptr) return "";
  const std::string dir = pattern;
  const std::string command = "/usr/bin/python3 '" + script + "' '" + dir + "'";
  if (std::system(command.c_str()) != 0) {
    std::filesystem::remove_all(dir);
    return "";
  }
  return dir;
}

inline void RemoveTestCheckpoints(const std::string& dir) {
  if (!dir.empty()) std::filesystem::remove_all(dir);
}

}  // namespace kvserve::testing

#endif  // KVSERVE_TESTS_CHECKPOINT_TEST_CHECKPOINTS_H_
