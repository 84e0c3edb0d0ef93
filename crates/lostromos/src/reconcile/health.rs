//! A deployed release's objects: reporting whether they are ready, and putting
//! back what another writer changed. Runs on every decision to skip helm, from
//! what the object watches hold: no helm process and no API call unless the
//! status changes or drift is corrected.

use std::time::Duration;

use kube::runtime::controller::Action;
use kube::runtime::events::EventType;

use super::act::{
    fail, helm_upgrade, learn_release, run_helm_observed, wait_for_revision, Subject,
};
use super::context::{Context, ReconcileError, Step};
use super::now_unix;
use super::operation::Operation;
use super::report::{
    current_status, publish, ready_message, release_info, report, status_would_change,
};
use super::status::Outcome;
use crate::observe::objects::MISSING_AFTER;
use crate::observe::release_index::ReleaseState;
use crate::plan::health::{self, Drift, Readied};
use crate::plan::Desired;

/// The condition reasons of a deployed release whose objects are not ready.
pub const PROGRESSING: &str = "Progressing";
pub const NOT_READY: &str = "NotReady";
pub const DRIFT_LOOP: &str = "DriftLoop";
pub const DRIFTED: &str = "Drifted";

/// Reports on the objects of a release deployed with the CR's current inputs
/// (`desired`, which a drift correction applies again).
pub(super) async fn settle(
    subject: &Subject<'_>,
    ctx: &Context,
    desired: Desired,
    release: &ReleaseState,
) -> Result<Step, ReconcileError> {
    let Subject {
        obj,
        cr,
        target,
        chart,
    } = *subject;
    let info = release_info(chart, target, release);
    let revision = release.latest.version;
    let view = match &ctx.objects {
        Some(objects) => {
            // The status shows this revision already (a start's re-check):
            // nothing new to tell until its objects are known, so its record
            // is read in the background, which wakes the CR, and this
            // reconcile's slot goes to the next CR.
            let shown = current_status(obj)
                .and_then(|s| s.release)
                .is_some_and(|r| r.revision == revision);
            if shown && !objects.inventoried(&target.namespace, &target.name, revision) {
                objects.read_later(&target.namespace, &target.name, revision);
                return Ok(Step::Done(ctx.periodic()));
            }
            objects
                .ensure(&target.namespace, &target.name, revision)
                .await?;
            objects.view(&target.namespace, &target.name)
        }
        None => None,
    };
    let Some(view) = view else {
        // objects not watched: deployed is ready
        let outcome = Outcome::Ready {
            message: ready_message(&info),
            release: info,
            objects: None,
            drifted: None,
        };
        report(obj, ctx, &outcome).await?;
        return Ok(Step::Done(ctx.periodic()));
    };
    let now = now_unix();
    let corrections = ctx.memo(&cr.uid).corrections;
    let verdict = health::judge(
        &view,
        &ctx.health,
        release.latest.created_unix,
        &corrections,
        now,
    );
    if verdict.unlisted {
        // e.g. just restarted: the status stands until the watch has listed
        // (which wakes the CR), rather than flapping to not ready
        return Ok(Step::Done(ctx.periodic()));
    }
    if verdict.unseen && verdict.drift == Drift::None {
        // objects helm just created, not yet in their watch: their event wakes
        // the CR, so the status is written once, when it is known
        return Ok(Step::Done(Action::requeue(MISSING_AFTER)));
    }
    let mut requeue = ctx.reconcile_period;
    let mut drifted = None;
    let mut fight = None;
    match verdict.drift {
        Drift::None => {}
        Drift::Correct { message, .. } => {
            return correct(subject, ctx, desired, view.server_side, message).await;
        }
        Drift::Warn { message } => {
            ctx.metrics.drift("warned");
            drifted = Some(message);
        }
        Drift::Fight {
            message,
            held_until,
            new_pause,
        } => {
            ctx.metrics.drift("held");
            if new_pause {
                ctx.update_memo(&cr.uid, |m| {
                    m.corrections.held_until = Some(held_until);
                    m.corrections.fights += 1;
                });
            }
            requeue = requeue.min(secs(held_until - now));
            fight = Some(message);
        }
    }
    let objects = verdict.counts;
    let outcome = match (fight, verdict.readiness) {
        (Some(message), _) => Outcome::NotReady {
            release: info,
            reason: DRIFT_LOOP.into(),
            message,
            objects,
            stalled: true,
            drifted,
        },
        (None, Readied::Ready) => Outcome::Ready {
            message: format!(
                "{}; {}/{} objects ready",
                ready_message(&info),
                objects.ready,
                objects.total
            ),
            release: info,
            objects: Some(objects),
            drifted,
        },
        (
            None,
            Readied::Progressing {
                message,
                recheck_secs,
            },
        ) => {
            if let Some(r) = recheck_secs {
                requeue = requeue.min(Duration::from_secs(r));
            }
            Outcome::NotReady {
                release: info,
                reason: PROGRESSING.into(),
                message,
                objects,
                stalled: false,
                drifted,
            }
        }
        (None, Readied::NotReady { message }) => Outcome::NotReady {
            release: info,
            reason: NOT_READY.into(),
            message,
            objects,
            stalled: true,
            drifted,
        },
    };
    // A warning state is told once, as the status enters it.
    if let Some((reason, note)) = warning(&outcome) {
        if status_would_change(obj, ctx, &outcome) {
            tracing::warn!(cr = %cr.key(), reason, "{note}");
            publish(
                ctx,
                obj,
                EventType::Warning,
                reason,
                Operation::Skip,
                Some(note.to_owned()),
            )
            .await;
        }
    }
    report(obj, ctx, &outcome).await?;
    Ok(Step::Done(Action::requeue(requeue)))
}

/// The Event reason and note of an outcome that warrants a warning.
fn warning(outcome: &Outcome) -> Option<(&str, &str)> {
    match outcome {
        Outcome::NotReady {
            reason,
            message,
            stalled: true,
            ..
        } => Some((reason, message)),
        Outcome::NotReady {
            drifted: Some(m), ..
        }
        | Outcome::Ready {
            drifted: Some(m), ..
        } => Some((DRIFTED, m)),
        _ => None,
    }
}

fn secs(n: i64) -> Duration {
    Duration::from_secs(u64::try_from(n).unwrap_or(0).max(1))
}

/// Re-applies the release with the same inputs, then plans again on the new
/// revision (whose inventory and verdict follow).
async fn correct(
    subject: &Subject<'_>,
    ctx: &Context,
    desired: Desired,
    server_side: bool,
    message: String,
) -> Result<Step, ReconcileError> {
    let Subject {
        obj, cr, target, ..
    } = *subject;
    let op = Operation::Correct;
    tracing::info!(cr = %cr.key(), release = %target.name, namespace = %target.namespace, "drift: {message}");
    let description = format!("lostromos: {} drift corrected", cr.key());
    let inv = helm_upgrade(subject, ctx, &desired, &description);
    let inv = ctx.helm.forcing_conflicts(inv, server_side);
    match run_helm_observed(ctx, cr, target, &inv, None).await {
        Ok(out) => learn_release(ctx, target, out).await,
        Err(e) => {
            ctx.metrics.drift("failed");
            return fail(obj, cr, ctx, op, e).await;
        }
    }
    let now = now_unix();
    ctx.update_memo(&cr.uid, |m| m.corrections.record(now, &ctx.health));
    ctx.metrics.drift("corrected");
    publish(ctx, obj, EventType::Normal, op.past(), op, Some(message)).await;
    wait_for_revision(ctx, target, desired.expected_revision).await;
    Ok(Step::Again(Box::new(obj.clone())))
}
