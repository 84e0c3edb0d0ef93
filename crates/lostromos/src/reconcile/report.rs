//! Reporting on a CR: its status, its events, and the release shown in them.

use kube::api::{DynamicObject, Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::Resource;
use serde_json::json;

use crate::helm::chart::Chart;
use crate::observe::cr::CrView;
use crate::observe::release_index::ReleaseState;
use crate::plan::ReleaseRef;
use crate::reconcile::status::{self, Outcome, ReleaseInfo};
use crate::reconcile::{Context, ReconcileError};

pub(crate) fn release_info(chart: &Chart, target: &ReleaseRef, r: &ReleaseState) -> ReleaseInfo {
    ReleaseInfo {
        name: target.name.clone(),
        namespace: target.namespace.clone(),
        revision: r.latest.version,
        status: r.latest.status.as_str().to_owned(),
        chart: chart.name_version.clone(),
        app_version: chart.app_version.clone(),
    }
}

pub(crate) fn ready_message(info: &ReleaseInfo) -> String {
    format!(
        "release {}/{} revision {} is {}",
        info.namespace, info.name, info.revision, info.status
    )
}

pub(crate) async fn report_ready(
    obj: &DynamicObject,
    ctx: &Context,
    info: ReleaseInfo,
) -> Result<(), ReconcileError> {
    let outcome = Outcome::Ready {
        message: ready_message(&info),
        release: info,
    };
    report(obj, ctx, &outcome).await
}

pub(crate) fn status_would_change(obj: &DynamicObject, ctx: &Context, outcome: &Outcome) -> bool {
    if !ctx.has_status {
        return true;
    }
    let current = obj.data.get("status");
    let new = status::build(current, obj.metadata.generation, outcome, &now_rfc3339());
    !status::unchanged(current, &new)
}

pub(crate) fn now_rfc3339() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

/// Writes the outcome to the status subresource, when the CRD has one and the
/// status would change.
pub(crate) async fn report(
    obj: &DynamicObject,
    ctx: &Context,
    outcome: &Outcome,
) -> Result<(), ReconcileError> {
    if !ctx.has_status {
        return Ok(());
    }
    let current = obj.data.get("status");
    let new = status::build(current, obj.metadata.generation, outcome, &now_rfc3339());
    if status::unchanged(current, &new) {
        return Ok(());
    }
    let cr = CrView::from_dynamic(obj);
    let patch = json!({ "status": new });
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

pub(crate) async fn publish(
    ctx: &Context,
    obj: &DynamicObject,
    type_: EventType,
    reason: &str,
    action: &str,
    note: Option<String>,
) {
    let ev = Event {
        type_,
        reason: reason.into(),
        note,
        action: action.into(),
        secondary: None,
    };
    if let Err(e) = ctx
        .recorder
        .publish(&ev, &obj.object_ref(&ctx.resource))
        .await
    {
        tracing::warn!(error = %e, reason, "could not publish event");
    }
}
