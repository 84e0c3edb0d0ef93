//! Prometheus metrics: the original Lostrómos's names, plus durations (helm's
//! own run apart from its wait for a slot), helm processes, releases by state
//! and failures.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::observe::objects::RegistryCounts;

type Labels = Vec<(&'static str, String)>;

/// The three kinds of change the original counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Create,
    Update,
    Delete,
}

struct ChangeMetrics {
    total: Counter,
    errors: Counter,
    last: Gauge<f64, AtomicU64>,
}

impl ChangeMetrics {
    fn register(registry: &mut Registry, verb: &str) -> Self {
        let me = Self {
            total: Counter::default(),
            errors: Counter::default(),
            last: Gauge::default(),
        };
        registry.register(
            format!("releases_{verb}"),
            format!("Releases {verb}d (helm runs that succeeded)"),
            me.total.clone(),
        );
        registry.register(
            format!("releases_{verb}_error"),
            format!("Failed helm runs to {verb} a release"),
            me.errors.clone(),
        );
        registry.register(
            format!("releases_last_{verb}_timestamp_utc_seconds"),
            format!("When a release was last {verb}d, in Unix seconds"),
            me.last.clone(),
        );
        me
    }
}

fn histogram() -> Histogram {
    // 10 ms .. ~80 s
    Histogram::new(exponential_buckets(0.01, 2.0, 14))
}

pub struct Metrics {
    registry: Registry,
    events: Counter,
    managed: Gauge,
    create: ChangeMetrics,
    update: ChangeMetrics,
    delete: ChangeMetrics,
    reconcile_seconds: Family<Labels, Histogram>,
    helm_seconds: Family<Labels, Histogram>,
    helm_queue_seconds: Family<Labels, Histogram>,
    helm_processes: Family<Labels, Counter>,
    helm_waiting: Family<Labels, Gauge>,
    releases_by_status: Family<Labels, Gauge>,
    failures: Family<Labels, Counter>,
    drift: Family<Labels, Counter>,
    object_releases: Gauge,
    object_kinds: Gauge,
    objects: Gauge,
    api_requests: Family<Labels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let events = Counter::default();
        registry.register(
            "releases_events",
            "CR events handled (reconciles)",
            events.clone(),
        );
        let managed = Gauge::default();
        registry.register(
            "releases_total",
            "Releases managed by Lostrómos",
            managed.clone(),
        );
        let create = ChangeMetrics::register(&mut registry, "create");
        let update = ChangeMetrics::register(&mut registry, "update");
        let delete = ChangeMetrics::register(&mut registry, "delete");
        let reconcile_seconds =
            Family::<Labels, Histogram>::new_with_constructor(histogram as fn() -> Histogram);
        registry.register(
            "lostromos_reconcile_duration_seconds",
            "Reconcile duration by decided action",
            reconcile_seconds.clone(),
        );
        let helm_seconds =
            Family::<Labels, Histogram>::new_with_constructor(histogram as fn() -> Histogram);
        registry.register(
            "lostromos_helm_duration_seconds",
            "helm process duration by action, from its start to its exit",
            helm_seconds.clone(),
        );
        let helm_queue_seconds =
            Family::<Labels, Histogram>::new_with_constructor(histogram as fn() -> Histogram);
        registry.register(
            "lostromos_helm_queue_seconds",
            "Wait for a helm slot (--concurrency) by action, before helm starts",
            helm_queue_seconds.clone(),
        );
        let helm_processes = Family::<Labels, Counter>::default();
        registry.register(
            "lostromos_helm_processes",
            "helm processes started, by action and result",
            helm_processes.clone(),
        );
        let helm_waiting = Family::<Labels, Gauge>::default();
        registry.register(
            "lostromos_helm_waiting",
            "helm runs waiting now for a slot (--concurrency, and the kind's --max-concurrent-reconciles)",
            helm_waiting.clone(),
        );
        let releases_by_status = Family::<Labels, Gauge>::default();
        registry.register(
            "lostromos_releases",
            "Managed releases by helm status of their latest revision",
            releases_by_status.clone(),
        );
        let failures = Family::<Labels, Counter>::default();
        registry.register(
            "lostromos_failures",
            "Failed reconciles by reason",
            failures.clone(),
        );
        let drift = Family::<Labels, Counter>::default();
        registry.register(
            "lostromos_drift",
            "Drift decisions: corrected (helm re-applied the release), warned, or held (a fight: corrections paused)",
            drift.clone(),
        );
        let object_releases = Gauge::default();
        registry.register(
            "lostromos_object_releases",
            "Releases whose objects are known (read from their release records) and judged",
            object_releases.clone(),
        );
        let object_kinds = Gauge::default();
        registry.register(
            "lostromos_object_kinds",
            "Object kinds watched for the releases' readiness and drift",
            object_kinds.clone(),
        );
        let objects = Gauge::default();
        registry.register(
            "lostromos_objects",
            "Objects of releases kept (a compact state each) by the object watches",
            objects.clone(),
        );
        let api_requests = Family::<Labels, Gauge>::default();
        registry.register(
            "lostromos_api_requests",
            "Requests sent to the API server since start, by verb (watch, get, patch, post, put, delete)",
            api_requests.clone(),
        );
        Self {
            registry,
            events,
            managed,
            create,
            update,
            delete,
            reconcile_seconds,
            helm_seconds,
            helm_queue_seconds,
            helm_processes,
            helm_waiting,
            releases_by_status,
            failures,
            drift,
            object_releases,
            object_kinds,
            objects,
            api_requests,
        }
    }

    /// Sets the API request counts (at scrape time).
    pub fn set_api_requests(&self, sent: &[(&'static str, u64)]) {
        for (verb, n) in sent {
            self.api_requests
                .get_or_create(&vec![("verb", (*verb).to_owned())])
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
    }

    /// One drift decision of a CR of `kind`: `corrected`, `warned` or `held`.
    pub fn drift(&self, kind: &str, outcome: &'static str) {
        self.drift
            .get_or_create(&vec![
                ("kind", kind.to_owned()),
                ("outcome", outcome.to_owned()),
            ])
            .inc();
    }

    /// The metrics of one watched kind (`plural.group`), as its reconciles
    /// record them.
    pub fn for_kind(self: &Arc<Self>, kind: impl Into<String>) -> KindMetrics {
        KindMetrics {
            metrics: self.clone(),
            kind: kind.into(),
        }
    }

    /// Sets the object watch gauges (at scrape time).
    pub fn set_objects(&self, counts: RegistryCounts) {
        self.object_releases.set(counts.releases as i64);
        self.object_kinds.set(counts.kinds as i64);
        self.objects.set(counts.objects as i64);
    }

    pub fn reconciled(&self, kind: &str, action: &'static str, took: Duration) {
        self.events.inc();
        self.reconcile_seconds
            .get_or_create(&vec![
                ("kind", kind.to_owned()),
                ("action", action.to_owned()),
            ])
            .observe(took.as_secs_f64());
    }

    /// One helm run: `queue` waiting for a slot, then `ran` in helm (`None`
    /// when no process started: refused at shutdown, or not startable).
    pub fn helm_ran(
        &self,
        kind: &str,
        action: &'static str,
        result: &'static str,
        queue: Duration,
        ran: Option<Duration>,
    ) {
        let labels = vec![("kind", kind.to_owned()), ("action", action.to_owned())];
        self.helm_queue_seconds
            .get_or_create(&labels)
            .observe(queue.as_secs_f64());
        if let Some(ran) = ran {
            self.helm_seconds
                .get_or_create(&labels)
                .observe(ran.as_secs_f64());
        }
        self.helm_processes
            .get_or_create(&vec![
                ("kind", kind.to_owned()),
                ("action", action.to_owned()),
                ("result", result.to_owned()),
            ])
            .inc();
    }

    pub fn changed(&self, change: Change, ok: bool, now_unix: f64) {
        let m = match change {
            Change::Create => &self.create,
            Change::Update => &self.update,
            Change::Delete => &self.delete,
        };
        if ok {
            m.total.inc();
            m.last.set(now_unix);
        } else {
            m.errors.inc();
        }
    }

    pub fn failed(&self, kind: &str, reason: &'static str) {
        self.failures
            .get_or_create(&vec![
                ("kind", kind.to_owned()),
                ("reason", reason.to_owned()),
            ])
            .inc();
    }

    /// Sets the release gauges from the current index (at scrape time).
    pub fn set_releases(&self, by_status: &[(&'static str, usize)]) {
        let total: usize = by_status.iter().map(|(_, n)| n).sum();
        self.managed.set(total as i64);
        for (status, n) in by_status {
            self.releases_by_status
                .get_or_create(&vec![("status", (*status).to_owned())])
                .set(*n as i64);
        }
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // writing into a String cannot fail
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// One helm run counted in `lostromos_helm_waiting` while it lives.
pub struct Waiting(Gauge);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The metrics of one watched kind: every per-CR series carries its `kind`
/// label (`plural.group`), so one process serving several kinds tells them
/// apart. The original's counters stay process-wide totals.
#[derive(Clone)]
pub struct KindMetrics {
    metrics: Arc<Metrics>,
    kind: String,
}

impl KindMetrics {
    pub fn reconciled(&self, action: &'static str, took: Duration) {
        self.metrics.reconciled(&self.kind, action, took);
    }

    pub fn helm_ran(
        &self,
        action: &'static str,
        result: &'static str,
        queue: Duration,
        ran: Option<Duration>,
    ) {
        self.metrics
            .helm_ran(&self.kind, action, result, queue, ran);
    }

    pub fn changed(&self, change: Change, ok: bool, now_unix: f64) {
        self.metrics.changed(change, ok, now_unix);
    }

    pub fn failed(&self, reason: &'static str) {
        self.metrics.failed(&self.kind, reason);
    }

    /// Counts one helm run waiting for a slot, until the guard is dropped.
    pub fn helm_waiting(&self) -> Waiting {
        let gauge = self
            .metrics
            .helm_waiting
            .get_or_create(&vec![("kind", self.kind.clone())])
            .clone();
        gauge.inc();
        Waiting(gauge)
    }

    pub fn drift(&self, outcome: &'static str) {
        self.metrics.drift(&self.kind, outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn original_names_are_exposed() {
        let all = Arc::new(Metrics::new());
        let m = all.for_kind("widgets.g");
        m.changed(Change::Create, true, 1700000000.0);
        m.changed(Change::Update, false, 0.0);
        m.reconciled("install", Duration::from_millis(50));
        m.helm_ran(
            "upgrade",
            "ok",
            Duration::from_secs(70),
            Some(Duration::from_millis(80)),
        );
        m.failed("ValuesRejected");
        all.set_releases(&[("deployed", 3), ("failed", 1)]);
        m.drift("corrected");
        all.for_kind("gadgets.g").failed("ValuesRejected");
        all.set_objects(RegistryCounts {
            releases: 3,
            kinds: 2,
            objects: 7,
        });
        all.set_api_requests(&[("get", 3)]);
        let text = all.encode();
        for name in [
            "releases_events_total 1",
            "releases_total 4",
            "releases_create_total 1",
            "releases_update_total 0",
            "releases_delete_total 0",
            "releases_create_error_total 0",
            "releases_update_error_total 1",
            "releases_delete_error_total 0",
            "releases_last_create_timestamp_utc_seconds 1700000000",
            "releases_last_update_timestamp_utc_seconds",
            "releases_last_delete_timestamp_utc_seconds",
            "lostromos_reconcile_duration_seconds_bucket{",
            "lostromos_helm_duration_seconds_count{kind=\"widgets.g\",action=\"upgrade\"} 1",
            "lostromos_helm_queue_seconds_count{kind=\"widgets.g\",action=\"upgrade\"} 1",
            "lostromos_helm_processes_total{kind=\"widgets.g\",action=\"upgrade\",result=\"ok\"} 1",
            "lostromos_releases{status=\"deployed\"} 3",
            "lostromos_failures_total{kind=\"widgets.g\",reason=\"ValuesRejected\"} 1",
            "lostromos_failures_total{kind=\"gadgets.g\",reason=\"ValuesRejected\"} 1",
            "lostromos_drift_total{kind=\"widgets.g\",outcome=\"corrected\"} 1",
            "lostromos_object_releases 3",
            "lostromos_object_kinds 2",
            "lostromos_objects 7",
            "lostromos_api_requests{verb=\"get\"} 3",
        ] {
            assert!(text.contains(name), "missing {name} in\n{text}");
        }
    }

    #[test]
    fn runs_waiting_for_a_slot_are_counted_while_they_wait() {
        let all = Arc::new(Metrics::new());
        let m = all.for_kind("w.g");
        let first = m.helm_waiting();
        let second = m.helm_waiting();
        assert!(all
            .encode()
            .contains("lostromos_helm_waiting{kind=\"w.g\"} 2"));
        drop(first);
        drop(second);
        assert!(all
            .encode()
            .contains("lostromos_helm_waiting{kind=\"w.g\"} 0"));
    }

    /// helm's own time and the wait for a slot land in their own histograms.
    #[test]
    fn helm_time_and_queue_time_are_apart() {
        let all = Arc::new(Metrics::new());
        let m = all.for_kind("w.g");
        m.helm_ran(
            "upgrade",
            "ok",
            Duration::from_secs(70),
            Some(Duration::from_millis(800)),
        );
        // refused before a process started: a wait, no helm time
        m.helm_ran("upgrade", "HelmNotStarted", Duration::from_millis(5), None);
        let text = all.encode();
        for line in [
            "lostromos_helm_duration_seconds_sum{kind=\"w.g\",action=\"upgrade\"} 0.8",
            "lostromos_helm_duration_seconds_count{kind=\"w.g\",action=\"upgrade\"} 1",
            "lostromos_helm_duration_seconds_bucket{le=\"1.28\",kind=\"w.g\",action=\"upgrade\"} 1",
            "lostromos_helm_duration_seconds_bucket{le=\"0.64\",kind=\"w.g\",action=\"upgrade\"} 0",
            "lostromos_helm_queue_seconds_sum{kind=\"w.g\",action=\"upgrade\"} 70.005",
            "lostromos_helm_queue_seconds_count{kind=\"w.g\",action=\"upgrade\"} 2",
            "lostromos_helm_queue_seconds_bucket{le=\"0.01\",kind=\"w.g\",action=\"upgrade\"} 1",
            "lostromos_helm_queue_seconds_bucket{le=\"+Inf\",kind=\"w.g\",action=\"upgrade\"} 2",
            "lostromos_helm_processes_total{kind=\"w.g\",action=\"upgrade\",result=\"HelmNotStarted\"} 1",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
    }
}
