//! The status Lostrómos writes (`reconcile::status::CrStatus`) as a CRD
//! schema, and the printer columns that show it.

use serde_json::{json, Value};

/// The schema of `status`, field for field what Lostrómos writes; fields
/// written as null when they do not apply are nullable.
pub fn schema() -> Value {
    json!({
        "type": "object",
        "description": "Written by Lostrómos: the release of this resource, and whether it is ready.",
        "properties": {
            "observedGeneration": {
                "type": "integer",
                "nullable": true,
                "description": "The generation of the spec this status is about.",
            },
            "conditions": {
                "type": "array",
                "description": "Ready, Reconciling and Stalled (kstatus), and Drifted with --drift warn.",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["type"],
                "items": {
                    "type": "object",
                    "required": ["type", "status"],
                    "properties": {
                        "type": {"type": "string"},
                        "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
                        "reason": {"type": "string"},
                        "message": {"type": "string"},
                        "observedGeneration": {"type": "integer"},
                        "lastTransitionTime": {"type": "string", "format": "date-time"},
                    },
                },
            },
            "release": {
                "type": "object",
                "nullable": true,
                "description": "The helm release.",
                "properties": {
                    "name": {"type": "string"},
                    "namespace": {"type": "string"},
                    "revision": {"type": "integer"},
                    "status": {"type": "string", "description": "helm's status: deployed, failed, pending-upgrade, ..."},
                    "chart": {"type": "string", "description": "name-version"},
                    "appVersion": {"type": "string", "nullable": true},
                },
            },
            "objects": {
                "type": "object",
                "nullable": true,
                "description": "The release's objects: how many, and how many are ready.",
                "properties": {
                    "total": {"type": "integer"},
                    "ready": {"type": "integer"},
                },
            },
            "lastError": {
                "type": "string",
                "nullable": true,
                "description": "What went wrong in the last attempt, when it failed.",
            },
        },
    })
}

/// `kubectl get` columns: readiness first, the release, and the Ready
/// message at `-o wide`.
pub fn printer_columns() -> Value {
    let ready = |field: &str| format!(".status.conditions[?(@.type==\"Ready\")].{field}");
    json!([
        {"name": "Ready", "type": "string", "jsonPath": ready("status")},
        {"name": "Reason", "type": "string", "jsonPath": ready("reason")},
        {"name": "Release", "type": "string", "jsonPath": ".status.release.name"},
        {"name": "Revision", "type": "integer", "jsonPath": ".status.release.revision"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        {"name": "Message", "type": "string", "jsonPath": ready("message"), "priority": 1,
         "description": "the Ready condition's message"},
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::check::validate;
    use crate::plan::health::Counts;
    use crate::reconcile::status::{build, Outcome, ReleaseInfo};
    use k8s_openapi::jiff::Timestamp;

    fn release() -> ReleaseInfo {
        ReleaseInfo {
            name: "nemo".into(),
            namespace: "fish".into(),
            revision: 2,
            status: "deployed".into(),
            chart: "c-1.0.0".into(),
            app_version: None,
        }
    }

    /// Every status Lostrómos writes fits the schema, so the API server
    /// prunes nothing of it (a pruned field would be written again forever).
    #[test]
    fn every_status_lostromos_writes_fits() {
        let schema = schema();
        let schema = schema.as_object().unwrap();
        let outcomes = [
            Outcome::Ready {
                release: release(),
                message: "ok".into(),
                objects: Some(Counts { total: 2, ready: 2 }),
                drifted: Some("ConfigMap x changed".into()),
            },
            Outcome::NotReady {
                release: release(),
                reason: "Progressing".into(),
                message: "1/2".into(),
                objects: Counts { total: 2, ready: 1 },
                stalled: false,
                drifted: None,
            },
            Outcome::Failed {
                reason: "ValuesRejected".into(),
                message: "bad".into(),
                stalled: true,
                release: None,
            },
            Outcome::Idle {
                reason: "NotManaged".into(),
                message: "".into(),
            },
        ];
        for o in &outcomes {
            let s = build(None, Some(3), o, Timestamp::UNIX_EPOCH);
            let v = serde_json::to_value(&s).unwrap();
            assert_eq!(validate(schema, &v), None, "{v}");
        }
    }
}
