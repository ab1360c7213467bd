#!/usr/bin/env bash
# Installs what is missing, builds, and runs the kvserve daemon on the embedded `tiny` model.
# This is the README's first command. Extra arguments go to kvserve (e.g. --port 0 --port_file F).
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target kvserve kvctl
echo "run.sh: starting $BUILD_DIR/server/kvserve $*" >&2
exec "$BUILD_DIR/server/kvserve" "$@"
