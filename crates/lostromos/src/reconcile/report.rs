//! Reporting on a CR: its status, its Events, and the release shown in them.

use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::Resource;

use super::context::{Context, ReconcileError, StatusWrite};
use super::events::Event;
use super::operation::Operation;
use super::status::{self, CrStatus, Outcome, ReleaseInfo};
use crate::helm::chart::Chart;
use crate::observe::cr::{CrObject, CrView};
use crate::observe::release_index::ReleaseState;
use crate::plan::ReleaseRef;

pub(super) fn release_info(chart: &Chart, target: &ReleaseRef, r: &ReleaseState) -> ReleaseInfo {
    ReleaseInfo {
        name: target.name.clone(),
        namespace: target.namespace.clone(),
        revision: r.latest.version,
        status: r.latest.status.as_str().to_owned(),
        chart: chart.name_version.clone(),
        app_version: chart.app_version.clone(),
    }
}

pub(super) fn ready_message(info: &ReleaseInfo) -> String {
    format!(
        "release {}/{} revision {} is {}",
        info.namespace, info.name, info.revision, info.status
    )
}

pub(super) async fn report_ready(
    obj: &CrObject,
    ctx: &Context,
    info: ReleaseInfo,
) -> Result<(), ReconcileError> {
    let outcome = Outcome::Ready {
        message: ready_message(&info),
        release: info,
        objects: None,
        drifted: None,
    };
    report(obj, ctx, &outcome).await
}

/// The stored status, as far as it is ours and readable.
pub(super) fn current_status(obj: &CrObject) -> Option<CrStatus> {
    CrStatus::read(obj.status_value().as_ref())
}

/// The status `outcome` leads to, or `None` when it is what is stored already,
/// or what this process wrote last on the very version of the CR at hand (a
/// reconcile woken by helm's or the objects' events may see the CR before the
/// watch brings back the status just written: writing again would double the
/// writes of an install).
fn new_status(obj: &CrObject, ctx: &Context, outcome: &Outcome) -> Option<CrStatus> {
    let current = current_status(obj);
    let new = status::build(
        current.as_ref(),
        obj.metadata.generation,
        outcome,
        Timestamp::now(),
    );
    if current.as_ref() == Some(&new) {
        return None;
    }
    let uid = obj.metadata.uid.as_deref().unwrap_or_default();
    let written = ctx.memo(uid).status_write;
    if let Some(w) = written {
        if obj.metadata.resource_version.as_deref() == Some(w.base_rv.as_str()) {
            if w.fingerprint == new.fingerprint() {
                return None;
            }
        } else {
            // the cache has moved on: the stored status is the truth again
            ctx.update_memo(uid, |m| m.status_write = None);
        }
    }
    Some(new)
}

pub(super) fn status_would_change(obj: &CrObject, ctx: &Context, outcome: &Outcome) -> bool {
    !ctx.has_status || new_status(obj, ctx, outcome).is_some()
}

/// Writes the outcome to the status subresource, when the CRD has one and the
/// status would change.
pub(super) async fn report(
    obj: &CrObject,
    ctx: &Context,
    outcome: &Outcome,
) -> Result<(), ReconcileError> {
    if !ctx.has_status {
        return Ok(());
    }
    let Some(new) = new_status(obj, ctx, outcome) else {
        return Ok(());
    };
    let cr = CrView::from_object(obj);
    let patch = serde_json::json!({ "status": &new });
    match ctx
        .api(&cr)
        .patch_status(&cr.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => {
            tracing::debug!(cr = %cr.key(), reason = outcome.reason(), "status written");
            if let Some(rv) = obj.metadata.resource_version.clone() {
                ctx.update_memo(&cr.uid, |m| {
                    m.status_write = Some(StatusWrite {
                        base_rv: rv,
                        fingerprint: new.fingerprint(),
                    })
                });
            }
            Ok(())
        }
        // deleted meanwhile: nothing left to report on
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Publishes one Event on the CR; a failure to publish is logged, not fatal.
pub(super) async fn publish(
    ctx: &Context,
    obj: &CrObject,
    type_: EventType,
    reason: &str,
    op: Operation,
    note: Option<String>,
) {
    if type_ == EventType::Normal && op.routine() && !ctx.routine_events {
        return;
    }
    let ev = Event {
        type_,
        reason: reason.into(),
        note,
        action: op.verb().into(),
    };
    if let Err(e) = ctx.events.publish(ev, &obj.object_ref(&ctx.resource)).await {
        tracing::warn!(error = %e, reason, "could not publish event");
    }
}
