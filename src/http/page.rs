//! `GET /admin`: the status page, server-rendered from the same facts as `/admin/status`.
//! Plain HTML and an inline SVG chart, no script: it works through any proxy and in any
//! browser, and refreshes itself. A SCIM client chooses names and emails and Identity Center
//! writes the messages, so the page is a `maud` template: every value reaches the HTML
//! through a splice, which escapes it. The only markup not built by the template is the
//! constant stylesheet.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};
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
        render(&status).into_string(),
    )
        .into_response())
}

/// A JSON value as text: strings without quotes, null as a dash. Unescaped: it is only ever
/// spliced into a template, which escapes it.
fn text(x: &Value) -> String {
    match x {
        Value::Null => "–".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
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

pub fn render(s: &Value) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="refresh" content=(REFRESH_SECS);
                title { "cic-bridge status" }
                // `<style>` is raw text, where entities are not decoded: a constant, so unescaped.
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { "cic-bridge status" }
                p class="muted" {
                    "version " span id="version" { (text(&s["version"])) }
                    " · up " (duration(s["uptimeSecs"].as_u64().unwrap_or(0)))
                    " · at " (text(&s["now"]))
                    " · this page reloads every " (REFRESH_SECS) " s"
                }
                (identity_center(&s["identityCenter"]))
                (tenants(&s["tenants"]))
                (chart(&s["queueHistory"]))
                (alarms(&s["alarms"]))
                (drift(&s["drift"]))
                (tasks(&s["tasksInProgress"]))
                (failures(&s["failures"]))
                p class="muted" {
                    "JSON of the same facts: " code { "/admin/status" } "; Prometheus: " code { "/metrics" } "."
                }
            }
        }
    }
}

fn identity_center(ic: &Value) -> Markup {
    let (class, word) = match ic["reachable"].as_bool() {
        Some(true) => ("ok", "reachable"),
        Some(false) => ("bad", "unreachable"),
        None => ("muted", "no call yet"),
    };
    let e = &ic["lastError"];
    html! {
        h2 { "Identity Center" }
        table id="identity-center" {
            tr { th { "Endpoint" } td { (text(&ic["endpoint"])) } }
            tr { th { "Reachability" } td class=(class) id="reachability" { (word) } }
            tr { th { "Last success" } td { (text(&ic["lastSuccessAt"])) } }
            tr {
                th { "Last error" }
                td {
                    @if e.is_null() {
                        "–"
                    } @else {
                        (text(&e["at"])) " " (text(&e["action"])) ": " code { (text(&e["code"])) }
                        " " (text(&e["message"])) " "
                        span class="muted" { "RequestId " (text(&e["requestId"])) }
                    }
                }
            }
            tr { th { "Calls / errors" } td { (text(&ic["calls"])) " / " (text(&ic["errors"])) } }
            tr {
                th { "Throttled" }
                td {
                    (text(&ic["throttled"]["requestLimitExceeded"])) " RequestLimitExceeded, "
                    (text(&ic["throttled"]["limiterWaits"])) " waits for the client's rate limiter"
                }
            }
        }
    }
}

fn tenants(tenants: &Value) -> Markup {
    html! {
        h2 { "Tenants and queue" }
        table id="tenants" {
            tr {
                th { "Tenant" } th { "Zone" } th { "Mode" } th { "Users" } th { "Groups" } th { "Memberships" }
                @for b in BUCKETS { th { (b) } }
                th { "Oldest due" } th { "Zone usage (GetZoneStatistics)" }
            }
            @for t in tenants.as_array().into_iter().flatten() {
                tr {
                    td { (text(&t["name"])) }
                    td { (text(&t["zoneId"])) }
                    td { (text(&t["mode"])) }
                    td class="n" { (text(&t["users"])) }
                    td class="n" { (text(&t["groups"])) }
                    td class="n" { (text(&t["memberships"])) }
                    @for b in BUCKETS {
                        @let n = t["queueTotals"][b].as_i64().unwrap_or(0);
                        @let class = if n > 0 && matches!(b, "parked" | "held" | "failed") { "n bad" } else { "n" };
                        td class=(class) { (n) }
                    }
                    td { (t["oldestDueAgeSecs"].as_u64().map(duration).unwrap_or_else(|| "–".to_owned())) }
                    td { (zone_usage(&t["zoneUsage"])) }
                }
            }
        }
    }
}

fn zone_usage(z: &Value) -> String {
    if z.is_null() {
        return "not known".to_owned();
    }
    format!(
        "users {}/{}, groups {}/{}, role configurations {}/{}",
        text(&z["users"]),
        text(&z["userQuota"]),
        text(&z["groups"]),
        text(&z["groupQuota"]),
        text(&z["roleConfigurations"]),
        text(&z["roleConfigurationQuota"]),
    )
}

/// Queue depth over the last hour: three polylines over a fixed one-hour axis.
fn chart(history: &Value) -> Markup {
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
    let points = |key: &str| {
        samples
            .iter()
            .filter_map(|s| Some((s["at"].as_i64()?, s[key].as_i64().unwrap_or(0))))
            .filter(|(at, _)| *at >= start)
            .map(|(at, n)| format!("{:.1},{:.1}", x(at), y(n)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let axis = H - BOTTOM;
    // SVG elements get explicit end tags: in HTML, `<line>` inside `<svg>` is not void, so
    // one without an end tag would hold the elements after it.
    html! {
        h2 { "Queue, last hour" }
        svg id="queue-chart" xmlns="http://www.w3.org/2000/svg" width=(W) height=(H)
            viewBox=(format!("0 0 {W} {H}")) role="img" aria-label="queue depth over the last hour" {
            line x1=(LEFT) y1=(axis) x2=(W - 10.0) y2=(axis) stroke="#999" {}
            line x1=(LEFT) y1="10" x2=(LEFT) y2=(axis) stroke="#999" {}
            text x="2" y="14" { (max) }
            text x="2" y=(axis) { "0" }
            text x=(LEFT) y=(H) { "−60 min" }
            text x=(W - 40.0) y=(H) { "now" }
            @for (key, colour) in [("queued", "#1f5fbf"), ("running", "#2e8b57"), ("stuck", "#b00020")] {
                polyline class=(format!("series-{key}")) fill="none" stroke=(colour) stroke-width="1.5"
                    points=(points(key)) {}
            }
        }
        p class="muted" {
            span style="color:#1f5fbf" { "■" } " queued (due, scheduled, waiting on a task) "
            span style="color:#2e8b57" { "■" } " running "
            span style="color:#b00020" { "■" } " parked, held or failed · "
            (samples.len()) " samples, every " (text(&history["intervalSecs"])) " s"
        }
    }
}

fn alarms(alarms: &Value) -> Markup {
    let list: Vec<&Value> = alarms.as_array().into_iter().flatten().collect();
    html! {
        h2 { "Alarms" }
        @if list.is_empty() {
            p id="alarms" class="ok" { "No alarm raised." }
        } @else {
            table id="alarms" {
                tr { th { "Tenant" } th { "Code" } th { "Message" } th { "Zone usage" } th { "Raised" } th { "Count" } }
                @for a in list {
                    @let z = &a["zoneUsage"];
                    tr {
                        td { (text(&a["tenant"])) }
                        td class="bad" { (text(&a["code"])) }
                        td { (text(&a["message"])) }
                        td {
                            @if z.is_null() {
                                "–"
                            } @else {
                                "users " (text(&z["users"])) "/" (text(&z["userQuota"]))
                                ", groups " (text(&z["groups"])) "/" (text(&z["groupQuota"]))
                            }
                        }
                        td { (text(&a["raisedAt"])) }
                        td class="n" { (text(&a["count"])) }
                    }
                }
            }
        }
    }
}

/// The last periodic reconciliation (`engine.reconcile_interval_secs`): differences between
/// the store and Identity Center by tenant and kind; `cic-bridge reconcile` shows the plan.
fn drift(drift: &Value) -> Markup {
    if drift.is_null() {
        return html! {
            h2 { "Drift" }
            p id="drift" class="muted" { "No periodic reconciliation has run (engine.reconcile_interval_secs)." }
        };
    }
    html! {
        h2 { "Drift" }
        p class="muted" { "Compared at " (text(&drift["at"])) "." }
        table id="drift" {
            tr { th { "Tenant" } th { "Differences" } }
            @for (tenant, kinds) in drift["tenants"].as_object().into_iter().flatten() {
                @let found: Vec<String> = kinds
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(_, n)| n.as_u64().unwrap_or(0) > 0)
                    .map(|(k, n)| format!("{k} {}", text(n)))
                    .collect();
                tr {
                    td { (tenant) }
                    @if found.is_empty() {
                        td class="ok" { "none" }
                    } @else {
                        td class="bad" { (found.join(", ")) }
                    }
                }
            }
            @for (tenant, why) in drift["skipped"].as_object().into_iter().flatten() {
                tr { td { (tenant) } td class="muted" { "not compared: " (text(why)) } }
            }
        }
    }
}

fn tasks(tasks: &Value) -> Markup {
    let list: Vec<&Value> = tasks.as_array().into_iter().flatten().collect();
    html! {
        h2 { "Tasks in progress (" (list.len()) ")" }
        @if !list.is_empty() {
            table id="tasks" {
                tr {
                    th { "Tenant" } th { "Task" } th { "Type" } th { "Role configuration" } th { "Account" }
                    th { "Polls" } th { "Started" }
                }
                @for t in list {
                    tr {
                        td { (text(&t["tenant"])) }
                        td { (text(&t["taskId"])) }
                        td { (text(&t["taskType"])) }
                        td { (text(&t["roleConfigurationId"])) }
                        td { (text(&t["account"])) }
                        td class="n" { (text(&t["polls"])) }
                        td { (text(&t["createdAt"])) }
                    }
                }
            }
        }
    }
}

fn failures(failures: &Value) -> Markup {
    let list: Vec<&Value> = failures.as_array().into_iter().flatten().collect();
    html! {
        h2 { "Last failures (" (list.len()) ")" }
        table id="failures" {
            tr {
                th { "Job" } th { "Tenant" } th { "Kind" } th { "Resource" } th { "Attempts" }
                th { "Code" } th { "Message" } th { "RequestId" } th { "At" }
            }
            @for f in list {
                @let e = &f["error"];
                tr class="failure" {
                    td class="n" { (text(&f["id"])) }
                    td { (text(&f["tenant"])) }
                    td { (text(&f["kind"])) }
                    td { (text(&f["resource"])) }
                    td class="n" { (text(&f["attempts"])) }
                    td { code { (text(&e["code"])) } }
                    td { (text(&e["message"])) }
                    td { code { (text(&e["requestId"])) } }
                    td { (text(&f["updatedAt"])) }
                }
            }
        }
        p class="muted" {
            "Retry one with " code { "POST /admin/jobs/{id}/retry" } " or " code { "cic-bridge jobs retry --id N" } "."
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Every value the page shows, each set to markup: each must come out as text, none as
    /// markup. The count proves that no splice was missed (or dropped from the page).
    #[test]
    fn every_value_is_escaped() {
        let evil = "<script>alert(1)</script>\"'&";
        let escaped = "&lt;script&gt;alert(1)&lt;/script&gt;&quot;'&amp;";
        let usage = json!({"users": evil, "userQuota": evil, "groups": evil, "groupQuota": evil,
                           "roleConfigurations": evil, "roleConfigurationQuota": evil});
        let s = json!({
            "version": evil, "uptimeSecs": 5, "now": evil,
            "identityCenter": {
                "endpoint": evil, "reachable": false, "lastSuccessAt": evil,
                "lastError": {"at": evil, "action": evil, "code": evil, "message": evil, "requestId": evil},
                "calls": evil, "errors": evil,
                "throttled": {"requestLimitExceeded": evil, "limiterWaits": evil},
            },
            "tenants": [{"name": evil, "zoneId": evil, "mode": evil, "users": evil, "groups": evil,
                         "memberships": evil, "queueTotals": {}, "zoneUsage": usage}],
            "queueHistory": {"intervalSecs": evil, "samples": [{"at": 100, "queued": 3, "running": 1, "stuck": 0}]},
            "alarms": [{"tenant": evil, "code": evil, "message": evil, "raisedAt": evil, "count": evil, "zoneUsage": usage}],
            "drift": {"at": evil, "tenants": {evil: {evil: 1}}, "skipped": {evil: evil}},
            "tasksInProgress": [{"tenant": evil, "taskId": evil, "taskType": evil, "roleConfigurationId": evil,
                                 "account": evil, "polls": evil, "createdAt": evil}],
            "failures": [{"id": evil, "tenant": evil, "kind": evil, "resource": evil, "attempts": evil,
                          "updatedAt": evil, "error": {"code": evil, "message": evil, "requestId": evil}}],
        });
        let html = render(&s).into_string();
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("\"'"), "{html}");
        // 2 in the heading, 11 Identity Center, 12 tenants (6 of them zone usage), 1 chart,
        // 9 alarms (4 zone usage), 5 drift, 7 tasks, 9 failures.
        assert_eq!(html.matches(escaped).count(), 56, "{html}");
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
