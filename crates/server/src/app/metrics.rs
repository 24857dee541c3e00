//! Prometheus `/metrics`: request counts by route group and status class, request time, pushes
//! accepted and refused, and bytes pushed. Atomics only; text exposition format 0.0.4.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Route groups, by path prefix.
const GROUPS: [&str; 7] = [
    "push",
    "flatcontainer",
    "registration",
    "search",
    "index",
    "health",
    "other",
];

/// The counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// [group][status class 1..=5 → 0..=4]
    requests: [[AtomicU64; 5]; GROUPS.len()],
    request_micros: AtomicU64,
    request_count: AtomicU64,
    pushes_accepted: AtomicU64,
    pushes_refused: AtomicU64,
    push_bytes: AtomicU64,
}

fn group(path: &str) -> usize {
    let g = if path.starts_with("/api/v2/package") {
        "push"
    } else if path.starts_with("/v3-flatcontainer/") {
        "flatcontainer"
    } else if path.starts_with("/v3/registration/") {
        "registration"
    } else if path.starts_with("/v3/query") || path.starts_with("/v3/autocomplete") {
        "search"
    } else if path == "/v3/index.json" {
        "index"
    } else if path == "/health" || path == "/metrics" {
        "health"
    } else {
        "other"
    };
    GROUPS
        .iter()
        .position(|x| *x == g)
        .unwrap_or(GROUPS.len() - 1)
}

impl Metrics {
    /// Counts one request.
    pub(crate) fn request(&self, path: &str, status: u16, micros: u64) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        if let Some(c) = self.requests.get(group(path)).and_then(|g| g.get(class)) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        self.request_micros.fetch_add(micros, Ordering::Relaxed);
        self.request_count.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one push.
    pub(crate) fn push(&self, accepted: bool, bytes: u64) {
        if accepted {
            self.pushes_accepted.fetch_add(1, Ordering::Relaxed);
            self.push_bytes.fetch_add(bytes, Ordering::Relaxed);
        } else {
            self.pushes_refused.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The text exposition.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP signet_http_requests_total HTTP requests by route group and status class.\n\
             # TYPE signet_http_requests_total counter"
        );
        for (g, name) in GROUPS.iter().enumerate() {
            for class in 0..5 {
                let n = self
                    .requests
                    .get(g)
                    .and_then(|x| x.get(class))
                    .map_or(0, |c| c.load(Ordering::Relaxed));
                let _ = writeln!(
                    out,
                    "signet_http_requests_total{{route=\"{name}\",status=\"{}xx\"}} {n}",
                    class + 1
                );
            }
        }
        let secs = self.request_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(
            out,
            "# HELP signet_http_request_duration_seconds Time spent answering requests.\n\
             # TYPE signet_http_request_duration_seconds summary\n\
             signet_http_request_duration_seconds_sum {secs}\n\
             signet_http_request_duration_seconds_count {}",
            self.request_count.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP signet_pushes_total Package pushes by result.\n\
             # TYPE signet_pushes_total counter\n\
             signet_pushes_total{{result=\"accepted\"}} {}\n\
             signet_pushes_total{{result=\"refused\"}} {}\n\
             # HELP signet_push_bytes_total Bytes of accepted packages.\n\
             # TYPE signet_push_bytes_total counter\n\
             signet_push_bytes_total {}",
            self.pushes_accepted.load(Ordering::Relaxed),
            self.pushes_refused.load(Ordering::Relaxed),
            self.push_bytes.load(Ordering::Relaxed)
        );
        out
    }
}
