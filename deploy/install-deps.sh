#!/usr/bin/env bash
# Installs every Debian 12 package kvserve's build, tests and tools need. Idempotent: packages
# already present are skipped, and apt is not touched at all when nothing is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libdnnl-dev ocl-icd-opencl-dev opencl-headers  # dnnl-config.cmake needs OpenCL
  libgtest-dev libgmock-dev libbenchmark-dev
  prometheus-cpp-dev nlohmann-json3-dev libpcre2-dev
  libssl-dev  # TLS file checks, token digests
  python3 python3-grpcio python3-numpy python3-protobuf python3-yaml
  clang libclang-rt-14-dev libomp-dev openssl nginx-full  # libomp-dev: OpenMP for clang (fuzz build)
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
