//! `cic-bridge status`: the daemon's own `/admin/status` (live facts such as reachability and
//! throttling exist only in the running process), summarised for a terminal.

use std::path::PathBuf;

use super::admin::AdminClient;

pub async fn run(config: Option<PathBuf>, url: Option<String>, json: bool) -> anyhow::Result<()> {
    let body = AdminClient::new(config.as_deref(), url)?.status().await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(());
    }
    let s = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "-".to_string(),
        other => other.to_string(),
    };
    println!(
        "cic-bridge {} up {}s{}",
        s(&body["version"]),
        s(&body["uptimeSecs"]),
        if body["engineLeader"] == serde_json::Value::Bool(true) {
            ", engine leader"
        } else {
            ""
        }
    );
    if !body["organization"].is_null() {
        println!("{}", organization_line(&body["organization"]));
    }
    let ic = &body["identityCenter"];
    println!(
        "Identity Center {}: reachable {}, last success {}, calls {}, errors {}, throttled {}",
        s(&ic["endpoint"]),
        s(&ic["reachable"]),
        s(&ic["lastSuccessAt"]),
        s(&ic["calls"]),
        s(&ic["errors"]),
        s(&ic["throttled"]["requestLimitExceeded"])
    );
    if !ic["lastError"].is_null() {
        let e = &ic["lastError"];
        println!(
            "  last error {} {}: {} {} (RequestId {})",
            s(&e["at"]),
            s(&e["action"]),
            s(&e["code"]),
            s(&e["message"]),
            s(&e["requestId"])
        );
    }
    println!(
        "{:<12} {:<8} {:>7} {:>7} {:>7}  queue",
        "tenant", "mode", "users", "groups", "members"
    );
    for t in body["tenants"].as_array().into_iter().flatten() {
        let queue: Vec<String> = t["queueTotals"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, n)| n.as_i64().unwrap_or(0) > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        println!(
            "{:<12} {:<8} {:>7} {:>7} {:>7}  {}{}",
            s(&t["name"]),
            s(&t["mode"]),
            s(&t["users"]),
            s(&t["groups"]),
            s(&t["memberships"]),
            if queue.is_empty() {
                "empty".to_string()
            } else {
                queue.join(", ")
            },
            t["oldestDueAgeSecs"]
                .as_f64()
                .map(|a| format!(" (oldest due {a:.0}s)"))
                .unwrap_or_default()
        );
    }
    for a in body["alarms"].as_array().into_iter().flatten() {
        println!("ALARM {} {}: {}", s(&a["tenant"]), s(&a["code"]), s(&a["message"]));
    }
    let failures = body["failures"].as_array().map(Vec::len).unwrap_or(0);
    println!(
        "tasks in progress: {}, failed operations: {failures} (cic-bridge jobs list --state failed)",
        body["tasksInProgress"].as_array().map(Vec::len).unwrap_or(0)
    );
    Ok(())
}

/// One line (two with a held refresh or an error) about the organization snapshot.
pub fn organization_line(o: &serde_json::Value) -> String {
    if o["fetchedAt"].is_null() {
        return "organization: not read yet".to_owned();
    }
    let mut out = format!(
        "organization: {} departments, {} member accounts, read {}s ago ({})",
        o["departments"],
        o["accounts"],
        o["ageSecs"],
        o["fetchedAt"].as_str().unwrap_or_default()
    );
    if let Some(h) = o["held"].as_str() {
        out.push_str(&format!("\n  held: {h}"));
    }
    if let Some(e) = o["lastError"].as_str() {
        out.push_str(&format!(
            "\n  last refresh failed at {}: {e}",
            o["lastErrorAt"].as_str().unwrap_or_default()
        ));
    }
    out
}
