#!/usr/bin/env python3
"""Checks of the rendered Kubernetes manifests that a JSON schema cannot express.

Usage: policy.py DEPLOY_DIR RENDER_DIR

RENDER_DIR holds base.yaml, sqlite-single.yaml and postgres-replicas.yaml (kustomize output).
Checked: the hardening the issue asks for, that every selector selects the pods and every
reference (ConfigMap, PVC, ServiceAccount, Secret keys, named ports) resolves, that the
ConfigMap's cic-bridge.toml parses and uses only known keys, and each overlay's own promises
(replicas, strategy, database URL, PDB, anti-affinity). Prints one line per failed check and
exits 1 if there is any.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import yaml

FAILURES: list[str] = []
CHECKS = 0


def check(cond: bool, where: str, what: str) -> None:
    global CHECKS
    CHECKS += 1
    if not cond:
        FAILURES.append(f"{where}: {what}")


def load_docs(path: Path) -> list[dict]:
    with path.open() as f:
        return [d for d in yaml.safe_load_all(f) if d]


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d.get("kind") == kind]


def selects(selector: dict | None, labels: dict) -> bool:
    """matchLabels only (all our selectors are matchLabels); an empty selector selects all."""
    selector = selector or {}
    if selector.get("matchExpressions"):
        return False
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def example_config_keys(example_toml: Path) -> dict[str, set[str]]:
    """Keys per section in config/cic-bridge.example.toml, counting commented-out `# key =`."""
    keys: dict[str, set[str]] = {}
    section = ""
    for line in example_toml.read_text().splitlines():
        s = line.strip()
        m = re.match(r"^#?\s*\[\[?([a-z_]+)\]\]?\s*$", s)
        if m:
            section = m.group(1)
            keys.setdefault(section, set())
            continue
        m = re.match(r"^#?\s*([a-z_]+)\s*=", s)
        if m and section:
            keys[section].add(m.group(1))
    return keys


def secret_example_keys(path: Path) -> tuple[str, set[str], set[str]]:
    """(name, keys with a value, keys shown commented out) of the Secret example."""
    doc = load_docs(path)[0]
    present = set((doc.get("stringData") or {}).keys()) | set((doc.get("data") or {}).keys())
    commented = set(re.findall(r"^\s*#\s*([A-Z][A-Z0-9_]*):", path.read_text(), re.M))
    return doc["metadata"]["name"], present, commented


def check_config_toml(where: str, text: str, known: dict[str, set[str]], secret_keys: set[str]) -> dict:
    try:
        cfg = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        check(False, where, f"cic-bridge.toml does not parse: {e}")
        return {}
    for section, value in cfg.items():
        check(section in known, where, f"cic-bridge.toml: unknown section [{section}]")
        entries = value if isinstance(value, list) else [value]
        for entry in entries:
            for key in entry:
                check(key in known.get(section, set()), where, f"cic-bridge.toml: unknown key {section}.{key}")
    tenants = cfg.get("tenants") or []
    check(len(tenants) >= 1, where, "cic-bridge.toml: no [[tenants]] entry")
    for t in tenants:
        check(
            t.get("token_env") in secret_keys,
            where,
            f"tenant {t.get('name')}: token_env {t.get('token_env')} is not a key of the Secret example",
        )
    return cfg


def check_rendered(name: str, docs: list[dict], ctx: dict) -> None:
    deployments = by_kind(docs, "Deployment")
    check(len(deployments) == 1, name, f"expected 1 Deployment, found {len(deployments)}")
    if not deployments:
        return
    dep = deployments[0]
    where = f"{name}: Deployment/{dep['metadata']['name']}"
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    pod_labels = spec["template"]["metadata"].get("labels") or {}
    check(selects(spec["selector"], pod_labels), where, "selector does not match the pod template labels")

    # Pod-level hardening.
    psc = pod.get("securityContext") or {}
    check(pod.get("automountServiceAccountToken") is False, where, "automountServiceAccountToken is not false")
    check(psc.get("runAsNonRoot") is True, where, "pod runAsNonRoot is not true")
    check(isinstance(psc.get("runAsUser"), int) and psc["runAsUser"] > 0, where, "pod runAsUser is not a non-root uid")
    check((psc.get("seccompProfile") or {}).get("type") == "RuntimeDefault", where, "pod seccompProfile is not RuntimeDefault")
    check(pod.get("enableServiceLinks") is False, where, "enableServiceLinks is not false")

    sa_name = pod.get("serviceAccountName", "default")
    sas = [d for d in by_kind(docs, "ServiceAccount") if d["metadata"]["name"] == sa_name]
    check(len(sas) == 1, where, f"ServiceAccount {sa_name} is not in the build")
    for sa in sas:
        check(sa.get("automountServiceAccountToken") is False, where, f"ServiceAccount {sa_name} mounts a token")

    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    configmaps = {d["metadata"]["name"]: d for d in by_kind(docs, "ConfigMap")}
    pvcs = {d["metadata"]["name"]: d for d in by_kind(docs, "PersistentVolumeClaim")}
    for vname, v in volumes.items():
        if "configMap" in v:
            check(v["configMap"]["name"] in configmaps, where, f"volume {vname}: ConfigMap {v['configMap']['name']} not in the build")
        if "persistentVolumeClaim" in v:
            claim = v["persistentVolumeClaim"]["claimName"]
            check(claim in pvcs, where, f"volume {vname}: PersistentVolumeClaim {claim} not in the build")
        if "secret" in v:
            check(False, where, f"volume {vname}: secrets are passed as environment variables, not files")

    containers = pod.get("containers") or []
    check(len(containers) == 1, where, f"expected 1 container, found {len(containers)}")
    if not containers:
        return
    c = containers[0]
    cw = f"{where} container {c['name']}"
    csc = c.get("securityContext") or {}
    check(csc.get("allowPrivilegeEscalation") is False, cw, "allowPrivilegeEscalation is not false")
    check(csc.get("readOnlyRootFilesystem") is True, cw, "readOnlyRootFilesystem is not true")
    check(csc.get("runAsNonRoot") is True, cw, "runAsNonRoot is not true")
    check(csc.get("privileged") in (None, False), cw, "privileged")
    caps = csc.get("capabilities") or {}
    check("ALL" in (caps.get("drop") or []), cw, "capabilities.drop does not contain ALL")
    check(not caps.get("add"), cw, "capabilities.add is not empty")
    check((csc.get("seccompProfile") or {}).get("type", "RuntimeDefault") == "RuntimeDefault", cw, "seccompProfile is not RuntimeDefault")
    res = c.get("resources") or {}
    for kind in ("requests", "limits"):
        for r in ("cpu", "memory"):
            check(r in (res.get(kind) or {}), cw, f"resources.{kind}.{r} missing")

    ports = {p["name"]: p for p in c.get("ports") or [] if "name" in p}
    check("http" in ports, cw, "no container port named http")
    http_port = ports.get("http", {}).get("containerPort")

    def probe(kind: str, path: str) -> None:
        p = c.get(kind)
        check(p is not None, cw, f"{kind} missing")
        if p is None:
            return
        get = p.get("httpGet") or {}
        check(get.get("path") == path, cw, f"{kind} path is {get.get('path')}, expected {path}")
        check(get.get("port") in ports or get.get("port") == http_port, cw, f"{kind} port {get.get('port')} is not a container port")

    probe("livenessProbe", "/healthz")
    probe("readinessProbe", "/readyz")
    if "startupProbe" in c:
        probe("startupProbe", "/healthz")

    mounts = {m["mountPath"]: m for m in c.get("volumeMounts") or []}
    for m in mounts.values():
        check(m["name"] in volumes, cw, f"volumeMount {m['mountPath']}: no volume {m['name']}")
    tmp = mounts.get("/tmp")
    check(tmp is not None and "emptyDir" in volumes.get(tmp["name"], {}), cw, "/tmp is not an emptyDir")

    # The config file the command line names is on the ConfigMap volume, and is valid.
    argv = (c.get("command") or []) + (c.get("args") or [])
    check("serve" in argv and "--config" in argv, cw, f"command line {argv} is not `serve --config FILE`")
    cfg: dict = {}
    if "--config" in argv and argv.index("--config") + 1 < len(argv):
        cfg_path = argv[argv.index("--config") + 1]
        mdir, fname = cfg_path.rsplit("/", 1)
        m = mounts.get(mdir)
        vol = volumes.get(m["name"], {}) if m else {}
        cm = configmaps.get((vol.get("configMap") or {}).get("name", ""))
        check(cm is not None and fname in (cm.get("data") or {}), cw, f"{cfg_path} is not a key of a mounted ConfigMap")
        if cm is not None and fname in (cm.get("data") or {}):
            cfg = check_config_toml(cw, cm["data"][fname], ctx["config_keys"], ctx["secret_keys"] | ctx["secret_commented"])

    env = {e["name"]: e for e in c.get("env") or []}
    for e in env.values():
        ref = (e.get("valueFrom") or {}).get("secretKeyRef")
        if ref:
            check(ref["name"] == ctx["secret_name"], cw, f"env {e['name']}: Secret {ref['name']} is not the example's {ctx['secret_name']}")
            check(
                ref["key"] in ctx["secret_keys"] | ctx["secret_commented"],
                cw,
                f"env {e['name']}: key {ref['key']} is not documented in secret.example.yaml",
            )
    for ef in c.get("envFrom") or []:
        if "secretRef" in ef:
            check(ef["secretRef"]["name"] == ctx["secret_name"], cw, f"envFrom Secret {ef['secretRef']['name']} is not {ctx['secret_name']}")
    listen = (env.get("CIC_BRIDGE_SERVER__LISTEN") or {}).get("value") or (cfg.get("server") or {}).get("listen", "")
    check(listen.rsplit(":", 1)[-1] == str(http_port), cw, f"server listen {listen!r} is not on containerPort {http_port}")
    check(not listen.startswith("127."), cw, f"server listen {listen!r} is loopback: probes and Services cannot reach it")
    shutdown = (cfg.get("server") or {}).get("shutdown_timeout_secs", 20)
    check(pod.get("terminationGracePeriodSeconds", 30) > shutdown, where, "terminationGracePeriodSeconds is not above server.shutdown_timeout_secs")

    strategy = spec.get("strategy") or {}
    if strategy.get("type") == "Recreate":
        check("rollingUpdate" not in strategy, where, "strategy Recreate with rollingUpdate (the API rejects it)")

    # Services, PDB and NetworkPolicy select these pods; Services target named ports that exist.
    services = by_kind(docs, "Service")
    check({s["metadata"]["name"] for s in services} >= {"cic-bridge", "cic-bridge-admin"}, name, "SCIM and admin Services missing")
    for s in services:
        sw = f"{name}: Service/{s['metadata']['name']}"
        check(selects({"matchLabels": s["spec"].get("selector")}, pod_labels) and bool(s["spec"].get("selector")), sw, "selector does not select the pods")
        for p in s["spec"]["ports"]:
            tp = p.get("targetPort", p["port"])
            check(tp in ports or tp == http_port, sw, f"targetPort {tp} is not a container port")
    pdbs = by_kind(docs, "PodDisruptionBudget")
    check(len(pdbs) == 1, name, f"expected 1 PodDisruptionBudget, found {len(pdbs)}")
    replicas = spec.get("replicas", 1)
    for pdb in pdbs:
        pw = f"{name}: PodDisruptionBudget/{pdb['metadata']['name']}"
        ps = pdb["spec"]
        check(selects(ps.get("selector"), pod_labels), pw, "selector does not select the pods")
        check(not ("minAvailable" in ps and "maxUnavailable" in ps), pw, "both minAvailable and maxUnavailable (the API rejects it)")
        if isinstance(ps.get("minAvailable"), int):
            check(ps["minAvailable"] < replicas, pw, f"minAvailable {ps['minAvailable']} with {replicas} replicas blocks every node drain")
    nps = by_kind(docs, "NetworkPolicy")
    check(len(nps) == 1, name, f"expected 1 NetworkPolicy, found {len(nps)}")
    for np in nps:
        nw = f"{name}: NetworkPolicy/{np['metadata']['name']}"
        ns = np["spec"]
        check(selects(ns.get("podSelector"), pod_labels), nw, "podSelector does not select the pods")
        check(set(ns.get("policyTypes") or []) == {"Ingress", "Egress"}, nw, "policyTypes is not Ingress and Egress")
        ingress_ports = {(p.get("protocol", "TCP"), p.get("port")) for r in ns.get("ingress") or [] for p in r.get("ports") or []}
        check(all(r.get("ports") for r in ns.get("ingress") or []), nw, "an ingress rule allows every port")
        check(ingress_ports == {("TCP", http_port)} or ingress_ports == {("TCP", "http")}, nw, f"ingress ports {sorted(map(str, ingress_ports))} are not exactly the HTTP port")
        egress_ports = {(p.get("protocol", "TCP"), p.get("port")) for r in ns.get("egress") or [] for p in r.get("ports") or []}
        check(all(r.get("ports") for r in ns.get("egress") or []), nw, "an egress rule allows every port")
        check(
            egress_ports == {("UDP", 53), ("TCP", 53), ("TCP", 443), ("TCP", 5432)},
            nw,
            f"egress ports {sorted(map(str, egress_ports))} are not exactly DNS, 443 and 5432",
        )
    check(not by_kind(docs, "Secret"), name, "a Secret is in the build (placeholders would overwrite the real one)")

    # What each overlay promises.
    db_env = env.get("CIC_BRIDGE_DATABASE__URL") or {}
    if name == "sqlite-single":
        check(replicas == 1, where, f"replicas {replicas}, expected 1 (SQLite has one writer)")
        check(strategy.get("type") == "Recreate", where, "strategy is not Recreate")
        url = db_env.get("value", "")
        check(url.startswith("sqlite://"), where, f"CIC_BRIDGE_DATABASE__URL {url!r} is not a sqlite:// URL")
        db_path = url.removeprefix("sqlite://")
        on_pvc = [
            m for p, m in mounts.items()
            if db_path.startswith(p.rstrip("/") + "/") and "persistentVolumeClaim" in volumes.get(m["name"], {})
        ]
        check(bool(on_pvc), where, f"the database {db_path} is not on a PersistentVolumeClaim mount")
        check(len(pvcs) == 1, name, "expected one PersistentVolumeClaim")
    elif name == "postgres-replicas":
        check(replicas == 3, where, f"replicas {replicas}, expected 3")
        ref = (db_env.get("valueFrom") or {}).get("secretKeyRef") or {}
        check(ref.get("key") == "CIC_BRIDGE_DATABASE__URL", where, "CIC_BRIDGE_DATABASE__URL does not come from the Secret")
        check(ref.get("optional") in (None, False), where, "the database URL Secret key is optional")
        check(strategy.get("type", "RollingUpdate") == "RollingUpdate", where, "strategy is not RollingUpdate")
        check((strategy.get("rollingUpdate") or {}).get("maxUnavailable") == 0, where, "rollingUpdate.maxUnavailable is not 0")
        for pdb in pdbs:
            check(pdb["spec"].get("minAvailable") == 2, name, "PodDisruptionBudget minAvailable is not 2")
        anti = (pod.get("affinity") or {}).get("podAntiAffinity") or {}
        terms = [t.get("podAffinityTerm", t) for t in anti.get("preferredDuringSchedulingIgnoredDuringExecution") or []]
        terms += anti.get("requiredDuringSchedulingIgnoredDuringExecution") or []
        check(
            any(selects(t.get("labelSelector"), pod_labels) and t.get("topologyKey") for t in terms),
            where,
            "no pod anti-affinity term selecting these pods",
        )
        check(not pvcs, name, "a PersistentVolumeClaim in the PostgreSQL overlay")
        check(not any(m.startswith("/var/lib/cic-bridge") for m in mounts), where, "a data volume in the PostgreSQL overlay")


def check_containerfile(deploy: Path, root: Path, rendered: list[dict]) -> None:
    """The Containerfile parses, builds with CI's cargo command only, and matches the manifests."""
    import dockerfile  # PyPI `dockerfile`: the Go parser that docker/buildah use

    path = deploy / "container/Containerfile"
    where = "container/Containerfile"
    try:
        cmds = dockerfile.parse_file(str(path))
    except dockerfile.GoParseError as e:
        check(False, where, f"does not parse: {e}")
        return
    stages: list[list] = []
    for c in cmds:
        if c.cmd == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(c)
    check(len(stages) >= 2, where, "not a multi-stage build")
    if len(stages) < 2:
        return
    runs = [c.value[0] for c in cmds if c.cmd == "RUN"]
    cargo_runs = [r for r in runs if re.search(r"\bcargo\b", r)]
    check(
        cargo_runs == ["cargo build --release --locked --bin cic-bridge"],
        where,
        f"cargo steps are {cargo_runs}, expected exactly `cargo build --release --locked --bin cic-bridge`",
    )
    ignore = (deploy / "container/Containerfile.dockerignore").read_text().splitlines()
    included = {l[1:].strip().rstrip("/") for l in ignore if l.startswith("!")}
    for c in cmds:
        if c.cmd in ("COPY", "ADD") and not any(f.startswith("--from=") for f in c.flags):
            for src in c.value[:-1]:
                check((root / src).exists(), where, f"COPY source {src} does not exist in the repository")
                check(src.rstrip("/").split("/")[0] in included, where, f"COPY source {src} is excluded by Containerfile.dockerignore")
    final = stages[-1]
    base = final[0].value[0]
    check("distroless" in base or any("ca-certificates" in c.original for c in final), where,
          f"runtime image {base} has no CA certificates")
    users = [c.value[0] for c in final if c.cmd == "USER"]
    check(bool(users) and re.fullmatch(r"[1-9][0-9]*(:[0-9]+)?", users[-1]) is not None, where,
          f"runtime USER {users[-1] if users else None} is not a numeric non-root uid")
    entry = [c for c in final if c.cmd == "ENTRYPOINT"]
    check(bool(entry) and entry[-1].json, where, "no exec-form ENTRYPOINT")
    entry_argv = list(entry[-1].value) if entry else []
    copies = [c for c in final if c.cmd == "COPY"]
    check(any(c.value[-1] == (entry_argv[:1] or [""])[0] for c in copies), where, "ENTRYPOINT binary is not copied into the runtime stage")
    exposed = {p.split("/")[0] for c in final if c.cmd == "EXPOSE" for p in c.value}
    for d in rendered:
        if d.get("kind") != "Deployment":
            continue
        pod = d["spec"]["template"]["spec"]
        ct = pod["containers"][0]
        psc = pod.get("securityContext") or {}
        if users:
            uid, _, gid = users[-1].partition(":")
            check(str(psc.get("runAsUser")) == uid, where, f"USER {uid} is not the Deployment's runAsUser {psc.get('runAsUser')}")
            check(not gid or str(psc.get("runAsGroup")) == gid, where, f"USER group {gid} is not the Deployment's runAsGroup")
        check((ct.get("command") or [""])[0] == (entry_argv[:1] or [""])[0], where, "ENTRYPOINT binary differs from the Deployment's command")
        check(ct.get("args") == entry_argv[1:], where, f"ENTRYPOINT arguments {entry_argv[1:]} differ from the Deployment's args {ct.get('args')}")
        for p in ct.get("ports") or []:
            check(str(p["containerPort"]) in exposed, where, f"containerPort {p['containerPort']} is not EXPOSEd")
        break
    ci = " ".join((root / f).read_text() for f in ("scripts/test", ".ci/run") if (root / f).exists())
    if cargo_runs and cargo_runs[0] not in ci:
        print(f"note: CI (scripts/test, .ci/run) does not run `{cargo_runs[0]}` itself")


def main() -> int:
    deploy = Path(sys.argv[1]).resolve()
    render = Path(sys.argv[2])
    root = deploy.parent
    secret_name, secret_keys, secret_commented = secret_example_keys(deploy / "kubernetes/base/secret.example.yaml")
    for placeholder_key in secret_keys:
        value = str((load_docs(deploy / "kubernetes/base/secret.example.yaml")[0].get("stringData") or {}).get(placeholder_key))
        check("REPLACE-ME" in value, "secret.example.yaml", f"{placeholder_key} is not marked as a placeholder (REPLACE-ME)")
    ctx = {
        "config_keys": example_config_keys(root / "config/cic-bridge.example.toml"),
        "secret_name": secret_name,
        "secret_keys": secret_keys,
        "secret_commented": secret_commented,
    }
    for overlay in ("sqlite-single", "postgres-replicas"):
        check_rendered(overlay, load_docs(render / f"{overlay}.yaml"), ctx)
    check_containerfile(deploy, root, load_docs(render / "sqlite-single.yaml"))
    # The systemd environment file covers the tenants of the example configuration.
    env_keys = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", (deploy / "systemd/cic-bridge.env.example").read_text(), re.M))
    example_cfg = tomllib.loads((root / "config/cic-bridge.example.toml").read_text())
    for t in example_cfg.get("tenants") or []:
        check(t["token_env"] in env_keys, "systemd/cic-bridge.env.example", f"no line for token_env {t['token_env']}")
    for k in ("TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY", "CIC_BRIDGE_ADMIN_TOKEN"):
        check(k in env_keys, "systemd/cic-bridge.env.example", f"no line for {k}")
        check(k in secret_keys, "kubernetes/base/secret.example.yaml", f"no key {k}")
    for f in FAILURES:
        print(f"FAIL {f}")
    print(f"policy: {CHECKS - len(FAILURES)} passed, {len(FAILURES)} failed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
