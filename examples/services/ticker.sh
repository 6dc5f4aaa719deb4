#!/usr/bin/env bash
# ticker: an external runnet service, a clock. Bundle of examples/services/ticker.json.
#
# Usage: ticker.sh [PERIOD]   (seconds, default 10; or TICKER_PERIOD)
#
# It speaks the runner agent's line protocol (docs/runners.md): one JSON object per line on stdin
# for each task call, one per line on stdout for each answer and each event; stderr is logged.
#
#   in:  {"id": 7, "task": "seq_at", "inputs": {"time": 1700000000}}
#   out: {"id": 7, "outputs": {"seq": 170000000}}     the answer to request 7
#        {"id": 7, "error": "<message>"}               or its error
#        {"event": "tick", "data": {"seq": 170000000}} an event, at any time
#
# Every PERIOD seconds it reports the event `tick` with seq = Unix time / PERIOD: every runner of
# the service reports the same data, hence the same event id, so the reports reach the quorum that
# fires processes. The task seq_at names the tick of a given time, deterministically, so verifiers
# re-running it agree with the runner.
#
# The period is for tests and demos: the published digest covers this file, not its arguments,
# and the runners of one service must use the same period or their ticks never meet.
# It ends when stdin closes.

set -u
PERIOD="${1:-${TICKER_PERIOD:-10}}"
if ! [[ $PERIOD =~ ^[1-9][0-9]{0,5}$ ]]; then
  echo "ticker: the period must be a whole number of seconds, 1 to 999999 (got '$PERIOD')" >&2
  exit 2
fi

answer_error() { printf '{"id": %s, "error": "%s"}\n' "$1" "$2"; }

call() {
  local line=$1 id task time
  if [[ $line =~ \"id\"[[:space:]]*:[[:space:]]*([0-9]{1,19})[[:space:]]*[,}] ]]; then
    id=${BASH_REMATCH[1]}
  else
    echo "ticker: ignoring a line without a request id: $line" >&2
    return
  fi
  if ! [[ $line =~ \"task\"[[:space:]]*:[[:space:]]*\"([a-z0-9_]+)\" ]]; then
    answer_error "$id" "no task named"
    return
  fi
  task=${BASH_REMATCH[1]}
  if [[ $task != seq_at ]]; then
    answer_error "$id" "unknown task $task"
    return
  fi
  # At most 18 digits: the shell's integers are 64-bit, like the record's int.
  if ! [[ $line =~ \"time\"[[:space:]]*:[[:space:]]*([0-9]{1,18})[[:space:]]*[,}] ]]; then
    answer_error "$id" "inputs.time must be an int from 0 to 999999999999999999"
    return
  fi
  time=$((10#${BASH_REMATCH[1]}))
  printf '{"id": %s, "outputs": {"seq": %d}}\n' "$id" $((time / PERIOD))
}

last=-1
while true; do
  now=$(date +%s)
  seq=$((now / PERIOD))
  if ((seq != last)); then
    printf '{"event": "tick", "data": {"seq": %d}}\n' "$seq"
    last=$seq
  fi
  # Wait for a call until the next tick is due.
  wait=$(((seq + 1) * PERIOD - now))
  if IFS= read -r -t "$wait" line; then
    [[ -n $line ]] && call "$line"
  elif (($? <= 128)); then
    exit 0 # stdin closed: the agent is gone
  fi
done
