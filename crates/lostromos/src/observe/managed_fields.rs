//! Who wrote what on an object, from its `metadata.managedFields` (which a
//! metadata-only watch delivers): the writes by managers other than helm,
//! as field paths to compare with the fields helm's manifest sets.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
use serde_json::Value;

/// A write by a field manager other than helm on an object's main resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForeignWrite {
    pub manager: String,
    /// `Update` or `Apply`.
    pub operation: String,
    /// When it last wrote, Unix seconds, if the API server said.
    pub time_unix: Option<i64>,
    /// Leaf paths it owns, truncated at the first list element (`k:`, `v:`,
    /// `i:` keys), as segments without the `f:` prefix. `.` entries (owning a
    /// map's existence, not a value in it) are left out.
    pub paths: Vec<Vec<String>>,
}

/// Writes by managers not in `ours` (e.g. `["helm"]`), with operation Update
/// or Apply, on the main resource only: a write through a subresource
/// (`status`, `scale`) is how controllers and autoscalers are meant to act,
/// never drift. Entries whose fields are not `FieldsV1` give no paths.
pub fn foreign_writes(entries: &[ManagedFieldsEntry], ours: &[&str]) -> Vec<ForeignWrite> {
    entries
        .iter()
        .filter(|e| e.subresource.as_deref().unwrap_or("").is_empty())
        .filter(|e| matches!(e.operation.as_deref(), Some("Update" | "Apply")))
        .filter(|e| !ours.contains(&e.manager.as_deref().unwrap_or("")))
        .map(|e| ForeignWrite {
            manager: e.manager.clone().unwrap_or_default(),
            operation: e.operation.clone().unwrap_or_default(),
            time_unix: e.time.as_ref().map(|t| t.0.as_second()),
            paths: match (&e.fields_type, &e.fields_v1) {
                (Some(t), _) if t != "FieldsV1" => Vec::new(),
                (_, Some(fields)) => leaf_paths(&fields.0),
                (_, None) => Vec::new(),
            },
        })
        .collect()
}

/// The leaf paths of one FieldsV1 document: `f:<name>` keys are walked, a
/// `{}` ends a path, and a list element key (`k:`, `v:`, `i:`) ends it at the
/// list, which drift compares as a whole. Each path appears once, whatever
/// the number of elements below it. Not an object: no paths.
pub fn leaf_paths(fields_v1: &Value) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let Value::Object(root) = fields_v1 else {
        return paths;
    };
    // Iterative, so no input depth can exhaust the stack.
    let mut stack: Vec<(Vec<String>, &serde_json::Map<String, Value>)> = vec![(Vec::new(), root)];
    while let Some((path, map)) = stack.pop() {
        let mut list = false;
        for (key, value) in map {
            if let Some(name) = key.strip_prefix("f:") {
                let mut child = path.clone();
                child.push(name.to_string());
                match value {
                    Value::Object(m) if !m.is_empty() => stack.push((child, m)),
                    _ => paths.push(child),
                }
            } else if ["k:", "v:", "i:"].iter().any(|p| key.starts_with(p)) {
                list = true;
            }
            // `.` and anything unknown: no field of its own
        }
        if list && !path.is_empty() {
            paths.push(path);
        }
    }
    paths
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn entry(json: Value) -> ManagedFieldsEntry {
        match serde_json::from_value(json) {
            Ok(e) => e,
            Err(e) => panic!("{e}"),
        }
    }

    fn set(paths: &[Vec<String>]) -> BTreeSet<Vec<String>> {
        paths.iter().cloned().collect()
    }

    fn paths(list: &[&[&str]]) -> BTreeSet<Vec<String>> {
        list.iter()
            .map(|p| p.iter().map(|s| s.to_string()).collect())
            .collect()
    }

    fn observed() -> Vec<ManagedFieldsEntry> {
        vec![
            // helm 4, server-side apply
            entry(serde_json::json!({
                "manager": "helm", "operation": "Apply", "apiVersion": "v1",
                "time": "2026-01-10T12:00:00Z", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:data": {"f:x": {}}, "f:metadata": {
                    "f:annotations": {"f:meta.helm.sh/release-name": {}, "f:meta.helm.sh/release-namespace": {}},
                    "f:labels": {"f:app.kubernetes.io/managed-by": {}}}}
            })),
            // helm 3, client-side update
            entry(serde_json::json!({
                "manager": "helm", "operation": "Update", "apiVersion": "v1",
                "time": "2026-01-10T12:00:00Z", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:data": {".": {}, "f:x": {}}, "f:metadata": {
                    "f:annotations": {".": {}, "f:meta.helm.sh/release-name": {}}}}
            })),
            // kubectl patch cm -p '{"data":{"x":"edited","extra":"y"}}'
            entry(serde_json::json!({
                "manager": "kubectl-patch", "operation": "Update", "apiVersion": "v1",
                "time": "2026-01-10T12:05:00Z", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:data": {"f:x": {}, "f:extra": {}}}
            })),
            // kubectl scale
            entry(serde_json::json!({
                "manager": "kubectl", "operation": "Update", "apiVersion": "apps/v1",
                "subresource": "scale", "time": "2026-01-10T12:06:00Z", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:spec": {"f:replicas": {}}}
            })),
        ]
    }

    #[test]
    fn only_foreign_writes_on_the_main_resource() {
        let writes = foreign_writes(&observed(), &["helm"]);
        assert_eq!(writes.len(), 1, "{writes:?}");
        let w = &writes[0];
        assert_eq!(w.manager, "kubectl-patch");
        assert_eq!(w.operation, "Update");
        // 2026-01-10T12:05:00Z
        assert_eq!(w.time_unix, Some(1_768_046_700));
        assert_eq!(set(&w.paths), paths(&[&["data", "x"], &["data", "extra"]]));
        assert_eq!(w.paths.len(), 2);
    }

    #[test]
    fn without_helm_as_ours_helm_writes_are_foreign() {
        let writes = foreign_writes(&observed(), &[]);
        let managers: Vec<_> = writes.iter().map(|w| w.manager.as_str()).collect();
        assert_eq!(managers, vec!["helm", "helm", "kubectl-patch"]);
        assert_eq!(
            set(&writes[0].paths),
            paths(&[
                &["data", "x"],
                &["metadata", "annotations", "meta.helm.sh/release-name"],
                &["metadata", "annotations", "meta.helm.sh/release-namespace"],
                &["metadata", "labels", "app.kubernetes.io/managed-by"],
            ])
        );
        // the `.` entries of helm 3 are no paths of their own
        assert_eq!(
            set(&writes[1].paths),
            paths(&[
                &["data", "x"],
                &["metadata", "annotations", "meta.helm.sh/release-name"],
            ])
        );
    }

    #[test]
    fn other_operations_and_missing_fields_are_handled() {
        let entries = vec![
            entry(serde_json::json!({"manager": "x", "operation": "Delete"})),
            entry(serde_json::json!({"manager": "bare", "operation": "Apply"})),
            entry(
                serde_json::json!({"manager": "odd", "operation": "Update", "fieldsType": "FieldsV2",
                "fieldsV1": {"f:data": {}}}),
            ),
            entry(
                serde_json::json!({"manager": "status", "operation": "Update", "subresource": "status",
                "fieldsV1": {"f:status": {}}}),
            ),
            entry(serde_json::json!({"operation": "Update", "subresource": "",
                "fieldsV1": {"f:spec": {"f:a": {}}}})),
        ];
        assert_eq!(
            foreign_writes(&entries, &["helm"]),
            vec![
                ForeignWrite {
                    manager: "bare".into(),
                    operation: "Apply".into(),
                    time_unix: None,
                    paths: vec![],
                },
                ForeignWrite {
                    manager: "odd".into(),
                    operation: "Update".into(),
                    time_unix: None,
                    paths: vec![],
                },
                ForeignWrite {
                    manager: "".into(),
                    operation: "Update".into(),
                    time_unix: None,
                    paths: vec![vec!["spec".into(), "a".into()]],
                },
            ]
        );
    }

    #[test]
    fn list_elements_end_the_path_at_the_list() {
        let fields = serde_json::json!({"f:spec": {"f:template": {"f:spec": {
            "f:containers": {
                "k:{\"name\":\"x\"}": {".": {}, "f:image": {}},
                "k:{\"name\":\"y\"}": {".": {}, "f:name": {}},
            },
            "f:volumes": {"k:{\"name\":\"v\"}": {".": {}}},
        }}}, "f:metadata": {"f:finalizers": {".": {}, "v:\"a/b\"": {}}},
           "f:args": {"i:0": {}}});
        assert_eq!(
            set(&leaf_paths(&fields)),
            paths(&[
                &["spec", "template", "spec", "containers"],
                &["spec", "template", "spec", "volumes"],
                &["metadata", "finalizers"],
                &["args"],
            ])
        );
        assert_eq!(leaf_paths(&fields).len(), 4);
    }

    #[test]
    fn dot_entries_are_dropped() {
        let fields = serde_json::json!({"f:data": {".": {}}, ".": {}, "f:metadata": {"f:labels": {".": {}, "f:a": {}}}});
        assert_eq!(
            set(&leaf_paths(&fields)),
            paths(&[&["metadata", "labels", "a"]])
        );
    }

    #[test]
    fn anything_that_is_not_fields_gives_no_paths() {
        for v in [
            Value::Null,
            serde_json::json!([1, 2]),
            serde_json::json!("f:data"),
            serde_json::json!(3),
            serde_json::json!({}),
            serde_json::json!({"k:{}": {}}),
        ] {
            assert_eq!(leaf_paths(&v), Vec::<Vec<String>>::new(), "{v}");
        }
        // a non-object value under `f:` is still a field owned as a whole
        let odd = serde_json::json!({"f:a": 1, "f:b": [], "weird": {"f:c": {}}});
        assert_eq!(set(&leaf_paths(&odd)), paths(&[&["a"], &["b"]]));
    }

    #[test]
    fn foreign_paths_meet_manifest_fields() {
        use crate::observe::manifest::objects;
        let text =
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  x: \"1\"\n";
        let Ok(objs) = objects(text) else {
            panic!("manifest did not parse")
        };
        let writes = foreign_writes(&observed(), &["helm"]);
        let drifted: Vec<_> = writes[0]
            .paths
            .iter()
            .filter(|p| objs[0].fields.overlaps(p))
            .collect();
        assert_eq!(drifted, vec![&vec!["data".to_string(), "x".to_string()]]);
    }
}
