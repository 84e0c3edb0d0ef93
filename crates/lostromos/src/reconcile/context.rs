//! What every reconcile shares: the settings fixed at start-up (`Setup`) and
//! what reconciles learn as they run (`Context`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::api::{Api, ApiResource};
use kube::runtime::controller::Action;
use kube::Client;

use super::backoff::Failures;
use super::events::Events;
use crate::helm::chart::Chart;
use crate::helm::{HelmArgs, HelmError, HelmRunner};
use crate::observe::cr::{CrObject, CrView};
use crate::observe::release_watch::Releases;
use crate::plan::chart_choice::{ChartPolicy, ChartRequest};
use crate::plan::PlanSettings;
use crate::serve::metrics::Metrics;

/// Everything a reconcile needs that is fixed at start-up.
pub struct Setup {
    pub client: Client,
    pub resource: ApiResource,
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
    pub metrics: Arc<Metrics>,
}

/// What reconciles remember of one managed CR between runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Memo {
    /// Its failing streak, for the backoff.
    pub failures: Option<Failures>,
    /// Its decision inputs when last reconciled: a different hash means the CR
    /// itself changed (an edit, or a forced re-check by annotation).
    pub seen: Option<u64>,
    /// The rejection last reported, so one is reported once per change.
    pub reported: Option<u64>,
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
        memos.get(uid).copied().unwrap_or_default()
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
