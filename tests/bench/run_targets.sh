#!/bin/bash
# Measures every performance target of kvserve in one sitting and prints the ratios
# (tests/bench/README.md has the table these fill in). Not part of CI: about 15 minutes.
#
#   bash tests/bench/run_targets.sh [BUILD_DIR] [OUT_DIR]
#
# Needs a Release build (bash deploy/test.sh or deploy/run.sh makes one). The llama.cpp comparison
# runs only if ../shared/anchors/llamacpp/setup.sh has built /tmp/llamacpp-build (else skipped).
# Benchmarks run at the highest CPU priority we can get (nice -n -20 as root), so that background
# builds on a shared machine disturb them as little as possible.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
out=${2:-$(mktemp -d /tmp/kvserve-targets.XXXXXX)}
mkdir -p "$out"
kvbench=$build/tests/bench/kvbench
prio=(nice -n -20)
"${prio[@]}" true 2>/dev/null || prio=()
run() { local name=$1; shift; echo "== $name: $*" >&2; "${prio[@]}" "$@" | tee "$out/$name.txt"; }
get() { sed -n "s/^$2: //p" "$out/$1.txt" | head -1; }

run serve-compare "$kvbench" serve-compare --threads 2
run prefix-cache "$kvbench" prefix-cache --threads 2 --serve_requests 64 --serve_prompt 544:576 \
  --prefix_shared 512 --serve_output 32:32 --serve_rate 2
run server-overhead "$kvbench" server-overhead --threads 2 --serve_concurrency 64 \
  --serve_requests 320 --serve_prompt 32:256 --serve_output 64:128
run attention "$kvbench" attention --batch 32 --context 2048 --threads 2
run decode "$kvbench" decode --batch 1,32 --context 512 --decode_new 128 --threads 2

# 1,000 concurrent streams through one daemon (its own process), then the leak check.
port_file=$out/port
"${prio[@]}" "$build/server/kvserve" --port 0 --port_file "$port_file" --threads 2 \
  >"$out/daemon.log" 2>&1 &
daemon=$!
trap 'kill $daemon 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$port_file" ] && break; sleep 0.1; done
run scale "$build/clients/kvload/kvload" --target "127.0.0.1:$(cat "$port_file")" \
  --concurrency 1000 --num_requests 2000 --prompt_len 16:64 --max_tokens 8:32 \
  --progress=false --expect_idle --json "$out/scale.json"
kill -TERM $daemon; wait $daemon || true

llama=""
if [ -x /tmp/llamacpp-build/bin/llama-batched-bench ] && [ -f /tmp/tiny-f32.gguf ]; then
  echo "== llama.cpp: run.sh /tmp/tiny-f32.gguf -ctk f32 -ctv f32 -npl 1,32" >&2
  "${prio[@]}" /tmp/llamacpp-build/bin/llama-batched-bench -m /tmp/tiny-f32.gguf -c 45056 -b 2048 \
    -ub 512 -npp 512 -ntg 128 -npl 1,32 -t 2 -tb 2 -ctk f32 -ctv f32 2>/dev/null | tee "$out/llamacpp.txt"
  # Table rows: |  PP |  TG |  B | N_KV | T_PP s | S_PP t/s | T_TG s | S_TG t/s | T s | S t/s |
  llama_tg() { awk -F'|' -v b="$1" '$4+0==b && $2+0==512 {gsub(/ /,"",$9); print $9}' "$out/llamacpp.txt"; }
  llama="b1=$(llama_tg 1) b32=$(llama_tg 32)"
fi

echo
echo "== summary ($out)"
echo "continuous_vs_static_throughput $(get serve-compare continuous_vs_static_throughput) (padded static: $(get serve-compare continuous_vs_padded_static_throughput))"
echo "ttft_p99 static/continuous $(get serve-compare static_vs_continuous_ttft_p99) (padded: $(get serve-compare padded_static_vs_continuous_ttft_p99))"
echo "kv_waste_pages_per_request_max $(get serve-compare kv_waste_pages_per_request_max)"
echo "server_vs_offline $(get server-overhead server_vs_offline)"
echo "ttft_p50_with_over_without $(get prefix-cache ttft_p50_with_over_without)"
echo "bandwidth_fraction $(get attention bandwidth_fraction) paged_vs_contiguous $(get attention paged_vs_contiguous)"
echo "decode tok/s b1 $(get decode decode_tok_s_b1) b32 $(get decode decode_tok_s_b32)"
if [ -n "$llama" ]; then
  eval "$llama"
  echo "llama.cpp S_TG b1 $b1 b32 $b32"
  awk -v k1="$(get decode decode_tok_s_b1)" -v k32="$(get decode decode_tok_s_b32)" -v l1="$b1" -v l32="$b32" \
    'BEGIN { printf "vs_llamacpp_b1 %.2f vs_llamacpp_b32 %.2f\n", k1 / l1, k32 / l32 }'
fi
grep -E "^server after run|ttft" "$out/scale.txt" | head -5
