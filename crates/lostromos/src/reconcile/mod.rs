//! observe -> plan -> act -> report, for one CR at a time. kube-runtime's
//! controller gives per-object exclusivity (so at most one helm process per
//! release); the helm runner's semaphore bounds them overall.
//!
//! `reconcile` gathers what the plan needs and hands the planned action to
//! `act`, which runs helm and patches the CR; `report` writes status and
//! Events; `status` builds the status (pure); `backoff` spaces retries.

mod act;
pub mod backoff;
mod context;
pub mod events;
pub mod health;
pub mod operation;
pub mod release_locks;
mod report;
pub mod status;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::ResourceExt;

use context::{Blocked, Gate, Step};
pub use context::{Context, ReconcileError, Setup};

use crate::observe::cr::{decision_hash, CrObject, CrView};
use crate::observe::release_watch::Unseen;
use crate::plan::{self, ReleaseRef};
use backoff::Failures;
use operation::Operation;
use status::Outcome;

/// The condition reason while the release's Secrets may not be watched.
pub const FORBIDDEN: &str = "Forbidden";

/// The reconcile entry point for kube-runtime's controller.
pub async fn reconcile(obj: Arc<CrObject>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    // Before the first full list of releases, "no release" may be wrong.
    ctx.releases.wait_synced().await;
    let uid = obj.uid().unwrap_or_default();
    let _decided = Decided(&ctx, &uid);
    let inputs = decision_hash(&obj);
    match gate(&uid, &ctx).await {
        Gate::Wait(wait) => return Ok(Action::requeue(wait)),
        Gate::Now => {}
        Gate::Backoff => {
            let failures = ctx.memo(&uid).failures;
            if let Some(wait) = failures.and_then(|f| f.hold(Instant::now(), inputs)) {
                return Ok(Action::requeue(wait));
            }
        }
    }
    // A CR seen before with other inputs was edited, or annotated to force a
    // re-check: its decision is logged at info even when nothing runs.
    let changed = ctx.memo(&uid).seen.is_some_and(|seen| Some(seen) != inputs);
    let mut obj = (*obj).clone();
    // At most a few steps: finalizer, recovery, then the real action.
    for _ in 0..4 {
        match step(&obj, &ctx, changed).await? {
            Step::Again(next) => obj = *next,
            Step::Done(action) => {
                ctx.update_memo(&uid, |m| {
                    m.failures = None;
                    m.blocked = None;
                });
                return Ok(action);
            }
            Step::Gone => {
                ctx.forget(&uid);
                return Ok(Action::await_change());
            }
        }
    }
    Ok(Action::requeue(Duration::from_secs(1)))
}

/// Tells the start's first pass, however the reconcile ends, that the CR was
/// decided on.
struct Decided<'a>(&'a Context, &'a str);

impl Drop for Decided<'_> {
    fn drop(&mut self) {
        if let Some(objects) = &self.0.objects {
            objects.start_pass.decided(self.1);
        }
    }
}

/// Whether a CR whose last failure had a cause outside it may go on.
async fn gate(uid: &str, ctx: &Context) -> Gate {
    let Some(blocked) = ctx.memo(uid).blocked else {
        return Gate::Backoff;
    };
    let holds = match &blocked {
        Blocked::ApiUnreachable { .. } => ctx.api.check().await.is_err(),
        Blocked::ReleasesForbidden { namespace, name } => matches!(
            ctx.releases.unseen(namespace, name),
            Some(Unseen::Forbidden(_))
        ),
    };
    let (gate, keep) = blocked.gate(holds);
    ctx.update_memo(uid, |m| {
        m.blocked = keep;
        if gate == Gate::Now {
            // the failures were not the CR's: start afresh
            m.failures = None;
        }
    });
    gate
}

/// Retries a failed CR with capped exponential backoff, independently of others;
/// one that failed for a cause outside it as soon as that cause is gone.
pub fn error_policy(obj: Arc<CrObject>, err: &ReconcileError, ctx: Arc<Context>) -> Action {
    let uid = obj.uid().unwrap_or_default();
    let streak = Failures::record(
        ctx.memo(&uid).failures.as_ref(),
        Instant::now(),
        decision_hash(&obj),
    );
    let (n, mut delay) = (streak.count, backoff::delay(streak.count));
    let blocked = Blocked::cause_of(err);
    if let Some(b) = &blocked {
        delay = b.retry_after(delay);
    }
    ctx.update_memo(&uid, |m| {
        m.failures = Some(streak);
        if blocked.is_some() {
            m.blocked = blocked;
        }
    });
    tracing::warn!(cr = %CrView::from_object(&obj).key(), error = %err, failures = n, retry_in_s = delay.as_secs(), "reconcile failed");
    Action::requeue(delay)
}

pub(crate) fn now_unix() -> i64 {
    k8s_openapi::jiff::Timestamp::now().as_second()
}

/// observe (the CR, its release, its chart) -> plan -> act.
async fn step(obj: &CrObject, ctx: &Context, changed: bool) -> Result<Step, ReconcileError> {
    let cr = CrView::from_object(obj);
    let target = plan::release_ref(&ctx.plan, &cr).ok();
    // another CR naming the same release decides first; its result is then
    // what this one plans on
    let _hold = match &target {
        Some(t) => Some(ctx.release_locks.hold(&t.namespace, &t.name).await),
        None => None,
    };
    let release = target
        .as_ref()
        .and_then(|t| ctx.releases.get(&t.namespace, &t.name));
    if let Some(t) = &target {
        // Decide nothing on a view of the release that may be stale.
        match ctx.releases.unseen(&t.namespace, &t.name) {
            Some(Unseen::Forbidden(message)) => return forbidden(obj, ctx, t, message).await,
            Some(Unseen::Syncing) => {
                return Ok(Step::Done(Action::requeue(Duration::from_secs(1))))
            }
            None => {}
        }
    }
    let chart = match act::chart_for(obj, &cr, ctx).await? {
        Ok(chart) => chart,
        Err(step) => return Ok(step),
    };
    let p = plan::plan(&ctx.plan, &cr, release.as_ref(), &chart.digest, now_unix());
    // the release's objects wake the CR that owns it, never one it rejects
    if let (Some(t), false) = (&target, matches!(p.action, plan::Action::Reject(_))) {
        let mut owner = ObjectRef::from_obj_with(obj, ctx.resource.clone());
        // kept per release: its uid and resourceVersion are never read
        owner.extra = Default::default();
        ctx.releases.remember_owner(&t.namespace, &t.name, owner);
    }

    let op = Operation::from(&p.action);
    if changed && p.action.runs_nothing() {
        tracing::info!(cr = %cr.key(), action = op.label(), "{}", op.quiet_decision());
    } else {
        tracing::debug!(cr = %cr.key(), action = op.label(), "plan");
    }
    if cr.has_finalizer(crate::plan::labels::FINALIZER) {
        ctx.update_memo(&cr.uid, |m| m.seen = decision_hash(obj));
    }
    let started = Instant::now();
    let result = act::act(obj, &cr, ctx, p, release, chart).await;
    ctx.metrics.reconciled(op.label(), started.elapsed());
    result
}

/// Reports that the release's Secrets may not be watched (a retry, not stalled:
/// granting the permission fixes it) and fails the reconcile into the backoff.
async fn forbidden(
    obj: &CrObject,
    ctx: &Context,
    target: &ReleaseRef,
    message: String,
) -> Result<Step, ReconcileError> {
    ctx.metrics.failed(FORBIDDEN);
    let outcome = Outcome::Failed {
        reason: FORBIDDEN.into(),
        message: message.clone(),
        stalled: false,
        release: None,
    };
    report::report(obj, ctx, &outcome).await?;
    Err(ReconcileError::ReleasesForbidden {
        namespace: target.namespace.clone(),
        name: target.name.clone(),
        message,
    })
}
