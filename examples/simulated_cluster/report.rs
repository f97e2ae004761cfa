//! The report at the end of a run, and the API server's latency histograms it reads.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt as _;
use kube_sdk::api::client::Client;
use kube_sdk::sched::runner::RunnerStats;

use crate::load::{Churn, Fill};
use crate::observer::Seen;
use crate::{Args, Samples};

/// One verb's latency histogram (cumulative buckets), summed over resources.
#[derive(Debug, Clone, Default)]
pub(crate) struct Histogram {
    buckets: BTreeMap<u64, u64>,
    count: u64,
}

impl Histogram {
    /// The q-quantile, interpolated inside its bucket as Prometheus'
    /// `histogram_quantile` does.
    fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = q * self.count as f64;
        let (mut lower, mut below) = (0.0, 0.0);
        for (&upper_nanos, &cumulative) in &self.buckets {
            let upper = upper_nanos as f64 / 1e9;
            if cumulative as f64 >= rank {
                let inside = cumulative as f64 - below;
                let frac = if inside > 0.0 {
                    (rank - below) / inside
                } else {
                    1.0
                };
                return Some(lower + (upper - lower) * frac);
            }
            lower = upper;
            below = cumulative as f64;
        }
        // Past the last finite bucket: say so with its bound.
        Some(lower)
    }
}

/// What the API server's `/metrics` says of the requests it served.
#[derive(Debug, Default)]
pub(crate) struct ServerMetrics {
    /// `apiserver_request_duration_seconds`, summed by verb.
    pub(crate) latency: BTreeMap<String, Histogram>,
    /// `apiserver_request_total`, summed over codes, by verb and resource.
    pub(crate) requests: BTreeMap<(String, String), u64>,
}

/// Reads the API server's `/metrics`.
pub(crate) async fn api_metrics(
    client: &Client,
) -> Result<ServerMetrics, Box<dyn std::error::Error>> {
    let request = http::Request::get("/metrics").body(Bytes::new())?;
    let response = client.send(request).await?;
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    let text = String::from_utf8_lossy(&body);
    let mut out = ServerMetrics::default();
    for line in text.lines() {
        let (bucket, rest) =
            if let Some(rest) = line.strip_prefix("apiserver_request_duration_seconds_bucket{") {
                (true, rest)
            } else if let Some(rest) = line.strip_prefix("apiserver_request_total{") {
                (false, rest)
            } else {
                continue;
            };
        let Some((labels, value)) = rest.split_once("} ") else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split(',')
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix("=\""))
                .map(|v| v.trim_end_matches('"').to_owned())
        };
        if !bucket {
            if let (Some(verb), Some(resource)) = (label("verb"), label("resource")) {
                *out.requests.entry((verb, resource)).or_default() +=
                    value.trim().parse::<u64>().unwrap_or(0);
            }
            continue;
        }
        let (Some(verb), Some(le)) = (label("verb"), label("le")) else {
            continue;
        };
        let n: u64 = value.trim().parse().unwrap_or(0);
        let h = out.latency.entry(verb).or_default();
        if le == "+Inf" {
            h.count += n;
        } else if let Ok(bound) = le.parse::<f64>() {
            *h.buckets.entry((bound * 1e9).round() as u64).or_default() += n;
        }
    }
    Ok(out)
}

/// The process's memory at the steps of the run, in KiB.
#[derive(Debug, Clone)]
pub(crate) struct Memory {
    pub(crate) start_kib: u64,
    pub(crate) nodes_kib: u64,
    pub(crate) full_kib: u64,
    pub(crate) peak_kib: u64,
}

/// Everything the run measured.
#[derive(Debug)]
pub(crate) struct Report {
    pub(crate) args: Args,
    pub(crate) nodes_elapsed: Duration,
    pub(crate) fill: Fill,
    pub(crate) churn: Option<Churn>,
    pub(crate) observer: Seen,
    pub(crate) scheduler: Option<RunnerStats>,
    pub(crate) server: ServerMetrics,
    pub(crate) memory: Memory,
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn line(f: &mut fmt::Formatter<'_>, what: &str, s: &Samples) -> fmt::Result {
    let [p50, p90, p99, max] = s.summary();
    writeln!(
        f,
        "  {what:<28} n={:<8} p50 {:>10}  p90 {:>10}  p99 {:>10}  max {:>10}",
        s.len(),
        ms(p50),
        ms(p90),
        ms(p99),
        ms(max)
    )
}

fn rate(n: usize, from: Instant, to: Option<Instant>) -> String {
    match to {
        Some(to) if to > from => format!(
            "{:>9.0} pods/s  ({:.2} s)",
            n as f64 / (to - from).as_secs_f64(),
            (to - from).as_secs_f64()
        ),
        _ => "n/a".to_owned(),
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = &self.args;
        let o = &self.observer;
        let pods = a.pods;
        writeln!(f, "== simulated cluster report ==")?;
        writeln!(
            f,
            "nodes {}  pods {}  (deployments {:.0}%, spread {:.0}%, anti-affinity {:.0}% of bare)  concurrency {}  rate {}  transport {}",
            a.nodes,
            pods,
            a.deployment_share * 100.0,
            a.spread_share * 100.0,
            a.anti_affinity_share * 100.0,
            a.concurrency,
            if a.rate > 0.0 {
                format!("{:.0}/s", a.rate)
            } else {
                "unlimited".to_owned()
            },
            if a.https.is_some() {
                "HTTPS"
            } else {
                "in-process"
            }
        )?;
        writeln!(
            f,
            "node agents registered in {:.2} s",
            self.nodes_elapsed.as_secs_f64()
        )?;
        let start = self.fill.started;
        writeln!(
            f,
            "fill {}: {} pods",
            if self.fill.complete {
                "complete"
            } else {
                "INCOMPLETE (timed out)"
            },
            pods
        )?;
        writeln!(
            f,
            "  created   {}",
            rate(pods, start, o.last_created.or(Some(self.fill.creates_done)))
        )?;
        writeln!(f, "  scheduled {}", rate(pods, start, o.last_scheduled))?;
        writeln!(
            f,
            "  Running   {}  <- end to end",
            rate(pods, start, o.last_running)
        )?;
        writeln!(
            f,
            "  create failures {}  watch resumes {}",
            self.fill.failures, o.rewatches
        )?;
        if let Some(s) = &self.scheduler {
            writeln!(
                f,
                "  scheduler: {} cycles, {} bound, {} unschedulable attempts, {} binding failures",
                s.cycles, s.bound, s.unschedulable, s.bind_failures
            )?;
        }
        writeln!(
            f,
            "pod startup latency (creation to Running, observed by watch):"
        )?;
        line(f, "fill", &o.startup_fill)?;
        if o.startup_churn.len() > 0 {
            line(f, "churn", &o.startup_churn)?;
        }
        line(f, "creation to scheduled", &o.scheduling)?;
        if let Some(c) = &self.churn {
            writeln!(
                f,
                "churn {}: {} deleted and {} created in {:.1} s, {} failures",
                if c.complete { "complete" } else { "INCOMPLETE" },
                c.deleted,
                c.created,
                c.elapsed.as_secs_f64(),
                c.failures
            )?;
        }
        writeln!(
            f,
            "API latency by verb, at the server (apiserver_request_duration_seconds; WATCH excluded):"
        )?;
        for (verb, h) in &self.server.latency {
            if verb == "WATCH" {
                continue;
            }
            let q = |p| {
                h.quantile(p)
                    .map_or("n/a".to_owned(), |s| format!("{:.1} ms", s * 1e3))
            };
            writeln!(
                f,
                "  {verb:<28} n={:<8} p50 {:>10}  p90 {:>10}  p99 {:>10}",
                h.count,
                q(0.50),
                q(0.90),
                q(0.99)
            )?;
        }
        let mut busiest: Vec<_> = self.server.requests.iter().collect();
        busiest.sort_by(|a, b| b.1.cmp(a.1));
        writeln!(f, "API requests, the most frequent (verb resource: count):")?;
        for chunk in busiest.chunks(4).take(3) {
            let cells: Vec<String> = chunk
                .iter()
                .map(|((verb, resource), n)| format!("{verb} {resource}: {n}"))
                .collect();
            writeln!(f, "  {}", cells.join("   "))?;
        }
        writeln!(f, "API latency at the client (the load generator's calls):")?;
        line(f, "create pod (fill)", &self.fill.client_create)?;
        if let Some(c) = &self.churn {
            line(f, "create pod (churn)", &c.client_create)?;
            line(f, "delete pod (churn)", &c.client_delete)?;
        }
        let m = &self.memory;
        let mib = |k: u64| k as f64 / 1024.0;
        writeln!(
            f,
            "memory: peak RSS (VmHWM) {:.0} MiB; at start {:.0} MiB, with the nodes {:.0} MiB, full {:.0} MiB",
            mib(m.peak_kib),
            mib(m.start_kib),
            mib(m.nodes_kib),
            mib(m.full_kib)
        )?;
        writeln!(
            f,
            "  per node {:.1} KiB   per pod {:.1} KiB",
            m.nodes_kib.saturating_sub(m.start_kib) as f64 / a.nodes.max(1) as f64,
            m.full_kib.saturating_sub(m.nodes_kib) as f64 / pods.max(1) as f64
        )
    }
}
