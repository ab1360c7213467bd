#!/bin/bash
# kvserve vs llama.cpp on a SmolLM2-360M-shaped checkpoint, in one sitting, through the peer anchor
# ../shared/anchors/realsize/run.sh (it makes the checkpoints and GGUFs, checks that every engine
# gives the NumPy reference's greedy tokens, times llama-batched-bench and kvserve through the
# daemon + kvload, and prints one table).
#
#   tests/bench/realsize_vs_llamacpp.sh            # from the project root, after a Release build
#                                                  # and ../shared/anchors/llamacpp/setup.sh
# Env: KVSERVE_FLAGS (default below) are added to every kvserve the anchor starts, through a
# wrapper build dir, so the anchor's own configs run with this project's flags:
#   --weights_dtype auto   a bf16 checkpoint stays bf16 in memory (HalfLinear); the anchor's
#                          --matmul_dtype bf16 then does not apply
#   --kv_cache_bytes 419430400   the KV cache llama.cpp's run holds (16 × 320 tokens, f16 there,
#                          f32 here: 2 × its 210 MB), so peak RSS compares like for like
# Other env (CONFIGS, NPL, CONC, ...) passes through to run.sh; default CONFIGS here:
# "llama-f16 kvserve-bf16 llama-bf16", the 16-bit comparison of issue 18.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
anchor=${REALSIZE_ANCHOR:-$root/../shared/anchors/realsize}
build=${KVSERVE_BUILD:-$root/build}
flags=${KVSERVE_FLAGS:---weights_dtype auto --kv_cache_bytes 419430400}
wrap=$(mktemp -d)
trap 'rm -rf "$wrap"' EXIT
mkdir -p "$wrap/server" "$wrap/clients/kvload"
cat > "$wrap/server/kvserve" <<WRAP
#!/bin/bash
exec "$build/server/kvserve" "\$@" $flags
WRAP
chmod +x "$wrap/server/kvserve"
ln -s "$build/clients/kvload/kvload" "$wrap/clients/kvload/kvload"
cd "$root"
CONFIGS=${CONFIGS:-llama-f16 kvserve-bf16 llama-bf16} KVSERVE_BUILD="$wrap" bash "$anchor/run.sh"
