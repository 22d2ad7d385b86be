#!/usr/bin/env bash
# Real-process crash test (not part of `cargo test`): runs `defender-bridge pull` against a
# separate emulator, SIGKILLs it at random moments N times, then lets a last run finish, and
# counts every record written to stdout across all runs.
#   cargo build --release -p defender-bridge-cli && bash pull/tests/kill9.sh [KILLS] [RECORDS]
set -euo pipefail
B=${B:-${CARGO_TARGET_DIR:-target}/release/defender-bridge}
KILLS=${1:-12}
RECORDS=${2:-3000}
PORT=18601
DIR=$(mktemp -d)
cat > "$DIR/pull.conf" <<CONF
tenant_id = 00000000-0000-4000-8000-00000000e001
client_id = 11111111-0000-4000-8000-00000000e001
client_secret = emulator-secret
login_host = http://127.0.0.1:$PORT
api_host = http://127.0.0.1:$PORT
graph_host = http://127.0.0.1:$PORT
initial_lookback = 30d
poll_interval = 200ms
page_size = 50
batch_max_records = 20
mde_calls_per_minute = 100000
mde_calls_per_hour = 1000000
graph_calls_per_minute = 100000
CONF
SOURCES=alerts,machine_actions,vulnerabilities,graph_alerts,incidents,machines
"$B" emulator --listen 127.0.0.1:$PORT --records "$RECORDS" --seed 3 > "$DIR/emu.out" 2>&1 &
EMU=$!
trap 'kill $EMU 2>/dev/null || true' EXIT
sleep 0.5
for i in $(seq 1 "$KILLS"); do
  "$B" pull --config "$DIR/pull.conf" --source $SOURCES --to raw --state-dir "$DIR/state" > "$DIR/out.$i" 2>/dev/null &
  P=$!
  sleep "0.$((RANDOM % 9 + 1))"
  kill -9 $P
  wait $P 2>/dev/null || true
done
"$B" pull --config "$DIR/pull.conf" --source $SOURCES --to raw --state-dir "$DIR/state" --once > "$DIR/out.final" 2>/dev/null
cat "$DIR"/out.* | python3 -c "
import sys, json, collections
c = collections.Counter()
for line in sys.stdin:
    v = json.loads(line)
    t = v.get('lastUpdateTime') or v.get('lastUpdateDateTimeUtc') or v.get('eventTimestamp') or v.get('lastUpdateDateTime') or ''
    kind = 'm' if 'healthStatus' in v else 'v' if 'cveId' in v else 'a' if 'requestor' in v else 'i' if 'incidentWebUrl' in v and 'alertWebUrl' not in v else 'g' if 'alertWebUrl' in v else 'al'
    c[(kind, str(v.get('id')), t)] += 1
total, unique, expected = sum(c.values()), len(c), 6 * $RECORDS
print(f'kill -9 x$KILLS: written={total} unique={unique} expected={expected} duplicates={total - unique}')
sys.exit(0 if unique == expected else 1)
"
