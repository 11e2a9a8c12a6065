#!/usr/bin/env python3
"""Start the real daemon the way a deployment starts it, and check that it serves.

Usage:
  smoke.py systemd    DEPLOY_DIR BIN WORKDIR
  smoke.py kubernetes DEPLOY_DIR BIN WORKDIR RENDERED_OVERLAY_YAML

systemd: the unit's ExecStart line, with the unit's Environment= lines and its EnvironmentFile
(the shipped example), the example configuration installed where the unit expects it, the
state directory, cwd /, umask from UMask=, as an unprivileged uid with no capabilities and
no_new_privs (what DynamicUser=, CapabilityBoundingSet= and NoNewPrivileges= give).
kubernetes: the rendered Deployment's command, args and environment, the ConfigMap's files and
the Secret example's values, each volume mounted as a directory, as runAsUser/runAsGroup with
fsGroup, no capabilities and no_new_privs.

Paths are mapped into WORKDIR; two test-only overrides are added and printed: the listen
address becomes a free 127.0.0.1 port, and the Identity Center endpoint the loopback emulator
(`BIN emulator`), so nothing leaves the machine. Then: the probes answer 200, a SCIM list and
a SCIM create with the tenant token succeed, a request without it gets 401, SIGTERM ends the
process with status 0, and the database file is in the state directory (volume).

When strace can trace here, the daemon runs under it and the trace is held against the
sandbox: system calls outside SystemCallFilter=, socket families outside
RestrictAddressFamilies=, writable+executable mappings (MemoryDenyWriteExecute=), writes
outside the writable directories (ProtectSystem=strict / readOnlyRootFilesystem), /proc files
outside the process's own (ProcSubset=pid), /home and /root (ProtectHome=), devices outside
PrivateDevices=.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import yaml

FAILURES: list[str] = []
PASSED = 0


def ok(cond: bool, what: str) -> bool:
    global PASSED
    if cond:
        PASSED += 1
        print(f"  ok   {what}")
    else:
        FAILURES.append(what)
        print(f"  FAIL {what}")
    return cond


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, token: str | None = None, body: dict | None = None) -> tuple[int, str]:
    headers = {"Accept": "application/scim+json"}
    data = None
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/scim+json"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as e:
        return 0, str(e)


def wait_status(url: str, want: int, deadline: float, proc: subprocess.Popen) -> tuple[int, str]:
    status, text = 0, ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return -1, f"process exited with {proc.returncode}"
        status, text = http("GET", url)
        if status == want:
            return status, text
        time.sleep(0.2)
    return status, text


def wait_port(port: int, deadline: float, proc: subprocess.Popen) -> bool:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def tail(path: Path, n: int = 25) -> None:
    if path.exists():
        lines = path.read_text(errors="replace").splitlines()[-n:]
        print(f"  --- last {len(lines)} lines of {path}")
        for line in lines:
            print(f"  | {line}")


def strace_usable() -> bool:
    exe = shutil.which("strace")
    if not exe:
        return False
    try:
        return subprocess.run([exe, "-qq", "-o", "/dev/null", "true"], timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def drop_privs(uid: int, gid: int, groups: list[int]) -> list[str]:
    """setpriv prefix: another uid, no capabilities (bounding set too), no_new_privs."""
    g = ["--groups", ",".join(map(str, groups))] if groups else ["--clear-groups"]
    return [
        "setpriv", f"--reuid={uid}", f"--regid={gid}", *g,
        "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all", "--",
    ]


# ---------------------------------------------------------------------------------------------
# systemd's system call groups, from `systemd-analyze syscall-filter`.

def syscall_groups() -> dict[str, list[str]]:
    out = subprocess.run(["systemd-analyze", "syscall-filter"], capture_output=True, text=True, timeout=30).stdout
    groups: dict[str, list[str]] = {}
    current = None
    for line in out.splitlines():
        if line.startswith("@"):
            current = line.split()[0]
            groups[current] = []
        elif current and line.startswith(" ") and line.strip() and not line.strip().startswith("#"):
            groups[current].append(line.strip())
        elif not line.strip():
            current = None
    return groups


def expand(names: list[str], groups: dict[str, list[str]], seen: set[str] | None = None) -> set[str]:
    seen = seen if seen is not None else set()
    result: set[str] = set()
    for n in names:
        if n.startswith("@"):
            if n in seen:
                continue
            seen.add(n)
            result |= expand(groups.get(n, []), groups, seen)
        else:
            result.add(n)
    return result


def allowed_syscalls(filters: list[str]) -> set[str] | None:
    """Apply SystemCallFilter= lines in order, as systemd does (first allow list, then ~ removals)."""
    if not filters:
        return None
    groups = syscall_groups()
    # systemd.exec(5): permitted whatever the filter says.
    always = {"execve", "exit", "exit_group", "getrlimit", "rt_sigreturn", "sigreturn", "clock_gettime",
              "clock_gettime64", "gettimeofday", "time", "nanosleep", "clock_nanosleep", "clock_nanosleep_time64"}
    allowed: set[str] | None = None
    for f in filters:
        if not f:
            allowed = None
            continue
        deny = f.startswith("~")
        names = f.lstrip("~").split()
        s = expand(names, groups)
        if allowed is None:
            allowed = set() if deny else s
            if deny:
                continue
        elif deny:
            allowed -= s
        else:
            allowed |= s
    return None if allowed is None else allowed | always


SYSCALL_RE = re.compile(r"^(\d+)\s+([a-z_][a-z0-9_]*)\((.*)$")
PATH_ARG_RE = re.compile(r'"((?:[^"\\]|\\.)*)"')
WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC")
# /proc files the daemon may try to read and does without: mimalloc (the allocator) reads
# vm.overcommit_memory at start; under ProcSubset=pid the open fails and it assumes no overcommit.
OPTIONAL_PROC = {"/proc/sys/vm/overcommit_memory"}
PRIVATE_DEVICES = {
    "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty",
    "/dev/ptmx", "/dev/log",
}
PRIVATE_DEVICE_DIRS = ("/dev/pts/", "/dev/shm/", "/dev/mqueue/", "/dev/hugepages/", "/dev/fd/")


def analyse_trace(trace: Path, exe: str, writable: list[str], syscalls: set[str] | None,
                  families: set[str] | None, mdwe: bool, label: str, systemd: bool) -> None:
    """Holds the daemon's part of an strace -f log against the sandbox settings."""
    lines = trace.read_text(errors="replace").splitlines()
    start = next(
        (i for i, l in enumerate(lines) if re.search(r'execve\("' + re.escape(exe) + r'".*= 0$', l)),
        None,
    )
    if not ok(start is not None, f"{label}: the trace shows the daemon's execve"):
        return
    used: set[str] = set()
    bad_writes: set[str] = set()
    bad_proc: set[str] = set()
    bad_home: set[str] = set()
    bad_dev: set[str] = set()
    bad_family: set[str] = set()
    wx: list[str] = []
    for line in lines[start + 1:]:
        m = SYSCALL_RE.match(line)
        if not m:
            continue
        name, rest = m.group(2), m.group(3)
        used.add(name)
        paths = PATH_ARG_RE.findall(rest)
        path = paths[0] if paths else None
        if name in ("socket", "socketpair"):
            fam = rest.split(",", 1)[0].strip()
            if families is not None and fam not in families:
                bad_family.add(fam)
        if name in ("mmap", "mprotect", "pkey_mprotect") and "PROT_WRITE" in rest and "PROT_EXEC" in rest:
            wx.append(line[:160])
        if path is None or not path.startswith("/"):
            continue
        writes = (
            (name in ("open", "openat", "openat2", "creat") and any(f in rest for f in WRITE_FLAGS))
            or name in ("mkdir", "mkdirat", "unlink", "unlinkat", "rename", "renameat", "renameat2",
                        "rmdir", "link", "linkat", "symlink", "symlinkat", "truncate", "chmod",
                        "fchmodat", "chown", "fchownat", "utimensat", "mknod", "mknodat")
        )
        targets = paths if name in ("rename", "renameat", "renameat2", "link", "linkat") else [path]
        for p in targets:
            if not p.startswith("/"):
                continue
            if writes and p not in PRIVATE_DEVICES and not any(p == w or p.startswith(w.rstrip("/") + "/") for w in writable):
                bad_writes.add(f"{name} {p}")
        if path.startswith("/proc/") and path not in OPTIONAL_PROC:
            part = path.split("/")[2]
            if part not in ("self", "thread-self") and not part.isdigit():
                bad_proc.add(path)
        if path == "/home" or path.startswith(("/home/", "/root", "/run/user/")):
            bad_home.add(path)
        if path.startswith("/dev/") and path not in PRIVATE_DEVICES and not path.startswith(PRIVATE_DEVICE_DIRS):
            bad_dev.add(path)
    if syscalls is not None:
        outside = sorted(used - syscalls)
        ok(not outside, f"{label}: the {len(used)} system calls used are all allowed by SystemCallFilter="
           + (f" (not allowed: {', '.join(outside)})" if outside else ""))
    if families is not None:
        ok(not bad_family, f"{label}: socket families within RestrictAddressFamilies="
           + (f" (outside: {', '.join(sorted(bad_family))})" if bad_family else ""))
    if mdwe:
        ok(not wx, f"{label}: no writable+executable mapping (MemoryDenyWriteExecute=)"
           + (f" (e.g. {wx[0]})" if wx else ""))
    ok(not bad_writes, f"{label}: writes only under {', '.join(writable)}"
       + (f" (also: {'; '.join(sorted(bad_writes)[:8])})" if bad_writes else ""))
    if not systemd:
        return
    ok(not bad_proc, f"{label}: /proc only for its own process (ProcSubset=pid)"
       + (f" (also: {', '.join(sorted(bad_proc)[:8])})" if bad_proc else ""))
    ok(not bad_home, f"{label}: nothing under /home, /root, /run/user (ProtectHome=)"
       + (f" (also: {', '.join(sorted(bad_home)[:8])})" if bad_home else ""))
    ok(not bad_dev, f"{label}: only the devices PrivateDevices= leaves"
       + (f" (also: {', '.join(sorted(bad_dev)[:8])})" if bad_dev else ""))


# ---------------------------------------------------------------------------------------------

class Emulator:
    """`BIN emulator` on a loopback port: the Identity Center endpoint for the daemon."""

    def __init__(self, exe: str, work: Path, zone: str, env: dict[str, str]):
        self.port = free_port()
        self.log = work / "emulator.log"
        self.proc = subprocess.Popen(
            [exe, "emulator", "--listen", f"127.0.0.1:{self.port}", "--zone-id", zone],
            env={"PATH": os.environ["PATH"], **env},
            stdout=self.log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        if not ok(wait_port(self.port, time.monotonic() + 20, self.proc), f"emulator listens on 127.0.0.1:{self.port}"):
            tail(self.log)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run_daemon(label: str, argv: list[str], env: dict[str, str], work: Path, port: int,
               probes: list[tuple[str, str]], token: str, umask: int, stop_timeout: float,
               trace: Path | None, notify: socket.socket | None = None) -> int | None:
    """Starts argv, checks the probes and SCIM, stops it with SIGTERM; returns the exit status.

    notify: the bound NOTIFY_SOCKET of a Type=notify unit; the daemon must send READY=1 (and
    be serving when it does) and STOPPING=1 on SIGTERM, as systemd would see it."""
    log = work / f"{label}.log"
    cmd = (["strace", "-f", "-qq", "-s", "256", "-o", str(trace), "--"] if trace else []) + argv
    print(f"  $ {shlex.join(argv)}")
    old = os.umask(umask)
    try:
        proc = subprocess.Popen(cmd, env=env, cwd="/", stdout=log.open("w"), stderr=subprocess.STDOUT,
                                start_new_session=True)
    finally:
        os.umask(old)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        if notify is not None:
            got = notify_messages(notify, "READY=1", deadline, proc)
            if ok("READY=1" in got, f"{label}: sd_notify READY=1 received (Type=notify)"):
                status, _ = http("GET", base + "/readyz")
                ok(status == 200, f"{label}: GET /readyz right after READY=1 -> {status}")
        for kind, path in probes:
            status, text = wait_status(base + path, 200, deadline, proc)
            ok(status == 200, f"{label}: {kind} GET {path} -> {status}" + ("" if status == 200 else f" ({text[:200]})"))
        status, text = http("GET", base + "/scim/v2/Users?count=1", token)
        ok(status == 200, f"{label}: SCIM GET /scim/v2/Users with the tenant token -> {status}")
        user = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "smoke.test@example.com",
            "name": {"givenName": "Smoke", "familyName": "Test"},
            "emails": [{"value": "smoke.test@example.com", "type": "work", "primary": True}],
            "active": True,
        }
        status, text = http("POST", base + "/scim/v2/Users", token, user)
        ok(status == 201, f"{label}: SCIM POST /scim/v2/Users (a write to the database) -> {status}"
           + ("" if status == 201 else f" ({text[:200]})"))
        status, _ = http("GET", base + "/scim/v2/Users", None)
        ok(status == 401, f"{label}: SCIM without a token -> {status}")
    finally:
        target = proc.pid
        if trace:
            # strace's child is the daemon (setpriv execs it): signal the daemon, not strace.
            try:
                kids = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
                target = int(kids[0]) if kids else proc.pid
            except (OSError, ValueError):
                pass
        if proc.poll() is None:
            t0 = time.monotonic()
            os.kill(target, signal.SIGTERM)
            try:
                proc.wait(timeout=stop_timeout)
                ok(proc.returncode == 0, f"{label}: SIGTERM -> exit status {proc.returncode} after {time.monotonic() - t0:.1f} s")
                if notify is not None:
                    got = notify_messages(notify, "STOPPING=1", time.monotonic() + 1, None)
                    ok("STOPPING=1" in got, f"{label}: sd_notify STOPPING=1 received on SIGTERM")
            except subprocess.TimeoutExpired:
                ok(False, f"{label}: still running {stop_timeout:.0f} s after SIGTERM")
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        else:
            ok(False, f"{label}: exited early with status {proc.returncode}")
    if FAILURES:
        tail(log)
    return proc.returncode


def notify_socket(work: Path, uid: int) -> tuple[socket.socket, str]:
    """A datagram socket standing in for systemd's notification socket."""
    path = work / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    os.chown(path, uid, -1)
    return sock, str(path)


def notify_messages(sock: socket.socket, want: str, deadline: float, proc: subprocess.Popen | None) -> set[str]:
    """The sd_notify assignments received until `want` arrives or the deadline passes."""
    got: set[str] = set()
    while want not in got and time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            break
        sock.settimeout(max(0.05, min(0.5, deadline - time.monotonic())))
        try:
            data = sock.recv(4096)
        except TimeoutError:
            continue
        got.update(line for line in data.decode(errors="replace").splitlines() if line)
    return got


def parse_unit(path: Path) -> dict[str, list[str]]:
    service: dict[str, list[str]] = {}
    section = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]" and "=" in line:
            k, v = line.split("=", 1)
            service.setdefault(k.strip(), []).append(v.strip())
    return service


def parse_env_file(path: Path) -> dict[str, str]:
    env = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")) or "=" not in line:
            continue
        k, v = line.split("=", 1)
        v = v.strip()
        if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
            v = v[1:-1]
        env[k.strip()] = v
    return env


def remap(value: str, mapping: dict[str, str]) -> str:
    for src in sorted(mapping, key=len, reverse=True):
        if src in value:
            return value.replace(src, mapping[src])
    return value


def prepare_binary(bin_path: str, work: Path) -> str:
    """A private copy readable by the unprivileged uid (and safe from a concurrent rebuild)."""
    exe = work / "bin" / "cic-bridge"
    exe.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(bin_path, exe)
    exe.chmod(0o755)
    return str(exe)


def smoke_systemd(deploy: Path, bin_path: str, work: Path) -> None:
    root = deploy.parent
    unit = parse_unit(deploy / "systemd/cic-bridge.service")
    exe = prepare_binary(bin_path, work)
    uid = gid = 61184  # first uid of systemd's DynamicUser= range
    etc = work / "etc/cic-bridge"
    etc.mkdir(parents=True)
    state_name = unit.get("StateDirectory", ["cic-bridge"])[0]
    state = work / "var/lib" / state_name
    state.mkdir(parents=True)
    os.chown(state, uid, gid)
    state.chmod(int(unit.get("StateDirectoryMode", ["0755"])[0], 8))
    mapping = {"/etc/cic-bridge": str(etc), f"/var/lib/{state_name}": str(state)}

    # What the install steps put in /etc/cic-bridge: the example configuration and env file.
    shutil.copy(root / "config/cic-bridge.example.toml", etc / "cic-bridge.toml")
    (etc / "cic-bridge.toml").chmod(0o644)
    env_file_src = deploy / "systemd/cic-bridge.env.example"

    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
    for ef in unit.get("EnvironmentFile", []):
        ef = ef.lstrip("-")
        ok(ef == "/etc/cic-bridge/cic-bridge.env", f"EnvironmentFile {ef} is the documented /etc/cic-bridge/cic-bridge.env")
        env.update(parse_env_file(env_file_src))
    for e in unit.get("Environment", []):
        for item in shlex.split(e):
            k, v = item.split("=", 1)
            env[k] = remap(v, mapping)
    port = free_port()
    cfg = tomllib.loads((etc / "cic-bridge.toml").read_text())
    tenant = cfg["tenants"][0]
    emu = Emulator(exe, work, tenant["zone_id"], {k: v for k, v in env.items() if k.startswith("TENCENTCLOUD_")})
    try:
        overrides = {"CIC_BRIDGE_SERVER__LISTEN": f"127.0.0.1:{port}", "CIC_BRIDGE_CIC__ENDPOINT": emu.url}
        print(f"  test-only overrides: {overrides}")
        env.update(overrides)
        execs = unit.get("ExecStart", [])
        if not ok(len(execs) == 1, "the unit has one ExecStart="):
            return
        argv = shlex.split(execs[0].lstrip("-@:+!"))
        ok(argv[0] == "/usr/local/bin/cic-bridge", f"ExecStart runs {argv[0]}")
        argv = [exe] + [remap(a, mapping) for a in argv[1:]]
        umask = int(unit.get("UMask", ["0022"])[0], 8)
        trace = work / "systemd.strace" if strace_usable() else None
        if trace is None:
            print("  note: strace cannot trace here; the sandbox checks of the trace are skipped")
        notify = None
        if unit.get("Type", ["simple"])[0] == "notify":
            notify, env["NOTIFY_SOCKET"] = notify_socket(work, uid)
        try:
            run_daemon(
                "systemd", drop_privs(uid, gid, []) + argv, env, work, port,
                [("readiness", "/healthz"), ("readiness", "/readyz")], env[tenant["token_env"]], umask,
                float(unit.get("TimeoutStopSec", ["90"])[0].rstrip("s")), trace, notify,
            )
        finally:
            if notify is not None:
                notify.close()
        db = state / "cic-bridge.db"
        if ok(db.exists(), f"the database is in the state directory ({db.name})"):
            mode = db.stat().st_mode & 0o777
            ok(mode & (umask | 0o000) == 0, f"the database file mode {mode:o} honours UMask={umask:04o}")
        if trace:
            filters = unit.get("SystemCallFilter", [])
            families = set(" ".join(unit.get("RestrictAddressFamilies", [])).split()) or None
            analyse_trace(
                trace, exe, [str(state), "/tmp", "/var/tmp"], allowed_syscalls(filters), families,
                unit.get("MemoryDenyWriteExecute", ["no"])[0] == "yes", "systemd sandbox", True,
            )
    finally:
        emu.stop()


def smoke_kubernetes(deploy: Path, bin_path: str, work: Path, rendered: Path) -> None:
    docs = [d for d in yaml.safe_load_all(rendered.read_text()) if d]
    dep = next(d for d in docs if d["kind"] == "Deployment")
    configmaps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
    secret = yaml.safe_load((deploy / "kubernetes/base/secret.example.yaml").read_text())
    secret_data = {secret["metadata"]["name"]: dict(secret.get("stringData") or {})}
    pod = dep["spec"]["template"]["spec"]
    c = pod["containers"][0]
    psc = pod.get("securityContext") or {}
    uid = (c.get("securityContext") or {}).get("runAsUser", psc.get("runAsUser"))
    gid = (c.get("securityContext") or {}).get("runAsGroup", psc.get("runAsGroup", uid))
    fs_group = psc.get("fsGroup")
    if not ok(isinstance(uid, int) and uid > 0, f"the pod runs as uid {uid}"):
        return
    exe = prepare_binary(bin_path, work)

    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    mapping: dict[str, str] = {}
    writable: list[str] = []
    for m in c.get("volumeMounts") or []:
        v = volumes[m["name"]]
        d = work / "volumes" / m["name"]
        d.mkdir(parents=True)
        if "configMap" in v:
            for fname, text in (configmaps[v["configMap"]["name"]].get("data") or {}).items():
                (d / fname).write_text(text)
                (d / fname).chmod(0o644)
        else:
            os.chown(d, 0, fs_group if fs_group is not None else gid)
            d.chmod(0o2775 if fs_group is not None else 0o777)
            if not m.get("readOnly"):
                writable.append(str(d))
        mapping[m["mountPath"]] = str(d)
    writable.append("/tmp")  # the emptyDir at /tmp is the host's /tmp in this run

    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME": "cic-bridge-smoke"}
    for ef in c.get("envFrom") or []:
        if "secretRef" in ef:
            env.update(secret_data.get(ef["secretRef"]["name"], {}))
    for e in c.get("env") or []:
        if "value" in e:
            env[e["name"]] = remap(str(e["value"]), mapping)
        else:
            ref = e["valueFrom"]["secretKeyRef"]
            val = secret_data.get(ref["name"], {}).get(ref["key"])
            if not ok(val is not None, f"env {e['name']}: key {ref['key']} is in the Secret example"):
                return
            env[e["name"]] = val
    argv = (c.get("command") or []) + (c.get("args") or [])
    ok(argv[0] == "/usr/local/bin/cic-bridge", f"the container runs {argv[0]}")
    argv = [exe] + [remap(a, mapping) for a in argv[1:]]
    cfg_path = Path(argv[argv.index("--config") + 1])
    cfg = tomllib.loads(cfg_path.read_text())
    tenant = cfg["tenants"][0]
    port = free_port()
    emu = Emulator(exe, work, tenant["zone_id"], {k: v for k, v in env.items() if k.startswith("TENCENTCLOUD_")})
    try:
        overrides = {"CIC_BRIDGE_SERVER__LISTEN": f"127.0.0.1:{port}", "CIC_BRIDGE_CIC__ENDPOINT": emu.url}
        print(f"  test-only overrides: {overrides} (the manifest has {env.get('CIC_BRIDGE_SERVER__LISTEN')!r})")
        env.update(overrides)
        probes = [(k, c[k]["httpGet"]["path"]) for k in ("startupProbe", "livenessProbe", "readinessProbe") if k in c]
        groups = [fs_group] if fs_group is not None else []
        trace = work / "kubernetes.strace" if strace_usable() else None
        run_daemon(
            "kubernetes", drop_privs(uid, gid, groups) + argv, env, work, port, probes,
            env[tenant["token_env"]], 0o022, float(pod.get("terminationGracePeriodSeconds", 30)), trace,
        )
        url = env.get("CIC_BRIDGE_DATABASE__URL", cfg.get("database", {}).get("url", ""))
        db = Path(url.removeprefix("sqlite://"))
        ok(db.exists() and any(str(db).startswith(w + "/") for w in writable if w != "/tmp"),
           f"the database {db} is on the data volume")
        if trace:
            analyse_trace(trace, exe, writable, None, None, False, "kubernetes sandbox (readOnlyRootFilesystem)", False)
    finally:
        emu.stop()


def main() -> int:
    mode, deploy, bin_path, work = sys.argv[1], Path(sys.argv[2]).resolve(), sys.argv[3], Path(sys.argv[4])
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    work.chmod(0o755)
    try:
        if mode == "systemd":
            smoke_systemd(deploy, bin_path, work)
        else:
            smoke_kubernetes(deploy, bin_path, work, Path(sys.argv[5]))
    finally:
        shutil.rmtree(work / "bin", ignore_errors=True)  # the binary copy; logs and traces stay
    print(f"smoke-{mode}: {PASSED} passed, {len(FAILURES)} failed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
