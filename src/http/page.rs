//! `GET /admin`: the status page, server-rendered from the same facts as `/admin/status`.
//! Plain HTML and an inline SVG chart, no script: it works through any proxy and in any
//! browser, and refreshes itself. Every value from the store or from Identity Center is
//! escaped, since a SCIM client chooses user names and Identity Center writes the messages.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::AppState;
use super::admin::AdminError;
use super::status::BUCKETS;

/// Seconds between the page's own reloads.
const REFRESH_SECS: u32 = 15;

pub async fn page(State(state): State<AppState>) -> Result<Response, AdminError> {
    let status = super::status::gather(&state).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        render(&status),
    )
        .into_response())
}

/// Escapes text for HTML element content and double-quoted attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A JSON value as escaped text: strings without quotes, null as a dash.
fn v(x: &Value) -> String {
    match x {
        Value::Null => "–".to_owned(),
        Value::String(s) => esc(s),
        other => esc(&other.to_string()),
    }
}

fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.4em 0 .4em}\
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}\
th{background:#f2f2f2}td.n{text-align:right}.ok{color:#176b2c}.bad{color:#b00020;font-weight:bold}\
.muted{color:#666}code{font-size:.95em}svg text{font:11px sans-serif}";

pub fn render(s: &Value) -> String {
    let mut h = String::with_capacity(16 * 1024);
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"{REFRESH_SECS}\">\
         <title>cic-bridge status</title><style>{STYLE}</style></head><body>"
    );
    let _ = write!(
        h,
        "<h1>cic-bridge status</h1><p class=\"muted\">version <span id=\"version\">{}</span> · up {} · \
         at {} · this page reloads every {REFRESH_SECS} s</p>",
        v(&s["version"]),
        duration(s["uptimeSecs"].as_u64().unwrap_or(0)),
        v(&s["now"]),
    );
    identity_center(&mut h, &s["identityCenter"]);
    tenants(&mut h, &s["tenants"]);
    chart(&mut h, &s["queueHistory"]);
    alarms(&mut h, &s["alarms"]);
    drift(&mut h, &s["drift"]);
    tasks(&mut h, &s["tasksInProgress"]);
    failures(&mut h, &s["failures"]);
    h.push_str(
        "<p class=\"muted\">JSON of the same facts: <code>/admin/status</code>; Prometheus: <code>/metrics</code>.</p>\
         </body></html>",
    );
    h
}

fn identity_center(h: &mut String, ic: &Value) {
    let (class, word) = match ic["reachable"].as_bool() {
        Some(true) => ("ok", "reachable"),
        Some(false) => ("bad", "unreachable"),
        None => ("muted", "no call yet"),
    };
    let _ = write!(
        h,
        "<h2>Identity Center</h2><table id=\"identity-center\">\
         <tr><th>Endpoint</th><td>{}</td></tr>\
         <tr><th>Reachability</th><td class=\"{class}\" id=\"reachability\">{word}</td></tr>\
         <tr><th>Last success</th><td>{}</td></tr>",
        v(&ic["endpoint"]),
        v(&ic["lastSuccessAt"]),
    );
    let e = &ic["lastError"];
    if e.is_null() {
        h.push_str("<tr><th>Last error</th><td>–</td></tr>");
    } else {
        let _ = write!(
            h,
            "<tr><th>Last error</th><td>{} {}: <code>{}</code> {} <span class=\"muted\">RequestId {}</span></td></tr>",
            v(&e["at"]),
            v(&e["action"]),
            v(&e["code"]),
            v(&e["message"]),
            v(&e["requestId"]),
        );
    }
    let _ = write!(
        h,
        "<tr><th>Calls / errors</th><td>{} / {}</td></tr>\
         <tr><th>Throttled</th><td>{} RequestLimitExceeded, {} waits for the client's rate limiter</td></tr></table>",
        v(&ic["calls"]),
        v(&ic["errors"]),
        v(&ic["throttled"]["requestLimitExceeded"]),
        v(&ic["throttled"]["limiterWaits"]),
    );
}

fn tenants(h: &mut String, tenants: &Value) {
    h.push_str(
        "<h2>Tenants and queue</h2><table id=\"tenants\"><tr><th>Tenant</th><th>Zone</th><th>Mode</th>\
         <th>Users</th><th>Groups</th><th>Memberships</th>",
    );
    for b in BUCKETS {
        let _ = write!(h, "<th>{b}</th>");
    }
    h.push_str("<th>Oldest due</th><th>Zone usage (GetZoneStatistics)</th></tr>");
    for t in tenants.as_array().into_iter().flatten() {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>",
            v(&t["name"]),
            v(&t["zoneId"]),
            v(&t["mode"]),
            v(&t["users"]),
            v(&t["groups"]),
            v(&t["memberships"]),
        );
        for b in BUCKETS {
            let n = t["queueTotals"][b].as_i64().unwrap_or(0);
            let class = if n > 0 && matches!(b, "parked" | "held" | "failed") {
                "n bad"
            } else {
                "n"
            };
            let _ = write!(h, "<td class=\"{class}\">{n}</td>");
        }
        let oldest = t["oldestDueAgeSecs"]
            .as_u64()
            .map(duration)
            .unwrap_or_else(|| "–".to_owned());
        let z = &t["zoneUsage"];
        let usage = if z.is_null() {
            "not known".to_owned()
        } else {
            format!(
                "users {}/{}, groups {}/{}, role configurations {}/{}",
                v(&z["users"]),
                v(&z["userQuota"]),
                v(&z["groups"]),
                v(&z["groupQuota"]),
                v(&z["roleConfigurations"]),
                v(&z["roleConfigurationQuota"]),
            )
        };
        let _ = write!(h, "<td>{oldest}</td><td>{usage}</td></tr>");
    }
    h.push_str("</table>");
}

/// Queue depth over the last hour: three polylines over a fixed one-hour axis.
fn chart(h: &mut String, history: &Value) {
    const W: f64 = 640.0;
    const H: f64 = 150.0;
    const LEFT: f64 = 40.0;
    const BOTTOM: f64 = 20.0;
    let samples: Vec<&Value> = history["samples"].as_array().into_iter().flatten().collect();
    let end = samples.last().and_then(|s| s["at"].as_i64()).unwrap_or(0);
    let start = end - 3600;
    let total = |s: &Value| {
        ["queued", "running", "stuck"]
            .iter()
            .map(|k| s[*k].as_i64().unwrap_or(0))
            .max()
            .unwrap_or(0)
    };
    let max = samples.iter().map(|s| total(s)).max().unwrap_or(0).max(1) as f64;
    let x = |at: i64| LEFT + (at - start) as f64 / 3600.0 * (W - LEFT - 10.0);
    let y = |n: i64| (H - BOTTOM) - n as f64 / max * (H - BOTTOM - 10.0);
    let _ = write!(
        h,
        "<h2>Queue, last hour</h2><svg id=\"queue-chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" \
         viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"queue depth over the last hour\">\
         <line x1=\"{LEFT}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#999\"/>\
         <line x1=\"{LEFT}\" y1=\"10\" x2=\"{LEFT}\" y2=\"{b}\" stroke=\"#999\"/>\
         <text x=\"2\" y=\"14\">{max}</text><text x=\"2\" y=\"{b}\">0</text>\
         <text x=\"{LEFT}\" y=\"{H}\">−60 min</text><text x=\"{rl}\" y=\"{H}\">now</text>",
        b = H - BOTTOM,
        r = W - 10.0,
        rl = W - 40.0,
    );
    for (key, colour) in [("queued", "#1f5fbf"), ("running", "#2e8b57"), ("stuck", "#b00020")] {
        let points: Vec<String> = samples
            .iter()
            .filter_map(|s| Some((s["at"].as_i64()?, s[key].as_i64().unwrap_or(0))))
            .filter(|(at, _)| *at >= start)
            .map(|(at, n)| format!("{:.1},{:.1}", x(at), y(n)))
            .collect();
        let _ = write!(
            h,
            "<polyline class=\"series-{key}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"/>",
            points.join(" ")
        );
    }
    let _ = write!(
        h,
        "</svg><p class=\"muted\"><span style=\"color:#1f5fbf\">■</span> queued (due, scheduled, waiting on a task) \
         <span style=\"color:#2e8b57\">■</span> running <span style=\"color:#b00020\">■</span> parked, held or failed · \
         {} samples, every {} s</p>",
        samples.len(),
        v(&history["intervalSecs"]),
    );
}

fn alarms(h: &mut String, alarms: &Value) {
    let list: Vec<&Value> = alarms.as_array().into_iter().flatten().collect();
    h.push_str("<h2>Alarms</h2>");
    if list.is_empty() {
        h.push_str("<p id=\"alarms\" class=\"ok\">No alarm raised.</p>");
        return;
    }
    h.push_str(
        "<table id=\"alarms\"><tr><th>Tenant</th><th>Code</th><th>Message</th><th>Zone usage</th><th>Raised</th><th>Count</th></tr>",
    );
    for a in list {
        let z = &a["zoneUsage"];
        let usage = if z.is_null() {
            "–".to_owned()
        } else {
            format!(
                "users {}/{}, groups {}/{}",
                v(&z["users"]),
                v(&z["userQuota"]),
                v(&z["groups"]),
                v(&z["groupQuota"])
            )
        };
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"bad\">{}</td><td>{}</td><td>{usage}</td><td>{}</td><td class=\"n\">{}</td></tr>",
            v(&a["tenant"]),
            v(&a["code"]),
            v(&a["message"]),
            v(&a["raisedAt"]),
            v(&a["count"]),
        );
    }
    h.push_str("</table>");
}

/// The last periodic reconciliation (`engine.reconcile_interval_secs`): differences between
/// the store and Identity Center by tenant and kind; `cic-bridge reconcile` shows the plan.
fn drift(h: &mut String, drift: &Value) {
    h.push_str("<h2>Drift</h2>");
    if drift.is_null() {
        h.push_str(
            "<p id=\"drift\" class=\"muted\">No periodic reconciliation has run (engine.reconcile_interval_secs).</p>",
        );
        return;
    }
    let _ = write!(h, "<p class=\"muted\">Compared at {}.</p>", v(&drift["at"]));
    h.push_str("<table id=\"drift\"><tr><th>Tenant</th><th>Differences</th></tr>");
    for (tenant, kinds) in drift["tenants"].as_object().into_iter().flatten() {
        let found: Vec<String> = kinds
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, n)| n.as_u64().unwrap_or(0) > 0)
            .map(|(k, n)| format!("{} {}", esc(k), v(n)))
            .collect();
        let _ = if found.is_empty() {
            write!(h, "<tr><td>{}</td><td class=\"ok\">none</td></tr>", esc(tenant))
        } else {
            write!(
                h,
                "<tr><td>{}</td><td class=\"bad\">{}</td></tr>",
                esc(tenant),
                found.join(", ")
            )
        };
    }
    for (tenant, why) in drift["skipped"].as_object().into_iter().flatten() {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"muted\">not compared: {}</td></tr>",
            esc(tenant),
            v(why)
        );
    }
    h.push_str("</table>");
}

fn tasks(h: &mut String, tasks: &Value) {
    let list: Vec<&Value> = tasks.as_array().into_iter().flatten().collect();
    let _ = write!(h, "<h2>Tasks in progress ({})</h2>", list.len());
    if list.is_empty() {
        return;
    }
    h.push_str(
        "<table id=\"tasks\"><tr><th>Tenant</th><th>Task</th><th>Type</th><th>Role configuration</th><th>Account</th><th>Polls</th><th>Started</th></tr>",
    );
    for t in list {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            v(&t["tenant"]),
            v(&t["taskId"]),
            v(&t["taskType"]),
            v(&t["roleConfigurationId"]),
            v(&t["account"]),
            v(&t["polls"]),
            v(&t["createdAt"]),
        );
    }
    h.push_str("</table>");
}

fn failures(h: &mut String, failures: &Value) {
    let list: Vec<&Value> = failures.as_array().into_iter().flatten().collect();
    let _ = write!(h, "<h2>Last failures ({})</h2>", list.len());
    h.push_str(
        "<table id=\"failures\"><tr><th>Job</th><th>Tenant</th><th>Kind</th><th>Resource</th><th>Attempts</th>\
         <th>Code</th><th>Message</th><th>RequestId</th><th>At</th></tr>",
    );
    for f in list {
        let e = &f["error"];
        let _ = write!(
            h,
            "<tr class=\"failure\"><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td>\
             <td><code>{}</code></td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
            v(&f["id"]),
            v(&f["tenant"]),
            v(&f["kind"]),
            v(&f["resource"]),
            v(&f["attempts"]),
            v(&e["code"]),
            v(&e["message"]),
            v(&e["requestId"]),
            v(&f["updatedAt"]),
        );
    }
    h.push_str("</table><p class=\"muted\">Retry one with <code>POST /admin/jobs/{id}/retry</code> or <code>cic-bridge jobs retry --id N</code>.</p>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_value_is_escaped() {
        let evil = "<script>alert('x')</script>&\"";
        let s = json!({
            "version": evil, "uptimeSecs": 5, "now": evil,
            "identityCenter": {"endpoint": evil, "reachable": false, "lastError": {"code": evil, "message": evil, "requestId": evil}},
            "tenants": [{"name": evil, "zoneId": evil, "mode": evil, "queueTotals": {}, "zoneUsage": null}],
            "queueHistory": {"intervalSecs": 15, "samples": [{"at": 100, "queued": 3, "running": 1, "stuck": 0}]},
            "alarms": [{"tenant": evil, "code": evil, "message": evil}],
            "tasksInProgress": [{"taskId": evil}],
            "failures": [{"id": 1, "tenant": evil, "kind": evil, "resource": evil, "error": {"code": evil, "message": evil, "requestId": evil}}],
        });
        let html = render(&s);
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"));
        assert!(html.contains("<svg id=\"queue-chart\""));
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(5), "5s");
        assert_eq!(duration(125), "2m 5s");
        assert_eq!(duration(3 * 3600 + 120), "3h 2m");
        assert_eq!(duration(2 * 86_400 + 3600), "2d 1h");
    }
}
