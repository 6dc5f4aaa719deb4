#!/usr/bin/env bash
# CPU the validators of a local testnet use at a given load, in cores (node processes only: the
# launcher, relay and load generator are not counted).
#
#   benches/scripts/node-cpu.sh [RUNNET_BINARY] [LOAD_TX_PER_S] [SECONDS]
#   STEADY=1 benches/scripts/node-cpu.sh ...   # the workload in 20 ms ticks (`testnet up --steady`)
#
# Starts `runnet testnet up --validators 4 --load LOAD --duration SECONDS` with transfers only,
# waits a third of the run (and the set-up) for the network to settle, then reads utime + stime
# of every `runnet start` process of that network from /proc, again half a run later, and prints
# `cores=C` (CPU seconds over wall seconds, summed over the four nodes) with the summary's
# committed tx/s and latency. Linux only (reads /proc).
set -euo pipefail
bin=${1:-target/release/runnet}
load=${2:-1000}
secs=${3:-45}
port=$((28000 + RANDOM % 2000 * 2))
steady=()
[ -n "${STEADY:-}" ] && steady=(--steady)
out=$(mktemp)
keep=$(mktemp -d)
rmdir "$keep"
"$bin" testnet up --validators 4 --load "$load" --duration "$secs" --mix transfer=100 \
    --base-port "$port" --keep "$keep" "${steady[@]}" --json >"$out" 2>/dev/null &
up=$!
hz=$(getconf CLK_TCK)
ticks() {
    local sum=0
    for pid in $(pgrep -f -- "start --home $keep/" || true); do
        # Fields 14 and 15 of /proc/PID/stat, after the command name in parentheses.
        if stat=$(cat "/proc/$pid/stat" 2>/dev/null); then
            set -- ${stat##*) }
            sum=$((sum + ${12} + ${13}))
        fi
    done
    echo "$sum"
}
settle=$((secs / 3 + 5))
sleep "$settle"
t0=$(date +%s.%N); c0=$(ticks)
sleep $((secs / 2))
t1=$(date +%s.%N); c1=$(ticks)
wait "$up" || true
summary=$(tail -n 1 "$out")
rm -rf "$out" "$keep"
python3 - "$c0" "$c1" "$t0" "$t1" "$hz" "$summary" <<'PY'
import json, sys
c0, c1, t0, t1, hz = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
s = json.loads(sys.argv[6])
cores = (c1 - c0) / hz / (t1 - t0)
print(f"cores={cores:.3f} tps={s['tps']:.0f} p50_ms={s['latency_ms']['p50']:.0f} p99_ms={s['latency_ms']['p99']:.0f} blocks={s['blocks']} load={s['load']}")
PY
