#!/usr/bin/env bash
# The full soak test: starts a kvserve daemon on a free port, runs kvsoak against it, stops it.
#
#   tests/soak/run_soak.sh [N=10000] [extra kvsoak flags...]
#
# Environment: BUILD_DIR (default: build), MODEL (default: micro), NUM_PAGES (default: 256, small
# enough that long requests get preempted), CONCURRENCY (default: 128), SEED (default: 1).
# Exit status: kvsoak's (0 = every check passed), or 2 if the daemon did not start or died.
set -euo pipefail

N="${1:-10000}"
shift || true
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
MODEL="${MODEL:-micro}"
NUM_PAGES="${NUM_PAGES:-256}"
CONCURRENCY="${CONCURRENCY:-128}"
SEED="${SEED:-1}"
KVSERVE="$BUILD_DIR/server/kvserve"
KVSOAK="$BUILD_DIR/clients/kvsoak/kvsoak"
for bin in "$KVSERVE" "$KVSOAK"; do
  [[ -x "$bin" ]] || { echo "run_soak.sh: $bin not built (cmake --build $BUILD_DIR --target kvserve kvsoak)" >&2; exit 2; }
done

WORK="$(mktemp -d)"
DAEMON_PID=""
cleanup() {
  if [[ -n "$DAEMON_PID" ]] && kill -0 "$DAEMON_PID" 2>/dev/null; then
    kill -TERM "$DAEMON_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$DAEMON_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

"$KVSERVE" --model="$MODEL" --num_pages="$NUM_PAGES" --port=0 --port_file="$WORK/port" \
  --drain_seconds=1 >"$WORK/daemon.out" 2>"$WORK/daemon.err" &
DAEMON_PID=$!
for _ in $(seq 600); do
  [[ -s "$WORK/port" ]] && break
  kill -0 "$DAEMON_PID" 2>/dev/null || { echo "run_soak.sh: daemon exited:" >&2; cat "$WORK/daemon.err" >&2; exit 2; }
  sleep 0.1
done
[[ -s "$WORK/port" ]] || { echo "run_soak.sh: daemon wrote no port file" >&2; exit 2; }
PORT="$(cat "$WORK/port")"
echo "run_soak.sh: kvserve --model=$MODEL --num_pages=$NUM_PAGES on port $PORT (pid $DAEMON_PID)"

status=0
"$KVSOAK" --target="127.0.0.1:$PORT" --requests="$N" --concurrency="$CONCURRENCY" \
  --seed="$SEED" "$@" || status=$?

if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
  echo "run_soak.sh: the daemon died during the run:" >&2
  tail -n 20 "$WORK/daemon.err" >&2
  exit 2
fi
exit "$status"
