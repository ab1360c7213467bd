# Runtime options of the sanitizer builds (KVSERVE_SANITIZE, tests/fuzz/run_fuzz.sh). Sourced by
# deploy/test.sh and run_fuzz.sh; source it by hand to run a sanitizer build's tests the way CI
# does:   source tests/sanitizers/env.sh && ctest --test-dir build-asan
# Every option and suppression is explained in tests/sanitizers/README.md. OMP_NUM_THREADS=1 for
# TSan runs is set by deploy/test.sh (see the README).
kvserve_sanitizers_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export ASAN_OPTIONS="detect_leaks=1:check_initialization_order=1:strict_init_order=1"
export LSAN_OPTIONS="suppressions=$kvserve_sanitizers_dir/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export TSAN_OPTIONS="suppressions=$kvserve_sanitizers_dir/tsan.supp:halt_on_error=1:second_deadlock_stack=1:ignore_noninstrumented_modules=1:history_size=7"
unset kvserve_sanitizers_dir
