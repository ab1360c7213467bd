#!/usr/bin/env bash
# Installs every Debian 12 package kvserve's build, tests and tools need, then the npm package the
# tokenizer tests read (node-llama-cpp, pinned: llama.cpp's vocabulary test vectors). Idempotent:
# packages already present are skipped, apt is not touched at all when nothing is missing, and
# npm is not asked when the extracted files are there. KVSERVE_INSTALL_TEST_DATA=0 skips npm and
# the test data (deploy/docker builds the binaries only).
set -euo pipefail
TEST_DATA=${KVSERVE_INSTALL_TEST_DATA:-1}

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libdnnl-dev ocl-icd-opencl-dev opencl-headers  # dnnl-config.cmake needs OpenCL
  libgtest-dev libgmock-dev libbenchmark-dev
  prometheus-cpp-dev nlohmann-json3-dev libpcre2-dev
  libevent-dev  # server/openai: the OpenAI-compatible HTTP front end (evhttp, its TLS by libevent_openssl)
  curl  # tests/integration: the HTTP front end driven by a client nobody here wrote
  libssl-dev  # TLS file checks, token digests
  python3 python3-grpcio python3-numpy python3-protobuf python3-yaml
  python3-jinja2  # tests/chat: the reference renderer chat templates are compared against
  clang libclang-rt-14-dev libomp-dev openssl nginx-full  # libomp-dev: OpenMP for clang (fuzz build)
  clang-format  # deploy/test.sh checks the tree's formatting (.clang-format)
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# npm fetches node-llama-cpp below. Any npm will do (e.g. NodeSource's nodejs, which bundles it
# and conflicts with Debian's npm package), so Debian's is installed only when there is none.
if [ "$TEST_DATA" != 0 ] && ! command -v npm >/dev/null; then missing+=(nodejs npm); fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
else
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# llama.cpp's tokenizer test vectors (models/ggml-vocab-*.gguf with .inp/.out) and its GGUF reader
# (gguf-py), for tests/tokenizer/: npm's node-llama-cpp ships llama.cpp's source as a git bundle.
# Only those two folders are kept, in KVSERVE_LLAMACPP_VOCAB_DIR (the default is what
# tests/tokenizer/CMakeLists.txt looks in); a stamp file names the version and commit.
NLC_VERSION=3.22.1
VOCAB_DIR=${KVSERVE_LLAMACPP_VOCAB_DIR:-$HOME/.cache/kvserve/llamacpp-vocab}
STAMP="$VOCAB_DIR/node-llama-cpp-$NLC_VERSION.stamp"
if [ "$TEST_DATA" = 0 ]; then
  echo "install-deps: KVSERVE_INSTALL_TEST_DATA=0: not fetching llama.cpp's vocabularies"
elif [ -f "$STAMP" ]; then
  echo "install-deps: llama.cpp vocabularies present ($(cat "$STAMP"))"
else
  echo "install-deps: fetching node-llama-cpp@$NLC_VERSION (llama.cpp's vocabularies) into $VOCAB_DIR"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "node-llama-cpp@$NLC_VERSION" >/dev/null)
  tar xzf "$tmp/node-llama-cpp-$NLC_VERSION.tgz" -C "$tmp" package/llama/gitRelease.bundle
  git clone -q --bare "$tmp/package/llama/gitRelease.bundle" "$tmp/llama.git"
  commit=$(git --git-dir="$tmp/llama.git" rev-parse HEAD)
  rm -rf "$VOCAB_DIR"
  mkdir -p "$VOCAB_DIR"
  git --git-dir="$tmp/llama.git" archive HEAD -- LICENSE gguf-py 'models/ggml-vocab-*' |
    tar x -C "$VOCAB_DIR"
  rm -rf "$tmp"
  echo "node-llama-cpp@$NLC_VERSION llama.cpp $commit" >"$STAMP"
  echo "install-deps: llama.cpp $commit: $(ls "$VOCAB_DIR"/models | wc -l) vocabulary files"
fi

# The official `openai` client (npm, pinned) that tests/integration drives the HTTP front end with,
# in KVSERVE_NODE_OPENAI_DIR (the default is what tests/integration/CMakeLists.txt looks in).
OPENAI_VERSION=4.95.0
OPENAI_DIR=${KVSERVE_NODE_OPENAI_DIR:-$HOME/.cache/kvserve/node-openai}
if [ "$TEST_DATA" = 0 ]; then
  echo "install-deps: KVSERVE_INSTALL_TEST_DATA=0: not fetching the openai npm client"
elif [ -f "$OPENAI_DIR/node_modules/openai/package.json" ] &&
  grep -q "\"version\": \"$OPENAI_VERSION\"" "$OPENAI_DIR/node_modules/openai/package.json"; then
  echo "install-deps: openai@$OPENAI_VERSION (npm) present"
else
  echo "install-deps: fetching openai@$OPENAI_VERSION (npm) into $OPENAI_DIR"
  mkdir -p "$OPENAI_DIR"
  npm install --silent --no-audit --no-fund --prefix "$OPENAI_DIR" "openai@$OPENAI_VERSION"
fi
