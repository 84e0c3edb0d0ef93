//! Carrying out one planned action: helm runs, finalizer patches, and the
//! status and Events each of them leads to.

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use tokio::sync::oneshot;

use super::context::{Context, ReconcileError, Step};
use super::health::settle;
use super::now_unix;
use super::operation::Operation;
use super::report::{
    current_status, publish, ready_message, release_info, report, report_ready, status_would_change,
};
use super::status::{self, Outcome, ReleaseInfo};
use crate::helm::argv::{Invocation, ValuesInput};
use crate::helm::chart::{self, Chart};
use crate::helm::process::RunOutput;
use crate::helm::{HelmError, HelmErrorKind};
use crate::observe::cr::{decision_hash, CrObject, CrView};
use crate::observe::release_index::ReleaseState;
use crate::observe::release_record;
use crate::plan::chart_choice;
use crate::plan::labels;
use crate::plan::{self, Desired, Recovery, Rejection, ReleaseRef};

/// When a patch found the CR changed meanwhile: its watch event follows.
const STALE_RETRY: Duration = Duration::from_secs(1);

/// A helm process running longer than this shows in the status while it
/// runs; a shorter one only when it ends. A plain install takes well under a
/// second on a quiet cluster but several on a busy one (`just bench` at 2 s
/// and load 11: 1.16 status writes per install): 5 s keeps those to one
/// write, while a hook or `--wait` that takes minutes still shows.
const PROGRESS_AFTER: Duration = Duration::from_secs(5);

/// Carries out one planned action.
pub(super) async fn act(
    obj: &CrObject,
    cr: &CrView,
    ctx: &Context,
    p: plan::Plan,
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
            release = p.release.as_ref().map(|t| t.name.as_str()),
            action = Operation::from(&action).label(),
            "dry run: would act"
        );
        return Ok(Step::Done(ctx.periodic()));
    }

    let Some(target) = p.release else {
        // only a rejection or finalizer release come without a release
        return match p.action {
            plan::Action::ReleaseFinalizer => release_finalizer(obj, cr, ctx).await,
            plan::Action::Reject(r) => reject(obj, cr, ctx, r, None).await,
            _ => Ok(Step::Done(ctx.periodic())),
        };
    };
    let op = Operation::from(&p.action);
    match p.action {
        // not ours (any more): nothing to remember either
        plan::Action::Ignore => Ok(Step::Gone),
        plan::Action::AddFinalizer => {
            let mut finalizers = cr.finalizers.clone();
            finalizers.push(labels::FINALIZER.to_owned());
            Ok(match patch_finalizers(obj, cr, ctx, finalizers).await? {
                Patched::Now(updated) => Step::Again(updated),
                Patched::Gone => Step::Gone,
                Patched::Stale => Step::Done(Action::requeue(STALE_RETRY)),
            })
        }
        plan::Action::Skip(desired) => {
            let Some(r) = &release else {
                return Ok(Step::Done(ctx.periodic()));
            };
            let subject = Subject {
                obj,
                cr,
                target: &target,
                chart: &chart,
            };
            settle(&subject, ctx, desired, r).await
        }
        plan::Action::Install(d) | plan::Action::Upgrade(d) => {
            let subject = Subject {
                obj,
                cr,
                target: &target,
                chart: &chart,
            };
            apply(&subject, ctx, d, op).await
        }
        plan::Action::Recover(r) => recover(obj, cr, ctx, &target, release.as_ref(), r).await,
        plan::Action::Wait { after_secs, reason } => {
            // the release's chart may not be this CR's chart yet: keep what
            // status last showed of it
            let outcome = Outcome::Progressing {
                reason: op.progressive().into(),
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
            forget_release(ctx, &target);
            release_finalizer(obj, cr, ctx).await
        }
        plan::Action::ReleaseAdoptedFinalizer => {
            release_adopted_finalizer(obj, cr, ctx, &target).await
        }
        plan::Action::Reject(r) => reject(obj, cr, ctx, r, release.as_ref()).await,
    }
}

/// A release Lostrómos did not install is named with its chart, read from the
/// release's own record (one GET), so the user knows what they would remove.
async fn with_foreign_chart(
    ctx: &Context,
    r: Rejection,
    release: Option<&ReleaseState>,
) -> Rejection {
    match (r, release) {
        (
            Rejection::Foreign {
                release: name,
                namespace,
                chart: None,
            },
            Some(state),
        ) => {
            let chart = match release_record::fetch(
                &ctx.client,
                &namespace,
                &name,
                state.latest.version,
            )
            .await
            {
                Ok(record) => record.chart(),
                Err(e) => {
                    tracing::debug!(release = %name, error = %e, "could not read the release's chart");
                    None
                }
            };
            Rejection::Foreign {
                release: name,
                namespace,
                chart,
            }
        }
        (r, _) => r,
    }
}

/// The chart for this CR: the configured one, or the one its annotation names
/// (when allowed). `Err(step)` when that choice is refused and was reported.
pub(super) async fn chart_for(
    obj: &CrObject,
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
        Err(rejection) => return reject(obj, cr, ctx, rejection, None).await.map(Err),
    };
    let cell = ctx.chart_cell(&request);
    let resolved = cell
        .get_or_try_init(|| async {
            // a folder of its own per attempt: a failed pull leaves nothing behind
            let charts = ctx.work_dir.join("charts");
            std::fs::create_dir_all(&charts).map_err(|e| e.to_string())?;
            let folder = tempfile::Builder::new()
                .prefix("chart-")
                .tempdir_in(&charts)
                .map_err(|e| e.to_string())?;
            let chart = chart::resolve(
                &ctx.runner,
                &request.reference,
                request.version.as_deref(),
                folder.path(),
                ctx.helm.timeout,
            )
            .await
            .map_err(|e| e.to_string())?;
            // the chart stays where it was pulled for the life of the process
            let _kept = folder.keep();
            Ok::<_, String>(Arc::new(chart))
        })
        .await;
    match resolved {
        Ok(chart) => Ok(Ok(chart.clone())),
        Err(message) => {
            let err = HelmError {
                action: "pull",
                kind: HelmErrorKind::ChartUnavailable,
                message,
            };
            fail(obj, cr, ctx, Operation::Pull, err).await.map(Err)
        }
    }
}

/// The CR being worked on, its release and its chart.
pub(super) struct Subject<'a> {
    pub obj: &'a CrObject,
    pub cr: &'a CrView,
    pub target: &'a ReleaseRef,
    pub chart: &'a Chart,
}

/// `helm upgrade --install` of the CR's release with `desired`.
pub(super) fn helm_upgrade(
    subject: &Subject<'_>,
    ctx: &Context,
    desired: &Desired,
    description: &str,
) -> Invocation {
    let Subject {
        cr, target, chart, ..
    } = *subject;
    // on helm's standard input: never on disk, never in argv
    let public = [
        cr.name.as_str(),
        cr.namespace.as_deref().unwrap_or_default(),
        &cr.uid,
        &target.name,
        &target.namespace,
    ];
    let values = ValuesInput::new(&desired.values, &public);
    let stamp = desired.stamp(cr);
    ctx.helm.with_chart(chart).upgrade_install(
        &target.name,
        &target.namespace,
        values,
        &stamp,
        description,
    )
}

/// Install or upgrade with `helm upgrade --install`.
async fn apply(
    subject: &Subject<'_>,
    ctx: &Context,
    desired: Desired,
    op: Operation,
) -> Result<Step, ReconcileError> {
    let Subject {
        obj,
        cr,
        target,
        chart,
    } = *subject;
    if let Some(refused) = adoption_refused(ctx, target, &desired, chart).await? {
        return reject(obj, cr, ctx, refused, None).await;
    }
    let description = format!(
        "lostromos: {} generation {}",
        cr.key(),
        cr.generation.unwrap_or(0)
    );
    let inv = helm_upgrade(subject, ctx, &desired, &description);
    let (slot_tx, slot_rx) = oneshot::channel();
    let helm = run_helm_observed(ctx, cr, target, &inv, Some(slot_tx));
    // A retry of the same inputs keeps showing the failure it retries
    // (Reconciling is already True); a new attempt shows that it runs, but
    // only once helm itself has run a while (not while it waits for a slot):
    // a quick run is reported once, when it ends, which halves the status
    // writes of an install.
    let long_run = async move {
        match slot_rx.await {
            Ok(()) => tokio::time::sleep(PROGRESS_AFTER).await,
            Err(_) => std::future::pending().await,
        }
    };
    let result = if status::is_retry(current_status(obj).as_ref(), obj.metadata.generation) {
        helm.await
    } else {
        tokio::pin!(helm);
        tokio::select! {
            result = &mut helm => result,
            () = long_run => {
                let outcome = Outcome::Progressing {
                    reason: op.progressive().into(),
                    message: format!(
                        "helm {} of release {}/{} running",
                        op.label(),
                        target.namespace,
                        target.name
                    ),
                    // status keeps the release as it was until helm is done
                    release: None,
                };
                // helm goes on whatever this write does: its end is reported
                if let Err(e) = report(obj, ctx, &outcome).await {
                    tracing::debug!(cr = %cr.key(), error = %e, "could not report the helm run in progress");
                }
                helm.await
            }
        }
    };
    match result {
        Ok(out) => learn_release(ctx, target, out).await,
        Err(e) => return fail(obj, cr, ctx, op, e).await,
    }
    if let Some(change) = op.change() {
        ctx.metrics.changed(change, true, now_unix() as f64);
    }
    let expected = desired.expected_revision;
    let after = wait_for_revision(ctx, target, expected).await;
    let info = match &after {
        Some(r) => release_info(chart, target, r),
        None => ReleaseInfo {
            name: target.name.clone(),
            namespace: target.namespace.clone(),
            revision: expected,
            status: "deployed".into(),
            chart: chart.name_version.clone(),
            app_version: chart.app_version.clone(),
        },
    };
    publish(
        ctx,
        obj,
        EventType::Normal,
        op.past(),
        op,
        Some(ready_message(&info)),
    )
    .await;
    match &after {
        // what the objects say now (their watches wake the CR as they change)
        Some(r) => settle(subject, ctx, desired, r).await,
        None => {
            report_ready(obj, ctx, info).await?;
            Ok(Step::Done(ctx.periodic()))
        }
    }
}

/// Waits (at most the index catch-up time) until revision `expected` of the
/// release, written by the helm that just ran, is in the index and settled.
pub(super) async fn wait_for_revision(
    ctx: &Context,
    target: &ReleaseRef,
    expected: u64,
) -> Option<ReleaseState> {
    ctx.releases
        .wait_for(&target.namespace, &target.name, ctx.index_catch_up, |s| {
            s.is_some_and(|s| s.latest.version >= expected && !s.latest.status.is_pending())
        })
        .await
}

async fn recover(
    obj: &CrObject,
    cr: &CrView,
    ctx: &Context,
    target: &ReleaseRef,
    before: Option<&ReleaseState>,
    how: Recovery,
) -> Result<Step, ReconcileError> {
    let latest = before.map_or(0, |r| r.latest.version);
    let status = before.map_or("pending", |r| r.latest.status.as_str());
    let op = match how {
        Recovery::Rollback { .. } => Operation::RecoverRollback,
        Recovery::UninstallFirstInstall => Operation::RecoverUninstall,
    };
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
        op.progressive(),
        op,
        Some(note),
    )
    .await;
    if let Err(e) = run_helm(ctx, cr, target, &inv).await {
        return fail(obj, cr, ctx, op, e).await;
    }
    ctx.releases
        .wait_for(
            &target.namespace,
            &target.name,
            ctx.index_catch_up,
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
    obj: &CrObject,
    cr: &CrView,
    ctx: &Context,
    target: &ReleaseRef,
) -> Result<Step, ReconcileError> {
    let op = Operation::Uninstall;
    let inv = ctx.helm.uninstall(&target.name, &target.namespace);
    if let Err(e) = run_helm(ctx, cr, target, &inv).await {
        return fail(obj, cr, ctx, op, e).await;
    }
    ctx.releases
        .wait_for(&target.namespace, &target.name, ctx.index_catch_up, |s| {
            s.is_none()
        })
        .await;
    publish(
        ctx,
        obj,
        EventType::Normal,
        op.past(),
        op,
        Some(format!(
            "release {}/{} uninstalled",
            target.namespace, target.name
        )),
    )
    .await;
    if let Some(change) = op.change() {
        ctx.metrics.changed(change, true, now_unix() as f64);
    }
    forget_release(ctx, target);
    release_finalizer(obj, cr, ctx).await
}

/// The release is gone or no longer ours: no triggers and no object watches for it.
fn forget_release(ctx: &Context, target: &ReleaseRef) {
    ctx.releases.forget_owner(&target.namespace, &target.name);
    if let Some(objects) = &ctx.objects {
        objects.forget(&target.namespace, &target.name);
    }
}

/// The finalizers of the operator releases are taken over from: Lostrómos
/// does their uninstall once it adopts (or is handed a CR being deleted).
fn adopted_finalizers(ctx: &Context) -> &'static [&'static str] {
    ctx.plan.adopt_from.map(|a| a.finalizers()).unwrap_or(&[])
}

async fn release_finalizer(
    obj: &CrObject,
    cr: &CrView,
    ctx: &Context,
) -> Result<Step, ReconcileError> {
    let theirs = adopted_finalizers(ctx);
    let kept: Vec<String> = cr
        .finalizers
        .iter()
        .filter(|f| *f != labels::FINALIZER && !theirs.contains(&f.as_str()))
        .cloned()
        .collect();
    let updated = match patch_finalizers(obj, cr, ctx, kept).await? {
        Patched::Now(updated) => updated,
        // already gone: releasing the finalizer is what let it go
        Patched::Gone => return Ok(Step::Gone),
        Patched::Stale => return Ok(Step::Done(Action::requeue(STALE_RETRY))),
    };
    if !cr.deleting {
        // the filter annotation was removed: the CR stays, unmanaged
        let idle = Outcome::Idle {
            reason: "NotManaged".into(),
            message: "the filter annotation is absent; no release".into(),
        };
        report(&updated, ctx, &idle).await?;
    }
    Ok(Step::Gone)
}

/// The release is Lostrómos's now: the other operator's finalizer goes, after
/// ours was added (so the CR is never without one).
async fn release_adopted_finalizer(
    obj: &CrObject,
    cr: &CrView,
    ctx: &Context,
    target: &ReleaseRef,
) -> Result<Step, ReconcileError> {
    let theirs = adopted_finalizers(ctx);
    let kept: Vec<String> = cr
        .finalizers
        .iter()
        .filter(|f| !theirs.contains(&f.as_str()))
        .cloned()
        .collect();
    let updated = match patch_finalizers(obj, cr, ctx, kept).await? {
        Patched::Now(updated) => updated,
        Patched::Gone => return Ok(Step::Gone),
        Patched::Stale => return Ok(Step::Done(Action::requeue(STALE_RETRY))),
    };
    let from = ctx
        .plan
        .adopt_from
        .map(|a| a.name())
        .unwrap_or("another operator");
    tracing::info!(cr = %cr.key(), release = %target.name, from, "adopted: the release is Lostrómos's now");
    let op = Operation::ReleaseAdoptedFinalizer;
    publish(
        ctx,
        obj,
        EventType::Normal,
        op.past(),
        op,
        Some(format!(
            "release {}/{} taken over from {from}; its finalizer removed",
            target.namespace, target.name
        )),
    )
    .await;
    Ok(Step::Again(updated))
}

/// Before the upgrade that adopts a release: it must be of the same chart, or
/// the upgrade would replace the other operator's objects with others.
async fn adoption_refused(
    ctx: &Context,
    target: &ReleaseRef,
    desired: &Desired,
    chart: &Chart,
) -> Result<Option<Rejection>, ReconcileError> {
    let Some(from) = desired.adopting else {
        return Ok(None);
    };
    let revision = desired.expected_revision.saturating_sub(1);
    let record = release_record::fetch(&ctx.client, &target.namespace, &target.name, revision)
        .await
        .map_err(|e| match e {
            release_record::RecordError::Kube(k) => ReconcileError::Kube(k),
            other => ReconcileError::Objects(crate::observe::objects::ObjectsError::Record {
                namespace: target.namespace.clone(),
                name: target.name.clone(),
                revision,
                source: other,
            }),
        })?;
    Ok(match record.chart_name() {
        Some(theirs) if theirs != chart.name => Some(Rejection::AdoptionChart {
            operator: from.name(),
            release: target.name.clone(),
            namespace: target.namespace.clone(),
            theirs: record.chart().unwrap_or_else(|| theirs.to_owned()),
            ours: chart.name_version.clone(),
        }),
        _ => None,
    })
}

/// Reports a rejection (`release` is the release it is about, if any).
async fn reject(
    obj: &CrObject,
    cr: &CrView,
    ctx: &Context,
    why: Rejection,
    release: Option<&ReleaseState>,
) -> Result<Step, ReconcileError> {
    let reason = why.reason();
    // Once per change of the CR: a second wake-up for the same inputs (our
    // own finalizer patch, a release event) and a restart report nothing new,
    // and read nothing either.
    let key = rejection_key(obj, &why.to_string());
    if ctx.memo(&cr.uid).reported == Some(key) {
        tracing::debug!(cr = %cr.key(), reason, "rejection already reported");
        return Ok(Step::Done(Action::await_change()));
    }
    ctx.update_memo(&cr.uid, |m| m.reported = Some(key));
    let message = with_foreign_chart(ctx, why, release).await.to_string();
    let outcome = Outcome::Failed {
        reason: reason.into(),
        message: message.clone(),
        stalled: true,
        release: None,
    };
    if !status_would_change(obj, ctx, &outcome) {
        return Ok(Step::Done(Action::await_change()));
    }
    tracing::warn!(cr = %cr.key(), action = Operation::Reject.label(), reason, message = %message, "not acting on the CR");
    ctx.metrics.failed(reason);
    publish(
        ctx,
        obj,
        EventType::Warning,
        reason,
        Operation::Reject,
        Some(message),
    )
    .await;
    report(obj, ctx, &outcome).await?;
    Ok(Step::Done(Action::await_change()))
}

/// What identifies one report of a rejection: the CR's inputs and the message.
fn rejection_key(obj: &CrObject, message: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    decision_hash(obj).hash(&mut h);
    message.hash(&mut h);
    h.finish()
}

/// Reports a helm failure on the CR and hands it to the backoff.
pub(super) async fn fail(
    obj: &CrObject,
    cr: &CrView,
    ctx: &Context,
    op: Operation,
    e: HelmError,
) -> Result<Step, ReconcileError> {
    let stalled = e.kind.is_bad_input();
    ctx.metrics.failed(e.kind.reason());
    if let Some(change) = op.change() {
        ctx.metrics.changed(change, false, now_unix() as f64);
    }
    publish(
        ctx,
        obj,
        EventType::Warning,
        e.kind.reason(),
        op,
        Some(e.message.clone()),
    )
    .await;
    let outcome = Outcome::Failed {
        reason: e.kind.reason().into(),
        message: e.message.clone(),
        stalled,
        release: None,
    };
    if let Err(report_err) = report(obj, ctx, &outcome).await {
        tracing::warn!(cr = %cr.key(), error = %report_err, "could not write status");
    }
    Err(e.into())
}

/// Runs one helm process and logs one line for it: the wait for a slot and
/// helm's own run apart. (helm's error text comes redacted of the values.)
pub(super) async fn run_helm(
    ctx: &Context,
    cr: &CrView,
    target: &ReleaseRef,
    inv: &Invocation,
) -> Result<(), HelmError> {
    run_helm_observed(ctx, cr, target, inv, None)
        .await
        .map(|_| ())
}

/// After an upgrade: the release helm printed (`--output json`) is the new
/// revision's inventory. When it cannot be read, the record is read from its
/// Secret later instead, as after a start.
pub(super) async fn learn_release(ctx: &Context, target: &ReleaseRef, out: RunOutput) {
    let Some(objects) = &ctx.objects else {
        return;
    };
    let learnt = match release_record::from_helm_output(&out.stdout) {
        Ok(record) => match record.version {
            Some(revision) => objects
                .learn(&target.namespace, &target.name, revision, record)
                .await
                .map_err(|e| e.to_string()),
            None => Err("helm printed no revision".into()),
        },
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = learnt {
        tracing::debug!(release = %target.name, namespace = %target.namespace, error = %e, "helm's output is not the release; its record is read instead");
    }
}

/// [`run_helm`], telling `on_slot` when helm got its slot and starts. While it
/// waits for one, it counts in `lostromos_helm_waiting`.
pub(super) async fn run_helm_observed(
    ctx: &Context,
    cr: &CrView,
    target: &ReleaseRef,
    inv: &Invocation,
    on_slot: Option<oneshot::Sender<()>>,
) -> Result<RunOutput, HelmError> {
    let waiting = ctx.metrics.helm_waiting();
    let (slot_tx, slot_rx) = oneshot::channel();
    let run = ctx.runner.run_timed(
        inv,
        ctx.helm.timeout,
        ctx.kind_cap.as_deref(),
        Some(slot_tx),
    );
    // ends at the slot, or with the run when it never got one
    let slot = async move {
        let got = slot_rx.await.is_ok();
        drop(waiting);
        if let (true, Some(tx)) = (got, on_slot) {
            let _ = tx.send(());
        }
    };
    let ((result, times), ()) = tokio::join!(run, slot);
    let outcome = result.as_ref().map_or_else(|e| e.kind.reason(), |_| "ok");
    let ran = times.started_at.map(|_| times.helm());
    ctx.metrics
        .helm_ran(inv.action, outcome, times.queue(), ran);
    let queue_ms = times.queue().as_millis() as u64;
    let helm_ms = times.helm().as_millis() as u64;
    match &result {
        Ok(_) => {
            tracing::info!(cr = %cr.key(), release = %target.name, namespace = %target.namespace, action = inv.action, queue_ms, helm_ms, result = "ok", "helm")
        }
        Err(e) => {
            tracing::warn!(cr = %cr.key(), release = %target.name, namespace = %target.namespace, action = inv.action, queue_ms, helm_ms, result = e.kind.reason(), error = %e.message, "helm")
        }
    }
    result
}

/// What a finalizer patch found.
enum Patched {
    Now(Box<CrObject>),
    /// The CR no longer exists.
    Gone,
    /// The CR changed since it was read (its newer version is on its way).
    Stale,
}

async fn patch_finalizers(
    obj: &CrObject,
    cr: &CrView,
    ctx: &Context,
    finalizers: Vec<String>,
) -> Result<Patched, ReconcileError> {
    // resourceVersion makes this fail if the CR changed meanwhile
    let patch = serde_json::json!({"metadata": {"finalizers": finalizers, "resourceVersion": obj.metadata.resource_version}});
    match ctx
        .api(cr)
        .patch(&cr.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(updated) => Ok(Patched::Now(Box::new(updated))),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(Patched::Gone),
        Err(kube::Error::Api(s)) if s.code == 409 => {
            tracing::debug!(cr = %cr.key(), "CR changed meanwhile; planning again on its newer version");
            Ok(Patched::Stale)
        }
        Err(e) => Err(e.into()),
    }
}
