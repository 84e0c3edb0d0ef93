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
pub mod operation;
mod report;
pub mod status;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::ResourceExt;

use context::Step;
pub use context::{Context, ReconcileError, Setup};

use crate::observe::cr::{decision_hash, CrObject, CrView};
use crate::plan;
use backoff::Failures;
use operation::Operation;

/// The reconcile entry point for kube-runtime's controller.
pub async fn reconcile(obj: Arc<CrObject>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    // Before the first full list of releases, "no release" may be wrong.
    ctx.releases.wait_synced().await;
    let uid = obj.uid().unwrap_or_default();
    let memo = ctx.memo(&uid);
    let inputs = decision_hash(&obj);
    if let Some(wait) = memo.failures.and_then(|f| f.hold(Instant::now(), inputs)) {
        return Ok(Action::requeue(wait));
    }
    // A CR seen before with other inputs was edited, or annotated to force a
    // re-check: its decision is logged at info even when nothing runs.
    let changed = memo.seen.is_some_and(|seen| Some(seen) != inputs);
    let mut obj = (*obj).clone();
    // At most a few steps: finalizer, recovery, then the real action.
    for _ in 0..4 {
        match step(&obj, &ctx, changed).await? {
            Step::Again(next) => obj = *next,
            Step::Done(action) => {
                ctx.update_memo(&uid, |m| m.failures = None);
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

/// Retries a failed CR with capped exponential backoff, independently of others.
pub fn error_policy(obj: Arc<CrObject>, err: &ReconcileError, ctx: Arc<Context>) -> Action {
    let uid = obj.uid().unwrap_or_default();
    let streak = Failures::record(
        ctx.memo(&uid).failures.as_ref(),
        Instant::now(),
        decision_hash(&obj),
    );
    ctx.update_memo(&uid, |m| m.failures = Some(streak));
    let (n, delay) = (streak.count, backoff::delay(streak.count));
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
    let release = target
        .as_ref()
        .and_then(|t| ctx.releases.get(&t.namespace, &t.name));
    if let Some(t) = &target {
        let owner = ObjectRef::from_obj_with(obj, ctx.resource.clone());
        ctx.releases.remember_owner(&t.namespace, &t.name, owner);
    }
    let chart = match act::chart_for(obj, &cr, ctx).await? {
        Ok(chart) => chart,
        Err(step) => return Ok(step),
    };
    let p = plan::plan(&ctx.plan, &cr, release.as_ref(), &chart.digest, now_unix());

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
