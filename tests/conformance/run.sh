#!/usr/bin/env bash
# Runs the vendors' SCIM conformance suites against `cic-bridge serve --dev`:
#   1. okta       Okta's "SCIM 2.0 SPEC Test" (Runscope JSON) via okta_runner.py
#   2. microsoft  Microsoft's SCIMReferenceCode Postman collection via newman (microsoft_runner.py)
#   3. scim2      python-scim's scim2-tester via scim2_check.py
#
# Usage: tests/conformance/run.sh [PATH_TO_CIC_BRIDGE]    (default: target/debug/cic-bridge)
# Env:   SUITES="okta microsoft scim2"  subset to run
#        OKTA_PAUSE_SCALE=0.1           scale of the Okta suite's 5-10 s pauses (1 = as on Runscope)
#
# Builds nothing. Each suite gets its own daemon on 127.0.0.1:0 with a fresh SQLite data directory
# (Microsoft's collection counts users, so it needs an empty store). Tooling is installed on
# first use and cached under target/: a Python venv from requirements.txt and newman from
# package-lock.json (`npm ci`), each redone only when its lock file changes.
# Every step is bounded by `timeout`; the daemons are killed by PID on exit.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BIN="${1:-$ROOT/target/debug/cic-bridge}"
[[ "$BIN" == /* ]] || BIN="$PWD/$BIN"
SUITES="${SUITES:-okta microsoft scim2}"
OKTA_PAUSE_SCALE="${OKTA_PAUSE_SCALE:-0.1}"
CACHE="$ROOT/target/conformance"
VENV="$ROOT/target/conformance-venv"
NODE_DIR="$CACHE/node"
PYTHON="${PYTHON:-python3}"

log() { printf '\n=== %s\n' "$*"; }

if [[ ! -x "$BIN" ]]; then
    echo "run.sh: $BIN is not an executable (build it first: cargo build)" >&2
    exit 2
fi
mkdir -p "$CACHE"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/cic-conformance.XXXXXX")"
DAEMON_PID=""

stop_daemon() {
    if [[ -n "$DAEMON_PID" ]] && kill -0 "$DAEMON_PID" 2>/dev/null; then
        kill -TERM "$DAEMON_PID" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            kill -0 "$DAEMON_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$DAEMON_PID" 2>/dev/null || true
        wait "$DAEMON_PID" 2>/dev/null || true
    fi
    DAEMON_PID=""
}
cleanup() {
    stop_daemon
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- tooling -----------------------------------------------------------------------------------
stamp_of() { sha256sum "$@" | sha256sum | cut -c1-64; }

setup_venv() {
    local want
    want="$(stamp_of "$HERE/requirements.txt")"
    if [[ -x "$VENV/bin/python" && "$(cat "$VENV/.stamp" 2>/dev/null)" == "$want" ]]; then
        return
    fi
    log "creating $VENV from requirements.txt"
    rm -rf "$VENV"
    timeout 120 "$PYTHON" -m venv "$VENV"
    timeout 600 "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$HERE/requirements.txt"
    echo "$want" >"$VENV/.stamp"
}

setup_newman() {
    local want
    want="$(stamp_of "$HERE/package.json" "$HERE/package-lock.json")"
    if [[ -x "$NODE_DIR/node_modules/.bin/newman" && "$(cat "$NODE_DIR/.stamp" 2>/dev/null)" == "$want" ]]; then
        return
    fi
    log "installing newman into $NODE_DIR (npm ci)"
    rm -rf "$NODE_DIR"
    mkdir -p "$NODE_DIR"
    cp "$HERE/package.json" "$HERE/package-lock.json" "$NODE_DIR/"
    (cd "$NODE_DIR" && timeout 600 npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" >"$NODE_DIR/.stamp"
}

# --- daemon ------------------------------------------------------------------------------------
BASE_URL=""
TOKEN=""
start_daemon() {
    local name="$1" dir="$WORK/$1" extra=()
    # Microsoft's collection gives several users one email (anna33@gmail.com, testing@bob2.com),
    # which an Identity Center zone refuses (InvalidParameter.EmailAlreadyExists, a documented
    # uniqueness rule): that suite checks the SCIM layer with the dev tenant in shadow mode
    # (operations recorded, not sent). Okta's and scim2-tester run with provisioning live.
    [[ "$name" == microsoft ]] && extra=(--shadow)
    mkdir -p "$dir/data"
    TOKEN="$("$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(32))')"
    : >"$dir/daemon.log"
    CIC_BRIDGE_DEV_TOKEN="$TOKEN" "$BIN" serve --dev --listen 127.0.0.1:0 --emulator-listen 127.0.0.1:0 --data-dir "$dir/data" "${extra[@]}" \
        >"$dir/daemon.log" 2>&1 &
    DAEMON_PID=$!
    BASE_URL=""
    local deadline=$((SECONDS + 30))
    while ((SECONDS < deadline)); do
        if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
            echo "daemon exited during start-up; its output:" >&2
            cat "$dir/daemon.log" >&2
            DAEMON_PID=""
            return 1
        fi
        if [[ -z "$BASE_URL" ]]; then
            BASE_URL="$(sed -n 's/.*SCIM base URL: *\(http[^ ]*\).*/\1/p' "$dir/daemon.log" | head -n1 || true)"
        fi
        if [[ -n "$BASE_URL" ]]; then
            local origin="${BASE_URL%%/scim/*}"
            if curl -fsS --max-time 2 -o /dev/null "$origin/healthz" 2>/dev/null; then
                local printed
                printed="$(sed -n 's/.*SCIM token: *\([^ ]*\).*/\1/p' "$dir/daemon.log" | head -n1 || true)"
                if [[ -n "$printed" && "$printed" != "$TOKEN" ]]; then
                    echo "daemon printed a token other than CIC_BRIDGE_DEV_TOKEN" >&2
                    return 1
                fi
                echo "daemon pid $DAEMON_PID serving $BASE_URL (log: $dir/daemon.log)"
                return 0
            fi
        fi
        sleep 0.2
    done
    echo "daemon not ready within 30 s; its output:" >&2
    cat "$dir/daemon.log" >&2
    return 1
}

# --- suites ------------------------------------------------------------------------------------
run_suite() {
    local name="$1"
    case "$name" in
        okta)
            timeout 300 "$PYTHON" "$HERE/okta_runner.py" --base-url "$BASE_URL" --token="$TOKEN" \
                --seed-user --pause-scale "$OKTA_PAUSE_SCALE"
            ;;
        microsoft)
            timeout 400 "$PYTHON" "$HERE/microsoft_runner.py" --base-url "$BASE_URL" --token="$TOKEN" \
                --newman "$NODE_DIR/node_modules/.bin/newman" --report-dir "$CACHE/microsoft" --timeout 300
            ;;
        scim2)
            timeout 600 "$VENV/bin/python" "$HERE/scim2_check.py" --base-url "$BASE_URL" --token="$TOKEN"
            ;;
        *)
            echo "unknown suite $name" >&2
            return 2
            ;;
    esac
}

for s in $SUITES; do
    case "$s" in
        microsoft) setup_newman ;;
        scim2) setup_venv ;;
    esac
done

passed=0
failed=0
failed_names=()
for s in $SUITES; do
    log "suite $s against $BIN"
    if start_daemon "$s" && run_suite "$s"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        failed_names+=("$s")
        if [[ -f "$WORK/$s/daemon.log" ]]; then
            echo "--- last lines of the daemon log ($s)"
            tail -n 12 "$WORK/$s/daemon.log" | sed 's/\x1b\[[0-9;]*m//g'
        fi
    fi
    stop_daemon
done

log "conformance summary"
[[ ${#failed_names[@]} -eq 0 ]] || echo "failed suites: ${failed_names[*]}"
echo "conformance suites: $passed passed, $failed failed"
((failed == 0))
