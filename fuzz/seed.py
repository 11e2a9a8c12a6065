#!/usr/bin/env python3
"""Regenerates the fuzz seed corpora in fuzz/corpus/<target>/ (README, Development -> Fuzzing).

Sources: the vendors' SCIM conformance suites in ../shared/conformance-data (filters, POST/PUT
bodies, PATCH bodies), the strings and json! bodies of the Rust tests, the example configuration
and the deployment's, the error codes of ../shared/reference/tencent-cic-api.md, and a few
Identity Center answers written here in the documented shapes. Each file is named by the SHA-1
of its contents (as libFuzzer names what it adds), so a seed is kept once. Files a fuzzing run
found and that are worth keeping (minimised crashes, fuzz/regressions/) are not touched.

Usage: python3 fuzz/seed.py            (from anywhere; replaces the corpus directories)
"""

import hashlib
import json
import pathlib
import re
import shutil
import sys
import urllib.parse

FUZZ = pathlib.Path(__file__).resolve().parent
ROOT = FUZZ.parent
SHARED = ROOT.parent / "shared"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
# Values of the suites' {{variables}}, in the forms Okta's Initial_Script_Spec.txt generates.
VARIABLES = {
    "randomGivenName": "Runscope123",
    "randomFamilyName": "Abcdefghi456",
    "randomEmail": "Runscope123Abcdefghi456@atko.com",
    "randomUsername": "Runscope123Abcdefghi456@atko.com",
    "randomUsernameCaps": "RUNSCOPE123ABCDEFGHI456@ATKO.COM",
    "InvalidUserEmail": "abcdefgh@atko.com",
    "UserIdThatDoesNotExist": "010101001010101011001010101011",
}
# A corpus this size runs through in well under a second per target; libFuzzer's own
# additions go to a scratch directory (scripts/fuzz), not here.
MAX_SEED_BYTES = 8192


def substitute(text):
    def one(m):
        name = m.group(1)
        return VARIABLES.get(name, "5b7a9d1e-0000-4000-8000-00000000" + hashlib.sha1(name.encode()).hexdigest()[:4])

    return re.sub(r"\{\{\s*([A-Za-z0-9_$]+)\s*\}\}", one, text)


class Corpus:
    def __init__(self):
        self.seeds = {}

    def add(self, target, data):
        if isinstance(data, str):
            data = data.encode()
        if not data or len(data) > MAX_SEED_BYTES:
            return
        self.seeds.setdefault(target, {})[hashlib.sha1(data).hexdigest()] = data

    def add_json(self, target, value):
        self.add(target, json.dumps(value, ensure_ascii=False, indent=None))

    def write(self):
        for target, seeds in sorted(self.seeds.items()):
            out = FUZZ / "corpus" / target
            if out.exists():
                shutil.rmtree(out)
            out.mkdir(parents=True)
            for name, data in seeds.items():
                (out / name).write_bytes(data)
            print(f"{target}: {len(seeds)} seeds, {sum(len(d) for d in seeds.values())} bytes")


def query_params(url):
    query = url.split("?", 1)[1] if "?" in url else ""
    # Postman and Runscope keep some URLs unencoded (spaces, quotes): split by hand, then
    # decode each value as a server would.
    params = []
    for part in query.split("&"):
        if "=" in part:
            k, v = part.split("=", 1)
            params.append((k, urllib.parse.unquote_plus(v)))
    return params


def scim_request(corpus, method, url, body):
    url = substitute(url or "")
    for k, v in query_params(url):
        if k == "filter":
            corpus.add("scim_filter", v)
        elif k in ("sortBy", "attributes", "excludedAttributes"):
            for path in v.split(","):
                corpus.add("scim_filter", path.strip())
    if not body or not body.strip():
        return
    try:
        value = json.loads(substitute(body))
    except ValueError:
        return
    if method == "PATCH":
        corpus.add_json("scim_patch", value)
        for op in value.get("Operations", []) if isinstance(value, dict) else []:
            if isinstance(op, dict) and isinstance(op.get("path"), str):
                corpus.add("scim_filter", op["path"])
    elif method in ("POST", "PUT") and ("/Users" in url or "/Groups" in url):
        corpus.add_json("scim_body", value)


def conformance(corpus):
    microsoft = SHARED / "conformance-data/microsoft/SCIMReferenceCode-PostmanCollection.json"

    def walk(items):
        for item in items:
            if "item" in item:
                walk(item["item"])
                continue
            request = item.get("request", {})
            url = request.get("url")
            raw = url.get("raw") if isinstance(url, dict) else url
            scim_request(corpus, request.get("method"), raw, (request.get("body") or {}).get("raw"))

    walk(json.loads(microsoft.read_text())["item"])
    for name in ("Okta-SCIM-20-SPEC-Test.json", "Okta-SCIM-20-CRUD-Test.json"):
        for step in json.loads((SHARED / "conformance-data/okta" / name).read_text()).get("steps", []):
            url = step.get("url") or ""
            # The CRUD test also drives Okta's own management API; only SCIM requests count.
            if "{{SCIMBaseURL}}" in url or "{{SCIMUrl}}" in url:
                scim_request(corpus, step.get("method"), url, step.get("body"))


RUST_STRING = re.compile(r'r#"(.*?)"#|"((?:[^"\\\n]|\\.)*)"', re.S)
FILTER_WORDS = re.compile(r"\b(eq|ne|co|sw|ew|gt|ge|lt|le|pr)\b", re.I)


def unescape(s):
    s = re.sub(r"\\\n[ \t]*", "", s)  # a line continuation
    return re.sub(
        r'\\(u\{[0-9a-fA-F]+\}|.)',
        lambda m: chr(int(m.group(1)[2:-1], 16)) if m.group(1).startswith("u{")
        else {"n": "\n", "t": "\t", "r": "\r", "0": "\0"}.get(m.group(1), m.group(1)),
        s,
    )


def rust_strings(path):
    for m in RUST_STRING.finditer(path.read_text()):
        raw = m.group(1) if m.group(1) is not None else unescape(m.group(2))
        yield raw.replace("{ENT}", ENT)


def balanced(text, start):
    """The text from `start` (an opening bracket) to its matching bracket, outside strings."""
    depth, i, in_str = 0, start, False
    while i < len(text):
        c = text[i]
        if in_str:
            if c == "\\":
                i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c in "{[(":
            depth += 1
        elif c in "}])":
            depth -= 1
            if depth == 0:
                return text[start:i + 1]
        i += 1
    return None


def json_bodies(path):
    """`json!(...)` bodies of a Rust test, with Rust expressions in value position replaced by
    strings; those that still are not JSON are skipped."""
    text = path.read_text()
    for m in re.finditer(r"json!\(", text):
        body = balanced(text, m.end() - 1)
        if body is None:
            continue
        body = body[1:-1].strip()
        body = body.replace("{ENT}", ENT)
        body = re.sub(r"(?<![A-Za-z0-9_\"])ENT(?![A-Za-z0-9_\"])", json.dumps(ENT), body)
        body = re.sub(r'(?<=[:\[,])\s*([A-Za-z_][A-Za-z0-9_.:&()\[\]"]*?)\s*(?=[,}\]])',
                      lambda m: m.group(0) if m.group(1) in ("true", "false", "null") or m.group(1)[0] == '"'
                      else json.dumps(m.group(1)), body)
        try:
            yield json.loads(body)
        except ValueError:
            continue


def rust_tests(corpus):
    sources = [ROOT / "src/scim/filter/tests.rs", ROOT / "src/scim/patch/tests.rs", ROOT / "src/scim/model.rs",
               ROOT / "src/scim/patch.rs"] + sorted((ROOT / "tests/it").glob("*.rs"))
    for path in sources:
        for s in rust_strings(path):
            if len(s) < 200 and "\n" not in s and FILTER_WORDS.search(s) and not s.startswith("{"):
                # Query strings in tests carry the filter URL-encoded.
                if "filter=" in s:
                    s = dict(query_params(s)).get("filter", "")
                corpus.add("scim_filter", s)
        for value in json_bodies(path):
            if isinstance(value, list) and value and all(isinstance(o, dict) and "op" in o for o in value):
                # helpers.rs wraps an operation list into a PatchOp body.
                value = {"schemas": [PATCH_SCHEMA], "Operations": value}
            if isinstance(value, dict) and "Operations" in value:
                corpus.add_json("scim_patch", value)
                for op in value["Operations"] if isinstance(value["Operations"], list) else []:
                    if isinstance(op, dict) and isinstance(op.get("path"), str):
                        corpus.add("scim_filter", op["path"])
            elif isinstance(value, dict) and ("userName" in value or "displayName" in value):
                corpus.add_json("scim_body", value)


def tencent(corpus):
    envelope = lambda inner: {"Response": dict(inner, RequestId="6f4a2c1e-8b3d-4e5f-9a0b-1c2d3e4f5a6b")}
    user = {"UserName": "ann.smith@corp.example", "FirstName": "Ann", "LastName": "Smith", "DisplayName": "Ann Smith",
            "Description": "Provisioned by cic-bridge [cic-bridge corp/u-1]", "Email": "ann@corp.example",
            "UserStatus": "Enabled", "UserType": "Manual", "UserId": "u-3k2j1h0g9f8e",
            "CreateTime": "2024-01-02T03:04:05Z", "UpdateTime": "2024-01-02T03:04:05Z"}
    member = {k: user[k] for k in ("UserName", "DisplayName", "Description", "Email", "UserStatus", "UserType", "UserId")}
    assignment = {"RoleConfigurationId": "rc-1a2b3c4d5e6f", "RoleConfigurationName": "Admin", "TargetUin": 100000000001,
                  "TargetType": "MemberUin", "PrincipalId": "g-1a2b3c4d5e6f", "PrincipalType": "Group",
                  "PrincipalName": "Cloud-Admins", "CreateTime": "2024-01-02T03:04:05Z",
                  "UpdateTime": "2024-01-02T03:04:05Z", "TargetName": "payments"}
    task = {"TaskId": "t-1a2b3c4d5e6f", "RoleConfigurationId": "rc-1a2b3c4d5e6f", "RoleConfigurationName": "Admin",
            "TargetUin": 100000000001, "TargetType": "MemberUin", "PrincipalId": "g-1a2b3c4d5e6f",
            "PrincipalType": "Group", "TaskType": "RoleAssignmentCreate", "Status": "Failed",
            "FailureReason": "the account left the organization"}
    answers = [
        {"UserInfo": user},
        {"TotalCounts": 2, "MaxResults": 10, "Users": [user, dict(user, UserStatus="Disabled", UserType="Synchronized")],
         "NextToken": "tok-2", "IsTruncated": True},
        {"TotalCounts": 1, "MaxResults": 10, "Users": [user], "NextToken": "", "IsTruncated": True},
        {"TotalCounts": 1, "MaxResults": 10, "GroupMembers": [dict(member, JoinTime="2024-01-02T03:04:05Z")],
         "IsTruncated": False},
        {"TotalCounts": 1, "MaxResults": 10, "RoleAssignments": [assignment], "IsTruncated": False},
        {"TotalCounts": 1, "MaxResults": 10, "Tasks": [task], "IsTruncated": False, "NextToken": None},
        {"TaskStatus": {"Status": "InProgress", "TaskId": "t-1a2b3c4d5e6f", "TaskType": "RoleAssignmentCreate",
                        "FailureReason": ""}},
        {"TaskStatus": {"Status": "Cancelled", "TaskId": "t-1a2b3c4d5e6f"}},
        {"TaskInfo": dict(task, Status="InProgress")},
        {"ZoneStatistics": {"UserQuota": 5000, "GroupQuota": 5000, "RoleConfigurationQuota": 1000,
                            "SystemPolicyPerRoleConfigurationQuota": 20, "UserCount": 5000, "GroupCount": 12,
                            "RoleConfigurationCount": 3, "UserProvisioningCount": 0, "RoleConfigurationSyncCount": 0}},
        {"Total": 4, "Items": [
            {"NodeId": 1, "Name": "root", "ParentNodeId": None},
            {"NodeId": 2, "Name": "Production", "ParentNodeId": 1, "Tags": [{"TagKey": "env", "TagValue": "prod"}]},
            {"NodeId": 3, "Name": "Payments", "ParentNodeId": 2},
            {"NodeId": 4, "Name": "Payments", "ParentNodeId": 1, "Remark": None}]},
        {"Total": 2, "Items": [
            {"NodeId": 5, "Name": "loop-a", "ParentNodeId": 6}, {"NodeId": 6, "Name": "loop-b", "ParentNodeId": 5}]},
        {"Total": 2, "Items": [
            {"MemberUin": 100000000001, "Name": "payments", "MemberType": "Create", "NodeId": 3, "NodeName": "Payments",
             "Tags": [{"TagKey": "env", "TagValue": "prod"}]},
            {"MemberUin": 100000000002, "Name": "sandbox", "MemberType": "Invite", "NodeId": 1, "Tags": None}]},
        {},
    ]
    for answer in answers:
        corpus.add_json("tencent_response", envelope(answer))
    # Every error code the reference names, as Identity Center would answer it.
    reference = (SHARED / "reference/tencent-cic-api.md").read_text()
    codes = sorted(set(re.findall(r"`((?:AuthFailure|FailedOperation|InvalidParameter|InvalidParameterValue|"
                                  r"LimitExceeded|MissingParameter|OperationDenied|RequestLimitExceeded|"
                                  r"ResourceInUse|ResourceInsufficient|ResourceNotFound|ResourceUnavailable|"
                                  r"UnauthorizedOperation|UnknownParameter|UnsupportedOperation|InternalError|"
                                  r"ServiceUnavailable|InvalidAction|InvalidRequest)(?:\.[A-Za-z0-9]+)?)`", reference)))
    # The classifier's own lists and prefixes (src/tencent/error.rs), and a few codes it does not
    # name, which fall to a family or to Definitive.
    known = set(re.findall(r'"([A-Za-z]+(?:\.[A-Za-z0-9]+)?)"', (ROOT / "src/tencent/error.rs").read_text()))
    codes = [c for c in codes if c in known] + [c for c in codes if c not in known][::12]
    for code in codes:
        corpus.add_json("tencent_response", envelope({"Error": {"Code": code, "Message": f"{code} (example)"}}))
    for raw in ['{"Response":{"Error":{}}}', '{"Result":{}}', "<html><body>502 Bad Gateway</body></html>",
                '{"Response":{"Error":{"Code":"","Message":"x"},"RequestId":"r"}}', '{"Response":null}']:
        corpus.add("tencent_response", raw)


def uncommented(text):
    """The TOML without its comment lines: the documented example is larger than a seed."""
    return "\n".join(l for l in text.splitlines() if l.strip() and not l.lstrip().startswith("#")) + "\n"


def config(corpus):
    text = (ROOT / "config/cic-bridge.example.toml").read_text()
    example = uncommented(text)
    corpus.add("config", example)
    # The example with one integer at a time at TOML's largest: overflows in validation are
    # found from here at once, not after the fuzzer has grown a 19-digit number.
    numbers = list(re.finditer(r"(?m)^\w+ = (\d+)$", example))
    for m in numbers:
        corpus.add("config", example[:m.start(1)] + "9223372036854775807" + example[m.end(1):])
    if "# --- example rules ---" in text:
        head, rules = text.split("# --- example rules ---", 1)
        rules = "\n".join(l[2:] if l.startswith("# ") else l for l in rules.splitlines())
        corpus.add("config", uncommented(head + "\n" + rules))
    for path in sorted((ROOT / "deploy").rglob("*.toml")):
        corpus.add("config", uncommented(path.read_text()))
    # TOML documents in the tests (check-config, the config unit tests).
    for path in [ROOT / "src/config.rs", ROOT / "src/engine/rules.rs", ROOT / "tests/it/cli_config.rs"]:
        for s in rust_strings(path):
            if "[[tenants]]" in s or "[server]" in s or "[[assignments]]" in s:
                # Format strings: their placeholders become values of the right shape.
                s = re.sub(r'url = "\{[a-z_]*\}"', 'url = "sqlite://fuzz.db"', s)
                s = re.sub(r'url = "sqlite://\{[a-z_]*\}"', 'url = "sqlite://fuzz.db"', s)
                s = re.sub(r'endpoint = "\{[a-z_]*\}"', 'endpoint = "http://127.0.0.1:9"', s)
                s = re.sub(r'zone_id = "\{[a-z_]*\}"', 'zone_id = "z-abcdefghijkl"', s)
                corpus.add("config", s)


def main():
    if not (SHARED / "conformance-data").is_dir():
        sys.exit(f"{SHARED}/conformance-data not found: run from a checkout with shared/ beside it")
    corpus = Corpus()
    conformance(corpus)
    rust_tests(corpus)
    tencent(corpus)
    config(corpus)
    corpus.write()


if __name__ == "__main__":
    main()
