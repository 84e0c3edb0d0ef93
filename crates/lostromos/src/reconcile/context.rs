//! What every reconcile shares: the settings fixed at start-up (`Setup`) and
//! what reconciles learn as they run (`Context`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::api::{Api, ApiResource};
use kube::runtime::controller::Action;
use kube::runtime::events::Recorder;
use kube::Client;

use super::backoff::Failures;
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
    pub recorder: Recorder,
    /// The configured chart.
    pub chart: Arc<Chart>,
    pub chart_policy: ChartPolicy,
    pub dry_run: bool,
    pub reconcile_period: Duration,
    /// Private (0700) folder for values files and pulled charts.
    pub work_dir: PathBuf,
    pub metrics: Arc<Metrics>,
}

/// The setup plus what reconciles learn as they run; derefs to the setup.
pub struct Context {
    setup: Setup,
    /// Charts CRs chose by annotation, resolved once each.
    pub(super) charts: tokio::sync::Mutex<HashMap<ChartRequest, Arc<Chart>>>,
    /// Failing CRs by uid: their streak, for the backoff.
    pub(super) failures: Mutex<HashMap<String, Failures>>,
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
}

impl Context {
    pub fn new(setup: Setup) -> Self {
        Self {
            setup,
            charts: Default::default(),
            failures: Mutex::default(),
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
}
