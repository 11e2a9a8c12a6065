#!/usr/bin/env bash
# Drives a real `cic-bridge emulator` process through Tencent's own Python SDK, unchanged.
# Creates a venv under the cargo target dir, installs pinned SDK versions, starts the emulator on
# a free loopback port, runs tests/sdk/test_sdk.py, and stops the emulator by its PID.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
VENV=${SDK_VENV:-$TARGET_DIR/sdk-venv}
# The versions the reference's TC3 vectors were produced and checked with.
SDK_COMMON_VERSION=3.1.195
SDK_ORGANIZATION_VERSION=3.1.193

if [[ ! -x "$VENV/bin/python" ]]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "tencentcloud-sdk-python-common==$SDK_COMMON_VERSION" \
    "tencentcloud-sdk-python-organization==$SDK_ORGANIZATION_VERSION"

(cd "$ROOT" && cargo build --quiet --bin cic-bridge)
BIN="$TARGET_DIR/debug/cic-bridge"

PORT=$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
export TENCENTCLOUD_SECRET_ID=AKIDsdktest000000001
export TENCENTCLOUD_SECRET_KEY=sdk-test-secret-key
unset TENCENTCLOUD_SESSION_TOKEN
export EMULATOR_ENDPOINT="127.0.0.1:$PORT"
export EMULATOR_ZONE_ID=z-sdktest00001
export EMULATOR_MEMBER_UIN=100000000001
# A second member account, started in a department of its own with a tag.
export EMULATOR_DEPARTMENT_MEMBER_UIN=100000000002
LOG="$TARGET_DIR/sdk-emulator.log"

"$BIN" emulator --listen "$EMULATOR_ENDPOINT" --zone-id "$EMULATOR_ZONE_ID" \
    --member-uin "$EMULATOR_MEMBER_UIN" --member-uin "$EMULATOR_DEPARTMENT_MEMBER_UIN" \
    --department "Production=$EMULATOR_DEPARTMENT_MEMBER_UIN" \
    --member-tag "$EMULATOR_DEPARTMENT_MEMBER_UIN:env=prod" --task-delay-ms 300 >"$LOG" 2>&1 &
EMULATOR_PID=$!
stop_emulator() {
    kill "$EMULATOR_PID" 2>/dev/null || true
    wait "$EMULATOR_PID" 2>/dev/null || true
}
trap stop_emulator EXIT

for _ in $(seq 1 100); do
    if ! kill -0 "$EMULATOR_PID" 2>/dev/null; then
        echo "emulator exited early:" >&2
        cat "$LOG" >&2
        exit 1
    fi
    if "$VENV/bin/python" -c "import socket, sys; socket.create_connection(('127.0.0.1', $PORT), 0.2)" 2>/dev/null; then
        break
    fi
    sleep 0.1
done

"$VENV/bin/python" "$ROOT/tests/sdk/test_sdk.py"
