//! Prometheus metrics: event counters and latency histograms through the `metrics` facade,
//! rendered by `metrics-exporter-prometheus` at `GET /metrics` (no HTTP listener of its own).
//!
//! The `metrics` facade has one global recorder per process and it can be installed only
//! once, while a test binary starts many apps. So the recorder is installed on first use and
//! shared: events (requests, calls, retries) are process-wide counters, which is what
//! Prometheus expects of a process. State that belongs to one app (queue depth, alarms, tasks
//! in progress, uptime) is not kept in the global recorder at all: `/metrics` reads it from
//! that app's own store at scrape time and appends it to the rendered text
//! ([`StateGauges`]), so two apps in one process never overwrite each other's gauges.

use std::fmt::Write as _;
use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Histogram buckets in seconds: SCIM answers and Identity Center calls take milliseconds to
/// a few seconds; tasks take seconds to minutes.
const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process's recorder on first call; `None` when another recorder was installed
/// first (then `/metrics` answers 503 instead of lying with empty counters).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().set_buckets(&BUCKETS).ok()?.build_recorder();
            let handle = recorder.handle();
            match metrics::set_global_recorder(recorder) {
                Ok(()) => {
                    describe();
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "another metrics recorder is installed; /metrics is disabled");
                    None
                }
            }
        })
        .as_ref()
}

/// What the process-wide recorder holds: a counter or a histogram (in seconds).
#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Histogram,
}

/// Every metric the recorder may hold, with its help text. A labelled counter has no sample
/// until its first event (the first throttle, the first failed JWKS fetch), and the exporter
/// renders nothing for it until then; [`render`] declares those (`# HELP` and `# TYPE`
/// without samples), so that the alert rules' metric names can be checked against a daemon
/// that has not met the event (`scripts/check-monitoring`).
const EVENT_METRICS: &[(&str, Kind, &str)] = &[
    (
        "cic_bridge_http_requests_total",
        Kind::Counter,
        "HTTP requests answered, by matched route, method and status",
    ),
    (
        "cic_bridge_http_request_duration_seconds",
        Kind::Histogram,
        "HTTP request latency by matched route, method and status",
    ),
    (
        "cic_bridge_cic_calls_total",
        Kind::Counter,
        "Identity Center API calls by action and outcome (ok or error class)",
    ),
    (
        "cic_bridge_cic_call_duration_seconds",
        Kind::Histogram,
        "Identity Center API call latency by action and outcome",
    ),
    (
        "cic_bridge_cic_network_errors_total",
        Kind::Counter,
        "Identity Center API calls that got no API answer, by action and error: timeout, transport (connection refused or cut, DNS, TLS) or http_status (a proxy's non-200)",
    ),
    (
        "cic_bridge_cic_throttled_total",
        Kind::Counter,
        "Identity Center answers RequestLimitExceeded, by action",
    ),
    (
        "cic_bridge_cic_limiter_waits_total",
        Kind::Counter,
        "Calls that waited for cic-bridge's own per-action rate limiter",
    ),
    (
        "cic_bridge_operations_total",
        Kind::Counter,
        "Operation attempts by kind and outcome",
    ),
    (
        "cic_bridge_operation_retries_total",
        Kind::Counter,
        "Operation attempts that will be retried, by kind",
    ),
    (
        "cic_bridge_operation_duration_seconds",
        Kind::Histogram,
        "Duration of one operation attempt, by kind",
    ),
    (
        "cic_bridge_task_duration_seconds",
        Kind::Histogram,
        "Identity Center asynchronous tasks from start to their end, by type and status",
    ),
    (
        "cic_bridge_organization_refreshes_total",
        Kind::Counter,
        "Refreshes of the organization snapshot (departments and accounts), by outcome: unchanged, applied, held (by the fuse), failed",
    ),
    (
        "cic_bridge_organization_refresh_duration_seconds",
        Kind::Histogram,
        "Duration of a refresh of the organization snapshot, by outcome",
    ),
    (
        "cic_bridge_jwks_fetches_total",
        Kind::Counter,
        "Fetches of a JWT issuer's signing keys (jwks_url), by tenant and outcome: ok or error",
    ),
];

fn describe() {
    for &(name, kind, help) in EVENT_METRICS {
        match kind {
            Kind::Counter => metrics::describe_counter!(name, help),
            Kind::Histogram => metrics::describe_histogram!(name, metrics::Unit::Seconds, help),
        }
    }
}

/// The recorder's text, then a declaration of each metric of [`EVENT_METRICS`] that has no
/// sample yet.
pub fn render(handle: &PrometheusHandle) -> String {
    let mut text = handle.render();
    for &(name, kind, help) in EVENT_METRICS {
        if !text.contains(&format!("# TYPE {name} ")) {
            let kind = match kind {
                Kind::Counter => "counter",
                Kind::Histogram => "histogram",
            };
            let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} {kind}");
        }
    }
    text
}

/// Drains histogram samples into their buckets; the sampler calls it so that memory stays
/// bounded between scrapes.
pub fn upkeep() {
    if let Some(h) = handle() {
        h.run_upkeep();
    }
}

pub fn http_request(route: &str, method: &str, status: u16, elapsed: Duration) {
    let labels = [
        ("route", route.to_owned()),
        ("method", method.to_owned()),
        ("status", status.to_string()),
    ];
    metrics::counter!("cic_bridge_http_requests_total", &labels).increment(1);
    metrics::histogram!("cic_bridge_http_request_duration_seconds", &labels).record(elapsed.as_secs_f64());
}

pub fn cic_call(action: &'static str, outcome: &'static str, elapsed: Duration) {
    let labels = [("action", action), ("outcome", outcome)];
    metrics::counter!("cic_bridge_cic_calls_total", &labels).increment(1);
    metrics::histogram!("cic_bridge_cic_call_duration_seconds", &labels).record(elapsed.as_secs_f64());
}

pub fn cic_network_error(action: &'static str, error: &'static str) {
    metrics::counter!("cic_bridge_cic_network_errors_total", "action" => action, "error" => error).increment(1);
}

pub fn cic_throttled(action: &'static str) {
    metrics::counter!("cic_bridge_cic_throttled_total", "action" => action).increment(1);
}

pub fn cic_limiter_wait(action: &'static str) {
    metrics::counter!("cic_bridge_cic_limiter_waits_total", "action" => action).increment(1);
}

pub fn operation(kind: &'static str, outcome: &'static str, elapsed: Duration) {
    metrics::counter!("cic_bridge_operations_total", "kind" => kind, "outcome" => outcome).increment(1);
    if outcome == "retry" {
        metrics::counter!("cic_bridge_operation_retries_total", "kind" => kind).increment(1);
    }
    metrics::histogram!("cic_bridge_operation_duration_seconds", "kind" => kind).record(elapsed.as_secs_f64());
}

pub fn organization_refresh(outcome: &'static str, elapsed: Duration) {
    metrics::counter!("cic_bridge_organization_refreshes_total", "outcome" => outcome).increment(1);
    metrics::histogram!("cic_bridge_organization_refresh_duration_seconds", "outcome" => outcome)
        .record(elapsed.as_secs_f64());
}

/// Starts a tenant's JWKS fetch counters at 0, so that the first failure is an increase
/// (a series that appears at 1 shows none to `increase()`).
pub fn jwks_tenant(tenant: &str) {
    let _ = handle();
    for outcome in ["ok", "error"] {
        metrics::counter!("cic_bridge_jwks_fetches_total", "tenant" => tenant.to_owned(), "outcome" => outcome)
            .increment(0);
    }
}

pub fn jwks_fetch(tenant: &str, ok: bool) {
    let outcome = if ok { "ok" } else { "error" };
    metrics::counter!("cic_bridge_jwks_fetches_total", "tenant" => tenant.to_owned(), "outcome" => outcome)
        .increment(1);
}

pub fn task_finished(task_type: &str, status: &str, elapsed: Duration) {
    metrics::histogram!(
        "cic_bridge_task_duration_seconds",
        "type" => task_type.to_owned(),
        "status" => status.to_owned()
    )
    .record(elapsed.as_secs_f64());
}

/// Gauges of one app's state, read from its store at scrape time, in the text format.
#[derive(Default)]
pub struct StateGauges {
    out: String,
    declared: std::collections::HashSet<&'static str>,
}

impl StateGauges {
    pub fn gauge(&mut self, name: &'static str, help: &str, labels: &[(&str, &str)], value: f64) {
        self.sample(name, "gauge", help, labels, value);
    }

    /// Declares a metric that may have no sample in this scrape (no alarm raised, no
    /// reconciliation yet), so that its name is known to whoever reads `/metrics`.
    pub fn declare(&mut self, name: &'static str, kind: &str, help: &str) {
        if self.declared.insert(name) {
            let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        }
    }

    /// A counter kept by the app (not by the process-wide recorder).
    pub fn counter(&mut self, name: &'static str, help: &str, labels: &[(&str, &str)], value: f64) {
        self.sample(name, "counter", help, labels, value);
    }

    fn sample(&mut self, name: &'static str, kind: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        if self.declared.insert(name) {
            let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        }
        let _ = write!(self.out, "{name}");
        if !labels.is_empty() {
            let inner: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                .collect();
            let _ = write!(self.out, "{{{}}}", inner.join(","));
        }
        let _ = writeln!(self.out, " {value}");
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// Label values escape backslash, double quote and newline (the exposition format).
fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_gauges_declare_once_and_escape_labels() {
        let mut g = StateGauges::default();
        g.gauge("x_total", "help", &[("code", "a\"b")], 1.0);
        g.gauge("x_total", "help", &[("code", "c")], 2.0);
        let out = g.finish();
        assert_eq!(out.matches("# TYPE x_total gauge").count(), 1);
        assert!(out.contains("x_total{code=\"a\\\"b\"} 1"));
        assert!(out.contains("x_total{code=\"c\"} 2"));
    }

    #[test]
    fn a_declared_metric_without_samples_has_help_and_type_once() {
        let mut g = StateGauges::default();
        g.declare("y", "gauge", "help");
        g.gauge("y", "help", &[], 3.0);
        g.declare("z", "gauge", "other");
        let out = g.finish();
        assert_eq!(
            out,
            "# HELP y help\n# TYPE y gauge\ny 3\n# HELP z other\n# TYPE z gauge\n"
        );
    }
}
