//! Reporting on a CR: its status, its Events, and the release shown in them.

use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::Resource;

use super::context::{Context, ReconcileError};
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

/// The status `outcome` leads to, or `None` when it is what is stored already.
fn new_status(obj: &CrObject, outcome: &Outcome) -> Option<CrStatus> {
    let current = current_status(obj);
    let new = status::build(
        current.as_ref(),
        obj.metadata.generation,
        outcome,
        Timestamp::now(),
    );
    (current.as_ref() != Some(&new)).then_some(new)
}

pub(super) fn status_would_change(obj: &CrObject, ctx: &Context, outcome: &Outcome) -> bool {
    !ctx.has_status || new_status(obj, outcome).is_some()
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
    let Some(new) = new_status(obj, outcome) else {
        return Ok(());
    };
    let cr = CrView::from_object(obj);
    let patch = serde_json::json!({ "status": new });
    match ctx
        .api(&cr)
        .patch_status(&cr.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
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
