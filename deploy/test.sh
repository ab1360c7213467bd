#!/usr/bin/env bash
# Installs what is missing, builds everything, and runs the whole test suite with ctest; then, unless
# KVSERVE_CI_SANITIZERS=0, the sanitizer stages. This is the README's test command and what .ci/run
# calls. Stages (each prints a header and its wall time; any failure fails the script):
#   1. Release build ($BUILD_DIR, default build) + the whole suite. Extra arguments go to this ctest.
#   2. ASan + UBSan build (build-asan, preset asan) + the whole suite but the hardening test.
#   3. TSan build (build-tsan, preset tsan) + the tests with threads: scheduler, server, integration,
#      clients (the shared client-side Generate call, kvctl against a scripted service).
#   4. Fuzz smoke: tests/fuzz/run_fuzz.sh, KVSERVE_FUZZ_SECONDS (default 60) per target.
# Sanitizer runtime options and suppressions: tests/sanitizers/ (README.md there).
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh
BUILD_DIR=${BUILD_DIR:-build}
JOBS=$(nproc)
SANITIZERS=${KVSERVE_CI_SANITIZERS:-1}
TOTAL_STAGES=4
if [ "$SANITIZERS" = 0 ]; then TOTAL_STAGES=1; fi

stage_name=""
stage_start=0
stages_passed=0
stage() {
  stage_name="$1"
  stage_start=$(date +%s)
  echo
  echo "======== test.sh stage $((stages_passed + 1))/$TOTAL_STAGES: $stage_name ========"
}
stage_passed() {
  stages_passed=$((stages_passed + 1))
  echo "======== test.sh: $stage_name passed in $(($(date +%s) - stage_start))s ========"
}
trap 'echo "======== test.sh: $stage_name FAILED after $(($(date +%s) - stage_start))s ========"' ERR

stage "Release build + the whole test suite"
# Formatting first: every tracked C++ file as .clang-format (Google, 100 columns) has it, includes
# sorted. Fix with: git ls-files '*.cc' '*.h' | xargs clang-format -i
git ls-files '*.cc' '*.h' | xargs clang-format --dry-run -Werror
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build "$BUILD_DIR" -j "$JOBS"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS" --timeout 600 "$@"
stage_passed

if [ "$SANITIZERS" != 0 ]; then
  # shellcheck source=../tests/sanitizers/env.sh
  source tests/sanitizers/env.sh

  stage "ASan + UBSan build + the whole test suite"
  cmake --preset asan
  cmake --build build-asan -j "$JOBS"
  # -LE hardening: its RSS budgets and latency checks are the Release build's (README.md).
  ctest --test-dir build-asan --output-on-failure -j "$JOBS" --timeout 900 -LE hardening
  stage_passed

  stage "TSan build + scheduler, server, integration and clients tests"
  # One OpenMP thread: Debian's libgomp and oneDNN are not instrumented, and their barriers would
  # be reported as races in the kernels. The scheduler/gRPC threads are unaffected (README.md).
  export OMP_NUM_THREADS=1
  cmake --preset tsan
  cmake --build build-tsan -j "$JOBS" --target scheduler_tests server_tests integration_tests \
    kvload_integration_tests generate_call_tests kvctl_tests kvserve_python_stubs
  ctest --test-dir build-tsan --output-on-failure -j "$JOBS" --timeout 900 \
    -L 'scheduler|server|integration|clients'
  unset OMP_NUM_THREADS
  stage_passed

  stage "fuzz smoke (libFuzzer, clang, ${KVSERVE_FUZZ_SECONDS:-30}s per target)"
  bash tests/fuzz/run_fuzz.sh "${KVSERVE_FUZZ_SECONDS:-30}"
  stage_passed
fi

echo "stages: $stages_passed passed, 0 failed"
