#!/usr/bin/env bash
# SCIM benchmark for the targets of issue 2 (not a timed test; it prints its figures):
#   GET /Users?filter=userName eq "…" at 100,000 users: >= 15,000 req/s with p99 < 10 ms
#   POST /Users: >= 2,000 creates/s
#   resident memory with 100,000 users stored: < 150 MB
#
# Usage: bench/scim.sh [PATH_TO_CIC_BRIDGE]     (default: target/release/cic-bridge; builds nothing)
# Env:   USERS=100000  THREADS=2  CONNS=64  DURATION=20 (s, GET phase)  SEED_TIMEOUT=900 (s)
#        RUST_LOG=warn (passed to the daemon so request logging does not dominate)
# Needs wrk (Debian: apt-get install -y wrk), curl and python3.
#
# It starts `cic-bridge serve --dev` on 127.0.0.1:0 with SQLite in a temp dir, seeds USERS users
# through POST /scim/v2/Users with wrk (unique userNames from a Lua script), measures the filter
# GET with wrk at a fixed duration, reads VmRSS from /proc/PID/status, prints a summary and stops
# the daemon it started, by PID. Every phase is bounded in time.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
BIN="${1:-$ROOT/target/release/cic-bridge}"
[[ "$BIN" == /* ]] || BIN="$PWD/$BIN"
USERS="${USERS:-100000}"
THREADS="${THREADS:-2}"
CONNS="${CONNS:-64}"
DURATION="${DURATION:-20}"
SEED_TIMEOUT="${SEED_TIMEOUT:-900}"
export RUST_LOG="${RUST_LOG:-warn}"

for tool in wrk curl python3; do
    command -v "$tool" >/dev/null || { echo "bench: $tool not found (wrk: apt-get install -y wrk)" >&2; exit 2; }
done
[[ -x "$BIN" ]] || { echo "bench: $BIN is not an executable (cargo build --release first)" >&2; exit 2; }
[[ "$BIN" == *release* ]] || echo "bench: warning: $BIN does not look like a release build" >&2

WORK="$(mktemp -d "${TMPDIR:-/tmp}/cic-bench.XXXXXX")"
DAEMON_PID=""
WRK_PID=""
cleanup() {
    if [[ -n "$WRK_PID" ]] && kill -0 "$WRK_PID" 2>/dev/null; then kill -INT "$WRK_PID" 2>/dev/null || true; fi
    if [[ -n "$DAEMON_PID" ]] && kill -0 "$DAEMON_PID" 2>/dev/null; then
        kill -TERM "$DAEMON_PID" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$DAEMON_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rss_mb() { awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$DAEMON_PID/status"; }
hwm_mb() { awk '/^VmHWM:/ {printf "%.1f", $2 / 1024}' "/proc/$DAEMON_PID/status"; }

# --- start the daemon --------------------------------------------------------------------------
TOKEN="$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
: >"$WORK/daemon.log"
CIC_BRIDGE_DEV_TOKEN="$TOKEN" "$BIN" serve --dev --shadow --listen 127.0.0.1:0 --emulator-listen 127.0.0.1:0 --data-dir "$WORK/data" \
    >"$WORK/daemon.log" 2>&1 &
DAEMON_PID=$!
BASE_URL=""
deadline=$((SECONDS + 30))
until [[ -n "$BASE_URL" ]] && curl -fsS --max-time 2 -o /dev/null "${BASE_URL%%/scim/*}/healthz" 2>/dev/null; do
    if ((SECONDS >= deadline)) || ! kill -0 "$DAEMON_PID" 2>/dev/null; then
        echo "bench: daemon not ready; its output:" >&2
        cat "$WORK/daemon.log" >&2
        exit 1
    fi
    BASE_URL="$(sed -n 's/.*SCIM base URL: *\(http[^ ]*\).*/\1/p' "$WORK/daemon.log" | head -n1 || true)"
    sleep 0.2
done
ORIGIN="${BASE_URL%%/scim/*}"
BASE_PATH="/${BASE_URL#*://*/}"
echo "daemon pid $DAEMON_PID at $BASE_URL, data in $WORK/data, RUST_LOG=$RUST_LOG"
echo "RSS at start: $(rss_mb) MB"

user_count() {
    curl -fsS --max-time 5 -H "Authorization: Bearer $TOKEN" "$BASE_URL/Users?count=0" 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin).get("totalResults", -1))' 2>/dev/null || echo -1
}

# --- phase 1: seed USERS users with POST /Users ------------------------------------------------
# wrk runs for at most SEED_TIMEOUT; each thread stops itself after its share, and this loop ends
# the run (SIGINT to our wrk, by PID) once the daemon counts all the users or wrk's threads are done.
echo
echo "== seeding $USERS users: wrk -t$THREADS -c$CONNS POST /Users (cap ${SEED_TIMEOUT}s)"
wrk -t"$THREADS" -c"$CONNS" -d"${SEED_TIMEOUT}s" --timeout 10s -s "$HERE/create_users.lua" "$ORIGIN" \
    -- "$TOKEN" "$BASE_PATH" 0 "$USERS" "$THREADS" >"$WORK/seed.out" 2>&1 &
WRK_PID=$!
seed_start=$SECONDS
last_report=$SECONDS
last_n=-1
still=0
while kill -0 "$WRK_PID" 2>/dev/null; do
    sleep 1
    n="$(user_count)"
    if ((SECONDS - last_report >= 10)); then
        echo "  $n users after $((SECONDS - seed_start)) s, RSS $(rss_mb) MB"
        last_report=$SECONDS
    fi
    # Done when every user is stored, or when the count has not moved for 5 s (wrk's threads
    # stop after their share; failed creates leave the count short).
    # (-1: the count request itself failed or timed out under load; that is not "still".)
    if [[ "$n" == "$last_n" && "$n" != "-1" ]]; then still=$((still + 1)); else still=0; fi
    last_n="$n"
    if [[ "$n" -ge "$USERS" ]] || ((still >= 5)); then
        sleep 0.5
        kill -INT "$WRK_PID" 2>/dev/null || true
        break
    fi
done
wait "$WRK_PID" 2>/dev/null || true
WRK_PID=""
seed_line="$(grep '^created=' "$WORK/seed.out" || true)"
if [[ -z "$seed_line" ]]; then
    echo "bench: wrk printed no result for the seeding phase:" >&2
    cat "$WORK/seed.out" >&2
    exit 1
fi
echo "  $seed_line"
grep '^create failed' "$WORK/seed.out" | head -n 3 || true
read -r CREATED SEED_FAILED CREATE_RATE CREATE_P99 < <(python3 - "$seed_line" <<'EOF'
import sys
kv = dict(p.split("=") for p in sys.argv[1].split())
c, f = int(kv["created"]), int(kv["failed"])
span = float(kv["last_s"]) - float(kv["first_s"])
print(c, f, f"{c / span:.0f}" if span > 0 else "0", kv["p99_ms"])
EOF
)
STORED="$(user_count)"
echo "  created $CREATED (failed $SEED_FAILED) at $CREATE_RATE creates/s, p99 ${CREATE_P99} ms; the daemon reports $STORED users"
if [[ "$STORED" -lt 1 ]]; then
    echo "bench: no users stored; stopping" >&2
    exit 1
fi
SEEDED="$STORED"
((SEEDED <= USERS)) || SEEDED="$USERS"

sleep 2
RSS_SEEDED="$(rss_mb)"
echo "RSS with $STORED users stored: $RSS_SEEDED MB (peak so far $(hwm_mb) MB)"

# --- phase 2: GET /Users?filter=userName eq "…" --------------------------------------------------
echo
echo "== validating the filter responses (3 s, every body checked for exactly one result)"
timeout 60 wrk -t"$THREADS" -c"$CONNS" -d3s --timeout 5s -s "$HERE/filter_users.lua" "$ORIGIN" \
    -- "$TOKEN" "$BASE_PATH" "$SEEDED" check >"$WORK/check.out" 2>&1 || true
check_line="$(grep '^requests=' "$WORK/check.out" || true)"
echo "  ${check_line:-no result: $(tail -n 5 "$WORK/check.out")}"
grep -i '^unexpected' "$WORK/check.out" | head -n 3 || true

echo
echo "== measuring: wrk -t$THREADS -c$CONNS -d${DURATION}s --latency GET /Users?filter=userName eq \"…\""
timeout $((DURATION + 60)) wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --timeout 5s --latency \
    -s "$HERE/filter_users.lua" "$ORIGIN" -- "$TOKEN" "$BASE_PATH" "$SEEDED" >"$WORK/get.out" 2>&1 || true
sed 's/^/  /' "$WORK/get.out"
get_line="$(grep '^requests=' "$WORK/get.out" || true)"
if [[ -z "$get_line" ]]; then
    echo "bench: wrk printed no result for the GET phase" >&2
    exit 1
fi
read -r GET_RPS GET_P99 GET_ERRORS < <(python3 - "$get_line" <<'EOF'
import sys
kv = dict(p.split("=") for p in sys.argv[1].split())
print(f'{float(kv["rps"]):.0f}', kv["p99_ms"], kv["errors"])
EOF
)
RSS_AFTER="$(rss_mb)"
HWM="$(hwm_mb)"
CHECK_MISMATCHES="$(sed -n 's/.*mismatches=\([0-9]*\).*/\1/p' <<<"$check_line")"

# --- summary -----------------------------------------------------------------------------------
verdict() { if python3 -c "import sys; sys.exit(0 if $1 else 1)"; then echo "meets"; else echo "MISSES"; fi; }
echo
echo "================ cic-bridge SCIM benchmark ================"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); binary: $BIN"
echo "users stored: $STORED (target $USERS); wrk -t$THREADS -c$CONNS"
printf '%-48s %12s   %-22s %s\n' "figure" "measured" "target" "verdict"
printf '%-48s %12s   %-22s %s\n' "GET /Users?filter=userName eq  (req/s)" "$GET_RPS" ">= 15000" "$(verdict "$GET_RPS >= 15000")"
printf '%-48s %12s   %-22s %s\n' "GET /Users?filter=userName eq  (p99 ms)" "$GET_P99" "< 10" "$(verdict "$GET_P99 < 10")"
printf '%-48s %12s   %-22s %s\n' "POST /Users  (creates/s, all $CREATED)" "$CREATE_RATE" ">= 2000" "$(verdict "$CREATE_RATE >= 2000")"
printf '%-48s %12s   %-22s %s\n' "RSS with users stored  (MB, VmRSS)" "$RSS_SEEDED" "< 150" "$(verdict "$RSS_SEEDED < 150")"
printf '%-48s %12s\n' "RSS after the GET phase  (MB)" "$RSS_AFTER"
printf '%-48s %12s\n' "peak RSS  (MB, VmHWM)" "$HWM"
printf '%-48s %12s\n' "create p99 latency (ms)" "$CREATE_P99"
printf '%-48s %12s\n' "failed creates / GET errors / bad GET bodies" "$SEED_FAILED / $GET_ERRORS / ${CHECK_MISMATCHES:-?}"
echo "==========================================================="
