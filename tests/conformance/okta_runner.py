#!/usr/bin/env python3
"""Replay Okta's Runscope/BlazeMeter "Okta SCIM 2.0 SPEC Test" against a SCIM server.

Okta asks integrators to run this JSON on Runscope (now BlazeMeter API Monitoring). Neither is
reachable from CI, so this file interprets the exported JSON itself: the steps in order, the
`{{variable}}` substitutions, the request headers and bodies, the assertions, the `variables`
extraction and the one JavaScript script the file contains. Python 3.11 standard library only.

Usage:
    okta_runner.py --base-url http://127.0.0.1:PORT/scim/v2 --token TOKEN [--seed-user]
                   [--pause-scale 0.1] [--timeout 30] [okta/Okta-SCIM-20-SPEC-Test.json]

It prints every step and assertion as PASS or FAIL, then a closing `N passed, N failed` line, and
exits 1 if any assertion failed (2 for a usage or set-up error).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import string
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_SUITE = Path(__file__).resolve().parent / "okta" / "Okta-SCIM-20-SPEC-Test.json"
VAR_RE = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
# Characters that may stay literal in the URL. Runscope percent-encodes the rest of the URL as
# typed in the editor, e.g. the spaces and double quotes of `filter=userName eq "x"`.
URL_SAFE = "/:?&=%#@!$'()*+,;~-._[]"


class Missing:
    """The value at a JSON path that does not exist (distinct from JSON null)."""

    def __repr__(self) -> str:
        return "<missing>"


MISSING = Missing()


def initial_variables(base_url: str, token: str, rng: random.Random) -> dict[str, str]:
    """The variables Okta's `Initial_Script_Spec.txt` sets before the first step.

    Shapes as described in tests/conformance/README.md: given name `Runscope` + 3 digits, family
    name one capital + 8 lower-case letters + 3 digits, e-mail and user name given+family+
    `@atko.com`, and `auth` as the whole Authorization header value.
    """
    digits = lambda n: "".join(rng.choice(string.digits) for _ in range(n))  # noqa: E731
    given = "Runscope" + digits(3)
    family = (
        rng.choice(string.ascii_uppercase)
        + "".join(rng.choice(string.ascii_lowercase) for _ in range(8))
        + digits(3)
    )
    username = f"{given}{family}@atko.com"
    return {
        "SCIMBaseURL": base_url.rstrip("/"),
        "auth": f"Bearer {token}",
        "randomGivenName": given,
        "randomFamilyName": family,
        "randomEmail": username,
        "randomUsername": username,
        "randomUsernameCaps": username.upper(),
        "InvalidUserEmail": "abcdefgh@atko.com",
        "UserIdThatDoesNotExist": "010101001010101011001010101011",
    }


def substitute(text: str, variables: dict[str, str]) -> str:
    """Replace `{{name}}`. Runscope leaves an unknown variable as it is; so do we."""
    return VAR_RE.sub(lambda m: variables.get(m.group(1), m.group(0)), text)


def js_string(value: Any) -> str:
    """`String(value)` as JavaScript would print a JSON value (Runscope compares strings)."""
    if value is MISSING:
        return "undefined"
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def json_path(doc: Any, path: str) -> Any:
    """Follow a Runscope property path such as `Resources[0].emails[0].value`."""
    current = doc
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("["):
            index = int(part[1:-1])
            if not isinstance(current, list) or index >= len(current):
                return MISSING
            current = current[index]
        else:
            if not isinstance(current, dict) or part not in current:
                return MISSING
            current = current[part]
    return current


def is_empty(value: Any) -> bool:
    """Runscope's "is empty": absent, null, "" or an empty array/object.

    A boolean or a number is not empty (JavaScript `String(false)` is "false"), which matters for
    `Resources[0].active` on a deactivated user.
    """
    return value is MISSING or value is None or value in ("", [], {})


def to_number(value: Any) -> float | None:
    if isinstance(value, bool) or value is MISSING or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str]
    elapsed_ms: float
    error: str | None = None
    _json: Any = field(default=MISSING, repr=False)

    def json(self) -> Any:
        """Parsed body, or MISSING when the body is not JSON."""
        if self._json is MISSING:
            try:
                self._json = json.loads(self.body.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                self._json = MISSING
        return self._json


def send(method: str, url: str, headers: dict[str, str], body: str | None, timeout: float) -> Response:
    data = body.encode("utf-8") if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            payload = resp.read()
            status, resp_headers = resp.status, dict(resp.headers.items())
    except urllib.error.HTTPError as err:
        payload = err.read()
        status, resp_headers = err.code, dict(err.headers.items())
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as err:
        elapsed = (time.perf_counter() - start) * 1000
        return Response(0, b"", {}, elapsed, error=f"{type(err).__name__}: {err}")
    elapsed = (time.perf_counter() - start) * 1000
    return Response(status, payload, resp_headers, elapsed)


def check(assertion: dict[str, Any], resp: Response, variables: dict[str, str]) -> tuple[bool, str]:
    """Evaluate one Runscope assertion. Returns (passed, description with the actual value)."""
    source = assertion.get("source")
    comparison = assertion.get("comparison")
    prop = assertion.get("property") or ""
    expected_raw = assertion.get("value")
    expected = substitute(str(expected_raw), variables) if expected_raw is not None else None

    if source == "response_status":
        actual: Any = resp.status
        label = "status"
    elif source == "response_time":
        actual = round(resp.elapsed_ms, 1)
        label = "response_time(ms)"
    elif source == "response_json":
        doc = resp.json()
        if doc is MISSING:
            return False, f"json {prop} {comparison} {expected!r}: body is not JSON: {resp.body[:200]!r}"
        actual = json_path(doc, prop) if prop else doc
        label = f"json {prop}"
    else:
        return False, f"unsupported assertion source {source!r}"

    desc = f"{label} {comparison}" + (f" {expected!r}" if expected is not None else "")
    if comparison == "equal":
        ok = js_string(actual) == expected
    elif comparison == "not_equal":
        ok = js_string(actual) != expected
    elif comparison == "equal_number":
        a, e = to_number(actual), to_number(expected)
        ok = a is not None and e is not None and a == e
    elif comparison == "not_empty":
        ok = not is_empty(actual)
    elif comparison == "empty":
        ok = is_empty(actual)
    elif comparison == "has_value":
        # On an array: one element equals the value; on a scalar: equality.
        if isinstance(actual, list):
            ok = any(js_string(v) == expected for v in actual)
        else:
            ok = js_string(actual) == expected
    elif comparison == "contains":
        if isinstance(actual, list):
            ok = any(js_string(v) == expected for v in actual) or (expected or "") in js_string(actual)
        elif isinstance(actual, str):
            ok = (expected or "") in actual
        else:
            ok = actual is not MISSING and (expected or "") in js_string(actual)
    elif comparison == "is_a_number":
        # Strict: a JSON number, not a numeric string. Okta's SCIM reference says the list
        # counters must be integers, not strings.
        ok = isinstance(actual, (int, float)) and not isinstance(actual, bool)
    elif comparison in ("is_less_than", "is_greater_than"):
        a, e = to_number(actual), to_number(expected)
        ok = a is not None and e is not None and (a < e if comparison == "is_less_than" else a > e)
    else:
        return False, f"unsupported comparison {comparison!r}"
    return ok, f"{desc} (actual: {js_string(actual)[:200]})"


def run_groups_script(resp: Response) -> list[tuple[bool, str]]:
    """Python rendering of the only non-empty script in the SPEC test ("Verify Groups endpoint").

    The JavaScript:
        var data = JSON.parse(response.body);
        var max = data.totalResults;  var res = data.Resources;  var exists = false;
        if (max === 0) assert("nogroups", "No Groups found in the endpoint");
        else if (max >= 1 && Array.isArray(res)) { exists = true;
            assert.ok(exists, "Resources is of type Array"); log(exists); }
    `assert("nogroups", …)` is Chai's assert(expression, message) on a truthy string, so it always
    passes; it only records that the server has no groups. A body that is not JSON makes
    `JSON.parse` throw, which Runscope reports as a failed script.
    """
    data = resp.json()
    if data is MISSING:
        return [(False, "script: JSON.parse(response.body) threw: body is not JSON")]
    if not isinstance(data, dict):
        return [(True, "script: body is not an object; no assertion made")]
    total, res = data.get("totalResults"), data.get("Resources")
    if total == 0 and not isinstance(total, bool):
        return [(True, "script: No Groups found in the endpoint")]
    if isinstance(total, (int, float)) and not isinstance(total, bool) and total >= 1 and isinstance(res, list):
        return [(True, "script: Resources is of type Array")]
    return [(True, f"script: no assertion made (totalResults={js_string(total)})")]


def run_script(source: str, resp: Response) -> list[tuple[bool, str]]:
    if not source.strip():
        return []
    if "No Groups found in the endpoint" in source and "Array.isArray(res)" in source:
        return run_groups_script(resp)
    # A new script in a future version of the file must be ported by hand: fail loudly.
    return [(False, f"script: no Python port of this script: {source[:80]!r}")]


def seed_user(base_url: str, token: str, timeout: float, rng: random.Random) -> None:
    """Create one user first: the first step lists users and asserts that `Resources[0]` exists.

    On Runscope, Okta expects the integrator's server to hold at least one user already.
    """
    suffix = "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(8))
    body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": f"seed.{suffix}@example.com",
        "name": {"givenName": "Seed", "familyName": "User"},
        "emails": [{"primary": True, "value": f"seed.{suffix}@example.com", "type": "work"}],
        "displayName": "Seed User",
        "active": True,
    }
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    resp = send("POST", base_url.rstrip("/") + "/Users", headers, json.dumps(body), timeout)
    print(f"SETUP seed user: POST /Users -> {resp.status or resp.error}")
    if resp.status != 201:
        print(f"  response: {resp.body[:500]!r}")
        raise SystemExit(2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suite", nargs="?", default=str(DEFAULT_SUITE), help="Runscope JSON export")
    parser.add_argument("--base-url", required=True, help="SCIM base URL, e.g. http://127.0.0.1:8080/scim/v2")
    parser.add_argument("--token", required=True, help="bearer token (auth = 'Bearer TOKEN')")
    parser.add_argument("--seed-user", action="store_true", help="create one user before the steps")
    parser.add_argument(
        "--pause-scale",
        type=float,
        default=1.0,
        help="multiply the suite's pause steps (5-10 s each, ~60 s in all) by this factor",
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request timeout in seconds")
    parser.add_argument("--seed", type=int, default=None, help="random seed for the generated names")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    suite = json.loads(Path(args.suite).read_text(encoding="utf-8"))
    variables = initial_variables(args.base_url, args.token, rng)
    print(f"Suite: {suite.get('name')} ({args.suite})")
    print("Initial variables: " + ", ".join(f"{k}={'Bearer ***' if k == 'auth' else v}" for k, v in variables.items()))
    if args.seed_user:
        seed_user(args.base_url, args.token, args.timeout, rng)

    passed = failed = 0
    failures: list[str] = []
    request_no = 0
    for step in suite.get("steps", []):
        if step.get("skipped"):
            continue
        kind = step.get("step_type")
        if kind == "pause":
            delay = float(step.get("duration", 0)) * args.pause_scale
            if delay > 0:
                time.sleep(delay)
            continue
        if kind != "request":
            print(f"FAIL unsupported step type {kind!r}")
            failed += 1
            continue

        request_no += 1
        note = substitute(step.get("note", ""), variables)
        method = step.get("method", "GET")
        url = urllib.parse.quote(substitute(step["url"], variables), safe=URL_SAFE)
        headers = {
            name: ", ".join(substitute(v, variables) for v in values)
            for name, values in (step.get("headers") or {}).items()
        }
        body = step.get("body")
        body = substitute(body, variables) if body else None
        resp = send(method, url, headers, body, args.timeout)
        shown = f"{resp.status}" if resp.error is None else f"no response ({resp.error})"
        print(f"\nSTEP {request_no}: {note}\n  {method} {url} -> {shown} in {resp.elapsed_ms:.1f} ms")

        results = [check(a, resp, variables) for a in step.get("assertions", [])]
        for src in step.get("scripts", []) or []:
            results.extend(run_script(src, resp))
        step_failed = False
        for ok, desc in results:
            print(f"  {'PASS' if ok else 'FAIL'} {desc}")
            if ok:
                passed += 1
            else:
                failed += 1
                step_failed = True
                failures.append(f"step {request_no} ({note}): {desc}")
        if step_failed:
            if body:
                print(f"  request body: {body[:1000]}")
            print(f"  response body: {resp.body[:1000].decode('utf-8', 'replace')}")

        for var in step.get("variables", []) or []:
            if var.get("source") == "response_json":
                value = json_path(resp.json(), var["property"]) if resp.json() is not MISSING else MISSING
                variables[var["name"]] = js_string(value) if value is not MISSING else ""
                print(f"  set {var['name']} = {variables[var['name']]!r}")

    print()
    if failures:
        print("Failed assertions:")
        for line in failures:
            print(f"  - {line}")
    print(f"okta: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
