//! What every reconcile shares: the settings fixed at start-up (`Setup`) and
//! what reconciles learn as they run (`Context`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::api::Api;
use kube::runtime::controller::Action;
use kube::Client;

use super::backoff::Failures;
use super::events::Events;
use super::release_locks::ReleaseLocks;
use crate::helm::chart::Chart;
use crate::helm::{HelmArgs, HelmError, HelmErrorKind, HelmRunner};
use crate::observe::api_probe::ApiProbe;
use crate::observe::cr::{CrObject, CrType, CrView};
use crate::observe::objects::{Objects, ObjectsError};
use crate::observe::release_watch::Releases;
use crate::observe::watch_health::is_transport;
use crate::plan::chart_choice::{ChartPolicy, ChartRequest};
use crate::plan::health::{Corrections, HealthSettings};
use crate::plan::PlanSettings;
use crate::serve::metrics::KindMetrics;
use tokio::sync::Semaphore;

/// Everything a reconcile needs that is fixed at start-up.
pub struct Setup {
    pub client: Client,
    pub resource: CrType,
    pub has_status: bool,
    pub plan: PlanSettings,
    pub helm: HelmArgs,
    pub runner: Arc<HelmRunner>,
    pub releases: Arc<Releases>,
    pub events: Events,
    /// The configured chart.
    pub chart: Arc<Chart>,
    pub chart_policy: ChartPolicy,
    pub dry_run: bool,
    pub reconcile_period: Duration,
    /// Private (0700) folder for values files and pulled charts.
    pub work_dir: PathBuf,
    /// How long to wait for helm's own writes to reach the release index.
    pub index_catch_up: Duration,
    pub metrics: KindMetrics,
    /// Whether the API server answers, for CRs that failed because it did not.
    pub api: Arc<ApiProbe>,
    /// The releases' objects, when watched (`--watch-objects`).
    pub objects: Option<Arc<Objects>>,
    /// Readiness deadline and drift handling.
    pub health: HealthSettings,
    /// Shared by every kind of the process: one decision at a time per release.
    pub release_locks: ReleaseLocks,
    /// This kind's cap on helm processes at once (`maxConcurrentReconciles`),
    /// inside the runner's own.
    pub kind_cap: Option<Arc<Semaphore>>,
    /// Normal Events for the routine results of a CR's own change too.
    pub routine_events: bool,
}

/// What reconciles remember of one managed CR between runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Memo {
    /// Its failing streak, for the backoff.
    pub failures: Option<Failures>,
    /// Its decision inputs when last reconciled: a different hash means the CR
    /// itself changed (an edit, or a forced re-check by annotation).
    pub seen: Option<u64>,
    /// The rejection last reported, so one is reported once per change.
    pub reported: Option<u64>,
    /// A cause outside the CR that made its last reconcile fail.
    pub blocked: Option<Blocked>,
    /// Recent drift corrections of its release, to tell a fight.
    pub corrections: Corrections,
    /// Its last status write, until the cached CR shows it.
    pub status_write: Option<StatusWrite>,
}

/// A status this process wrote, on the CR at `base_rv`: while the cache still
/// holds that version (the watch event of the write not in yet), the same
/// status is not written again. Kept only until the cache moves on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct StatusWrite {
    pub base_rv: String,
    pub fingerprint: u64,
}

/// A chart a CR chose by annotation: resolved once, by the first CR that asks.
pub(super) type ChartCell = Arc<tokio::sync::OnceCell<Arc<Chart>>>;

/// The setup plus what reconciles learn as they run; derefs to the setup.
pub struct Context {
    setup: Setup,
    /// Charts CRs chose by annotation, one cell per request, so a slow pull
    /// holds up only the CRs that wait for that chart.
    charts: Mutex<HashMap<ChartRequest, ChartCell>>,
    /// Managed CRs by uid; an entry goes with the CR's last reconcile.
    memos: Mutex<HashMap<String, Memo>>,
}

/// How often a CR that failed because the API server did not answer checks
/// whether it answers again (a cheap, shared check; nothing else runs).
pub const UNREACHABLE_RETRY: Duration = Duration::from_secs(2);

/// A cause outside the CR that made its reconcile fail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Blocked {
    /// No answer from the API server; `seen_down` once a check confirmed it
    /// (else it may have been a one-off, and the backoff applies).
    ApiUnreachable { seen_down: bool },
    /// The Secrets of release `namespace/name` may not be watched.
    ReleasesForbidden { namespace: String, name: String },
}

/// What a blocked CR may do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Gate {
    /// The cause holds: check again after this long, acting on nothing.
    Wait(Duration),
    /// The cause is gone: retry at once, with a fresh streak.
    Now,
    /// Not blocked, or not for sure: the backoff applies.
    Backoff,
}

impl Blocked {
    /// The outside cause of a failure, if it had one.
    pub(super) fn cause_of(err: &ReconcileError) -> Option<Blocked> {
        match err {
            ReconcileError::ReleasesForbidden {
                namespace, name, ..
            } => Some(Blocked::ReleasesForbidden {
                namespace: namespace.clone(),
                name: name.clone(),
            }),
            e if e.is_unreachable() => Some(Blocked::ApiUnreachable { seen_down: false }),
            _ => None,
        }
    }

    /// When to retry after the failure: an unreachable API server is checked
    /// again soon (the gate holds the CR until it answers); else `backoff`.
    pub(super) fn retry_after(&self, backoff: Duration) -> Duration {
        match self {
            Blocked::ApiUnreachable { .. } => UNREACHABLE_RETRY,
            Blocked::ReleasesForbidden { .. } => backoff,
        }
    }

    /// The gate, given whether the cause still `holds`, and what to remember.
    pub(super) fn gate(&self, holds: bool) -> (Gate, Option<Blocked>) {
        match (self, holds) {
            (Blocked::ApiUnreachable { .. }, true) => (
                Gate::Wait(UNREACHABLE_RETRY),
                Some(Blocked::ApiUnreachable { seen_down: true }),
            ),
            // answering again after it was seen down: the outage is over
            (Blocked::ApiUnreachable { seen_down: true }, false) => (Gate::Now, None),
            // answering at the first check: maybe no outage at all
            (Blocked::ApiUnreachable { seen_down: false }, false) => (Gate::Backoff, None),
            (Blocked::ReleasesForbidden { .. }, true) => (Gate::Backoff, Some(self.clone())),
            (Blocked::ReleasesForbidden { .. }, false) => (Gate::Now, None),
        }
    }
}

impl std::ops::Deref for Context {
    type Target = Setup;
    fn deref(&self) -> &Setup {
        &self.setup
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Helm(#[from] HelmError),
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("values file: {0}")]
    ValuesFile(#[from] std::io::Error),
    #[error("{0}")]
    Objects(#[from] ObjectsError),
    /// The release's Secrets may not be watched, so its state is unknown.
    #[error("{message}")]
    ReleasesForbidden {
        namespace: String,
        name: String,
        message: String,
    },
}

impl ReconcileError {
    /// Whether the API server did not answer (Lostrómos's own request, or helm's).
    pub fn is_unreachable(&self) -> bool {
        match self {
            Self::Kube(e) => is_transport(e),
            Self::Helm(e) => e.kind == HelmErrorKind::Unreachable,
            Self::Objects(e) => e.kube().is_some_and(is_transport),
            _ => false,
        }
    }
}

/// What one step of a reconcile leads to.
pub(super) enum Step {
    /// The CR changed (finalizer) or the release did (recovery): plan again.
    Again(Box<CrObject>),
    Done(Action),
    /// The CR is gone (or no longer ours): done, and nothing to remember.
    Gone,
}

impl Context {
    pub fn new(setup: Setup) -> Self {
        Self {
            setup,
            charts: Mutex::default(),
            memos: Mutex::default(),
        }
    }

    pub(crate) fn api(&self, cr: &CrView) -> Api<CrObject> {
        match &cr.namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &self.resource),
            None => Api::all_with(self.client.clone(), &self.resource),
        }
    }

    pub(super) fn periodic(&self) -> Action {
        Action::requeue(self.reconcile_period)
    }

    /// The cell of one chart request.
    pub(super) fn chart_cell(&self, request: &ChartRequest) -> ChartCell {
        let mut charts = self.charts.lock().unwrap_or_else(|e| e.into_inner());
        charts.entry(request.clone()).or_default().clone()
    }

    pub(super) fn memo(&self, uid: &str) -> Memo {
        let memos = self.memos.lock().unwrap_or_else(|e| e.into_inner());
        memos.get(uid).cloned().unwrap_or_default()
    }

    pub(super) fn update_memo(&self, uid: &str, change: impl FnOnce(&mut Memo)) {
        let mut memos = self.memos.lock().unwrap_or_else(|e| e.into_inner());
        let memo = memos.entry(uid.to_owned()).or_default();
        change(memo);
        if *memo == Memo::default() {
            memos.remove(uid);
        }
    }

    /// The CR is gone, or no longer ours: nothing to remember of it.
    pub(super) fn forget(&self, uid: &str) {
        self.memos
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(uid);
    }

    /// How many CRs are remembered (for tests).
    pub fn remembered(&self) -> usize {
        self.memos.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forbidden() -> Blocked {
        Blocked::ReleasesForbidden {
            namespace: "a".into(),
            name: "web".into(),
        }
    }

    #[test]
    fn failures_with_a_cause_outside_the_cr() {
        let refused = kube::Error::Service(Box::new(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "refused",
        )));
        assert_eq!(
            Blocked::cause_of(&ReconcileError::Kube(refused)),
            Some(Blocked::ApiUnreachable { seen_down: false })
        );
        let helm = |kind| {
            ReconcileError::Helm(HelmError {
                action: "upgrade",
                kind,
                message: String::new(),
            })
        };
        assert_eq!(
            Blocked::cause_of(&helm(HelmErrorKind::Unreachable)),
            Some(Blocked::ApiUnreachable { seen_down: false })
        );
        assert_eq!(Blocked::cause_of(&helm(HelmErrorKind::RenderFailed)), None);
        let denied = kube::Error::Api(Box::new(kube::core::Status {
            code: 403,
            ..Default::default()
        }));
        assert_eq!(
            Blocked::cause_of(&ReconcileError::Kube(denied)),
            None,
            "an answer, not an outage"
        );
        let err = ReconcileError::ReleasesForbidden {
            namespace: "a".into(),
            name: "web".into(),
            message: "no".into(),
        };
        assert_eq!(Blocked::cause_of(&err), Some(forbidden()));
    }

    #[test]
    fn an_unreachable_api_server_is_checked_every_few_seconds_not_after_the_backoff() {
        let b = Blocked::ApiUnreachable { seen_down: false };
        assert_eq!(b.retry_after(Duration::from_secs(80)), UNREACHABLE_RETRY);
        assert_eq!(
            forbidden().retry_after(Duration::from_secs(80)),
            Duration::from_secs(80)
        );
    }

    #[test]
    fn the_gate_opens_at_once_when_the_cause_is_gone() {
        let fresh = Blocked::ApiUnreachable { seen_down: false };
        let seen = Blocked::ApiUnreachable { seen_down: true };
        // still down: wait, remembering it was seen down
        assert_eq!(
            fresh.gate(true),
            (Gate::Wait(UNREACHABLE_RETRY), Some(seen.clone()))
        );
        assert_eq!(seen.gate(false), (Gate::Now, None), "back after an outage");
        assert_eq!(
            fresh.gate(false),
            (Gate::Backoff, None),
            "answering at once: maybe never down, so no skipping the backoff"
        );
        assert_eq!(forbidden().gate(true), (Gate::Backoff, Some(forbidden())));
        assert_eq!(forbidden().gate(false), (Gate::Now, None));
    }
}
