#!/usr/bin/env bash
# Builds the libFuzzer targets with Debian's clang (ASan + UBSan + libFuzzer, in their own build
# dir) and runs each for a while on a copy of its seed corpus. Fails if any target finds a crash,
# a property violation (FUZZ_CHECK), a sanitizer error, a leak or a timeout.
#
#   tests/fuzz/run_fuzz.sh [seconds per target, default 60] [target ...]
#
# The build is CMakePresets.json's `fuzz` preset, in build-fuzz/. The source tree is never written
# to: new corpus entries go to a temporary copy, findings to build-fuzz/artifacts/. A finding is fixed by
# fixing the code, copying the artifact into tests/fuzz/corpus/<target>/ (it then runs as a
# regression test in every ctest run, see CMakeLists.txt here) and adding a gtest for the bug.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
shift || true
build_dir=build-fuzz  # the `fuzz` preset's binaryDir

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for src in tests/fuzz/*_fuzz.cc; do targets+=("$(basename "$src" .cc)"); done
fi

echo "run_fuzz: configuring $build_dir (preset fuzz: clang, KVSERVE_FUZZ=ON, address,undefined)"
mkdir -p "$build_dir"
cmake --preset fuzz > "$build_dir/configure.log" 2>&1 || { cat "$build_dir/configure.log"; exit 1; }
nice -n 19 cmake --build "$build_dir" -j 2 --target "${targets[@]}"

# shellcheck source=../sanitizers/env.sh
source tests/sanitizers/env.sh
artifacts="$build_dir/artifacts"
mkdir -p "$artifacts"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

failed=()
for target in "${targets[@]}"; do
  corpus="$work/$target"
  mkdir -p "$corpus"
  if [ -d "tests/fuzz/corpus/$target" ]; then cp -r "tests/fuzz/corpus/$target/." "$corpus/"; fi
  # Inputs up to 4 KiB, or the largest seed (a whole tokenizer.json is bigger): libFuzzer would
  # cut longer seeds short. A dictionary of the format's keywords, if the target has one.
  max_len=$(find "$corpus" -type f -printf '%s\n' | sort -n | tail -1)
  max_len=$(( ${max_len:-0} > 4096 ? max_len : 4096 ))
  dict=()
  if [ -f "tests/fuzz/$target.dict" ]; then dict=(-dict="tests/fuzz/$target.dict"); fi
  echo "run_fuzz: $target for ${seconds}s on $(ls "$corpus" | wc -l) seed inputs (max_len $max_len)"
  if nice -n 19 "$build_dir/tests/fuzz/$target" "$corpus" -max_total_time="$seconds" \
      -timeout=10 -rss_limit_mb=2048 -max_len="$max_len" "${dict[@]}" -print_final_stats=1 \
      -artifact_prefix="$artifacts/$target-" > "$work/$target.log" 2>&1; then
    grep -E "^stat::number_of_executed_units|^stat::new_units_added" "$work/$target.log" |
      sed "s/^/run_fuzz: $target: /"
  else
    tail -n 60 "$work/$target.log"
    echo "run_fuzz: $target FAILED; reproducer(s) in $artifacts/:"
    ls -1 "$artifacts" | grep "^$target-" || true
    failed+=("$target")
  fi
done

if [ ${#failed[@]} -ne 0 ]; then
  echo "run_fuzz: ${#failed[@]} of ${#targets[@]} targets failed: ${failed[*]}"
  exit 1
fi
echo "run_fuzz: ${#targets[@]} targets ran ${seconds}s each without a finding"
