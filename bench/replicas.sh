#!/usr/bin/env bash
# SCIM throughput of two replicas sharing one PostgreSQL database next to one replica on SQLite
# (issue 7), printed side by side. Not a timed test: it prints its figures and exits 0 whenever
# the benchmark ran (non-zero only if it could not run).
#
# Usage: bench/replicas.sh [PATH_TO_CIC_BRIDGE]   (default: target/release/cic-bridge; builds nothing)
# Env:   USERS=20000  THREADS=2  CONNS=64  DURATION=15 (s, GET phase)  SEED_TIMEOUT=600 (s)
#        RUST_LOG=warn (passed to the daemons)
# Needs wrk (Debian: apt-get install -y wrk), curl, python3 and PostgreSQL's initdb and pg_ctl
# (/usr/lib/postgresql/*/bin; the newest one found is used).
#
# Phase A: `cic-bridge serve --config` with `database.url = "sqlite://…"` (synchronous = full)
#   and one tenant in shadow mode (operations recorded, nothing sent, so only SCIM is measured).
#   Seeds USERS users with wrk -tTHREADS -cCONNS and create_users.lua, then measures
#   GET /Users?filter=userName eq "…" for DURATION with filter_users.lua.
# Phase B: a throwaway PostgreSQL cluster (initdb, run as `postgres` when we are root, on a free
#   port of 127.0.0.1, server defaults: fsync = on, synchronous_commit = on,
#   full_page_writes = on, shared_buffers = 128MB) and two `serve --config` replicas on their own
#   ports with the same database URL, tenant and token. Seeding and reading run two wrk processes
#   at once, one per replica, each with half the threads and connections (THREADS/2, CONNS/2) and,
#   for seeding, its own half of the user names; creates/s is all users created over the span from
#   the first request sent to the last answer of either, and req/s is the sum of the two.
# Every phase is bounded in time; the daemons, wrk and PostgreSQL started here are stopped by PID
# (PostgreSQL with pg_ctl) on exit, and the temp directories removed.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
BIN="${1:-$ROOT/target/release/cic-bridge}"
[[ "$BIN" == /* ]] || BIN="$PWD/$BIN"
USERS="${USERS:-20000}"
THREADS="${THREADS:-2}"
CONNS="${CONNS:-64}"
DURATION="${DURATION:-15}"
SEED_TIMEOUT="${SEED_TIMEOUT:-600}"
export RUST_LOG="${RUST_LOG:-warn}"

for tool in wrk curl python3; do
    command -v "$tool" >/dev/null || { echo "bench: $tool not found (wrk: apt-get install -y wrk)" >&2; exit 2; }
done
[[ -x "$BIN" ]] || { echo "bench: $BIN is not an executable (cargo build --release first)" >&2; exit 2; }
[[ "$BIN" == *release* ]] || echo "bench: warning: $BIN does not look like a release build" >&2
# shellcheck disable=SC2012 # version directories, sorted by version
PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
[[ -n "$PG_BIN" && -x "$PG_BIN/initdb" && -x "$PG_BIN/pg_ctl" ]] ||
    { echo "bench: PostgreSQL's initdb/pg_ctl not found under /usr/lib/postgresql/*/bin" >&2; exit 2; }
((USERS >= 2 && THREADS >= 2 && CONNS >= 2)) || { echo "bench: USERS, THREADS and CONNS must be >= 2" >&2; exit 2; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/cic-bench-replicas.XXXXXX")"
PG_DIR=""
DAEMON_PIDS=()
WRK_PIDS=()

pg_as() { "$@"; }
if [[ "$(id -u)" == 0 ]]; then
    PG_USER=postgres
    id "$PG_USER" >/dev/null 2>&1 || PG_USER=nobody
    pg_as() { runuser -u "$PG_USER" -- "$@"; }
fi

stop_wrks() {
    local p
    for p in "${WRK_PIDS[@]}"; do
        if kill -0 "$p" 2>/dev/null; then kill -INT "$p" 2>/dev/null || true; fi
    done
    for p in "${WRK_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    WRK_PIDS=()
}
stop_daemons() {
    local p i
    for p in "${DAEMON_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${DAEMON_PIDS[@]}"; do
        for ((i = 0; i < 100; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    DAEMON_PIDS=()
}
cleanup() {
    stop_wrks
    stop_daemons
    if [[ -n "$PG_DIR" ]]; then
        pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -t 30 stop >/dev/null 2>&1 ||
            pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
        rm -rf "$PG_DIR"
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
kv() { # kv LINE KEY: the value of KEY=… in a result line of the Lua scripts
    sed -n "s/.*\\b$2=\\([^ ]*\\).*/\\1/p" <<<"$1"
}

TOKEN="$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
export CIC_BRIDGE_BENCH_TOKEN="$TOKEN"
BASE_PATH="/scim/v2"

# start_daemon NAME PORT DATABASE_URL: a config file of its own, one shadow tenant, wait for /healthz.
start_daemon() {
    local name="$1" port="$2" url="$3" deadline pid
    cat >"$WORK/$name.toml" <<EOF
[server]
listen = "127.0.0.1:$port"

[database]
url = "$url"

[log]
level = "warn"

[cic]
# Shadow mode sends nothing; an unreachable endpoint makes sure of it.
endpoint = "http://127.0.0.1:9"

[[tenants]]
name = "bench"
zone_id = "z-abcdef123456"
token_env = "CIC_BRIDGE_BENCH_TOKEN"
mode = "shadow"
EOF
    "$BIN" serve --config "$WORK/$name.toml" >"$WORK/$name.log" 2>&1 &
    pid=$!
    DAEMON_PIDS+=("$pid")
    deadline=$((SECONDS + 60))
    until curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null; do
        if ((SECONDS >= deadline)) || ! kill -0 "$pid" 2>/dev/null; then
            echo "bench: $name not ready on 127.0.0.1:$port; its output:" >&2
            cat "$WORK/$name.log" >&2
            exit 1
        fi
        sleep 0.2
    done
    echo "  $name: pid $pid on 127.0.0.1:$port ($url)"
}

user_count() { # user_count ORIGIN
    curl -fsS --max-time 5 -H "Authorization: Bearer $TOKEN" "$1$BASE_PATH/Users?count=0" 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin).get("totalResults", -1))' 2>/dev/null || echo -1
}

# seed TAG ORIGIN...: USERS users, split evenly over the origins, one wrk per origin, all at once.
# Sets CREATED FAILED CREATE_RATE CREATE_P99 ("a / b" for several) STORED.
seed() {
    local tag="$1"
    shift
    local n=$# t=$((THREADS / $#)) c=$((CONNS / $#)) k=0 origin first last
    echo "== $tag: seeding $USERS users: $n x wrk -t$t -c$c POST /Users (cap ${SEED_TIMEOUT}s)"
    for origin in "$@"; do
        first=$((USERS * k / n))
        last=$((USERS * (k + 1) / n))
        wrk -t"$t" -c"$c" -d"${SEED_TIMEOUT}s" --timeout 10s -s "$HERE/create_users.lua" "$origin" \
            -- "$TOKEN" "$BASE_PATH" "$first" "$last" "$t" >"$WORK/seed-$tag-$k.out" 2>&1 &
        WRK_PIDS+=($!)
        k=$((k + 1))
    done
    # wrk sleeps its whole -d; each thread stops itself after its share, and this loop ends the
    # runs (SIGINT by PID) once all users are stored or the count has not moved for 5 s.
    local start=$SECONDS last_report=$SECONDS last_n=-1 still=0 cnt alive p
    while :; do
        alive=0
        for p in "${WRK_PIDS[@]}"; do if kill -0 "$p" 2>/dev/null; then alive=1; fi; done
        ((alive)) || break
        sleep 1
        cnt="$(user_count "$1")"
        if ((SECONDS - last_report >= 10)); then
            echo "  $cnt users after $((SECONDS - start)) s"
            last_report=$SECONDS
        fi
        if [[ "$cnt" == "$last_n" && "$cnt" != "-1" ]]; then still=$((still + 1)); else still=0; fi
        last_n="$cnt"
        if [[ "$cnt" -ge "$USERS" ]] || ((still >= 5)); then
            sleep 0.5
            break
        fi
    done
    stop_wrks
    local lines=()
    for ((k = 0; k < n; k++)); do
        local line
        line="$(grep '^created=' "$WORK/seed-$tag-$k.out" || true)"
        if [[ -z "$line" ]]; then
            echo "bench: wrk printed no result for seeding ($tag, wrk $k):" >&2
            cat "$WORK/seed-$tag-$k.out" >&2
            exit 1
        fi
        echo "  wrk $k: $line"
        grep '^create failed' "$WORK/seed-$tag-$k.out" | head -n 3 || true
        lines+=("$line")
    done
    read -r CREATED FAILED CREATE_RATE CREATE_P99 < <(python3 - "${lines[@]}" <<'EOF'
import sys
rows = [dict(p.split("=") for p in line.split()) for line in sys.argv[1:]]
c = sum(int(r["created"]) for r in rows)
f = sum(int(r["failed"]) for r in rows)
t0 = min(float(r["first_s"]) for r in rows if float(r["first_s"]) > 0) if any(float(r["first_s"]) > 0 for r in rows) else 0
t1 = max(float(r["last_s"]) for r in rows)
span = t1 - t0
print(c, f, f"{c / span:.0f}" if span > 0 else "0", "/".join(f'{float(r["p99_ms"]):.1f}' for r in rows))
EOF
    )
    STORED="$(user_count "$1")"
    echo "  created $CREATED (failed $FAILED) at $CREATE_RATE creates/s, p99 $CREATE_P99 ms; stored: $STORED"
    [[ "$STORED" -ge 1 ]] || { echo "bench: no users stored ($tag)" >&2; exit 1; }
}

# measure TAG ORIGIN...: a 3 s check that every filter answers one user, then DURATION seconds of
# GET /Users?filter=userName eq "…", one wrk per origin, all at once.
# Sets GET_RPS (sum) GET_P99 ("a / b" for several) GET_ERRORS MISMATCHES.
measure() {
    local tag="$1"
    shift
    local n=$# t=$((THREADS / $#)) c=$((CONNS / $#)) k origin seeded=$STORED
    ((seeded <= USERS)) || seeded=$USERS
    k=0
    for origin in "$@"; do
        timeout 60 wrk -t"$t" -c"$c" -d3s --timeout 5s -s "$HERE/filter_users.lua" "$origin" \
            -- "$TOKEN" "$BASE_PATH" "$seeded" check >"$WORK/check-$tag-$k.out" 2>&1 &
        WRK_PIDS+=($!)
        k=$((k + 1))
    done
    for k in "${WRK_PIDS[@]}"; do wait "$k" 2>/dev/null || true; done
    WRK_PIDS=()
    MISMATCHES=0
    for ((k = 0; k < n; k++)); do
        local line m
        line="$(grep '^requests=' "$WORK/check-$tag-$k.out" || true)"
        m="$(kv "$line" mismatches)"
        MISMATCHES=$((MISMATCHES + ${m:-999999}))
        grep -i '^unexpected' "$WORK/check-$tag-$k.out" | head -n 3 || true
    done
    echo "== $tag: GET /Users?filter=userName eq \"…\": $n x wrk -t$t -c$c -d${DURATION}s --latency (bad bodies in the 3 s check: $MISMATCHES)"
    k=0
    for origin in "$@"; do
        timeout $((DURATION + 60)) wrk -t"$t" -c"$c" -d"${DURATION}s" --timeout 5s --latency \
            -s "$HERE/filter_users.lua" "$origin" -- "$TOKEN" "$BASE_PATH" "$seeded" >"$WORK/get-$tag-$k.out" 2>&1 &
        WRK_PIDS+=($!)
        k=$((k + 1))
    done
    for k in "${WRK_PIDS[@]}"; do wait "$k" 2>/dev/null || true; done
    WRK_PIDS=()
    local lines=()
    for ((k = 0; k < n; k++)); do
        local line
        line="$(grep '^requests=' "$WORK/get-$tag-$k.out" || true)"
        if [[ -z "$line" ]]; then
            echo "bench: wrk printed no result for the GET phase ($tag, wrk $k):" >&2
            cat "$WORK/get-$tag-$k.out" >&2
            exit 1
        fi
        echo "  wrk $k: $line"
        lines+=("$line")
    done
    read -r GET_RPS GET_P99 GET_ERRORS < <(python3 - "${lines[@]}" <<'EOF'
import sys
rows = [dict(p.split("=") for p in line.split()) for line in sys.argv[1:]]
print(f'{sum(float(r["rps"]) for r in rows):.0f}', "/".join(f'{float(r["p99_ms"]):.1f}' for r in rows),
      sum(int(r["errors"]) for r in rows))
EOF
    )
    echo "  $GET_RPS req/s in all, p99 $GET_P99 ms, errors $GET_ERRORS"
}

echo "cic-bridge SCIM: SQLite x1 vs PostgreSQL x2; $BIN; USERS=$USERS THREADS=$THREADS CONNS=$CONNS DURATION=${DURATION}s"

# --- phase A: one replica on SQLite ------------------------------------------------------------
echo
echo "== phase A: one replica on SQLite"
PORT_A="$(free_port)"
start_daemon sqlite "$PORT_A" "sqlite://$WORK/bench.db"
seed sqlite "http://127.0.0.1:$PORT_A"
A_CREATED=$CREATED A_FAILED=$FAILED A_RATE=$CREATE_RATE A_CP99=$CREATE_P99 A_STORED=$STORED
measure sqlite "http://127.0.0.1:$PORT_A"
A_RPS=$GET_RPS A_P99=$GET_P99 A_ERR=$GET_ERRORS A_MIS=$MISMATCHES
stop_daemons

# --- phase B: two replicas on one PostgreSQL database ------------------------------------------
echo
echo "== phase B: a throwaway PostgreSQL ($PG_BIN) and two replicas"
PG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/cic-bench-pg.XXXXXX")"
[[ "$(id -u)" != 0 ]] || chown "$PG_USER" "$PG_DIR"
PG_PORT="$(free_port)"
pg_as timeout 120 "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 --no-locale \
    >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; exit 1; }
pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
    -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1" start >/dev/null ||
    { cat "$PG_DIR/server.log" >&2; exit 1; }
PG_SETTINGS="$(pg_as "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -At -c \
    "select string_agg(name || '=' || current_setting(name), ' ' order by name) from pg_settings
     where name in ('fsync','synchronous_commit','full_page_writes','shared_buffers','wal_level','max_connections')" \
    2>/dev/null || echo "?")"
echo "  PostgreSQL on 127.0.0.1:$PG_PORT: $PG_SETTINGS"
PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
PORT_B1="$(free_port)"
start_daemon pg-replica-1 "$PORT_B1" "$PG_URL"
PORT_B2="$(free_port)"
start_daemon pg-replica-2 "$PORT_B2" "$PG_URL"
seed postgres "http://127.0.0.1:$PORT_B1" "http://127.0.0.1:$PORT_B2"
B_CREATED=$CREATED B_FAILED=$FAILED B_RATE=$CREATE_RATE B_CP99=$CREATE_P99 B_STORED=$STORED
measure postgres "http://127.0.0.1:$PORT_B1" "http://127.0.0.1:$PORT_B2"
B_RPS=$GET_RPS B_P99=$GET_P99 B_ERR=$GET_ERRORS B_MIS=$MISMATCHES

# --- summary -----------------------------------------------------------------------------------
echo
echo "================ cic-bridge SCIM: SQLite x1 vs PostgreSQL x2 ================"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load and daemons share them"
echo "binary: $BIN; USERS=$USERS; wrk -t$THREADS -c$CONNS in all (PostgreSQL: half to each replica); GET ${DURATION}s"
echo "SQLite: synchronous = full; PostgreSQL: $PG_SETTINGS"
row() { printf '%-44s %16s %22s\n' "$@"; }
row "figure" "SQLite x1" "PostgreSQL x2"
row "POST /Users  (creates/s)" "$A_RATE" "$B_RATE"
row "POST /Users  (p99 ms; per replica)" "$A_CP99" "$B_CP99"
row "GET /Users?filter=userName eq  (req/s)" "$A_RPS" "$B_RPS"
row "GET /Users?filter=userName eq  (p99 ms)" "$A_P99" "$B_P99"
row "users created / stored" "$A_CREATED / $A_STORED" "$B_CREATED / $B_STORED"
row "failed creates / GET errors / bad bodies" "$A_FAILED / $A_ERR / $A_MIS" "$B_FAILED / $B_ERR / $B_MIS"
echo "============================================================================="
