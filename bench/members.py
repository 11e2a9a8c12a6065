#!/usr/bin/env python3
"""Group membership benchmark: PATCH-heavy loads on one large group. Prints its figures.

Usage: bench/members.py [PATH_TO_CIC_BRIDGE]   (default: target/release/cic-bridge; builds nothing)
Env:   MEMBERS (20000)  size of the group; BATCH (1000) members per bulk PATCH;
       SINGLES (200) single-member PATCHes timed on the full group; TIMEOUT (900) seconds in all.

It starts `cic-bridge serve --dev --shadow` (SQLite in a temp dir, `synchronous = full`;
shadow mode records the operations and calls nothing, so only the SCIM and store side is
measured), creates MEMBERS users over SCIM with 4 connections, creates one group, fills it
with PATCH `add members` of BATCH members each, then times SINGLES PATCHes that each add one
member and SINGLES that each remove one (`members[value eq "…"]`). Exits 0 when it ran (it
asserts no target), non-zero when it could not run. The daemon is stopped by its PID.
"""

import http.client
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

BIN = sys.argv[1] if len(sys.argv) > 1 else "target/release/cic-bridge"
MEMBERS = int(os.environ.get("MEMBERS", "20000"))
BATCH = int(os.environ.get("BATCH", "1000"))
SINGLES = int(os.environ.get("SINGLES", "200"))
TIMEOUT = float(os.environ.get("TIMEOUT", "900"))
DEADLINE = time.monotonic() + TIMEOUT


def left():
    remaining = DEADLINE - time.monotonic()
    if remaining <= 0:
        raise SystemExit("bench: out of time (TIMEOUT)")
    return remaining


class Scim:
    def __init__(self, host, port, path, token):
        self.conn = http.client.HTTPConnection(host, port, timeout=min(120, left()))
        self.path = path
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body)
        self.conn.request(method, self.path + path, body=data, headers=self.headers)
        r = self.conn.getresponse()
        text = r.read()
        if r.status >= 300:
            raise SystemExit(f"bench: {method} {path} answered {r.status}: {text[:300]!r}")
        return json.loads(text) if text else None


def main():
    if not os.access(BIN, os.X_OK):
        raise SystemExit(f"bench: {BIN} is not an executable (cargo build --release first)")
    work = tempfile.mkdtemp(prefix="cic-members-bench.")
    token = secrets.token_urlsafe(32)
    log = open(os.path.join(work, "daemon.log"), "w+")
    env = dict(os.environ, CIC_BRIDGE_DEV_TOKEN=token, RUST_LOG=os.environ.get("RUST_LOG", "warn"))
    daemon = subprocess.Popen(
        [BIN, "serve", "--dev", "--shadow", "--listen", "127.0.0.1:0", "--emulator-listen", "127.0.0.1:0",
         "--data-dir", os.path.join(work, "data")],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        base = None
        until = time.monotonic() + 30
        while base is None:
            if time.monotonic() > until or daemon.poll() is not None:
                log.seek(0)
                raise SystemExit("bench: daemon not ready:\n" + log.read())
            time.sleep(0.2)
            log.seek(0)
            m = re.search(r"SCIM base URL: *(http://([0-9.]+):(\d+)(/\S*))", log.read())
            if m:
                base = m
        host, port, path = base.group(2), int(base.group(3)), base.group(4)
        print(f"daemon pid {daemon.pid}, {BIN}, MEMBERS={MEMBERS} BATCH={BATCH} SINGLES={SINGLES}")

        ids = [None] * MEMBERS

        def create(part):
            c = Scim(host, port, path, token)
            for i in range(part, MEMBERS, 4):
                u = c.call("POST", "/Users", {
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": f"member.{i}@example.com", "active": True})
                ids[i] = u["id"]

        t0 = time.monotonic()
        threads = [threading.Thread(target=create, args=(p,)) for p in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(left())
        if any(i is None for i in ids):
            raise SystemExit("bench: not every user was created")
        print(f"users created: {MEMBERS} in {time.monotonic() - t0:.1f} s")

        c = Scim(host, port, path, token)
        g = c.call("POST", "/Groups", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                       "displayName": "bench-large-group"})["id"]
        patch = lambda ops: {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops}

        spare = ids[-SINGLES:]
        fill = ids[:-SINGLES]
        times = []
        t0 = time.monotonic()
        for k in range(0, len(fill), BATCH):
            left()
            s = time.monotonic()
            c.call("PATCH", f"/Groups/{g}", patch([{"op": "add", "path": "members",
                                                     "value": [{"value": v} for v in fill[k:k + BATCH]]}]))
            times.append(time.monotonic() - s)
        total = time.monotonic() - t0
        print(f"fill: {len(fill)} members by {len(times)} PATCHes of up to {BATCH}: {total:.1f} s, "
              f"{1000 * total / len(times):.0f} ms per PATCH (slowest {1000 * max(times):.0f} ms)")

        def singles(op):
            ts = []
            for v in spare:
                left()
                s = time.monotonic()
                if op == "add":
                    body = patch([{"op": "add", "path": "members", "value": [{"value": v}]}])
                else:
                    body = patch([{"op": "remove", "path": f'members[value eq "{v}"]'}])
                c.call("PATCH", f"/Groups/{g}", body)
                ts.append(time.monotonic() - s)
            ts.sort()
            return sum(ts) / len(ts) * 1000, ts[int(len(ts) * 0.99) - 1] * 1000

        mean, p99 = singles("add")
        print(f"single-member add on a group of {len(fill)}: mean {mean:.1f} ms, p99 {p99:.1f} ms")
        mean, p99 = singles("remove")
        print(f"single-member remove on a group of {len(fill) + len(spare)}: mean {mean:.1f} ms, p99 {p99:.1f} ms")
        got = c.call("GET", f"/Groups/{g}?attributes=members")
        print(f"members read back: {len(got.get('members', []))} (expected {len(fill)})")
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(20)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
