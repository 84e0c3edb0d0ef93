//! observe -> plan -> act -> report, for one CR at a time. kube-runtime's
//! controller gives per-object exclusivity (so at most one helm process per
//! release); the helm runner's semaphore bounds them overall.

pub mod backoff;
pub mod report;
pub mod status;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{EventType, Recorder};
use kube::runtime::reflector::ObjectRef;
use kube::{Client, ResourceExt};
use serde_json::json;

use crate::helm::argv::Invocation;
use crate::helm::chart::{self, Chart};
use crate::helm::{HelmArgs, HelmError, HelmErrorKind, HelmRunner};
use crate::observe::cr::{decision_hash, CrView};
use crate::observe::release_index::ReleaseState;
use crate::observe::release_watch::Releases;
use crate::plan::chart_choice::{self, ChartPolicy, ChartRequest};
use crate::plan::labels;
use crate::plan::{self, Desired, PlanSettings, Recovery, Rejection, ReleaseRef};
use crate::reconcile::report::{
    publish, ready_message, release_info, report, report_ready, status_would_change,
};
use crate::serve::metrics::{Change, Metrics};
use backoff::Failures;
use status::{Outcome, ReleaseInfo};

/// How long to wait for helm's own writes to show up in the release index.
const INDEX_CATCH_UP: Duration = Duration::from_secs(30);

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
    /// Private (0700) folder for values files.
    pub work_dir: PathBuf,
    pub metrics: Arc<Metrics>,
}

/// The setup plus what reconciles learn as they run; derefs to the setup.
pub struct Context {
    setup: Setup,
    /// Charts CRs chose by annotation, resolved once each.
    charts: tokio::sync::Mutex<HashMap<ChartRequest, Arc<Chart>>>,
    failures: Mutex<HashMap<String, Failures>>,
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
enum Step {
    /// The CR changed (finalizer) or the release did (recovery): plan again.
    Again(Box<DynamicObject>),
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

    pub(crate) fn api(&self, cr: &CrView) -> Api<DynamicObject> {
        match &cr.namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &self.resource),
            None => Api::all_with(self.client.clone(), &self.resource),
        }
    }

    fn periodic(&self) -> Action {
        Action::requeue(self.reconcile_period)
    }
}

/// The reconcile entry point for kube-runtime's controller.
pub async fn reconcile(
    obj: Arc<DynamicObject>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    // Before the first full list of releases, "no release" may be wrong.
    ctx.releases.wait_synced().await;
    let uid = obj.uid().unwrap_or_default();
    let streak = ctx
        .failures
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&uid)
        .copied();
    if let Some(wait) = streak.and_then(|f| f.hold(Instant::now(), decision_hash(&obj))) {
        return Ok(Action::requeue(wait));
    }
    let mut obj = (*obj).clone();
    // At most a few steps: finalizer, recovery, then the real action.
    for _ in 0..4 {
        match step(&obj, &ctx).await? {
            Step::Again(next) => obj = *next,
            Step::Done(action) => {
                ctx.failures
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&obj.uid().unwrap_or_default());
                return Ok(action);
            }
        }
    }
    Ok(Action::requeue(Duration::from_secs(1)))
}

/// Retries a failed CR with capped exponential backoff, independently of others.
pub fn error_policy(obj: Arc<DynamicObject>, err: &ReconcileError, ctx: Arc<Context>) -> Action {
    let streak = {
        let mut failures = ctx.failures.lock().unwrap_or_else(|e| e.into_inner());
        let uid = obj.uid().unwrap_or_default();
        let streak = Failures::record(failures.get(&uid), Instant::now(), decision_hash(&obj));
        failures.insert(uid, streak);
        streak
    };
    let (n, delay) = (streak.count, backoff::delay(streak.count));
    tracing::warn!(cr = %CrView::from_dynamic(&obj).key(), error = %err, failures = n, retry_in_s = delay.as_secs(), "reconcile failed");
    Action::requeue(delay)
}

fn now_unix() -> i64 {
    k8s_openapi::jiff::Timestamp::now().as_second()
}

async fn step(obj: &DynamicObject, ctx: &Context) -> Result<Step, ReconcileError> {
    let cr = CrView::from_dynamic(obj);
    let target = plan::release_ref(&ctx.plan, &cr).ok();
    let release = target
        .as_ref()
        .and_then(|t| ctx.releases.get(&t.namespace, &t.name));
    if let Some(t) = &target {
        let owner = ObjectRef::from_obj_with(obj, ctx.resource.clone());
        ctx.releases.remember_owner(&t.namespace, &t.name, owner);
    }
    let chart = match chart_for(obj, &cr, ctx).await? {
        Ok(chart) => chart,
        Err(step) => return Ok(step),
    };
    let p = plan::plan(&ctx.plan, &cr, release.as_ref(), &chart.digest, now_unix());

    tracing::debug!(cr = %cr.key(), action = action_name(&p.action), "plan");
    let name = action_name(&p.action);
    let started = Instant::now();
    let result = act(obj, &cr, ctx, p, target, release, chart).await;
    ctx.metrics.reconciled(name, started.elapsed());
    result
}

/// Carries out one planned action.
async fn act(
    obj: &DynamicObject,
    cr: &CrView,
    ctx: &Context,
    p: plan::Plan,
    target: Option<ReleaseRef>,
    release: Option<ReleaseState>,
    chart: Arc<Chart>,
) -> Result<Step, ReconcileError> {
    if ctx.dry_run {
        // show the real action, not just the finalizer it would add first
        let action = match &p.action {
            plan::Action::AddFinalizer => {
                let mut with = cr.clone();
                with.finalizers.push(labels::FINALIZER.to_owned());
                plan::plan(
                    &ctx.plan,
                    &with,
                    release.as_ref(),
                    &chart.digest,
                    now_unix(),
                )
                .action
            }
            other => other.clone(),
        };
        tracing::info!(
            cr = %cr.key(),
            release = target.as_ref().map(|t| t.name.as_str()),
            action = action_name(&action),
            "dry run: would act"
        );
        return Ok(Step::Done(ctx.periodic()));
    }

    let Some(target) = p.release else {
        // only a rejection or finalizer release come without a release
        return match p.action {
            plan::Action::ReleaseFinalizer => release_finalizer(obj, cr, ctx).await,
            plan::Action::Reject(r) => reject(obj, cr, ctx, &r).await,
            _ => Ok(Step::Done(ctx.periodic())),
        };
    };
    let is_install = matches!(p.action, plan::Action::Install(_));
    match p.action {
        plan::Action::Ignore => Ok(Step::Done(Action::await_change())),
        plan::Action::AddFinalizer => {
            let mut finalizers = cr.finalizers.clone();
            finalizers.push(labels::FINALIZER.to_owned());
            let updated = patch_finalizers(obj, cr, ctx, finalizers).await?;
            Ok(Step::Again(Box::new(updated)))
        }
        plan::Action::Skip => {
            if let Some(r) = &release {
                report_ready(obj, ctx, release_info(&chart, &target, r)).await?;
            }
            Ok(Step::Done(ctx.periodic()))
        }
        plan::Action::Install(d) | plan::Action::Upgrade(d) => {
            let verb = if is_install {
                Verb::Install
            } else {
                Verb::Upgrade
            };
            let subject = Subject {
                obj,
                cr,
                target: &target,
                chart: &chart,
            };
            apply(&subject, ctx, d, verb).await
        }
        plan::Action::Recover(r) => recover(obj, cr, ctx, &target, release.as_ref(), r).await,
        plan::Action::Wait { after_secs, reason } => {
            // the release's chart may not be this CR's chart yet: keep what
            // status last showed of it
            let outcome = Outcome::Progressing {
                reason: "Waiting".into(),
                message: reason,
                release: None,
            };
            report(obj, ctx, &outcome).await?;
            Ok(Step::Done(Action::requeue(Duration::from_secs(
                after_secs.max(1),
            ))))
        }
        plan::Action::Uninstall => uninstall(obj, cr, ctx, &target).await,
        plan::Action::ReleaseFinalizer => {
            ctx.releases.forget_owner(&target.namespace, &target.name);
            release_finalizer(obj, cr, ctx).await
        }
        plan::Action::Reject(r) => reject(obj, cr, ctx, &r).await,
    }
}

/// The chart for this CR: the configured one, or the one its annotation names
/// (when allowed). `Err(step)` when that choice is refused and was reported.
async fn chart_for(
    obj: &DynamicObject,
    cr: &CrView,
    ctx: &Context,
) -> Result<Result<Arc<Chart>, Step>, ReconcileError> {
    // deleting or dropping a release needs no chart
    if cr.deleting || !plan::managed(&ctx.plan, cr) {
        return Ok(Ok(ctx.chart.clone()));
    }
    let request = match chart_choice::requested(&ctx.chart_policy, cr) {
        Ok(None) => return Ok(Ok(ctx.chart.clone())),
        Ok(Some(request)) => request,
        Err(rejection) => return reject(obj, cr, ctx, &rejection).await.map(Err),
    };
    let mut charts = ctx.charts.lock().await;
    if let Some(chart) = charts.get(&request) {
        return Ok(Ok(chart.clone()));
    }
    let folder = ctx.work_dir.join("charts").join(charts.len().to_string());
    let version = request.version.as_deref();
    match chart::resolve(
        &ctx.runner,
        &request.reference,
        version,
        &folder,
        ctx.helm.timeout,
    )
    .await
    {
        Ok(chart) => {
            let chart = Arc::new(chart);
            charts.insert(request, chart.clone());
            Ok(Ok(chart))
        }
        Err(e) => {
            drop(charts);
            let err = HelmError {
                action: "pull",
                kind: HelmErrorKind::ChartUnavailable,
                message: e.to_string(),
            };
            fail(obj, cr, ctx, "Pull", err, None).await.map(Err)
        }
    }
}

fn action_name(a: &plan::Action) -> &'static str {
    match a {
        plan::Action::Ignore => "ignore",
        plan::Action::AddFinalizer => "add-finalizer",
        plan::Action::Install(_) => "install",
        plan::Action::Upgrade(_) => "upgrade",
        plan::Action::Skip => "skip",
        plan::Action::Recover(Recovery::Rollback { .. }) => "recover-rollback",
        plan::Action::Recover(Recovery::UninstallFirstInstall) => "recover-uninstall",
        plan::Action::Wait { .. } => "wait",
        plan::Action::Uninstall => "uninstall",
        plan::Action::ReleaseFinalizer => "release-finalizer",
        plan::Action::Reject(_) => "reject",
    }
}

#[derive(Clone, Copy)]
enum Verb {
    Install,
    Upgrade,
}

impl Verb {
    fn name(self) -> &'static str {
        match self {
            Self::Install => "Install",
            Self::Upgrade => "Upgrade",
        }
    }
    fn progressive(self) -> &'static str {
        match self {
            Self::Install => "Installing",
            Self::Upgrade => "Upgrading",
        }
    }
    fn past(self) -> &'static str {
        match self {
            Self::Install => "Installed",
            Self::Upgrade => "Upgraded",
        }
    }
}

/// The CR being worked on, its release and its chart.
struct Subject<'a> {
    obj: &'a DynamicObject,
    cr: &'a CrView,
    target: &'a ReleaseRef,
    chart: &'a Chart,
}

/// Install or upgrade with `helm upgrade --install`.
async fn apply(
    subject: &Subject<'_>,
    ctx: &Context,
    desired: Desired,
    verb: Verb,
) -> Result<Step, ReconcileError> {
    let Subject {
        obj,
        cr,
        target,
        chart,
    } = *subject;
    // A retry of the same inputs keeps showing the failure it retries
    // (Reconciling is already True); a new attempt shows that it runs.
    if !status::is_retry(obj.data.get("status"), obj.metadata.generation) {
        let message = format!(
            "helm {} of release {}/{} running",
            verb.name().to_lowercase(),
            target.namespace,
            target.name
        );
        let outcome = Outcome::Progressing {
            reason: verb.progressive().into(),
            message,
            // status keeps the release as it was until helm is done
            release: None,
        };
        report(obj, ctx, &outcome).await?;
    }

    // 0600 in a private folder, removed when `file` drops.
    let mut file = tempfile::Builder::new()
        .prefix("values-")
        .suffix(".json")
        .tempfile_in(&ctx.work_dir)?;
    serde_json::to_writer(&mut file, &desired.values).map_err(std::io::Error::other)?;
    let mut stamp = vec![
        (labels::DIGEST, desired.digest.clone()),
        (labels::REVISION, desired.expected_revision.to_string()),
        (labels::CR_NAME, labels::value(&cr.name)),
    ];
    if let Some(ns) = &cr.namespace {
        stamp.push((labels::CR_NAMESPACE, labels::value(ns)));
    }
    let description = format!(
        "lostromos: {} generation {}",
        cr.key(),
        cr.generation.unwrap_or(0)
    );
    let inv = ctx.helm.with_chart(&chart.path).upgrade_install(
        &target.name,
        &target.namespace,
        file.path(),
        &stamp,
        &description,
    );
    let result = run_helm(ctx, cr, target, &inv).await;
    drop(file);
    if let Err(e) = result {
        return fail(obj, cr, ctx, verb.name(), e, None).await;
    }
    let change = match verb {
        Verb::Install => Change::Create,
        Verb::Upgrade => Change::Update,
    };
    ctx.metrics.changed(change, true, now_unix() as f64);
    let expected = desired.expected_revision;
    let after = ctx
        .releases
        .wait_for(&target.namespace, &target.name, INDEX_CATCH_UP, |s| {
            s.is_some_and(|s| s.latest.version >= expected && !s.latest.status.is_pending())
        })
        .await;
    let info = match &after {
        Some(r) => release_info(chart, target, r),
        None => ReleaseInfo {
            name: target.name.clone(),
            namespace: target.namespace.clone(),
            revision: expected,
            status: "deployed".into(),
            chart: ctx.chart.name_version.clone(),
            app_version: ctx.chart.app_version.clone(),
        },
    };
    publish(
        ctx,
        obj,
        EventType::Normal,
        verb.past(),
        verb.name(),
        Some(ready_message(&info)),
    )
    .await;
    report_ready(obj, ctx, info).await?;
    Ok(Step::Done(ctx.periodic()))
}

async fn recover(
    obj: &DynamicObject,
    cr: &CrView,
    ctx: &Context,
    target: &ReleaseRef,
    before: Option<&ReleaseState>,
    how: Recovery,
) -> Result<Step, ReconcileError> {
    let latest = before.map_or(0, |r| r.latest.version);
    let status = before.map_or("pending", |r| r.latest.status.as_str());
    let (inv, note) = match how {
        Recovery::Rollback { to } => (
            ctx.helm.rollback(&target.name, &target.namespace, to),
            format!(
                "release {} was left {status}; rolling back to revision {to}",
                target.name
            ),
        ),
        Recovery::UninstallFirstInstall => (
            ctx.helm.uninstall(&target.name, &target.namespace),
            format!(
                "release {} was left {status} on its first install; uninstalling to install again",
                target.name
            ),
        ),
    };
    publish(
        ctx,
        obj,
        EventType::Warning,
        "Recovering",
        "Recover",
        Some(note),
    )
    .await;
    if let Err(e) = run_helm(ctx, cr, target, &inv).await {
        return fail(obj, cr, ctx, "Recover", e, None).await;
    }
    ctx.releases
        .wait_for(
            &target.namespace,
            &target.name,
            INDEX_CATCH_UP,
            |s| match how {
                Recovery::Rollback { .. } => {
                    s.is_some_and(|s| s.latest.version > latest && !s.latest.status.is_pending())
                }
                Recovery::UninstallFirstInstall => s.is_none(),
            },
        )
        .await;
    Ok(Step::Again(Box::new(obj.clone())))
}

async fn uninstall(
    obj: &DynamicObject,
    cr: &CrView,
    ctx: &Context,
    target: &ReleaseRef,
) -> Result<Step, ReconcileError> {
    let inv = ctx.helm.uninstall(&target.name, &target.namespace);
    if let Err(e) = run_helm(ctx, cr, target, &inv).await {
        return fail(obj, cr, ctx, "Uninstall", e, None).await;
    }
    ctx.releases
        .wait_for(&target.namespace, &target.name, INDEX_CATCH_UP, |s| {
            s.is_none()
        })
        .await;
    publish(
        ctx,
        obj,
        EventType::Normal,
        "Uninstalled",
        "Uninstall",
        Some(format!(
            "release {}/{} uninstalled",
            target.namespace, target.name
        )),
    )
    .await;
    ctx.metrics.changed(Change::Delete, true, now_unix() as f64);
    ctx.releases.forget_owner(&target.namespace, &target.name);
    release_finalizer(obj, cr, ctx).await
}

async fn release_finalizer(
    obj: &DynamicObject,
    cr: &CrView,
    ctx: &Context,
) -> Result<Step, ReconcileError> {
    let kept: Vec<String> = cr
        .finalizers
        .iter()
        .filter(|f| *f != labels::FINALIZER)
        .cloned()
        .collect();
    let updated = patch_finalizers(obj, cr, ctx, kept).await?;
    if !cr.deleting {
        // the filter annotation was removed: the CR stays, unmanaged
        report(
            &updated,
            ctx,
            &Outcome::Idle {
                reason: "NotManaged".into(),
                message: "the filter annotation is absent; no release".into(),
            },
        )
        .await?;
    }
    Ok(Step::Done(Action::await_change()))
}

async fn reject(
    obj: &DynamicObject,
    cr: &CrView,
    ctx: &Context,
    why: &Rejection,
) -> Result<Step, ReconcileError> {
    let reason = match why {
        Rejection::Values(_) => "InvalidSpec",
        Rejection::OwnedByOther { .. } => "ReleaseConflict",
        Rejection::NoReleaseNamespace { .. } => "NoReleaseNamespace",
        Rejection::ChartNotAllowed { .. } => "ChartNotAllowed",
    };
    let message = why.to_string();
    tracing::warn!(cr = %cr.key(), action = "reject", reason, message = %message, "not acting on the CR");
    ctx.metrics.failed(reason);
    let outcome = Outcome::Failed {
        reason: reason.into(),
        message: message.clone(),
        stalled: true,
        release: None,
    };
    if !status_would_change(obj, ctx, &outcome) {
        return Ok(Step::Done(Action::await_change()));
    }
    publish(
        ctx,
        obj,
        EventType::Warning,
        reason,
        "Reject",
        Some(message),
    )
    .await;
    report(obj, ctx, &outcome).await?;
    Ok(Step::Done(Action::await_change()))
}

/// Reports a helm failure on the CR and hands it to the backoff.
async fn fail(
    obj: &DynamicObject,
    cr: &CrView,
    ctx: &Context,
    verb: &str,
    e: HelmError,
    release: Option<ReleaseInfo>,
) -> Result<Step, ReconcileError> {
    let stalled = e.kind.is_bad_input();
    ctx.metrics.failed(e.kind.reason());
    let change = match verb {
        "Install" => Some(Change::Create),
        "Upgrade" => Some(Change::Update),
        "Uninstall" => Some(Change::Delete),
        _ => None,
    };
    if let Some(change) = change {
        ctx.metrics.changed(change, false, now_unix() as f64);
    }
    publish(
        ctx,
        obj,
        EventType::Warning,
        e.kind.reason(),
        verb,
        Some(e.message.clone()),
    )
    .await;
    let outcome = Outcome::Failed {
        reason: e.kind.reason().into(),
        message: e.message.clone(),
        stalled,
        release,
    };
    if let Err(report_err) = report(obj, ctx, &outcome).await {
        tracing::warn!(cr = %cr.key(), error = %report_err, "could not write status");
    }
    Err(e.into())
}

/// Runs one helm process and logs one line for it.
async fn run_helm(
    ctx: &Context,
    cr: &CrView,
    target: &ReleaseRef,
    inv: &Invocation,
) -> Result<(), HelmError> {
    let started = Instant::now();
    let result = ctx.runner.run(inv, ctx.helm.timeout).await;
    let took = started.elapsed();
    let outcome = result.as_ref().map_or_else(|e| e.kind.reason(), |_| "ok");
    ctx.metrics.helm_ran(inv.action, outcome, took);
    let ms = took.as_millis() as u64;
    match &result {
        Ok(_) => {
            tracing::info!(cr = %cr.key(), release = %target.name, namespace = %target.namespace, action = inv.action, duration_ms = ms, result = "ok", "helm")
        }
        Err(e) => {
            tracing::warn!(cr = %cr.key(), release = %target.name, namespace = %target.namespace, action = inv.action, duration_ms = ms, result = e.kind.reason(), error = %e.message, "helm")
        }
    }
    result.map(|_| ())
}

async fn patch_finalizers(
    obj: &DynamicObject,
    cr: &CrView,
    ctx: &Context,
    finalizers: Vec<String>,
) -> Result<DynamicObject, ReconcileError> {
    // resourceVersion makes this fail (and retry) if the CR changed meanwhile
    let patch =
        json!({"metadata": {"finalizers": finalizers, "resourceVersion": obj.resource_version()}});
    Ok(ctx
        .api(cr)
        .patch(&cr.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?)
}
